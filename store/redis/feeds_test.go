package redis_test

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/rueidis"
	"golang.org/x/sync/errgroup"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/internal/testenv"
	redisstore "github.com/feedsvc/feedsvc/store/redis"
)

const testCap = 5

// backends are the servers the same cases run against: the embedded
// miniredis, a real Redis and a real Redis Cluster; and miniredis again
// under a key prefix (--redis-key-prefix), where every key any command
// names must carry it (auditKeys).
func backends(t *testing.T) map[string]func(t *testing.T) rueidis.Client {
	return map[string]func(t *testing.T) rueidis.Client{
		"miniredis": func(t *testing.T) rueidis.Client {
			m := miniredis.RunT(t)
			return dial(t, m.Addr(), true)
		},
		"miniredis_prefixed": func(t *testing.T) rueidis.Client {
			m := miniredis.RunT(t)
			auditKeys(t, m, testPrefix)
			return dialPrefixed(t, m.Addr(), true, testPrefix)
		},
		"redis": func(t *testing.T) rueidis.Client {
			return dial(t, testenv.Require(t, "FEEDSVC_REDIS_ADDR"), false)
		},
		"cluster": func(t *testing.T) rueidis.Client {
			return dial(t, testenv.Require(t, "FEEDSVC_REDIS_CLUSTER_ADDRS"), false)
		},
	}
}

func dial(t *testing.T, addr string, embedded bool) rueidis.Client {
	return dialPrefixed(t, addr, embedded, "")
}

