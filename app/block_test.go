package app_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/feedsvc/feedsvc/app"
)

// blockCountingGraph counts the block reads it serves: whole block-set reads
// (Blocking, BlockedBy) and single-pair checks (IsBlocked).
type blockCountingGraph struct {
	app.Graph
	lists, checks atomic.Int64
}

func (g *blockCountingGraph) Blocking(ctx context.Context, user, cursor string, limit int) ([]string, string, error) {
	g.lists.Add(1)
	return g.Graph.Blocking(ctx, user, cursor, limit)
}

func (g *blockCountingGraph) BlockedBy(ctx context.Context, user, cursor string, limit int) ([]string, string, error) {
	g.lists.Add(1)
	return g.Graph.BlockedBy(ctx, user, cursor, limit)
}

func (g *blockCountingGraph) IsBlocked(ctx context.Context, blocker, blocked string) (bool, error) {
	g.checks.Add(1)
	return g.Graph.IsBlocked(ctx, blocker, blocked)
}

type nopHandler struct{}

func (nopHandler) Handle(context.Context, app.Event) error { return nil }

// TestBlockEndsFollowsAndTakesPostsOut: a block ends the follows both
// ways (with their events), takes each side's posts out of the other's
// feed, refuses follows either way, and a redelivered user.blocked changes
// nothing more; unblocking brings no follow back.
func TestBlockEndsFollowsAndTakesPostsOut(t *testing.T) {
	ctx := context.Background()
	w := newWorld("a", "b", "c")
	for _, f := range [][2]string{{"a", "b"}, {"b", "a"}, {"c", "a"}} {
		must(t, w.svc.Follow(ctx, f[0], f[1]))
	}
	for _, u := range []string{"a", "b", "c"} {
		w.read(t, u)
	}
	pa, err := w.svc.CreatePost(ctx, "a", "by a", "")
	must(t, err)
	pb, err := w.svc.CreatePost(ctx, "b", "by b", "")
	must(t, err)
	w.bus.Drain(t, w.fanout)
	if got := w.feeds.IDs("a"); !slices.Equal(got, []app.ID{pb.ID}) {
		t.Fatalf("a's feed before the block = %v", got)
	}

	must(t, w.svc.Block(ctx, "a", "b"))
	var blocked app.Event
	var unfollows []app.Follow
	for _, ev := range w.bus.Pending() {
		switch ev.Type {
		case app.UserBlocked:
			blocked = ev
		case app.UserUnfollowed:
			unfollows = append(unfollows, *ev.Follow)
		}
	}
	if blocked.Block == nil || *blocked.Block != (app.Block{Blocker: "a", Blocked: "b"}) || blocked.Key() != "a" {
		t.Fatalf("user.blocked event = %+v", blocked)
	}
	if want := []app.Follow{{Follower: "a", Followee: "b"}, {Follower: "b", Followee: "a"}}; !slices.Equal(unfollows, want) {
		t.Fatalf("unfollows published = %v, want %v", unfollows, want)
	}
	w.bus.Drain(t, w.fanout)
	for u, want := range map[string][]app.ID{"a": nil, "b": nil, "c": {pa.ID}} {
		if got := w.feeds.IDs(u); !slices.Equal(got, want) {
			t.Errorf("%s's feed after the block = %v, want %v", u, got, want)
		}
	}

	// A redelivery of the block changes nothing more, also after the
	// other side posted and a feed was rebuilt.
	must(t, w.fanout.Handle(ctx, blocked))
	w.feeds.Evict("b")
	if got := w.read(t, "b"); len(got) != 0 {
		t.Errorf("b's rebuilt feed = %v, want empty", got)
	}

	for _, f := range [][2]string{{"b", "a"}, {"a", "b"}} {
		if err := w.svc.Follow(ctx, f[0], f[1]); !errors.Is(err, app.ErrForbidden) {
			t.Errorf("%s follows %s across the block: %v, want ErrForbidden", f[0], f[1], err)
		}
	}
	must(t, w.svc.Block(ctx, "a", "b")) // again: harmless, announces nothing
	if n := len(w.bus.Pending()); n != 0 {
		t.Errorf("a repeated block published %d events", n)
	}

	must(t, w.svc.Unblock(ctx, "a", "b"))
	must(t, w.svc.Unblock(ctx, "a", "b"))
	w.bus.Drain(t, w.fanout)
	must(t, w.fanout.Handle(ctx, blocked)) // a replay after the unblock
	if following, _ := w.store.IsFollowing(ctx, "a", "b"); following {
		t.Error("the unblock brought a follow back")
	}
	must(t, w.svc.Follow(ctx, "b", "a"))
	w.bus.Drain(t, w.fanout)
	if got := w.feeds.IDs("b"); !slices.Equal(got, []app.ID{pa.ID}) {
		t.Errorf("b's feed after following a again = %v, want a's post", got)
	}

	for _, c := range []struct {
		a, b string
		want error
	}{{"a", "a", app.ErrInvalid}, {"a", "nobody", app.ErrNotFound}} {
		if err := w.svc.Block(ctx, c.a, c.b); !errors.Is(err, c.want) {
			t.Errorf("Block(%s, %s) = %v, want %v", c.a, c.b, err, c.want)
		}
	}
}

