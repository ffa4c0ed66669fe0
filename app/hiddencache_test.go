package app_test

import (
	"context"
	"testing"
	"time"
)

// TestHiddenSetCache: with HiddenSetTTL, feed pages within the TTL share
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
	svc.Graph, svc.HiddenSetTTL, svc.Now = g, 2*time.Second, func() time.Time { return now }
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

	for range 3 {
		if got := authors(); len(got) != 3 {
			t.Fatalf("feed authors %v, want a, b, c", got)
		}
	}
	if n := g.lists.Load(); n != 2 {
		t.Errorf("3 feed pages within the TTL read %d block lists, want 2 (one set)", n)
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
