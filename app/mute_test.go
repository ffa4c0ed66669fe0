package app_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/feedsvc/feedsvc/app"
)

// muteCountingGraph counts the mute reads it serves, on top of the block
// reads blockCountingGraph counts: whole mute lists (Muting, MutedBy) and
// single-pair reads (GetMute).
type muteCountingGraph struct {
	blockCountingGraph
	muteLists, muteGets atomic.Int64
}

func (g *muteCountingGraph) Muting(ctx context.Context, user, cursor string, limit int) ([]app.Mute, string, error) {
	g.muteLists.Add(1)
	return g.Graph.Muting(ctx, user, cursor, limit)
}

func (g *muteCountingGraph) MutedBy(ctx context.Context, user, cursor string, limit int) ([]app.Mute, string, error) {
	g.muteLists.Add(1)
	return g.Graph.MutedBy(ctx, user, cursor, limit)
}

func (g *muteCountingGraph) GetMute(ctx context.Context, muter, muted string) (app.Mute, bool, error) {
	g.muteGets.Add(1)
	return g.Graph.GetMute(ctx, muter, muted)
}

// clock is a settable clock for the world's service and fan-out.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// withClock runs w's service and fan-out on a clock of their own.
func withClock(w *world) *clock {
	c := &clock{now: time.Now()}
	w.svc.Now, w.fanout.Now = c.Now, c.Now
	return c
}

func feedOf(t *testing.T, w *world, user string) []app.ID {
	t.Helper()
	got := w.feeds.IDs(user)
	slices.Sort(got)
	return got
}

func sorted(ids ...app.ID) []app.ID {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	return ids
}

// TestMuteTakesPostsOutAndUnmuteRefills: a mute keeps the follow, takes
// the muted user's posts out of the muter's stored feed (one way) and
// keeps new ones out; a redelivered user.muted changes nothing more; the
// unmute merges them all back, also those posted meanwhile.
func TestMuteTakesPostsOutAndUnmuteRefills(t *testing.T) {
	ctx := context.Background()
	w := newWorld("a", "b", "c")
	for _, f := range [][2]string{{"a", "b"}, {"a", "c"}, {"b", "a"}} {
		must(t, w.svc.Follow(ctx, f[0], f[1]))
	}
	for _, u := range []string{"a", "b"} {
		w.read(t, u)
	}
	pb, err := w.svc.CreatePost(ctx, "b", "by b", "")
	must(t, err)
	pc, err := w.svc.CreatePost(ctx, "c", "by c", "")
	must(t, err)
	pa, err := w.svc.CreatePost(ctx, "a", "by a", "")
	must(t, err)
	w.bus.Drain(t, w.fanout)

	must(t, w.svc.Mute(ctx, "a", "b", 0))
	evs := w.bus.Pending()
	if len(evs) != 1 || evs[0].Type != app.UserMuted || evs[0].Mute == nil ||
		*evs[0].Mute != (app.Mute{Muter: "a", Muted: "b"}) || evs[0].Key() != "a" {
		t.Fatalf("a mute published %+v, want one user.muted keyed by the muter", evs)
	}
	muted := evs[0]
	w.bus.Drain(t, w.fanout)
	if got := feedOf(t, w, "a"); !slices.Equal(got, []app.ID{pc.ID}) {
		t.Errorf("a's feed after muting b = %v, want only c's post", got)
	}
	if got := feedOf(t, w, "b"); !slices.Equal(got, []app.ID{pa.ID}) {
		t.Errorf("b's feed = %v, want a's post: a mute is one way", got)
	}
	if following, _ := w.store.IsFollowing(ctx, "a", "b"); !following {
		t.Error("the mute ended the follow")
	}
	later, err := w.svc.CreatePost(ctx, "b", "while muted", "")
	must(t, err)
	w.bus.Drain(t, w.fanout)
	must(t, w.fanout.Handle(ctx, muted)) // a redelivery
	if got := feedOf(t, w, "a"); !slices.Equal(got, []app.ID{pc.ID}) {
		t.Errorf("a's feed after b posted while muted = %v, want only c's post", got)
	}
	must(t, w.svc.Mute(ctx, "a", "b", 0)) // again: harmless, announces nothing
	if n := len(w.bus.Pending()); n != 0 {
		t.Errorf("a repeated mute published %d events", n)
	}

	must(t, w.svc.Unmute(ctx, "a", "b"))
	must(t, w.svc.Unmute(ctx, "a", "b"))
	if n := len(w.bus.Pending()); n != 1 {
		t.Errorf("two unmutes published %d events, want 1", n)
	}
	w.bus.Drain(t, w.fanout)
	must(t, w.fanout.Handle(ctx, muted)) // a replay after the unmute
	if got, want := feedOf(t, w, "a"), sorted(pb.ID, pc.ID, later.ID); !slices.Equal(got, want) {
		t.Errorf("a's feed after the unmute = %v, want %v", got, want)
	}

	for _, c := range []struct {
		a, b string
		d    time.Duration
		want error
	}{
		{"a", "a", 0, app.ErrInvalid},
		{"a", "nobody", 0, app.ErrNotFound},
		{"a", "b", -time.Second, app.ErrInvalid},
		{"a", "b", app.MaxMuteDuration + time.Millisecond, app.ErrInvalid},
	} {
		if err := w.svc.Mute(ctx, c.a, c.b, c.d); !errors.Is(err, c.want) {
			t.Errorf("Mute(%s, %s, %s) = %v, want %v", c.a, c.b, c.d, err, c.want)
		}
	}
	if err := w.svc.Unmute(ctx, "a", "a"); !errors.Is(err, app.ErrInvalid) {
		t.Errorf("Unmute(a, a) = %v, want ErrInvalid", err)
	}
}

