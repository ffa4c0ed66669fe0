package app_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/app/apptest"
	"github.com/feedsvc/feedsvc/store/postcache"
)

// TestFeedReadsWhileTheStoreIsDown: with the store down, a read that may
// degrade is served the feed from Redis, posts from the post cache, the
// reader's mutes from the copy it read before, and the counts it had;
// it leaves out the posts it never read and the replies whose rule needs
// the graph, and says what it went without. Any other read fails.
func TestFeedReadsWhileTheStoreIsDown(t *testing.T) {
	ctx := context.Background()
	w := newWorld("alice", "bob", "carol", "dave", "mal")
	down := apptest.NewOutage(w.store)
	w.svc.Graph, w.svc.Likes, w.svc.Replies = down, down, down
	// Copies go stale at once: only a degraded read may use them.
	w.svc.Posts = postcache.New(down, 100, time.Nanosecond)
	w.svc.ViewCacheTTL = time.Nanosecond

	w.read(t, "alice")
	for _, u := range []string{"bob", "carol", "dave", "mal"} {
		must(t, w.svc.Follow(ctx, "alice", u))
	}
	must(t, w.svc.Mute(ctx, "alice", "mal", 0))
	w.bus.Drain(t, w.fanout)
	post := func(author, text string, parent app.ID) app.ID {
		t.Helper()
		create := func() (app.Post, error) { return w.svc.CreatePost(ctx, author, text, "") }
		if parent != 0 {
			create = func() (app.Post, error) { return w.svc.CreateReply(ctx, author, text, "", parent) }
		}
		p, err := create()
		must(t, err)
		return p.ID
	}
	hello := post("bob", "hello", 0)
	news := post("dave", "news", 0)
	reply := post("carol", "re news", news)
	post("mal", "muted", 0)
	must(t, w.svc.Like(ctx, "bob", news))
	w.bus.Drain(t, w.fanout)

	read := func(ctx context.Context) ([]app.ID, []app.PostView, error) {
		page, err := w.svc.ReadFeed(ctx, "alice", "", 20)
		if err != nil {
			return nil, nil, err
		}
		views, err := w.svc.ViewPosts(ctx, "alice", page.Items)
		var ids []app.ID
		for _, v := range views {
			ids = append(ids, v.ID)
		}
		return ids, views, err
	}
	healthy := app.WithDegradedReads(ctx)
	ids, _, err := read(healthy)
	if want := []app.ID{reply, news, hello}; err != nil || !slices.Equal(ids, want) {
		t.Fatalf("before the outage: %v, %v; want %v", ids, err, want)
	}
	if d := app.Degraded(healthy); d != nil {
		t.Fatalf("a whole answer reported degraded: %v", d)
	}
	unread := post("bob", "never read", 0)
	w.bus.Drain(t, w.fanout)

	down.SetDown(true)
	if _, _, err := read(ctx); !errors.Is(err, app.ErrUnavailable) {
		t.Fatalf("a read that may not degrade: %v, want ErrUnavailable", err)
	}
	degraded := app.WithDegradedReads(ctx)
	ids, views, err := read(degraded)
	if want := []app.ID{news, hello}; err != nil || !slices.Equal(ids, want) {
		t.Fatalf("during the outage: %v, %v; want %v (not the reply, nor %v never read, nor mal's)", ids, err, want, unread)
	}
	if views[0].LikeCount != 1 {
		t.Fatalf("news counted %d likes during the outage, want the 1 read before", views[0].LikeCount)
	}
	got := app.Degraded(degraded)
	slices.Sort(got)
	if want := []string{app.DegradedHidden, app.DegradedCounts, app.DegradedPosts, app.DegradedReplies}; !slices.Equal(got, want) {
		t.Fatalf("Degraded = %v, want %v", got, want)
	}

	// A reader whose mutes this process never read is not served: a
	// muted author's posts must not show for want of the mute.
	w.svc.ViewCacheTTL = 0
	if _, _, err := read(app.WithDegradedReads(ctx)); !errors.Is(err, app.ErrUnavailable) {
		t.Fatalf("without a copy of the reader's mutes: %v, want ErrUnavailable", err)
	}
}
