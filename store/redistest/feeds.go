package redistest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/feedsvc/feedsvc/app"
)

// FeedCap is the cap of the feeds the table cases use.
const FeedCap = 5

// Feeds is what a feed cache provides: the feeds and the recent unfollows
// kept next to them.
type Feeds interface {
	app.FeedCache
	app.Unfollows
}

// inspector is a feed cache that can show a feed without touching it (an
// operator's read); the table cases check it agrees with Page.
type inspector interface {
	Inspect(ctx context.Context, user string) ([]app.ID, error)
}

// floorer is a feed cache that tells its floor: the highest ID the cap
// cut (the model cases check it against theirs).
type floorer interface {
	Floor(ctx context.Context, user string) (app.ID, error)
}

// FeedBackend is one backend of the feed suite.
type FeedBackend struct {
	// New returns feeds capped at capacity. The cases use users of their
	// own, so the feeds of several calls may share a store or not.
	New func(t *testing.T, capacity int) Feeds
	// Forget deletes what a case stored for user: its feed and recent
	// unfollows, and the recent unfollowers of user+"a". Nil: nothing
	// outlives the run.
	Forget func(user string)
}

// forget deletes what t stored for user when t ends.
func (b FeedBackend) forget(t *testing.T, user string) {
	if b.Forget != nil {
		t.Cleanup(func() { b.Forget(user) })
	}
}

// wantUsers checks what a recent-unfollows query returns for of.
func wantUsers(t *testing.T, recent func(context.Context, string, time.Duration) ([]string, error), of string, want ...string) {
	t.Helper()
	got, err := recent(context.Background(), of, time.Minute)
	must(t, err)
	if !slices.Equal(got, want) {
		t.Fatalf("recent unfollows of %s = %v, want %v", of, got, want)
	}
}