// TestFanoutSkipsMuters: fan-out writes no post into the feed of a
// follower who mutes the author, ignores an expired mute, and reads the
// author's "muted by" set with its block set once per batch, never per
// follower.
func TestFanoutSkipsMuters(t *testing.T) {
	ctx := context.Background()
	w := newWorld("a", "f1", "f2", "muter", "expired", "blocker")
	followers := []string{"f1", "f2", "muter", "expired", "blocker"}
	for _, f := range followers {
		w.read(t, f)
		must(t, w.svc.Follow(ctx, f, "a"))
	}
	w.bus.Drain(t, w.fanout)
	// Straight into the store: no user.muted handled, only the skip.
	_, err := w.store.Mute(ctx, app.Mute{Muter: "muter", Muted: "a", ExpiresAt: time.Now().Add(time.Hour)})
	must(t, err)
	_, err = w.store.Mute(ctx, app.Mute{Muter: "expired", Muted: "a", ExpiresAt: time.Now().Add(-time.Second)})
	must(t, err)
	_, err = w.store.Block(ctx, "blocker", "a")
	must(t, err)

	g := &muteCountingGraph{blockCountingGraph: blockCountingGraph{Graph: w.store}}
	fan := *w.fanout
	fan.Graph = g
	var ids []app.ID
	for range 3 {
		p, err := w.svc.CreatePost(ctx, "a", "hello", "")
		must(t, err)
		ids = append(ids, p.ID)
	}
	evs := w.bus.Pending()
	w.bus.Drain(t, nopHandler{})
	must(t, fan.HandleBatch(ctx, evs))
	slices.Sort(ids)
	for _, f := range followers {
		want := ids
		if f == "muter" || f == "blocker" {
			want = nil
		}
		if got := feedOf(t, w, f); !slices.Equal(got, want) {
			t.Errorf("%s's feed = %v, want %v", f, got, want)
		}
	}
	// PageSize 2: three pages of followers, one hidden set.
	if b, m, c := g.lists.Load(), g.muteLists.Load(), g.checks.Load()+g.muteGets.Load(); b != 2 || m != 1 || c != 0 {
		t.Errorf("a batch of 3 posts to 5 followers read %d block lists, %d mute lists and checked %d pairs, want 2, 1 and 0", b, m, c)
	}
}

// TestMuteDuringFanout: a post's fan-out reads the author's hidden set
// and followers, then a follower mutes the author and its user.muted is
// handled, and only then the post is written: it must not stay in the
// muter's feed (the take-back of unfollows).
func TestMuteDuringFanout(t *testing.T) {
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
		must(t, w.svc.Mute(ctx, "f", "a", time.Hour))
		w.bus.Drain(t, w.fanout)
	}}
	w.bus.Drain(t, &racing)
	if got := w.feeds.IDs("f"); len(got) != 0 {
		t.Errorf("f's feed = %v, want empty", got)
	}
	if got := w.feeds.IDs("g"); !slices.Equal(got, []app.ID{p.ID}) {
		t.Errorf("g's feed = %v, want the post", got)
	}
	// The unmute brings it back.
	must(t, w.svc.Unmute(ctx, "f", "a"))
	w.bus.Drain(t, w.fanout)
	if got := w.feeds.IDs("f"); !slices.Equal(got, []app.ID{p.ID}) {
		t.Errorf("f's feed after the unmute = %v, want the post", got)
	}
}

