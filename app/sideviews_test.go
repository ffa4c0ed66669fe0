package app_test

// The side views follow deletion and moderation: a post.created whose post
// the store does not return is retried for a bounded window unless its
// deletion is recorded; a deleted or moderated post loses its mentions and
// its place in the trends; a moderation never brings a deleted post back.

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/app/apptest"
)

// consumerCase builds one consumer on store with the clock now and reports
// whether the post's effect (a feed entry, an index entry, a decision, a
// mention) is there.
type consumerCase struct {
	name   string
	build  func(t *testing.T, store *apptest.Store, now func() time.Time, window time.Duration) (app.Handler, func(app.ID) bool)
	author string
	text   string
}

var consumerCases = []consumerCase{
	{"fanout", func(t *testing.T, store *apptest.Store, now func() time.Time, window time.Duration) (app.Handler, func(app.ID) bool) {
		feeds := apptest.NewFeeds()
		_, _ = store.Follow(context.Background(), "reader", "ann")
		must(t, feeds.Fill(context.Background(), "reader", nil)) // an active reader
		h := &app.Fanout{Posts: store, Graph: store, Feeds: feeds, Unfollows: feeds, Timelines: apptest.NewFeeds(), FeedCap: 10,
			PendingWindow: window, Now: now, Log: slog.New(slog.DiscardHandler)}
		return h, func(id app.ID) bool { return slices.Contains(feeds.IDs("reader"), id) }
	}, "ann", "hello readers"},
	{"search", func(t *testing.T, store *apptest.Store, now func() time.Time, window time.Duration) (app.Handler, func(app.ID) bool) {
		x := apptest.NewSearch()
		h := &app.Indexer{Posts: store, Search: x, PendingWindow: window, Now: now}
		return h, func(id app.ID) bool { _, ok := x.Docs()[id]; return ok }
	}, "ann", "findable words"},
	{"moderation", func(t *testing.T, store *apptest.Store, now func() time.Time, window time.Duration) (app.Handler, func(app.ID) bool) {
		m, err := app.NewModerator(app.Moderator{Posts: store, Decisions: store, Events: &apptest.Bus{},
			Rules: app.ModerationRules{Blocklist: []string{"spamword"}}, Log: slog.New(slog.DiscardHandler),
			Now: now, PendingWindow: window})
		must(t, err)
		return m, func(id app.ID) bool {
			ds, _ := store.Decisions(context.Background(), 0, 100)
			return slices.ContainsFunc(ds, func(d app.Decision) bool { return d.Post == id })
		}
	}, "ann", "buy spamword"},
	{"notifications", func(t *testing.T, store *apptest.Store, now func() time.Time, window time.Duration) (app.Handler, func(app.ID) bool) {
		must(t, store.EnsureUser(context.Background(), "bob"))
		h := &app.Notifier{Graph: store, Notifications: store, Posts: store, PendingWindow: window, Now: now}
		return h, func(id app.ID) bool {
			ns, _ := store.Notifications(context.Background(), "bob", 0, 100)
			return slices.ContainsFunc(ns, func(n app.Notification) bool { return n.Post == id })
		}
	}, "ann", "hi @bob"},
}

// TestPendingWindow: a post.created whose post is neither found nor
// recorded deleted fails (so the runner retries it) while the event is
// younger than the window, and is skipped after it; a recorded deletion is
// skipped at once; a post that shows up within the window is handled.
func TestPendingWindow(t *testing.T) {
	ids := app.NewIDGen(3)
	steps := []struct {
		name    string
		age     time.Duration // of the event, on the injected clock
		window  time.Duration // 0: the default
		stored  bool          // the post is visible
		deleted bool          // its deletion is recorded
		pending bool          // Handle fails with ErrPostPending
		effect  bool
	}{
		{"not visible yet: retried", time.Minute, 0, false, false, true, false},
		{"visible on a retry: handled", time.Minute, 0, true, false, false, true},
		{"recorded deleted: skipped at once", time.Second, 0, false, true, false, false},
		{"missing past the default window: skipped", app.DefaultPendingWindow + time.Second, 0, false, false, false, false},
		{"missing within a longer window: retried", 5 * time.Minute, 10 * time.Minute, false, false, true, false},
	}
	for _, c := range consumerCases {
		for _, st := range steps {
			t.Run(c.name+"/"+st.name, func(t *testing.T) {
				ctx := context.Background()
				store := apptest.NewStore()
				p := app.Post{ID: next(ids), Author: c.author, Text: c.text}
				p.CreatedAt = p.ID.Time().UTC()
				ev := app.Event{ID: app.PostCreated + ":" + p.ID.String(), Type: app.PostCreated, Time: p.CreatedAt, Post: &p}
				now := func() time.Time { return p.CreatedAt.Add(st.age) }
				h, effect := c.build(t, store, now, st.window)
				if st.stored {
					must(t, store.SavePost(ctx, p))
				}
				if st.deleted {
					must(t, store.DeletePost(ctx, p))
				}
				err := h.Handle(ctx, ev)
				if got := errors.Is(err, app.ErrPostPending); got != st.pending || (err != nil && !got) {
					t.Fatalf("Handle = %v, want pending=%v", err, st.pending)
				}
				if got := effect(p.ID); got != st.effect {
					t.Fatalf("effect present = %v, want %v", got, st.effect)
				}
			})
		}
	}
}

