package app_test

import (
	"cmp"
	"context"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/feedsvc/feedsvc/app"
)

// collect is a Handler that keeps the events it is given.
type collect struct{ evs []app.Event }

func (c *collect) Handle(_ context.Context, ev app.Event) error {
	c.evs = append(c.evs, ev)
	return nil
}

// countingGraph counts Followers calls.
type countingGraph struct {
	app.Graph
	calls atomic.Int32
}

func (g *countingGraph) Followers(ctx context.Context, user, cursor string, limit int) ([]string, string, error) {
	g.calls.Add(1)
	return g.Graph.Followers(ctx, user, cursor, limit)
}

// TestFanoutBatch: a batch of two authors' interleaved events, a post
// deleted among them, leaves every feed as handling them one by one does,
// and reads each author's followers once per run of its posts.
func TestFanoutBatch(t *testing.T) {
	ctx := context.Background()
	w := newWorld("a", "b", "f1", "f2", "f3")
	for _, f := range []string{"f1", "f2", "f3"} {
		w.read(t, f) // cached feeds: fan-out writes into them
		must(t, w.svc.Follow(ctx, f, "a"))
	}
	must(t, w.svc.Follow(ctx, "f1", "b"))
	w.bus.Drain(t, w.fanout)

	var want = map[string][]app.ID{}
	var gone app.ID
	for i := range 6 {
		pa, err := w.svc.CreatePost(ctx, "a", "from a", "")
		must(t, err)
		pb, err := w.svc.CreatePost(ctx, "b", "from b", "")
		must(t, err)
		want["f1"] = append([]app.ID{pb.ID}, want["f1"]...)
		if i == 2 {
			gone = pa.ID
			continue
		}
		for _, f := range []string{"f1", "f2", "f3"} {
			want[f] = append([]app.ID{pa.ID}, want[f]...)
		}
	}
	must(t, w.svc.DeletePost(ctx, "a", gone))
	batch := &collect{}
	w.bus.Drain(t, batch)

	g := &countingGraph{Graph: w.store}
	fanout := *w.fanout
	fanout.Graph = g
	must(t, fanout.HandleBatch(ctx, batch.evs))
	for _, f := range []string{"f1", "f2", "f3"} {
		got := w.feeds.IDs(f)
		newestFirst := func(x, y app.ID) int { return cmp.Compare(y, x) }
		slices.SortFunc(got, newestFirst)
		slices.SortFunc(want[f], newestFirst)
		if !slices.Equal(got, want[f]) {
			t.Errorf("%s's feed = %v, want %v", f, got, want[f])
		}
	}
	// One run of a's six posts and the delete after them, two pages of
	// followers each (newWorld's PageSize is 2, a has 3); one run of b's
	// six posts, one page. One by one: 6*2 + 2 + 6*1.
	if n := g.calls.Load(); n != 2+2+1 {
		t.Errorf("%d reads of followers, want 5", n)
	}
}

// TestHybridFanoutBatch: when a batch's first post makes its author a
// celebrity, the batch's later posts go to the timeline only, as one by
// one: the followers' feeds keep the crossing post alone.
func TestHybridFanoutBatch(t *testing.T) {
	ctx := context.Background()
	w := hybridWorld(t)
	var ids []app.ID
	for range 3 {
		p, err := w.svc.CreatePost(ctx, "star", "hello", "")
		must(t, err)
		ids = append(ids, p.ID)
	}
	batch := &collect{}
	w.bus.Drain(t, batch)
	must(t, w.fanout.HandleBatch(ctx, batch.evs))
	for _, f := range []string{"f1", "f2", "f3"} {
		if got := w.feeds.IDs(f); !slices.Equal(got, ids[:1]) {
			t.Errorf("%s's feed = %v, want only the crossing post %v", f, got, ids[0])
		}
	}
	// Reads merge the celebrity's timeline: every post, once.
	got := w.read(t, "f1")
	slices.Sort(got)
	if !slices.Equal(got, ids) {
		t.Errorf("f1 reads %v, want %v", got, ids)
	}
}
