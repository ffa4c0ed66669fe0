package app_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/feedsvc/feedsvc/app/apptest"
)

// BenchmarkFeedPageRoundTrips reads a 20-post feed page and renders it
// (ReadFeed, ViewPosts) with every cache missing, on a store whose reads
// each take 500 µs: ns/op over 500 µs is about the number of store round
// trips the page waits for one after another.
func BenchmarkFeedPageRoundTrips(b *testing.B) {
	ctx := context.Background()
	w := newWorld("reader", "author")
	slow := apptest.NewOutage(w.store)
	slow.SetDelay(500 * time.Microsecond)
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