// TestFanoutSkipsBlockedPairs: fan-out writes no post into the feed of a
// follower on either side of a block with the author (follows that raced
// the block), and reads the author's block set once per batch, not per
// follower.
func TestFanoutSkipsBlockedPairs(t *testing.T) {
	ctx := context.Background()
	w := newWorld("a", "f1", "f2", "f3", "blocker", "blocked")
	followers := []string{"f1", "f2", "f3", "blocker", "blocked"}
	for _, f := range followers {
		w.read(t, f)
		must(t, w.svc.Follow(ctx, f, "a"))
	}
	w.bus.Drain(t, w.fanout)
	// Straight into the store: the follows stay, as if they raced.
	_, err := w.store.Block(ctx, "blocker", "a")
	must(t, err)
	_, err = w.store.Block(ctx, "a", "blocked")
	must(t, err)

	g := &blockCountingGraph{Graph: w.store}
	fan := *w.fanout
	fan.Graph = g
	var evs []app.Event
	var ids []app.ID
	for range 3 {
		p, err := w.svc.CreatePost(ctx, "a", "hello", "")
		must(t, err)
		ids = append(ids, p.ID)
	}
	evs = w.bus.Pending()
	w.bus.Drain(t, nopHandler{})
	must(t, fan.HandleBatch(ctx, evs))
	slices.Reverse(ids)
	for _, f := range followers {
		var want []app.ID
		if f != "blocker" && f != "blocked" {
			want = ids
		}
		if got := w.feeds.IDs(f); !slices.Equal(got, want) {
			t.Errorf("%s's feed = %v, want %v", f, got, want)
		}
	}
	// PageSize 2: three pages of followers, one block set (two lists).
	if n, c := g.lists.Load(), g.checks.Load(); n != 2 || c != 0 {
		t.Errorf("a batch of 3 posts to 5 followers read %d block lists and checked %d pairs, want 2 and 0", n, c)
	}
}

// TestBlockDuringFanout: a post's fan-out reads the followers, then a
// block between the author and a follower lands and its events are
// handled, and only then the post is written: it must not stay in the
// follower's feed, whichever side blocked.
func TestBlockDuringFanout(t *testing.T) {
	for _, c := range []struct{ name, blocker, blocked string }{
		{"author blocks the follower", "a", "f"},
		{"follower blocks the author", "f", "a"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			w := newWorld("a", "f", "g")
			must(t, w.svc.Follow(ctx, "f", "a"))
			must(t, w.svc.Follow(ctx, "g", "a"))
			w.read(t, "f")
			w.read(t, "g")
			w.bus.Drain(t, w.fanout)
			p, err := w.svc.CreatePost(ctx, "a", "racing", "")
			must(t, err)
			racing := *w.fanout
			racing.Graph = &racingGraph{Graph: w.store, hook: func() {
				must(t, w.svc.Block(ctx, c.blocker, c.blocked))
				w.bus.Drain(t, w.fanout)
			}}
			w.bus.Drain(t, &racing)
			if got := w.feeds.IDs("f"); len(got) != 0 {
				t.Errorf("f's feed = %v, want empty", got)
			}
			if got := w.feeds.IDs("g"); !slices.Equal(got, []app.ID{p.ID}) {
				t.Errorf("g's feed = %v, want the post", got)
			}
		})
	}
}

// TestBlockDuringRebuild: a feed rebuild reads whom the reader follows,
// then the reader blocks one of them (events handled), and only then the
// rebuild fills the feed: the blocked author's posts must not stay.
func TestBlockDuringRebuild(t *testing.T) {
	ctx := context.Background()
	w := newWorld("a", "b", "f")
	must(t, w.svc.Follow(ctx, "f", "a"))
	must(t, w.svc.Follow(ctx, "f", "b"))
	_, err := w.svc.CreatePost(ctx, "a", "blocked meanwhile", "")
	must(t, err)
	kept, err := w.svc.CreatePost(ctx, "b", "kept", "")
	must(t, err)
	w.bus.Drain(t, w.fanout)
	svc := w.replica(1)
	svc.Graph = &racingGraph{Graph: w.store, hook: func() {
		must(t, w.svc.Block(ctx, "a", "f"))
		w.bus.Drain(t, w.fanout)
	}}
	if _, err := svc.ReadFeed(ctx, "f", "", 10); err != nil {
		t.Fatal(err)
	}
	if got := w.feeds.IDs("f"); !slices.Equal(got, []app.ID{kept.ID}) {
		t.Errorf("f's stored feed after the rebuild = %v, want only %v", got, kept.ID)
	}
}

