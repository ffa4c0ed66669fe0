package app_test

// Unit tests of the use cases and fan-out logic, on in-memory fakes of the
// ports. The adapters themselves are proven by their conformance suites.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/app/apptest"
	"github.com/feedsvc/feedsvc/internal/testenv"
)

type world struct {
	store     *apptest.Store
	feeds     *apptest.Feeds
	timelines *apptest.Feeds
	celebs    *apptest.Celebrities
	bus       *apptest.Bus
	relay     *app.Relay
	svc       *app.Service
	fanout    *app.Fanout
}

func newWorld(users ...string) *world {
	w := &world{store: apptest.NewStore(), feeds: apptest.NewFeeds(), timelines: apptest.NewFeeds(), bus: &apptest.Bus{}}
	w.celebs = apptest.NewCelebrities(w.feeds)
	log := slog.New(slog.DiscardHandler)
	w.relay = &app.Relay{Outbox: w.store, Publisher: w.bus, Log: log}
	w.svc = w.replica(1)
	w.fanout = &app.Fanout{Posts: w.store, Graph: w.store, Feeds: w.feeds, Unfollows: w.feeds, Timelines: w.timelines, Celebrities: w.celebs,
		FeedCap: 800, PageSize: 2, Log: log}
	for _, u := range users {
		_ = w.store.EnsureUser(context.Background(), u)
	}
	return w
}

// replica returns a Service on w's ports, as another api process
// (node: its ID node) would run it.
func (w *world) replica(node int) *app.Service {
	return &app.Service{Posts: w.store, Graph: w.store, Feeds: w.feeds, Unfollows: w.feeds, RebuildLocks: w.feeds,
		Timelines: w.timelines, Celebrities: w.celebs, Dispatch: flushDispatch{w.relay}, Keys: w.store,
		Notes: w.store, IDs: app.NewIDGen(node), FeedCap: 800, Log: slog.New(slog.DiscardHandler)}
}

// flushDispatch publishes the whole outbox on every dispatch, so the
// events of a call are on the bus when it returns.
type flushDispatch struct{ r *app.Relay }

func (d flushDispatch) Dispatch(ctx context.Context, _ app.OutboxRecord) { _ = d.r.Flush(ctx) }