// TestMuteDuringRebuild: a feed rebuild reads whom the reader follows,
// then the reader mutes one of them (events handled), and only then the
// rebuild fills the feed: the muted author's posts must not stay.
func TestMuteDuringRebuild(t *testing.T) {
	ctx := context.Background()
	w := newWorld("a", "b", "f")
	must(t, w.svc.Follow(ctx, "f", "a"))
	must(t, w.svc.Follow(ctx, "f", "b"))
	_, err := w.svc.CreatePost(ctx, "a", "muted meanwhile", "")
	must(t, err)
	kept, err := w.svc.CreatePost(ctx, "b", "kept", "")
	must(t, err)
	w.bus.Drain(t, w.fanout)
	svc := w.replica(1)
	svc.Graph = &racingGraph{Graph: w.store, hook: func() {
		must(t, w.svc.Mute(ctx, "f", "a", 0))
		w.bus.Drain(t, w.fanout)
	}}
	if _, err := svc.ReadFeed(ctx, "f", "", 10); err != nil {
		t.Fatal(err)
	}
	if got := w.feeds.IDs("f"); !slices.Equal(got, []app.ID{kept.ID}) {
		t.Errorf("f's stored feed after the rebuild = %v, want only %v", got, kept.ID)
	}
}

// TestFeedReadDropsMutedAuthors: a read drops the posts of users the
// reader mutes, from the stored feed, a rebuild and the celebrity
// timelines merged on read, with one read of the reader's mutes (with its
// blocks) per page; a mute of the reader does not hide its author.
func TestFeedReadDropsMutedAuthors(t *testing.T) {
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
		t.Fatalf("f1 reads %v before any mute, want 6 posts", got)
	}
	// Straight into the store, no event handled: only the read filters.
	for _, m := range []app.Mute{
		{Muter: "f1", Muted: "star"},                                        // a celebrity, merged on read
		{Muter: "f1", Muted: "small", ExpiresAt: time.Now().Add(time.Hour)}, // fanned out
		{Muter: "other", Muted: "f1"},                                       // the other way: hides nothing from f1
	} {
		_, err := w.store.Mute(ctx, m)
		must(t, err)
	}
	want := slices.Clone(other)
	slices.Reverse(want)
	g := &muteCountingGraph{blockCountingGraph: blockCountingGraph{Graph: w.store}}
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
	if b, m, c := g.lists.Load(), g.muteLists.Load(), g.checks.Load()+g.muteGets.Load(); b != 2 || m != 1 || c != 0 {
		t.Errorf("a page read %d block lists, %d mute lists and checked %d pairs, want 2, 1 and 0", b, m, c)
	}
	// Rebuilt: the muted authors' posts are not filled in at all.
	w.feeds.Evict("f1")
	if got := w.read(t, "f1"); !slices.Equal(got, want) {
		t.Errorf("f1's rebuilt feed reads %v, want %v", got, want)
	}
	for _, id := range w.feeds.IDs("f1") {
		if slices.Contains(small, id) || slices.Contains(star, id) {
			t.Errorf("the rebuild filled in post %s of a muted author", id)
		}
	}
}

