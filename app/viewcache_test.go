package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/feedsvc/feedsvc/app"
)

// TestHiddenSetCache: with ViewCacheTTL, feed pages within the TTL share
// one block-set read; this process's own block shows on the next read; a
// block made through another process shows once the TTL has passed.
func TestHiddenSetCache(t *testing.T) {
	ctx := context.Background()
	w := newWorld("r", "a", "b", "c")
	for _, f := range []string{"a", "b", "c"} {
		must(t, w.svc.Follow(ctx, "r", f))
	}
	for _, a := range []string{"a", "b", "c"} {
		_, err := w.svc.CreatePost(ctx, a, "by "+a, "")
		must(t, err)
	}
	w.bus.Drain(t, w.fanout)

	now := time.Unix(1_700_000_000, 0)
	g := &blockCountingGraph{Graph: w.store}
	svc := w.replica(2)
	svc.Graph, svc.ViewCacheTTL, svc.Now = g, 2*time.Second, func() time.Time { return now }
	other := w.replica(3) // another api process, uncached
	authors := func() map[string]bool {
		t.Helper()
		page, err := svc.ReadFeed(ctx, "r", "", 10)
		must(t, err)
		got := map[string]bool{}
		for _, p := range page.Items {
			got[p.Author] = true
		}
		return got
	}

	// The first read rebuilds the feed (reading the set fresh: what a
	// rebuild leaves out stays out) and caches the set for the page.
	authors()
	g.lists.Store(0)
	for range 3 {
		if got := authors(); len(got) != 3 {
			t.Fatalf("feed authors %v, want a, b, c", got)
		}
	}
	if n := g.lists.Load(); n != 0 {
		t.Errorf("3 more feed pages within the TTL read %d block lists, want none", n)
	}

	must(t, svc.Block(ctx, "r", "a"))
	if got := authors(); got["a"] {
		t.Errorf("feed authors %v right after this process's block of a", got)
	}

	must(t, other.Block(ctx, "b", "r"))
	if got := authors(); !got["b"] {
		t.Errorf("feed authors %v: the cached set (under its TTL) went stale early", got)
	}
	now = now.Add(2 * time.Second)
	if got := authors(); got["b"] || got["a"] || !got["c"] {
		t.Errorf("feed authors %v once the TTL passed, want c only", got)
	}
}

// TestCountCache: with ViewCacheTTL, a post's like count is read once per
// TTL whoever reads it; a reader's own like is read only for posts that
// have likes; this process's like shows at once, another process's once
// the TTL has passed.
func TestCountCache(t *testing.T) {
	ctx := context.Background()
	w := newWorld("a", "r", "s")
	now := time.Unix(1_700_000_000, 0)
	svc := w.replica(2)
	svc.Likes, svc.ViewCacheTTL, svc.Now = w.store, 2*time.Second, func() time.Time { return now }
	other := w.replica(3)
	other.Likes = w.store
	p, err := svc.CreatePost(ctx, "a", "liked", "")
	must(t, err)
	q, err := svc.CreatePost(ctx, "a", "not liked", "")
	must(t, err)
	posts := []app.Post{p, q}
	view := func(reader string) []app.PostView {
		t.Helper()
		v, err := svc.ViewPosts(ctx, reader, posts)
		must(t, err)
		return v
	}
	reads := func(f func()) int {
		before := w.store.LikeCountReads()
		f()
		return w.store.LikeCountReads() - before
	}

	if n := reads(func() { view("r"); view("s") }); n != 1 {
		t.Errorf("two readers of posts nobody likes read likes %d times, want once", n)
	}
	must(t, svc.Like(ctx, "r", p.ID))
	var v []app.PostView
	if n := reads(func() { v = view("r") }); v[0].LikeCount != 1 || !v[0].Liked || n != 2 {
		t.Errorf("after this process's like: %+v in %d reads, want count 1, liked, in 2 (the counts, then r's likes)", v[0], n)
	}
	if n := reads(func() { v = view("s") }); v[0].LikeCount != 1 || v[0].Liked || n != 1 {
		t.Errorf("as another reader: %+v in %d reads, want count 1, not liked, in 1 (s's likes)", v[0], n)
	}
	must(t, other.Like(ctx, "s", q.ID))
	if v = view("s"); v[1].LikeCount != 0 {
		t.Errorf("another process's like showed before the TTL: %+v (the cache is not used)", v[1])
	}
	now = now.Add(2 * time.Second)
	if v = view("s"); v[1].LikeCount != 1 || !v[1].Liked {
		t.Errorf("another process's like once the TTL passed: %+v, want count 1, liked", v[1])
	}
}