// dialPrefixed is dial with a key prefix.
func dialPrefixed(t *testing.T, addr string, embedded bool, prefix string) rueidis.Client {
	cfg := redisstore.Config{Addrs: strings.Split(addr, ","), Embedded: embedded, KeyPrefix: prefix}
	if !embedded {
		cfg = secured(cfg)
	}
	c, err := redisstore.Open(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// uniqueUser isolates tests sharing one real server.
func uniqueUser(t *testing.T) string {
	b := make([]byte, 6)
	_, _ = crand.Read(b)
	return "t" + hex.EncodeToString(b)
}

func ids(ns ...int) []app.ID {
	out := make([]app.ID, len(ns))
	for i, n := range ns {
		out[i] = app.ID(n)
	}
	return out
}

func entries(user string, ns ...int) []app.FeedEntry {
	var out []app.FeedEntry
	for _, id := range ids(ns...) {
		out = append(out, app.FeedEntry{User: user, Post: id})
	}
	return out
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

func TestFeedConformance(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name string
		run  func(t *testing.T, f *redisstore.Feeds, user string)
		// want is user's whole feed afterwards, newest first, and whether it is complete.
		want     []app.ID
		complete bool
	}{
		{"add skips a feed that is not cached", func(t *testing.T, f *redisstore.Feeds, u string) {
			must(t, f.Add(ctx, entries(u, 3, 1, 2)))
		}, nil, false},
		{"prepare makes an empty partial feed", func(t *testing.T, f *redisstore.Feeds, u string) {
			must(t, f.Prepare(ctx, u))
		}, nil, false},
		{"prepare keeps a cached feed", func(t *testing.T, f *redisstore.Feeds, u string) {
			must(t, f.Fill(ctx, u, ids(1, 2)))
			must(t, f.Prepare(ctx, u))
		}, ids(2, 1), true},
		{"add pages newest first", func(t *testing.T, f *redisstore.Feeds, u string) {
			must(t, f.Prepare(ctx, u))
			must(t, f.Add(ctx, entries(u, 3, 1, 2)))
		}, ids(3, 2, 1), false},
		{"add is idempotent", func(t *testing.T, f *redisstore.Feeds, u string) {
			must(t, f.Prepare(ctx, u))
			must(t, f.Add(ctx, entries(u, 1, 2)))
			must(t, f.Add(ctx, entries(u, 2, 1, 2)))
		}, ids(2, 1), false},
		{"add trims to the cap, keeping the newest", func(t *testing.T, f *redisstore.Feeds, u string) {
			must(t, f.Prepare(ctx, u))
			must(t, f.Add(ctx, entries(u, 1, 2, 3, 4)))
			must(t, f.Add(ctx, entries(u, 8, 7, 6, 5)))
		}, ids(8, 7, 6, 5, 4), false},
		{"an old post past the cap does not enter", func(t *testing.T, f *redisstore.Feeds, u string) {
			must(t, f.Fill(ctx, u, ids(10, 11, 12, 13, 14)))
			must(t, f.Add(ctx, entries(u, 1)))
		}, ids(14, 13, 12, 11, 10), true},
		{"fill marks complete and keeps fanned-out entries", func(t *testing.T, f *redisstore.Feeds, u string) {
			must(t, f.Prepare(ctx, u))
			must(t, f.Add(ctx, entries(u, 9)))
			must(t, f.Fill(ctx, u, ids(1, 2)))
		}, ids(9, 2, 1), true},
		{"empty fill is a complete empty feed", func(t *testing.T, f *redisstore.Feeds, u string) {
			must(t, f.Fill(ctx, u, nil))
		}, nil, true},
		{"fill trims to the cap", func(t *testing.T, f *redisstore.Feeds, u string) {
			must(t, f.Fill(ctx, u, ids(1, 2, 3, 4, 5, 6, 7)))
		}, ids(7, 6, 5, 4, 3), true},
		{"remove", func(t *testing.T, f *redisstore.Feeds, u string) {
			must(t, f.Fill(ctx, u, ids(1, 2, 3)))
			must(t, f.Remove(ctx, entries(u, 2, 99)))
		}, ids(3, 1), true},
		{"absent feed is incomplete and empty", func(t *testing.T, f *redisstore.Feeds, u string) {}, nil, false},
		{"drop deletes the feed", func(t *testing.T, f *redisstore.Feeds, u string) {
			must(t, f.Fill(ctx, u, ids(1, 2)))
			must(t, f.Drop(ctx, u))
		}, nil, false},
		{"posts of an author not unfollowed stay", func(t *testing.T, f *redisstore.Feeds, u string) {
			must(t, f.Fill(ctx, u, ids(1, 2, 3)))
			must(t, f.RemoveUnfollowed(ctx, app.Follow{Follower: u, Followee: u + "a"}, ids(2)))
		}, ids(3, 2, 1), true},
		{"posts of an unfollowed author go", func(t *testing.T, f *redisstore.Feeds, u string) {
			fl := app.Follow{Follower: u, Followee: u + "a"}
			must(t, f.Fill(ctx, u, ids(1, 2, 3)))
			must(t, f.RecordUnfollow(ctx, fl))
			wantUsers(t, f.RecentUnfollowers, fl.Followee, fl.Follower)
			wantUsers(t, f.RecentUnfollowees, fl.Follower, fl.Followee)
			must(t, f.RemoveUnfollowed(ctx, fl, ids(2, 99)))
		}, ids(3, 1), true},
		{"a follow again keeps the posts", func(t *testing.T, f *redisstore.Feeds, u string) {
			fl := app.Follow{Follower: u, Followee: u + "a"}
			must(t, f.Fill(ctx, u, ids(1, 2, 3)))
			must(t, f.RecordUnfollow(ctx, fl))
			must(t, f.ClearUnfollow(ctx, fl))
			wantUsers(t, f.RecentUnfollowers, fl.Followee)
			wantUsers(t, f.RecentUnfollowees, fl.Follower)
			must(t, f.RemoveUnfollowed(ctx, fl, ids(2)))
		}, ids(3, 2, 1), true},
		{"an unfollow leaves an absent feed absent", func(t *testing.T, f *redisstore.Feeds, u string) {
			fl := app.Follow{Follower: u, Followee: u + "a"}
			must(t, f.RecordUnfollow(ctx, fl))
			must(t, f.RemoveUnfollowed(ctx, fl, ids(2)))
		}, nil, false},
		{"64-bit ids keep their order", func(t *testing.T, f *redisstore.Feeds, u string) {
			must(t, f.Prepare(ctx, u))
			must(t, f.Add(ctx, []app.FeedEntry{{User: u, Post: 1 << 62}, {User: u, Post: 1<<62 + 1}, {User: u, Post: 255}}))
		}, []app.ID{1<<62 + 1, 1 << 62, 255}, false},
	}
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			client := open(t)
			f := redisstore.NewFeeds(client, testCap, 0)
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					u := uniqueUser(t)
					t.Cleanup(func() {
						for _, k := range []string{redisstore.KeysOf(client).Feed(u), redisstore.KeysOf(client).Unfollowed(u), redisstore.KeysOf(client).Unfollowers(u + "a")} {
							client.Do(ctx, client.B().Del().Key(k).Build())
						}
					})
					c.run(t, f, u)
					got, complete, err := f.Page(ctx, u, 0, 100)
					must(t, err)
					if !slices.Equal(got, c.want) || complete != c.complete {
						t.Fatalf("feed = %v complete=%v, want %v complete=%v", got, complete, c.want, c.complete)
					}
					inspected, err := f.Inspect(ctx, u)
					must(t, err)
					if !slices.Equal(inspected, got) {
						t.Fatalf("Inspect = %v, Page = %v", inspected, got)
					}
				})
			}
			t.Run("paging with before", func(t *testing.T) {
				u := uniqueUser(t)
				f := redisstore.NewFeeds(client, 100, 0)
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
					testAgainstModel(t, client, w.capacity, w.span, w.increasing, w.steps)
				})
			}
			t.Run("a post older than what the cap cut never comes back", func(t *testing.T) {
				u := uniqueUser(t)
				t.Cleanup(func() { client.Do(ctx, client.B().Del().Key(redisstore.KeysOf(client).Feed(u)).Build()) })
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
			t.Run("a value of the old string layout reads as absent and is replaced", func(t *testing.T) {
				u := uniqueUser(t)
				key := redisstore.KeysOf(client).Feed(u)
				t.Cleanup(func() { client.Do(ctx, client.B().Del().Key(key).Build()) })
				old := "C" + string([]byte{0, 0, 0, 0, 0, 0, 0, 7})
				must(t, client.Do(ctx, client.B().Set().Key(key).Value(old).Build()).Error())
				must(t, f.Add(ctx, entries(u, 9)))
				must(t, f.Remove(ctx, entries(u, 7)))
				if got, complete, err := f.Page(ctx, u, 0, 10); err != nil || got != nil || complete {
					t.Fatalf("old value read as %v complete=%v err=%v, want absent", got, complete, err)
				}
				must(t, f.Prepare(ctx, u))
				must(t, f.Fill(ctx, u, ids(1, 2)))
				if got, complete, err := f.Page(ctx, u, 0, 10); err != nil || !slices.Equal(got, ids(2, 1)) || !complete {
					t.Fatalf("rebuilt feed = %v complete=%v err=%v", got, complete, err)
				}
			})
			t.Run("concurrent writers and compactions lose nothing", func(t *testing.T) {
				const capacity, writers, each = 50, 8, 100
				u := uniqueUser(t)
				t.Cleanup(func() { client.Do(ctx, client.B().Del().Key(redisstore.KeysOf(client).Feed(u)).Build()) })
				f := redisstore.NewFeeds(client, capacity, 0)
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
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// testAgainstModel applies random Add, Remove and Fill calls to one feed and
// compares it with an in-memory model after each step.
func testAgainstModel(t *testing.T, client rueidis.Client, capacity, span int, increasing bool, steps int) {
	ctx := context.Background()
	u := uniqueUser(t)
	f := redisstore.NewFeeds(client, capacity, 0)
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
	}
}

// secured adds the client security of the environment to cfg (set when the
// real Redis is the secured server of scripts/testinfra --secure).
func secured(cfg redisstore.Config) redisstore.Config {
	cfg.Username, cfg.Password = testenv.Credentials("REDIS")
	cfg.TLS = testenv.TLS("REDIS")
	return cfg
}