// TestFeedReadDropsBlockedAuthors: a read drops the posts of users the
// reader blocks or is blocked by, from the stored feed, a rebuild and the
// celebrity timelines merged on read, with one read of the reader's block
// set per page.
func TestFeedReadDropsBlockedAuthors(t *testing.T) {
	ctx := context.Background()
	w := hybridWorld(t) // star: a celebrity on its first post; f1 follows star and small
	must(t, w.store.EnsureUser(ctx, "other"))
	must(t, w.svc.Follow(ctx, "f1", "other"))
	w.bus.Drain(t, w.fanout)
	var star, small, other []app.ID
	for range 2 {
		for author, ids := range map[string]*[]app.ID{"star": &star, "small": &small, "other": &other} {
			p, err := w.svc.CreatePost(ctx, author, "hi", "")
			must(t, err)
			*ids = append(*ids, p.ID)
		}
	}
	w.bus.Drain(t, w.fanout)
	if got := w.read(t, "f1"); len(got) != 6 {
		t.Fatalf("f1 reads %v before any block, want 6 posts", got)
	}
	// Straight into the store, no event handled: only the read filters.
	_, err := w.store.Block(ctx, "f1", "star") // the reader blocks a celebrity (merged on read)
	must(t, err)
	_, err = w.store.Block(ctx, "small", "f1") // an author blocks the reader (fanned out)
	must(t, err)
	want := slices.Clone(other)
	slices.Reverse(want)
	g := &blockCountingGraph{Graph: w.store}
	svc := w.replica(1)
	svc.Graph = g
	page, err := svc.ReadFeed(ctx, "f1", "", 10)
	must(t, err)
	var got []app.ID
	for _, p := range page.Items {
		got = append(got, p.ID)
	}
	if !slices.Equal(got, want) {
		t.Errorf("f1 reads %v, want only other's %v", got, want)
	}
	if n, c := g.lists.Load(), g.checks.Load(); n != 2 || c != 0 {
		t.Errorf("a page of 6 entries read %d block lists and checked %d pairs, want 2 and 0", n, c)
	}
	// Rebuilt: the blocked author's posts are not filled in at all.
	w.feeds.Evict("f1")
	if got := w.read(t, "f1"); !slices.Equal(got, want) {
		t.Errorf("f1's rebuilt feed reads %v, want %v", got, want)
	}
	for _, id := range w.feeds.IDs("f1") {
		if slices.Contains(small, id) {
			t.Errorf("the rebuild filled in post %s of small, who blocks f1", id)
		}
	}
}

// TestNotifierSkipsMentionsAcrossBlocks: a mention from a user who blocks,
// or is blocked by, the mentioned user notifies nobody; others are
// notified. A redelivery changes nothing.
func TestNotifierSkipsMentionsAcrossBlocks(t *testing.T) {
	ctx := context.Background()
	w := newWorld("alice", "bob", "carol", "dave")
	n := &app.Notifier{Graph: w.store, Notifications: w.store, Posts: w.store}
	_, err := w.store.Block(ctx, "bob", "alice") // bob blocks the author
	must(t, err)
	_, err = w.store.Block(ctx, "alice", "carol") // the author blocks carol
	must(t, err)
	p := app.Post{ID: 42, Author: "alice", Text: "hi @bob @carol @dave"}
	must(t, w.store.SavePost(ctx, p))
	for range 2 {
		must(t, n.Handle(ctx, app.Event{ID: "post.created:42", Type: app.PostCreated, Post: &p}))
	}
	for user, want := range map[string]int{"bob": 0, "carol": 0, "dave": 1} {
		ns, err := w.store.Notifications(ctx, user, 0, 10)
		must(t, err)
		if len(ns) != want {
			t.Errorf("%s has %d notifications, want %d: %v", user, len(ns), want, ns)
		}
	}
	// A follow that raced a block notifies nobody either.
	must(t, n.Handle(ctx, app.Event{ID: "user.followed:77", Type: app.UserFollowed, Follow: &app.Follow{Follower: "bob", Followee: "alice"}}))
	if ns, _ := w.store.Notifications(ctx, "alice", 0, 10); len(ns) != 0 {
		t.Errorf("alice was notified of a follow across a block: %v", ns)
	}
}