// TestMentionsFollowThePost: deleting or moderating a post removes the
// mentions it made, and neither a replay of the whole log nor a
// post.created handled late brings them back.
func TestMentionsFollowThePost(t *testing.T) {
	for _, kind := range []string{app.PostDeleted, app.PostModerated} {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			store := apptest.NewStore()
			for _, u := range []string{"ann", "bob", "cat"} {
				must(t, store.EnsureUser(ctx, u))
			}
			n := &app.Notifier{Graph: store, Notifications: store, Posts: store}
			ids := app.NewIDGen(4)
			gone := app.Post{ID: next(ids), Author: "ann", Text: "@bob @cat look"}
			kept := app.Post{ID: next(ids), Author: "ann", Text: "@bob still here"}
			for _, p := range []app.Post{gone, kept} {
				must(t, store.SavePost(ctx, p))
			}
			created := func(p app.Post) app.Event {
				return app.Event{ID: app.PostCreated + ":" + p.ID.String(), Type: app.PostCreated, Time: time.Now(), Post: &p}
			}
			follow := app.Event{ID: "user.followed:1", Type: app.UserFollowed, Follow: &app.Follow{Follower: "ann", Followee: "bob"}}
			log := []app.Event{created(gone), created(kept), follow}
			for _, ev := range log {
				must(t, n.Handle(ctx, ev))
			}
			// What the api or the moderator does, then its event.
			if kind == app.PostDeleted {
				must(t, store.DeletePost(ctx, gone))
			} else {
				must(t, store.HidePost(ctx, gone, app.RuleBlocklist))
			}
			log = append(log, app.Event{ID: kind + ":" + gone.ID.String(), Type: kind, Time: time.Now(),
				Post: &app.Post{ID: gone.ID, Author: gone.Author}})
			check := func(when string) {
				t.Helper()
				for user, want := range map[string][]app.ID{"bob": {0, kept.ID}, "cat": nil} {
					ns, err := store.Notifications(ctx, user, 0, 100)
					must(t, err)
					var got []app.ID
					for _, x := range ns {
						got = append(got, x.Post)
					}
					slices.Sort(got)
					if !slices.Equal(got, want) {
						t.Fatalf("%s: %s's notifications are about posts %v, want %v", when, user, got, want)
					}
				}
			}
			must(t, n.Handle(ctx, log[len(log)-1]))
			check("after " + kind)
			for _, ev := range log { // replay, in order, twice
				must(t, n.Handle(ctx, ev))
				must(t, n.Handle(ctx, ev))
			}
			check("after a replay")
			must(t, n.Handle(ctx, created(gone))) // a re-driven dead letter
			check("after a late post.created")
		})
	}
}

// deletingPosts deletes each post right after GetPosts returned it: a
// delete that lands between the moderator's read and its write.
type deletingPosts struct{ *apptest.Store }

func (d deletingPosts) GetPosts(ctx context.Context, ids []app.ID) (map[app.ID]app.Post, error) {
	found, err := d.Store.GetPosts(ctx, ids)
	for _, p := range found {
		_ = d.Store.DeletePost(ctx, p)
	}
	return found, err
}

func TestModerationNeverResurrects(t *testing.T) {
	ctx := context.Background()
	store := apptest.NewStore()
	p := app.Post{ID: next(app.NewIDGen(5)), Author: "ann", Text: "buy spamword"}
	p.CreatedAt = p.ID.Time().UTC()
	must(t, store.SavePost(ctx, p))
	m, err := app.NewModerator(app.Moderator{Posts: deletingPosts{store}, Decisions: store, Events: &apptest.Bus{},
		Rules: app.ModerationRules{Blocklist: []string{"spamword"}}, Log: slog.New(slog.DiscardHandler)})
	must(t, err)
	must(t, m.Handle(ctx, app.Event{ID: "post.created:" + p.ID.String(), Type: app.PostCreated, Time: time.Now(), Post: &p}))
	found, err := store.GetPosts(ctx, []app.ID{p.ID})
	must(t, err)
	if len(found) != 0 {
		t.Fatalf("the moderation brought back a deleted post: %+v", found)
	}
	tl, err := store.AuthorPosts(ctx, "ann", 0, 10)
	must(t, err)
	if len(tl) != 0 {
		t.Fatalf("the moderation brought back a deleted post into the timeline: %+v", tl)
	}
}

// TestTrendsFollowThePost: the Analyst takes a deleted or moderated post's
// hashtags out of the trends, and replaying the log keeps them out.
func TestTrendsFollowThePost(t *testing.T) {
	ctx := context.Background()
	an := apptest.NewAnalytics()
	a := &app.Analyst{Analytics: an}
	ids := app.NewIDGen(6)
	post := func(text string) app.Post {
		p := app.Post{ID: next(ids), Author: "ann", Text: text}
		p.CreatedAt = p.ID.Time().UTC()
		return p
	}
	deleted, moderated, kept := post("#gone #go"), post("#bad #go"), post("#go")
	ev := func(typ string, p app.Post) app.Event {
		if typ != app.PostCreated {
			// As published: post.deleted carries the ID and author only.
			p = app.Post{ID: p.ID, Author: p.Author}
		}
		return app.Event{ID: typ + ":" + p.ID.String(), Type: typ, Time: time.Now(), Post: &p}
	}
	log := []app.Event{
		ev(app.PostCreated, deleted), ev(app.PostCreated, moderated), ev(app.PostCreated, kept),
		ev(app.PostDeleted, deleted), ev(app.PostModerated, moderated),
	}
	want := []app.TagCount{{Tag: "go", Count: 1}}
	for round := range 3 { // the log, then two replays
		for _, e := range log {
			must(t, a.Handle(ctx, e))
		}
		got, err := an.TopTags(ctx, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), 10)
		must(t, err)
		if !slices.Equal(got, want) {
			t.Fatalf("round %d: trends = %v, want %v", round, got, want)
		}
	}
}

// next is a fixed-node generator's next ID (a fixed node never refuses).
func next(g *app.IDGen) app.ID {
	id, _ := g.Next()
	return id
}