// TestMuteExpires: a mute with a duration hides the posts until it
// expires; then fan-out ignores it, and the muter's first read (of an
// empty feed, too) expires it with a user.unmuted that merges the posts
// back. An expiry handled after a mute made again changes nothing.
func TestMuteExpires(t *testing.T) {
	ctx := context.Background()
	w := newWorld("a", "b")
	clk := withClock(w)
	must(t, w.svc.Follow(ctx, "a", "b"))
	w.read(t, "a")
	p1, err := w.svc.CreatePost(ctx, "b", "before", "")
	must(t, err)
	w.bus.Drain(t, w.fanout)
	must(t, w.svc.Mute(ctx, "a", "b", time.Hour))
	w.bus.Drain(t, w.fanout)
	p2, err := w.svc.CreatePost(ctx, "b", "while muted", "")
	must(t, err)
	w.bus.Drain(t, w.fanout)
	if got := w.read(t, "a"); len(got) != 0 {
		t.Fatalf("a reads %v while muting b, want nothing", got)
	}
	if n := len(w.bus.Pending()); n != 0 {
		t.Fatalf("a read of an active mute published %d events", n)
	}

	clk.Advance(time.Hour + time.Millisecond)
	mutes, _, err := w.svc.Muting(ctx, "a", "", 10)
	must(t, err)
	if len(mutes) != 0 {
		t.Errorf("a's mutes after the expiry = %+v, want none", mutes)
	}
	evs := w.bus.Pending()
	if len(evs) != 1 || evs[0].Type != app.UserUnmuted || evs[0].Mute == nil || evs[0].Mute.ExpiresAt.IsZero() {
		t.Fatalf("meeting the expired mute published %+v, want one user.unmuted with the expiry", evs)
	}
	expiry := evs[0]
	w.bus.Drain(t, w.fanout)
	if got, want := feedOf(t, w, "a"), sorted(p1.ID, p2.ID); !slices.Equal(got, want) {
		t.Errorf("a's feed after the expiry = %v, want %v", got, want)
	}
	p3, err := w.svc.CreatePost(ctx, "b", "after", "")
	must(t, err)
	w.bus.Drain(t, w.fanout)
	if got := w.read(t, "a"); !slices.Equal(got, []app.ID{p3.ID, p2.ID, p1.ID}) {
		t.Errorf("a reads %v after the expiry, want all three", got)
	}

	// Muted again: the old expiry, redelivered, brings nothing back.
	must(t, w.svc.Mute(ctx, "a", "b", 0))
	w.bus.Drain(t, w.fanout)
	must(t, w.fanout.Handle(ctx, expiry))
	if got := w.feeds.IDs("a"); len(got) != 0 {
		t.Errorf("a's feed after an old expiry over a new mute = %v, want empty", got)
	}
}

// TestExpiredMuteMetByAFeedRead: the feed read is the read that meets an
// expired mute (here one whose feed it emptied): its posts come back,
// those posted past the expiry too.
func TestExpiredMuteMetByAFeedRead(t *testing.T) {
	ctx := context.Background()
	w := newWorld("a", "b")
	clk := withClock(w)
	must(t, w.svc.Follow(ctx, "a", "b"))
	w.read(t, "a")
	p1, err := w.svc.CreatePost(ctx, "b", "before", "")
	must(t, err)
	must(t, w.svc.Mute(ctx, "a", "b", time.Minute))
	w.bus.Drain(t, w.fanout)
	if got := w.feeds.IDs("a"); len(got) != 0 {
		t.Fatalf("a's feed while muting = %v", got)
	}
	clk.Advance(2 * time.Minute)
	// Fan-out ignores the expired mute, but the mute's unfollow record
	// (see Unfollows) may still take the post back: it comes back with
	// the unmute, as the others.
	p2, err := w.svc.CreatePost(ctx, "b", "after the expiry", "")
	must(t, err)
	w.bus.Drain(t, w.fanout)
	w.read(t, "a")
	if evs := w.bus.Pending(); len(evs) != 1 || evs[0].Type != app.UserUnmuted {
		t.Fatalf("a's first read after the expiry published %+v, want one user.unmuted", evs)
	}
	w.bus.Drain(t, w.fanout) // the user.unmuted that read published
	if got := w.read(t, "a"); !slices.Equal(got, []app.ID{p2.ID, p1.ID}) {
		t.Errorf("a reads %v once the expiry is handled, want both", got)
	}
	if _, ok, _ := w.store.GetMute(ctx, "a", "b"); ok {
		t.Error("the expired mute is still stored")
	}
}

// TestFollowWhileMuted: a follow of a user one mutes merges nothing; the
// unmute does. An unmute of a user one no longer follows merges nothing.
func TestFollowWhileMuted(t *testing.T) {
	ctx := context.Background()
	w := newWorld("a", "b", "c")
	w.read(t, "a")
	pb, err := w.svc.CreatePost(ctx, "b", "by b", "")
	must(t, err)
	_, err = w.svc.CreatePost(ctx, "c", "by c", "")
	must(t, err)
	must(t, w.svc.Mute(ctx, "a", "b", 0))
	must(t, w.svc.Mute(ctx, "a", "c", 0))
	must(t, w.svc.Follow(ctx, "a", "b"))
	w.bus.Drain(t, w.fanout)
	if got := w.feeds.IDs("a"); len(got) != 0 {
		t.Fatalf("a's feed after following a user it mutes = %v, want empty", got)
	}
	must(t, w.svc.Unmute(ctx, "a", "b"))
	must(t, w.svc.Unmute(ctx, "a", "c")) // not followed
	w.bus.Drain(t, w.fanout)
	if got := w.feeds.IDs("a"); !slices.Equal(got, []app.ID{pb.ID}) {
		t.Errorf("a's feed after the unmutes = %v, want b's post only", got)
	}
}