// read reads user's whole feed, newest first, page by page (which also
// makes the user active: fan-out writes only into cached feeds).
func (w *world) read(t *testing.T, user string) []app.ID {
	t.Helper()
	var got []app.ID
	cursor := ""
	for {
		page, err := w.svc.ReadFeed(context.Background(), user, cursor, 3)
		must(t, err)
		for _, p := range page.Items {
			got = append(got, p.ID)
		}
		if page.NextCursor == "" {
			return got
		}
		cursor = page.NextCursor
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestValidatePostText(t *testing.T) {
	cases := []struct {
		text string
		ok   bool
	}{
		{"hello", true},
		{strings.Repeat("é", 500), true},
		{strings.Repeat("é", 501), false},
		{"", false},
		{"\xff", false},
		{"two\nlines\tand a tab", true},
		{"عربي and English", true},
		{"bell\a", false},
		{"nul\x00", false},
		{"crlf\r\n", true},
		{"c1 \u0085", false},
		{"del \x7f", false},
		{"override \u202e", false},
		{"isolate \u2066", false},
	}
	for _, c := range cases {
		err := app.ValidatePostText(c.text)
		if (err == nil) != c.ok || (err != nil && !errors.Is(err, app.ErrInvalid)) {
			t.Errorf("ValidatePostText(%q...) = %v, want ok=%v", c.text[:min(len(c.text), 8)], err, c.ok)
		}
	}
}

func TestIDGenMonotonic(t *testing.T) {
	g := app.NewIDGen(7)
	prev := app.ID(0)
	for range 10000 {
		id, err := g.Next()
		if err != nil {
			t.Fatal(err)
		}
		if id <= prev {
			t.Fatalf("ID %d not above %d", id, prev)
		}
		prev = id
	}
	if d := time.Since(prev.Time()); d < -time.Minute || d > time.Minute {
		t.Fatalf("ID time %v is not now", prev.Time())
	}
}

func TestFanoutDeliversToEveryFollowerAcrossPages(t *testing.T) {
	w := newWorld("a", "f1", "f2", "f3", "f4", "f5")
	ctx := context.Background()
	for i := 1; i <= 5; i++ {
		must(t, w.svc.Follow(ctx, fmt.Sprintf("f%d", i), "a"))
		w.read(t, fmt.Sprintf("f%d", i))
	}
	w.bus.Drain(t, w.fanout)
	p, err := w.svc.CreatePost(ctx, "a", "hi", "")
	must(t, err)
	if ids := w.feeds.IDs("f1"); len(ids) != 0 {
		t.Fatal("CreatePost wrote a feed itself; fan-out is the consumer's job")
	}
	w.bus.Drain(t, w.fanout)
	for i := 1; i <= 5; i++ {
		if got := w.feeds.IDs(fmt.Sprintf("f%d", i)); !slices.Equal(got, []app.ID{p.ID}) {
			t.Fatalf("f%d's feed = %v", i, got)
		}
	}
}

func TestCreatePostDurableWhileTheBusIsDown(t *testing.T) {
	w := newWorld("a", "f")
	ctx := context.Background()
	must(t, w.svc.Follow(ctx, "f", "a"))
	w.read(t, "f")
	w.bus.Drain(t, w.fanout)
	w.bus.SetDown(true)
	p, err := w.svc.CreatePost(ctx, "a", "kept", "")
	must(t, err) // durable in the store: acknowledged whatever the bus does
	if n := len(w.bus.Pending()); n != 0 {
		t.Fatalf("%d events published with the bus down", n)
	}
	if rec := w.store.Outbox(); len(rec) == 0 || rec[len(rec)-1].Event.Post == nil || rec[len(rec)-1].Event.Post.ID != p.ID || rec[len(rec)-1].Done {
		t.Fatalf("post.created not pending in the outbox: %+v", rec)
	}
	w.bus.SetDown(false)
	must(t, w.relay.Flush(ctx))
	w.bus.Drain(t, w.fanout)
	if got := w.read(t, "f"); !slices.Contains(got, p.ID) {
		t.Fatalf("feed %v lacks the post made while the bus was down", got)
	}
	for _, rec := range w.store.Outbox() {
		if !rec.Done {
			t.Fatalf("record %s not marked done after publishing", rec.ID)
		}
	}
}

func TestCreatePostNotSavedAnnouncesNothing(t *testing.T) {
	w := newWorld("a")
	w.store.FailSave = app.ErrUnavailable
	if _, err := w.svc.CreatePost(context.Background(), "a", "lost?", ""); !errors.Is(err, app.ErrUnavailable) {
		t.Fatalf("CreatePost with the store failing: err = %v, want ErrUnavailable", err)
	}
	must(t, w.relay.Flush(context.Background()))
	if evs := w.bus.Pending(); len(evs) != 0 {
		t.Fatalf("a post that was not saved was announced: %+v", evs)
	}
}

func TestIdempotencyKey(t *testing.T) {
	w := newWorld("a", "b")
	ctx := context.Background()
	p1, err := w.svc.CreatePost(ctx, "a", "once", "k1")
	must(t, err)
	p2, err := w.svc.CreatePost(ctx, "a", "once", "k1")
	must(t, err)
	if p1 != p2 {
		t.Fatalf("retry with the same key made %+v, first call %+v", p2, p1)
	}
	if posts, _ := w.store.AuthorPosts(ctx, "a", 0, 10); len(posts) != 1 {
		t.Fatalf("two calls with one key stored %d posts", len(posts))
	}
	if n := len(w.bus.Pending()); n != 1 {
		t.Fatalf("two calls with one key published %d events, want 1", n)
	}
	if _, err := w.svc.CreatePost(ctx, "a", "something else", "k1"); !errors.Is(err, app.ErrKeyReused) {
		t.Fatalf("same key, other text: err = %v, want ErrKeyReused", err)
	}
	// Keys are per user.
	pb, err := w.svc.CreatePost(ctx, "b", "once", "k1")
	must(t, err)
	if pb.ID == p1.ID {
		t.Fatal("another user's key returned a's post")
	}
	// A retry after the post was deleted says so and brings nothing back.
	must(t, w.svc.DeletePost(ctx, "a", p1.ID))
	if p3, err := w.svc.CreatePost(ctx, "a", "once", "k1"); !errors.Is(err, app.ErrKeyPostDeleted) {
		t.Fatalf("retry after delete = %+v, %v; want ErrKeyPostDeleted", p3, err)
	}
	if posts, _ := w.store.AuthorPosts(ctx, "a", 0, 10); len(posts) != 0 {
		t.Fatalf("retry after delete brought the post back: %v", posts)
	}
	for _, bad := range []string{"has space", strings.Repeat("x", 256)} {
		if _, err := w.svc.CreatePost(ctx, "a", "x", bad); !errors.Is(err, app.ErrInvalid) {
			t.Errorf("key %q: err = %v, want ErrInvalid", bad[:min(len(bad), 10)], err)
		}
	}
}

func TestIdempotencyKeyRewritesAPostThatDidNotLand(t *testing.T) {
	w := newWorld("a")
	ctx := context.Background()
	w.store.FailSave = app.ErrUnavailable
	if _, err := w.svc.CreatePost(ctx, "a", "retry me", "k"); err == nil {
		t.Fatal("save failure not reported")
	}
	p, err := w.svc.CreatePost(ctx, "a", "retry me", "k")
	must(t, err)
	posts, _ := w.store.AuthorPosts(ctx, "a", 0, 10)
	if len(posts) != 1 || posts[0].ID != p.ID {
		t.Fatalf("after a failed first attempt: posts %v, want one with ID %s", posts, p.ID)
	}
}

func TestFollowAnnouncesOnlyNewEdges(t *testing.T) {
	w := newWorld("a", "b")
	ctx := context.Background()
	must(t, w.svc.Follow(ctx, "a", "b"))
	must(t, w.svc.Follow(ctx, "a", "b"))
	must(t, w.svc.Unfollow(ctx, "a", "b"))
	must(t, w.svc.Unfollow(ctx, "a", "b"))
	var types []string
	for _, ev := range w.bus.Pending() {
		types = append(types, ev.Type)
	}
	if want := []string{app.UserFollowed, app.UserUnfollowed}; !slices.Equal(types, want) {
		t.Fatalf("events %v, want %v", types, want)
	}
}

// TestFollowingCap: a follow past MaxFollowing is refused with ErrLimit and
// changes nothing (no edge, no event); following someone already followed
// and unfollowing still work at the cap, and a place freed is usable.
func TestFollowingCap(t *testing.T) {
	w := newWorld("a", "b", "c", "d")
	w.svc.MaxFollowing = 2
	ctx := context.Background()
	must(t, w.svc.Follow(ctx, "a", "b"))
	must(t, w.svc.Follow(ctx, "a", "c"))
	events := len(w.bus.Pending())
	if err := w.svc.Follow(ctx, "a", "d"); !errors.Is(err, app.ErrLimit) {
		t.Fatalf("a third follow: %v, want ErrLimit", err)
	}
	if ok, _ := w.store.IsFollowing(ctx, "a", "d"); ok || len(w.bus.Pending()) != events {
		t.Fatal("the refused follow left an edge or an event")
	}
	must(t, w.svc.Follow(ctx, "a", "b")) // already followed: not new
	must(t, w.svc.Unfollow(ctx, "a", "b"))
	must(t, w.svc.Follow(ctx, "a", "d"))
}

func TestReplayIsHarmless(t *testing.T) {
	ctx := context.Background()
	w := newWorld("a", "b")
	w.read(t, "b")
	must(t, w.svc.Follow(ctx, "b", "a"))
	p1, err := w.svc.CreatePost(ctx, "a", "one", "")
	must(t, err)
	p2, err := w.svc.CreatePost(ctx, "a", "two", "")
	must(t, err)
	must(t, w.svc.DeletePost(ctx, "a", p1.ID))
	must(t, w.svc.Unfollow(ctx, "b", "a"))
	must(t, w.svc.Follow(ctx, "b", "a"))
	log := w.bus.Pending()
	w.bus.Drain(t, w.fanout)
	want := []app.ID{p2.ID}
	if got := w.feeds.IDs("b"); !slices.Equal(got, want) {
		t.Fatalf("feed after first pass = %v, want %v", got, want)
	}
	// Replay the whole log twice: the state must not change.
	for range 2 {
		for _, ev := range log {
			must(t, w.bus.Publish(ctx, ev))
		}
		w.bus.Drain(t, w.fanout)
		if got := w.feeds.IDs("b"); !slices.Equal(got, want) {
			t.Fatalf("feed after replay = %v, want %v", got, want)
		}
	}
}

func TestReadFeedRebuildsALostFeed(t *testing.T) {
	ctx := context.Background()
	w := newWorld("a", "c", "b")
	must(t, w.svc.Follow(ctx, "b", "a"))
	must(t, w.svc.Follow(ctx, "b", "c"))
	var want []app.ID
	for i := range 5 {
		for _, author := range []string{"a", "c"} {
			p, err := w.svc.CreatePost(ctx, author, fmt.Sprint(i), "")
			must(t, err)
			want = append([]app.ID{p.ID}, want...)
		}
	}
	// No fan-out ran: the cache knows nothing of b's feed.
	if got := w.read(t, "b"); !slices.Equal(got, want) {
		t.Fatalf("rebuilt feed = %v, want %v", got, want)
	}
}

func TestServiceErrors(t *testing.T) {
	ctx := context.Background()
	w := newWorld("a", "b")
	p, err := w.svc.CreatePost(ctx, "a", "mine", "")
	must(t, err)
	cases := []struct {
		name string
		err  error
		want error
	}{
		{"follow yourself", w.svc.Follow(ctx, "a", "a"), app.ErrInvalid},
		{"follow unknown", w.svc.Follow(ctx, "a", "zed"), app.ErrNotFound},
		{"delete other's post", w.svc.DeletePost(ctx, "b", p.ID), app.ErrForbidden},
		{"delete unknown post", w.svc.DeletePost(ctx, "a", p.ID+1), app.ErrNotFound},
		{"empty post", func() error { _, err := w.svc.CreatePost(ctx, "a", "", ""); return err }(), app.ErrInvalid},
		{"bad cursor", func() error { _, err := w.svc.ReadFeed(ctx, "a", "x", 10); return err }(), app.ErrInvalid},
		{"followers of unknown", func() error { _, _, err := w.svc.Followers(ctx, "zed", "", 10); return err }(), app.ErrNotFound},
	}
	for _, c := range cases {
		if !errors.Is(c.err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, c.err, c.want)
		}
	}
}

// TestUnfollowDropsPostsDeletedMeanwhile: the follower unfollows and the
// author deletes a post before fan-out handles either, and post.deleted is
// handled first (the follow and post topics are not ordered together): it
// reaches the author's followers only, which no longer include this one;
// the unfollow still takes the deleted post out of the stored feed, and a
// moderated post of the author too.
func TestUnfollowDropsPostsDeletedMeanwhile(t *testing.T) {
	w := newWorld("a", "b", "c")
	ctx := context.Background()
	must(t, w.svc.Follow(ctx, "f", "a"))
	must(t, w.svc.Follow(ctx, "f", "c"))
	w.read(t, "f")
	kept, err := w.svc.CreatePost(ctx, "c", "stays", "")
	must(t, err)
	gone, err := w.svc.CreatePost(ctx, "a", "deleted", "")
	must(t, err)
	hidden, err := w.svc.CreatePost(ctx, "a", "moderated", "")
	must(t, err)
	w.bus.Drain(t, w.fanout)
	if got := w.feeds.IDs("f"); len(got) != 3 {
		t.Fatalf("feed before: %v", got)
	}
	must(t, w.svc.Unfollow(ctx, "f", "a"))
	must(t, w.svc.DeletePost(ctx, "a", gone.ID))
	must(t, w.store.HidePost(ctx, hidden, "spam"))
	evs := w.bus.Pending()
	slices.SortStableFunc(evs, func(x, y app.Event) int { // post events first
		return cmp.Compare(btoi(x.Follow != nil), btoi(y.Follow != nil))
	})
	for _, ev := range evs {
		must(t, w.fanout.Handle(ctx, ev))
	}
	if got := w.feeds.IDs("f"); !slices.Equal(got, []app.ID{kept.ID}) {
		t.Fatalf("stored feed after the unfollow: %v, want only %s", got, kept.ID)
	}
}

// TestRefollowTakesOutPostsModeratedMeanwhile: f follows a (the merge
// writes a's post), unfollows and follows again; the post is moderated
// meanwhile and its post.moderated is handled while f is not among a's
// followers, so it skips f's feed; the unfollow is handled once the graph
// says following again, so it does nothing. The last follow's merge takes
// the moderated post out (the fault suite's cassandra-two-nodes-down found
// one left in a stored feed this way).
func TestRefollowTakesOutPostsModeratedMeanwhile(t *testing.T) {
	w := newWorld("a", "f")
	ctx := context.Background()
	p, err := w.svc.CreatePost(ctx, "a", "soon moderated", "")
	must(t, err)
	must(t, w.svc.Follow(ctx, "f", "a"))
	w.read(t, "f")
	w.bus.Drain(t, w.fanout)
	if got := w.feeds.IDs("f"); !slices.Equal(got, []app.ID{p.ID}) {
		t.Fatalf("feed after the follow: %v", got)
	}
	must(t, w.svc.Unfollow(ctx, "f", "a"))
	must(t, w.store.HidePost(ctx, p, "spam"))
	hidden := p
	hidden.Moderated = "spam"
	// post.moderated while f follows nobody: it reaches no feed of f's.
	must(t, w.fanout.Handle(ctx, app.Event{ID: "post.moderated:" + p.ID.String(), Type: app.PostModerated, Post: &hidden}))
	must(t, w.svc.Follow(ctx, "f", "a"))
	for _, ev := range w.bus.Pending() { // the unfollow (skipped: following again), then the follow
		must(t, w.fanout.Handle(ctx, ev))
	}
	if got := w.feeds.IDs("f"); len(got) != 0 {
		t.Fatalf("stored feed of f: %v, want the moderated post out", got)
	}
}

// TestRefollowTakesOutPostsDeletedMeanwhile is the deleted twin of the
// test above: the post is deleted while f follows nobody, so its
// post.deleted reaches no feed of f's, and the re-follow's merge cannot
// name it (the store no longer lists it). The unfollow, handled once the
// graph follows again, takes it out.
func TestRefollowTakesOutPostsDeletedMeanwhile(t *testing.T) {
	w := newWorld("a", "f")
	ctx := context.Background()
	p, err := w.svc.CreatePost(ctx, "a", "soon deleted", "")
	must(t, err)
	kept, err := w.svc.CreatePost(ctx, "a", "kept", "")
	must(t, err)
	must(t, w.svc.Follow(ctx, "f", "a"))
	w.read(t, "f")
	w.bus.Drain(t, w.fanout)
	if got := w.feeds.IDs("f"); !slices.Equal(got, []app.ID{kept.ID, p.ID}) {
		t.Fatalf("feed after the follow: %v", got)
	}
	must(t, w.svc.Unfollow(ctx, "f", "a"))
	must(t, w.svc.DeletePost(ctx, "a", p.ID))
	// Handled now, post.deleted finds f among no follower of a's.
	for _, ev := range w.bus.Pending() {
		if ev.Type == app.PostDeleted {
			must(t, w.fanout.Handle(ctx, ev))
		}
	}
	must(t, w.svc.Follow(ctx, "f", "a"))
	for _, ev := range w.bus.Pending() { // the unfollow (following again), then the follow
		if ev.Type != app.PostDeleted {
			must(t, w.fanout.Handle(ctx, ev))
		}
	}
	if got := w.feeds.IDs("f"); !slices.Equal(got, []app.ID{kept.ID}) {
		t.Fatalf("stored feed of f: %v, want the deleted post out and %v kept", got, kept.ID)
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// slowGraph counts Following calls and holds each until release closes, so
// that concurrent readers overlap.
type slowGraph struct {
	app.Graph
	calls   atomic.Int32
	release chan struct{}
}

func (g *slowGraph) Following(ctx context.Context, user, cursor string, limit int) ([]string, string, error) {
	g.calls.Add(1)
	<-g.release
	return g.Graph.Following(ctx, user, cursor, limit)
}

// TestConcurrentReadsRebuildOnce: readers of one missing feed arriving
// together, on two api replicas, share one rebuild (or find it done), and
// all of them get the rebuilt feed.
func TestConcurrentReadsRebuildOnce(t *testing.T) {
	ctx := context.Background()
	w := newWorld("a", "b")
	must(t, w.svc.Follow(ctx, "b", "a"))
	p, err := w.svc.CreatePost(ctx, "a", "hello", "")
	must(t, err)
	g := &slowGraph{Graph: w.store, release: make(chan struct{})}
	replicas := []*app.Service{w.svc, w.replica(2)}
	for _, r := range replicas {
		r.Graph = g
	}
	const readers = 8
	var wg sync.WaitGroup
	errs := make(chan error, readers)
	for i := range readers {
		wg.Go(func() {
			page, err := replicas[i%2].ReadFeed(ctx, "b", "", 10)
			if err == nil && (len(page.Items) != 1 || page.Items[0].ID != p.ID) {
				err = fmt.Errorf("page %+v, want the one post", page.Items)
			}
			errs <- err
		})
	}
	// The first rebuild holds the graph read while the others arrive.
	for g.calls.Load() == 0 {
		runtime.Gosched()
	}
	close(g.release)
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}
	if n := g.calls.Load(); n != 1 {
		t.Fatalf("%d rebuilds read the graph, want 1", n)
	}
}

// gatedGraph holds every Following read at its gate and counts how many
// are held at once.
type gatedGraph struct {
	app.Graph
	gate    chan struct{}
	in, max atomic.Int32
}

func (g *gatedGraph) Following(ctx context.Context, user, cursor string, limit int) ([]string, string, error) {
	n := g.in.Add(1)
	defer g.in.Add(-1)
	for m := g.max.Load(); n > m && !g.max.CompareAndSwap(m, n); m = g.max.Load() {
	}
	select {
	case <-g.gate:
	case <-ctx.Done():
		return nil, "", ctx.Err()
	}
	return g.Graph.Following(ctx, user, cursor, limit)
}

// TestRebuildsBounded: a process runs at most MaxRebuilds feed rebuilds at
// once (after a Redis flush every reader's first page would start one);
// readers beyond wait, and give up at their own deadline.
func TestRebuildsBounded(t *testing.T) {
	users := []string{"u1", "u2", "u3", "u4", "u5"}
	w := newWorld(append([]string{"star"}, users...)...)
	g := &gatedGraph{Graph: w.store, gate: make(chan struct{})}
	svc := w.replica(2)
	svc.Graph, svc.MaxRebuilds, svc.RebuildLocks = g, 2, nil
	ctx := context.Background()
	for _, u := range users {
		must(t, w.svc.Follow(ctx, u, "star"))
	}
	_, err := w.svc.CreatePost(ctx, "star", "hello", "")
	must(t, err)

	var wg sync.WaitGroup
	for _, u := range users[:2] {
		wg.Go(func() {
			if _, err := svc.ReadFeed(ctx, u, "", 10); err != nil {
				t.Errorf("%s's feed: %v", u, err)
			}
		})
	}
	testenv.Until(t, "two rebuilds at the gate", func() bool { return g.in.Load() == 2 })
	for _, u := range users[2:] {
		short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		if _, err := svc.ReadFeed(short, u, "", 10); err == nil {
			t.Errorf("%s's feed read while every rebuild slot was taken", u)
		}
		cancel()
	}
	if n := g.in.Load(); n != 2 {
		t.Fatalf("%d rebuilds read the graph at once, want at most 2", n)
	}
	close(g.gate)
	wg.Wait()
	for _, u := range users {
		testenv.Until(t, u+"'s feed rebuilt", func() bool {
			page, err := svc.ReadFeed(ctx, u, "", 10)
			return err == nil && len(page.Items) == 1
		})
	}
	if m := g.max.Load(); m != 2 {
		t.Fatalf("at most %d rebuilds read the graph at once, want 2", m)
	}
}