// RunFeeds runs the feed cases as subtests of t, the backend's test, with
// unique users, so a real server may be shared.
func RunFeeds(t *testing.T, b FeedBackend) {
	ctx := context.Background()
	cases := []struct {
		name string
		run  func(t *testing.T, f Feeds, user string)
		// want is user's whole feed afterwards, newest first, and whether it is complete.
		want     []app.ID
		complete bool
	}{
		{"add skips a feed that is not cached", func(t *testing.T, f Feeds, u string) {
			must(t, f.Add(ctx, entries(u, 3, 1, 2)))
		}, nil, false},
		{"prepare makes an empty partial feed", func(t *testing.T, f Feeds, u string) {
			must(t, f.Prepare(ctx, u))
		}, nil, false},
		{"prepare keeps a cached feed", func(t *testing.T, f Feeds, u string) {
			must(t, f.Fill(ctx, u, ids(1, 2)))
			must(t, f.Prepare(ctx, u))
		}, ids(2, 1), true},
		{"add pages newest first", func(t *testing.T, f Feeds, u string) {
			must(t, f.Prepare(ctx, u))
			must(t, f.Add(ctx, entries(u, 3, 1, 2)))
		}, ids(3, 2, 1), false},
		{"add is idempotent", func(t *testing.T, f Feeds, u string) {
			must(t, f.Prepare(ctx, u))
			must(t, f.Add(ctx, entries(u, 1, 2)))
			must(t, f.Add(ctx, entries(u, 2, 1, 2)))
		}, ids(2, 1), false},
		{"add trims to the cap, keeping the newest", func(t *testing.T, f Feeds, u string) {
			must(t, f.Prepare(ctx, u))
			must(t, f.Add(ctx, entries(u, 1, 2, 3, 4)))
			must(t, f.Add(ctx, entries(u, 8, 7, 6, 5)))
		}, ids(8, 7, 6, 5, 4), false},
		{"an old post past the cap does not enter", func(t *testing.T, f Feeds, u string) {
			must(t, f.Fill(ctx, u, ids(10, 11, 12, 13, 14)))
			must(t, f.Add(ctx, entries(u, 1)))
		}, ids(14, 13, 12, 11, 10), true},
		{"fill marks complete and keeps fanned-out entries", func(t *testing.T, f Feeds, u string) {
			must(t, f.Prepare(ctx, u))
			must(t, f.Add(ctx, entries(u, 9)))
			must(t, f.Fill(ctx, u, ids(1, 2)))
		}, ids(9, 2, 1), true},
		{"empty fill is a complete empty feed", func(t *testing.T, f Feeds, u string) {
			must(t, f.Fill(ctx, u, nil))
		}, nil, true},
		{"fill trims to the cap", func(t *testing.T, f Feeds, u string) {
			must(t, f.Fill(ctx, u, ids(1, 2, 3, 4, 5, 6, 7)))
		}, ids(7, 6, 5, 4, 3), true},
		{"remove", func(t *testing.T, f Feeds, u string) {
			must(t, f.Fill(ctx, u, ids(1, 2, 3)))
			must(t, f.Remove(ctx, entries(u, 2, 99)))
		}, ids(3, 1), true},
		{"absent feed is incomplete and empty", func(t *testing.T, f Feeds, u string) {}, nil, false},
		{"drop deletes the feed", func(t *testing.T, f Feeds, u string) {
			must(t, f.Fill(ctx, u, ids(1, 2)))
			must(t, f.Drop(ctx, u))
		}, nil, false},
		{"posts of an author not unfollowed stay", func(t *testing.T, f Feeds, u string) {
			must(t, f.Fill(ctx, u, ids(1, 2, 3)))
			must(t, f.RemoveUnfollowed(ctx, app.Follow{Follower: u, Followee: u + "a"}, ids(2)))
		}, ids(3, 2, 1), true},
		{"posts of an unfollowed author go", func(t *testing.T, f Feeds, u string) {
			fl := app.Follow{Follower: u, Followee: u + "a"}
			must(t, f.Fill(ctx, u, ids(1, 2, 3)))
			must(t, f.RecordUnfollow(ctx, fl))
			wantUsers(t, f.RecentUnfollowers, fl.Followee, fl.Follower)
			wantUsers(t, f.RecentUnfollowees, fl.Follower, fl.Followee)
			must(t, f.RemoveUnfollowed(ctx, fl, ids(2, 99)))
		}, ids(3, 1), true},
		{"a follow again keeps the posts", func(t *testing.T, f Feeds, u string) {
			fl := app.Follow{Follower: u, Followee: u + "a"}
			must(t, f.Fill(ctx, u, ids(1, 2, 3)))
			must(t, f.RecordUnfollow(ctx, fl))
			must(t, f.ClearUnfollow(ctx, fl))
			wantUsers(t, f.RecentUnfollowers, fl.Followee)
			wantUsers(t, f.RecentUnfollowees, fl.Follower)
			must(t, f.RemoveUnfollowed(ctx, fl, ids(2)))
		}, ids(3, 2, 1), true},
		{"an unfollow leaves an absent feed absent", func(t *testing.T, f Feeds, u string) {
			fl := app.Follow{Follower: u, Followee: u + "a"}
			must(t, f.RecordUnfollow(ctx, fl))
			must(t, f.RemoveUnfollowed(ctx, fl, ids(2)))
		}, nil, false},
		{"64-bit ids keep their order", func(t *testing.T, f Feeds, u string) {
			must(t, f.Prepare(ctx, u))
			must(t, f.Add(ctx, []app.FeedEntry{{User: u, Post: 1 << 62}, {User: u, Post: 1<<62 + 1}, {User: u, Post: 255}}))
		}, []app.ID{1<<62 + 1, 1 << 62, 255}, false},
	}
	f := b.New(t, FeedCap)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u := uniqueUser(t)
			b.forget(t, u)
			c.run(t, f, u)
			got, complete, err := f.Page(ctx, u, 0, 100)
			must(t, err)
			if !slices.Equal(got, c.want) || complete != c.complete {
				t.Fatalf("feed = %v complete=%v, want %v complete=%v", got, complete, c.want, c.complete)
			}
			if in, ok := f.(inspector); ok {
				inspected, err := in.Inspect(ctx, u)
				must(t, err)
				if !slices.Equal(inspected, got) {
					t.Fatalf("Inspect = %v, Page = %v", inspected, got)
				}
			}
		})
	}
	t.Run("paging with before", func(t *testing.T) {
		u := uniqueUser(t)
		f := b.New(t, 100)
		must(t, f.Fill(ctx, u, ids(1, 2, 3, 4, 5, 6, 7)))
		var got []app.ID
		before := app.ID(0)
		for {
			page, complete, err := f.Page(ctx, u, before, 3)
			must(t, err)
			if !complete {
				t.Fatal("filled feed reported incomplete")
			}
			got = append(got, page...)
			if len(page) < 3 {
				break
			}
			before = page[len(page)-1]
		}
		if want := ids(7, 6, 5, 4, 3, 2, 1); !slices.Equal(got, want) {
			t.Fatalf("paged %v, want %v", got, want)
		}
	})
	// Two workloads: random IDs in a small range (merges, removals,
	// duplicates), and mostly increasing IDs like real fan-out, which
	// drives the append, slack and rewrite paths.
	for _, w := range []struct {
		name           string
		capacity, span int
		increasing     bool
		steps          int
	}{{"random ids", 20, 60, false, 300}, {"increasing ids", 100, 0, true, 1500}} {
		t.Run("matches a model under random operations/"+w.name, func(t *testing.T) {
			testAgainstModel(t, b, w.capacity, w.span, w.increasing, w.steps)
		})
	}
	t.Run("a post older than what the cap cut never comes back", func(t *testing.T) {
		u := uniqueUser(t)
		b.forget(t, u)
		must(t, f.Prepare(ctx, u))
		must(t, f.Fill(ctx, u, ids(10, 20, 30, 40, 50)))
		must(t, f.Add(ctx, entries(u, 60, 70))) // the cap (5) cuts 10 and 20
		must(t, f.Remove(ctx, entries(u, 70)))  // a place is free
		must(t, f.Add(ctx, entries(u, 5, 15)))  // late events of older posts
		got, _, err := f.Page(ctx, u, 0, 10)
		must(t, err)
		if want := ids(60, 50, 40, 30); !slices.Equal(got, want) {
			t.Fatalf("feed = %v, want %v: no post below the ones the cap cut", got, want)
		}
	})
	t.Run("concurrent writers and compactions lose nothing", func(t *testing.T) {
		const capacity, writers, each = 50, 8, 100
		u := uniqueUser(t)
		b.forget(t, u)
		f := b.New(t, capacity)
		must(t, f.Prepare(ctx, u))
		var g errgroup.Group
		for w := range writers {
			g.Go(func() error {
				for i := range each {
					// Interleaved IDs: writers race on every
					// append and every compaction.
					if err := f.Add(ctx, entries(u, 1+i*writers+w)); err != nil {
						return err
					}
				}
				return nil
			})
		}
		must(t, g.Wait())
		got, _, err := f.Page(ctx, u, 0, capacity)
		must(t, err)
		var want []app.ID
		for id := writers * each; id > writers*each-capacity; id-- {
			want = append(want, app.ID(id))
		}
		if !slices.Equal(got, want) {
			t.Fatalf("feed = %v, want the newest %d: %v", got, capacity, want)
		}
	})
	t.Run("one add touches many feeds", func(t *testing.T) {
		var users []string
		var es []app.FeedEntry
		for i := range 200 {
			u := fmt.Sprintf("%s_%d", uniqueUser(t), i)
			must(t, f.Prepare(ctx, u))
			users = append(users, u)
			es = append(es, entries(u, 1, 2)...)
		}
		must(t, f.Add(ctx, es))
		for _, u := range users {
			got, _, err := f.Page(ctx, u, 0, 10)
			must(t, err)
			if !slices.Equal(got, ids(2, 1)) {
				t.Fatalf("feed of %s = %v", u, got)
			}
		}
	})
}

