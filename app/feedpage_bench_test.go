package app_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/app/apptest"
)

// slowStore is the fake store with a round trip's delay on each read a
// feed page makes on cache misses, so the benchmark counts round trips in
// time: how many of the page's reads wait one after another.
type slowStore struct {
	*apptest.Store
	rtt time.Duration
}

func (s slowStore) GetPosts(ctx context.Context, ids []app.ID) (map[app.ID]app.Post, error) {
	time.Sleep(s.rtt)
	return s.Store.GetPosts(ctx, ids)
}

func (s slowStore) Blocking(ctx context.Context, u, c string, n int) ([]string, string, error) {
	time.Sleep(s.rtt)
	return s.Store.Blocking(ctx, u, c, n)
}

func (s slowStore) BlockedBy(ctx context.Context, u, c string, n int) ([]string, string, error) {
	time.Sleep(s.rtt)
	return s.Store.BlockedBy(ctx, u, c, n)
}

func (s slowStore) Muting(ctx context.Context, u, c string, n int) ([]app.Mute, string, error) {
	time.Sleep(s.rtt)
	return s.Store.Muting(ctx, u, c, n)
}

func (s slowStore) LikeCounts(ctx context.Context, reader string, ids []app.ID) (map[app.ID]app.LikeCount, error) {
	time.Sleep(s.rtt)
	return s.Store.LikeCounts(ctx, reader, ids)
}

func (s slowStore) RepostCounts(ctx context.Context, reader string, ids []app.ID) (map[app.ID]app.RepostCount, error) {
	time.Sleep(s.rtt)
	return s.Store.RepostCounts(ctx, reader, ids)
}

func (s slowStore) ReplyCounts(ctx context.Context, ids []app.ID) (map[app.ID]int64, error) {
	time.Sleep(s.rtt)
	return s.Store.ReplyCounts(ctx, ids)
}

// BenchmarkFeedPageRoundTrips reads a 20-post feed page and renders it
// (ReadFeed, ViewPosts) with every cache missing, on a store whose reads
// each take 500 µs: ns/op over 500 µs is about the number of store round
// trips the page waits for one after another.
func BenchmarkFeedPageRoundTrips(b *testing.B) {
	ctx := context.Background()
	w := newWorld("reader", "author")
	slow := slowStore{Store: w.store, rtt: 500 * time.Microsecond}
	w.svc.Posts, w.svc.Graph, w.svc.Likes, w.svc.Replies, w.svc.Reposts = slow, slow, slow, slow, slow
	if _, err := w.svc.ReadFeed(ctx, "reader", "", 20); err != nil {
		b.Fatal(err)
	}
	if err := w.svc.Follow(ctx, "reader", "author"); err != nil {
		b.Fatal(err)
	}
	for i := range 20 {
		if _, err := w.svc.CreatePost(ctx, "author", fmt.Sprint("post ", i), ""); err != nil {
			b.Fatal(err)
		}
	}
	w.bus.Drain(b, w.fanout)
	b.ResetTimer()
	for b.Loop() {
		page, err := w.svc.ReadFeed(ctx, "reader", "", 20)
		if err != nil || len(page.Items) != 20 {
			b.Fatalf("%d posts, %v", len(page.Items), err)
		}
		if _, err := w.svc.ViewPosts(ctx, "reader", page.Items); err != nil {
			b.Fatal(err)
		}
	}
}
