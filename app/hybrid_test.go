package app_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/feedsvc/feedsvc/app"
)

func TestFanoutSkipsUsersWithoutACachedFeed(t *testing.T) {
	ctx := context.Background()
	w := newWorld("a", "active", "away")
	w.read(t, "active")
	must(t, w.svc.Follow(ctx, "active", "a"))
	must(t, w.svc.Follow(ctx, "away", "a"))
	p, err := w.svc.CreatePost(ctx, "a", "hi", "")
	must(t, err)
	w.bus.Drain(t, w.fanout)
	if got := w.feeds.IDs("active"); !slices.Equal(got, []app.ID{p.ID}) {
		t.Fatalf("active reader's cached feed = %v", got)
	}
	if got := w.feeds.IDs("away"); len(got) != 0 {
		t.Fatalf("fan-out wrote %v for a user without a cached feed", got)
	}
	// The first read of the returning user rebuilds the feed.
	if got := w.read(t, "away"); !slices.Equal(got, []app.ID{p.ID}) {
		t.Fatalf("returning user's first read = %v", got)
	}
	p2, err := w.svc.CreatePost(ctx, "a", "again", "")
	must(t, err)
	w.bus.Drain(t, w.fanout)
	if got := w.feeds.IDs("away"); !slices.Equal(got, []app.ID{p2.ID, p.ID}) {
		t.Fatalf("fan-out after the user's return = %v", got)
	}
}

// hybridWorld has celebrity threshold 2: "star" (3 followers) becomes a
// celebrity on its first post, "small" (1 follower) stays fanned out on write.
func hybridWorld(t *testing.T) *world {
	t.Helper()
	ctx := context.Background()
	w := newWorld("star", "small", "f1", "f2", "f3", "late")
	w.fanout.CelebrityThreshold = 2
	for _, f := range []string{"f1", "f2", "f3"} {
		w.read(t, f)
		must(t, w.svc.Follow(ctx, f, "star"))
	}
	must(t, w.svc.Follow(ctx, "f1", "small"))
	w.bus.Drain(t, w.fanout)
	return w
}

func TestHybridFanout(t *testing.T) {
	ctx := context.Background()
	w := hybridWorld(t)
	first, err := w.svc.CreatePost(ctx, "star", "crossing the threshold", "")
	must(t, err)
	w.bus.Drain(t, w.fanout)
	if st, _ := w.celebs.Statuses(ctx, []string{"star", "small"}); !slices.Equal(st, []app.CelebrityStatus{app.Celebrity, app.NotCelebrity}) {
		t.Fatalf("statuses = %v", st)
	}
	for _, f := range []string{"f1", "f2", "f3"} {
		if got, _ := w.celebs.Followed(ctx, f); !slices.Equal(got, []string{"star"}) {
			t.Fatalf("%s follows celebrities %v", f, got)
		}
	}

	// Later posts of the celebrity touch no follower's feed, yet every
	// follower reads them, merged with fanned-out posts, newest first, with
	// exact paging (pages of 3) and no duplicate of the crossing post.
	var want []app.ID
	want = append(want, first.ID)
	for i := range 7 {
		author := "star"
		if i%3 == 0 {
			author = "small"
		}
		p, err := w.svc.CreatePost(ctx, author, fmt.Sprint(i), "")
		must(t, err)
		want = append(want, p.ID)
	}
	w.bus.Drain(t, w.fanout)
	slices.Reverse(want)
	if got := w.read(t, "f1"); !slices.Equal(got, want) {
		t.Fatalf("f1's merged feed = %v, want %v", got, want)
	}
	cached := w.feeds.IDs("f2")
	if len(cached) > 1 {
		t.Fatalf("fan-out wrote %d celebrity posts into f2's feed, want at most the crossing one", len(cached))
	}
	starOnly := slices.DeleteFunc(slices.Clone(want), func(id app.ID) bool {
		p, _ := w.store.GetPosts(ctx, []app.ID{id})
		return p[id].Author != "star"
	})
	if got := w.read(t, "f2"); !slices.Equal(got, starOnly) {
		t.Fatalf("f2's feed = %v, want %v", got, starOnly)
	}

	// A new follower of the celebrity is recorded, not copied into; a
	// rebuilt feed finds the celebrity through the graph.
	w.read(t, "late")
	must(t, w.svc.Follow(ctx, "late", "star"))
	w.bus.Drain(t, w.fanout)
	if got := w.feeds.IDs("late"); len(got) != 0 {
		t.Fatalf("following a celebrity copied %d posts into the feed", len(got))
	}
	if got := w.read(t, "late"); !slices.Equal(got, starOnly) {
		t.Fatalf("late follower's feed = %v, want %v", got, starOnly)
	}
	w.feeds.Evict("f3")
	w.timelines.Evict("star")
	w.celebs.Forget("f3")
	if got := w.read(t, "f3"); !slices.Equal(got, starOnly) {
		t.Fatalf("rebuilt feed and timeline of f3 = %v, want %v", got, starOnly)
	}

	// Deleting a celebrity's post and unfollowing a celebrity both apply.
	must(t, w.svc.DeletePost(ctx, "star", starOnly[0]))
	must(t, w.svc.Unfollow(ctx, "f2", "star"))
	w.bus.Drain(t, w.fanout)
	if got := w.read(t, "f3"); !slices.Equal(got, starOnly[1:]) {
		t.Fatalf("after delete: %v, want %v", got, starOnly[1:])
	}
	if got := w.read(t, "f2"); len(got) != 0 {
		t.Fatalf("after unfollowing the celebrity f2 still reads %v", got)
	}
}

func TestHybridMarkingResumesAfterACrash(t *testing.T) {
	ctx := context.Background()
	w := hybridWorld(t)
	// A crash after the status was set and before every follower was told.
	must(t, w.celebs.SetStatus(ctx, "star", app.CelebrityMarking))
	p, err := w.svc.CreatePost(ctx, "star", "after the crash", "")
	must(t, err)
	w.bus.Drain(t, w.fanout)
	if st, _ := w.celebs.Statuses(ctx, []string{"star"}); st[0] != app.Celebrity {
		t.Fatalf("status = %v, want Celebrity", st[0])
	}
	for _, f := range []string{"f1", "f2", "f3"} {
		if got := w.read(t, f); !slices.Contains(got, p.ID) {
			t.Fatalf("%s's feed %v lacks the celebrity's post", f, got)
		}
	}
}