// testAgainstModel applies random Add, Remove and Fill calls to one feed and
// compares it with an in-memory model after each step.
func testAgainstModel(t *testing.T, b FeedBackend, capacity, span int, increasing bool, steps int) {
	ctx := context.Background()
	u := uniqueUser(t)
	f := b.New(t, capacity)
	rng := rand.New(rand.NewPCG(1, 2))
	model, complete := map[app.ID]bool{}, false
	// The feed is a window: the cap cuts the oldest, and an ID at or below
	// the highest cut never comes back.
	var floor app.ID
	must(t, f.Prepare(ctx, u))
	trim := func() {
		var all []app.ID
		for id := range model {
			all = append(all, id)
		}
		slices.Sort(all)
		for len(all) > capacity {
			floor = max(floor, all[0])
			delete(model, all[0])
			all = all[1:]
		}
	}
	keep := func(id app.ID) {
		if id > floor {
			model[id] = true
		}
	}
	next := app.ID(1)
	randIDs := func(n int) []app.ID {
		out := make([]app.ID, n)
		for i := range out {
			switch {
			case !increasing:
				out[i] = app.ID(1 + rng.IntN(span))
			case rng.IntN(10) == 0: // now and then an older post (a follow's merge)
				out[i] = 1 + app.ID(rng.Int64N(int64(next)))
			default:
				next += app.ID(1 + rng.IntN(3))
				out[i] = next
			}
		}
		return out
	}
	for step := range steps {
		switch op := rng.IntN(10); {
		case op < 5:
			add := randIDs(1 + rng.IntN(6))
			var es []app.FeedEntry
			for _, id := range add {
				es = append(es, app.FeedEntry{User: u, Post: id})
				keep(id)
			}
			must(t, f.Add(ctx, es))
		case op < 8:
			rm := randIDs(1 + rng.IntN(3))
			var es []app.FeedEntry
			for _, id := range rm {
				es = append(es, app.FeedEntry{User: u, Post: id})
				delete(model, id)
			}
			must(t, f.Remove(ctx, es))
		default:
			fill := randIDs(rng.IntN(12))
			for _, id := range fill {
				keep(id)
			}
			complete = true
			must(t, f.Fill(ctx, u, fill))
		}
		trim()
		var want []app.ID
		for id := range model {
			want = append(want, id)
		}
		slices.Sort(want)
		slices.Reverse(want)
		got, gotComplete, err := f.Page(ctx, u, 0, 100)
		must(t, err)
		if !slices.Equal(got, want) || gotComplete != complete {
			t.Fatalf("step %d: feed = %v complete=%v, want %v complete=%v", step, got, gotComplete, want, complete)
		}
		if fl, ok := f.(floorer); ok {
			got, err := fl.Floor(ctx, u)
			must(t, err)
			if got != floor {
				t.Fatalf("step %d: Floor = %d, want %d (the highest ID the cap cut)", step, got, floor)
			}
		}
	}
}
