package app_test

// Unit tests of the use cases and fan-out logic, on in-memory fakes of the
// ports. The adapters themselves are proven by their conformance suites.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/app/apptest"
)

type world struct {
	store     *apptest.Store
	feeds     *apptest.Feeds
	timelines *apptest.Feeds
	celebs    *apptest.Celebrities
	bus       *apptest.Bus
	svc       *app.Service
	fanout    *app.Fanout
}

func newWorld(users ...string) *world {
	w := &world{store: apptest.NewStore(), feeds: apptest.NewFeeds(), timelines: apptest.NewFeeds(), bus: &apptest.Bus{}}
	w.celebs = apptest.NewCelebrities(w.feeds)
	log := slog.New(slog.DiscardHandler)
	w.svc = &app.Service{Posts: w.store, Graph: w.store, Feeds: w.feeds, Timelines: w.timelines, Celebrities: w.celebs,
		Events: w.bus, IDs: app.NewIDGen(1), FeedCap: 800, Log: log}
	w.fanout = &app.Fanout{Posts: w.store, Graph: w.store, Feeds: w.feeds, Timelines: w.timelines, Celebrities: w.celebs,
		FeedCap: 800, PageSize: 2, Log: log}
	for _, u := range users {
		_ = w.store.EnsureUser(context.Background(), u)
	}
	return w
}

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
	p, err := w.svc.CreatePost(ctx, "a", "hi")
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

func TestCreatePostWithdrawnWhenPublishFails(t *testing.T) {
	w := newWorld("a")
	w.bus.SetDown(true)
	if _, err := w.svc.CreatePost(context.Background(), "a", "lost?"); err == nil {
		t.Fatal("CreatePost succeeded with the broker down")
	}
	if posts, _ := w.store.AuthorPosts(context.Background(), "a", 0, 10); len(posts) != 0 {
		t.Fatalf("an unannounced post stayed in the store: %v", posts)
	}
}

func TestReplayIsHarmless(t *testing.T) {
	ctx := context.Background()
	w := newWorld("a", "b")
	w.read(t, "b")
	must(t, w.svc.Follow(ctx, "b", "a"))
	p1, err := w.svc.CreatePost(ctx, "a", "one")
	must(t, err)
	p2, err := w.svc.CreatePost(ctx, "a", "two")
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
			p, err := w.svc.CreatePost(ctx, author, fmt.Sprint(i))
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
	p, err := w.svc.CreatePost(ctx, "a", "mine")
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
		{"empty post", func() error { _, err := w.svc.CreatePost(ctx, "a", ""); return err }(), app.ErrInvalid},
		{"bad cursor", func() error { _, err := w.svc.ReadFeed(ctx, "a", "x", 10); return err }(), app.ErrInvalid},
		{"followers of unknown", func() error { _, _, err := w.svc.Followers(ctx, "zed", "", 10); return err }(), app.ErrNotFound},
	}
	for _, c := range cases {
		if !errors.Is(c.err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, c.err, c.want)
		}
	}
}
