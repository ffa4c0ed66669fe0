package redis_test

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"slices"
	"strings"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/rueidis"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/internal/testenv"
	redisstore "github.com/feedsvc/feedsvc/store/redis"
	"github.com/feedsvc/feedsvc/store/redistest"
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

// TestFeedConformance runs the feed suite (store/redistest) on every
// backend, and the case of the adapter's own value layout.
func TestFeedConformance(t *testing.T) {
	ctx := context.Background()
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			client := open(t)
			keys := redisstore.KeysOf(client)
			redistest.RunFeeds(t, redistest.FeedBackend{
				New: func(t *testing.T, capacity int) redistest.Feeds { return redisstore.NewFeeds(client, capacity, 0) },
				Forget: func(u string) {
					for _, k := range []string{keys.Feed(u), keys.Unfollowed(u), keys.Unfollowers(u + "a")} {
						client.Do(ctx, client.B().Del().Key(k).Build())
					}
				},
			})
			f := redisstore.NewFeeds(client, testCap, 0)
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
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// secured adds the client security of the environment to cfg (set when the
// real Redis is the secured server of scripts/testinfra --secure).
func secured(cfg redisstore.Config) redisstore.Config {
	cfg.Username, cfg.Password = testenv.Credentials("REDIS")
	cfg.TLS = testenv.TLS("REDIS")
	return cfg
}

// TestDropListFeeds: every list feed of the deployment goes, on every
// node of a cluster; home feeds and another deployment's list feeds stay.
func TestDropListFeeds(t *testing.T) {
	ctx := context.Background()
	addrs := map[string]func(t *testing.T) (string, bool){
		"miniredis": func(t *testing.T) (string, bool) { return miniredis.RunT(t).Addr(), true },
		"redis":     func(t *testing.T) (string, bool) { return testenv.Require(t, "FEEDSVC_REDIS_ADDR"), false },
		"cluster":   func(t *testing.T) (string, bool) { return testenv.Require(t, "FEEDSVC_REDIS_CLUSTER_ADDRS"), false },
	}
	for name, open := range addrs {
		t.Run(name, func(t *testing.T) {
			addr, embedded := open(t)
			u := uniqueUser(t)
			mine := redisstore.NewFeeds(dialPrefixed(t, addr, embedded, u+"a:"), testCap, 0)
			theirs := redisstore.NewFeeds(dialPrefixed(t, addr, embedded, u+"b:"), testCap, 0)
			var lists []string
			for i := range 20 { // spread over the cluster's slots
				lists = append(lists, app.ListFeed(app.ID(i+1)))
			}
			for _, f := range []*redisstore.Feeds{mine, theirs} {
				for _, feed := range append([]string{u}, lists...) {
					must(t, f.Prepare(ctx, feed))
					must(t, f.Fill(ctx, feed, ids(1, 2)))
					t.Cleanup(func() { _ = f.Drop(ctx, feed) })
				}
			}
			must(t, mine.DropListFeeds(ctx))
			for _, feed := range lists {
				if _, complete, err := mine.Page(ctx, feed, 0, 10); err != nil || complete {
					t.Fatalf("list feed %s still cached (%v)", feed, err)
				}
				if _, complete, err := theirs.Page(ctx, feed, 0, 10); err != nil || !complete {
					t.Fatalf("another deployment's list feed %s went (%v)", feed, err)
				}
			}
			if _, complete, err := mine.Page(ctx, u, 0, 10); err != nil || !complete {
				t.Fatalf("a home feed went (%v)", err)
			}
		})
	}
}