// TestNotificationsHiddenAcrossBlocks: notifications made before a block
// (a mention, a follow) stay stored but are not shown across it, either
// way; an unblock shows them again.
func TestNotificationsHiddenAcrossBlocks(t *testing.T) {
	ctx := context.Background()
	w := newWorld("alice", "bob", "carol")
	n := &app.Notifier{Graph: w.store, Notifications: w.store, Posts: w.store}
	for i, author := range []string{"bob", "carol"} {
		p := app.Post{ID: app.ID(100 + i), Author: author, Text: "hi @alice"}
		must(t, w.store.SavePost(ctx, p))
		must(t, n.Handle(ctx, app.Event{ID: fmt.Sprintf("post.created:%d", p.ID), Type: app.PostCreated, Post: &p}))
	}
	actors := func() []string {
		t.Helper()
		ns, _, err := w.svc.Notifications(ctx, "alice", "", 10)
		must(t, err)
		var out []string
		for _, n := range ns {
			out = append(out, n.Actor)
		}
		slices.Sort(out)
		return out
	}
	if got := actors(); !slices.Equal(got, []string{"bob", "carol"}) {
		t.Fatalf("before any block: notifications from %v", got)
	}
	must(t, w.svc.Block(ctx, "alice", "bob"))   // the reader blocks
	must(t, w.svc.Block(ctx, "carol", "alice")) // the reader is blocked
	if got := actors(); len(got) != 0 {
		t.Fatalf("notifications shown across blocks: from %v", got)
	}
	must(t, w.svc.Unblock(ctx, "alice", "bob"))
	if got := actors(); !slices.Equal(got, []string{"bob"}) {
		t.Fatalf("after alice unblocked bob: notifications from %v, want bob's", got)
	}
}

// blockingGraph runs hook right before the first Follow it serves: a
// block lands between a follow's checks and its write.
type blockingGraph struct {
	app.Graph
	hook func()
}

func (g *blockingGraph) Follow(ctx context.Context, follower, followee string, out ...app.OutboxRecord) (bool, error) {
	if g.hook != nil {
		g.hook()
		g.hook = nil
	}
	return g.Graph.Follow(ctx, follower, followee, out...)
}

// TestFollowRacingABlock: a block lands between a follow's check and its
// write (its Block found no edge to end): the follow undoes itself and
// answers ErrForbidden.
func TestFollowRacingABlock(t *testing.T) {
	ctx := context.Background()
	w := newWorld("a", "f")
	svc := w.replica(2)
	svc.Graph = &blockingGraph{Graph: w.store, hook: func() { must(t, w.svc.Block(ctx, "a", "f")) }}
	if err := svc.Follow(ctx, "f", "a"); !errors.Is(err, app.ErrForbidden) {
		t.Fatalf("follow racing a block = %v, want ErrForbidden", err)
	}
	if following, _ := w.store.IsFollowing(ctx, "f", "a"); following {
		t.Fatal("a follow racing a block stayed")
	}
}

// TestUnblockEndsAFollowLeftAcrossTheBlock: a follow edge that survived a
// block (a follow that raced it and whose undo never ran) ends with the
// unblock, with its event: unblocking brings no follow back.
func TestUnblockEndsAFollowLeftAcrossTheBlock(t *testing.T) {
	ctx := context.Background()
	w := newWorld("a", "f")
	must(t, w.svc.Block(ctx, "a", "f"))
	// The edge as a follow racing the block leaves it when its process
	// dies before its re-check: written straight to the store.
	_, err := w.store.Follow(ctx, "f", "a")
	must(t, err)
	must(t, w.svc.Unblock(ctx, "a", "f"))
	if following, _ := w.store.IsFollowing(ctx, "f", "a"); following {
		t.Fatal("a follow left across a block came back with the unblock")
	}
}

// TestFollowsAcrossABlockAreNotListed: a follow edge left across a block
// (its LWT's outcome unknown when the block read the graph) is listed on
// neither side.
func TestFollowsAcrossABlockAreNotListed(t *testing.T) {
	ctx := context.Background()
	w := newWorld("a", "f", "g")
	must(t, w.svc.Follow(ctx, "g", "a"))
	must(t, w.svc.Block(ctx, "a", "f"))
	_, err := w.store.Follow(ctx, "f", "a") // as a completed LWT leaves it
	must(t, err)
	followers, _, err := w.svc.Followers(ctx, "a", "", 10)
	must(t, err)
	following, _, err := w.svc.Following(ctx, "f", "", 10)
	must(t, err)
	if !slices.Equal(followers, []string{"g"}) || len(following) != 0 {
		t.Fatalf("followers of a = %v (want g), f follows %v (want none)", followers, following)
	}
}