// TestNotifierSkipsMentionsOfMuters: a mention does not notify a user
// who mutes its author; a mute the other way, or an expired one, does not
// stop it. A redelivery changes nothing.
func TestNotifierSkipsMentionsOfMuters(t *testing.T) {
	ctx := context.Background()
	w := newWorld("alice", "bob", "carol", "dave", "erin")
	n := &app.Notifier{Graph: w.store, Notifications: w.store, Posts: w.store}
	for _, m := range []app.Mute{
		{Muter: "bob", Muted: "alice"},                                           // bob mutes the author
		{Muter: "alice", Muted: "carol"},                                         // the author mutes carol: one way
		{Muter: "dave", Muted: "alice", ExpiresAt: time.Now().Add(-time.Second)}, // expired
		{Muter: "erin", Muted: "alice", ExpiresAt: time.Now().Add(time.Hour)},
	} {
		_, err := w.store.Mute(ctx, m)
		must(t, err)
	}
	p := app.Post{ID: 42, Author: "alice", Text: "hi @bob @carol @dave @erin"}
	must(t, w.store.SavePost(ctx, p))
	for range 2 {
		must(t, n.Handle(ctx, app.Event{ID: "post.created:42", Type: app.PostCreated, Post: &p}))
	}
	for user, want := range map[string]int{"bob": 0, "carol": 1, "dave": 1, "erin": 0} {
		ns, err := w.store.Notifications(ctx, user, 0, 10)
		must(t, err)
		if len(ns) != want {
			t.Errorf("%s has %d notifications, want %d: %v", user, len(ns), want, ns)
		}
	}
}

// TestFanoutQuietAuthors: with Quiet, an author whose hidden set was read
// empty is not read again for its next posts; a mute handled by another
// fan-out process meanwhile still keeps the next post out of the muter's
// feed (take-back), and a mute handled by this one makes it read again.
func TestFanoutQuietAuthors(t *testing.T) {
	ctx := context.Background()
	w := newWorld("a", "f", "g")
	for _, u := range []string{"f", "g"} {
		w.read(t, u)
		must(t, w.svc.Follow(ctx, u, "a"))
	}
	w.bus.Drain(t, w.fanout)
	g := &muteCountingGraph{blockCountingGraph: blockCountingGraph{Graph: w.store}}
	fan := *w.fanout
	fan.Graph, fan.Quiet = g, app.NewQuietAuthors()
	post := func() app.ID {
		t.Helper()
		p, err := w.svc.CreatePost(ctx, "a", "hello", "")
		must(t, err)
		w.bus.Drain(t, &fan)
		return p.ID
	}
	p1, p2 := post(), post()
	if b, m := g.lists.Load(), g.muteLists.Load(); b != 2 || m != 1 {
		t.Errorf("two posts of a quiet author read %d block lists and %d mute lists, want 2 and 1 (once)", b, m)
	}
	// f mutes a; another process's fan-out handles the user.muted.
	must(t, w.svc.Mute(ctx, "f", "a", time.Hour))
	other := *w.fanout
	other.Quiet = app.NewQuietAuthors()
	w.bus.Drain(t, &other)
	p3 := post() // this process still takes a to be quiet
	if got := w.feeds.IDs("f"); len(got) != 0 {
		t.Errorf("f's feed = %v after muting a, want empty", got)
	}
	if got := w.feeds.IDs("g"); !slices.Equal(got, []app.ID{p3, p2, p1}) {
		t.Errorf("g's feed = %v, want %v", got, []app.ID{p3, p2, p1})
	}
	// A mute handled here forgets a: its next post reads the set again.
	must(t, w.svc.Unmute(ctx, "f", "a"))
	must(t, w.svc.Mute(ctx, "f", "a", time.Hour))
	before := g.muteLists.Load()
	w.bus.Drain(t, &fan)
	post()
	if g.muteLists.Load() == before {
		t.Error("a post after a mute handled by this process read no mute list")
	}
}
