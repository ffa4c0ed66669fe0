package redis_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/alicebob/miniredis/v2/server"
	"github.com/redis/rueidis"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/internal/setting"
	"github.com/feedsvc/feedsvc/internal/testenv"
	redisstore "github.com/feedsvc/feedsvc/store/redis"
)

// testPrefix is the key prefix of the "miniredis_prefixed" backend.
const testPrefix = "conf-test:"

// noKeyCommands name no key: connection setup, server commands and SCAN
// (whose MATCH pattern is not a key).
var noKeyCommands = []string{"HELLO", "CLIENT", "PING", "SELECT", "AUTH", "INFO", "TIME", "SCRIPT", "CLUSTER",
	"COMMAND", "QUIT", "READONLY", "MULTI", "EXEC", "DISCARD", "SCAN", "FLUSHALL", "FLUSHDB", "DBSIZE", "KEYS",
	"ECHO", "ROLE", "CONFIG"}

// commandKeys returns the keys a command names: every argument of the
// multi-key commands, those counted by EVAL's numkeys, the first argument
// of the others. A command this does not know is taken to name its first
// argument, so a new one fails the audit rather than escapes it.
func commandKeys(cmd string, args []string) []string {
	switch {
	case slices.Contains(noKeyCommands, cmd):
		return nil
	case slices.Contains([]string{"DEL", "UNLINK", "EXISTS", "MGET", "TOUCH", "WATCH"}, cmd):
		return args
	case strings.HasPrefix(cmd, "EVAL"):
		if len(args) < 2 {
			return nil
		}
		n, err := strconv.Atoi(args[1])
		if err != nil || n < 0 || 2+n > len(args) {
			return []string{"bad numkeys in " + cmd}
		}
		return args[2 : 2+n]
	case len(args) > 0:
		return args[:1]
	}
	return nil
}

// auditKeys fails t unless every key any command names on m, the
// commands Lua scripts run included (miniredis dispatches those through
// the same hook), and every key left at the end starts with prefix.
func auditKeys(t *testing.T, m *miniredis.Miniredis, prefix string) {
	var mu sync.Mutex
	var bad []string
	m.Server().SetPreHook(func(_ *server.Peer, cmd string, args ...string) bool {
		for _, k := range commandKeys(cmd, args) {
			if !strings.HasPrefix(k, prefix) {
				mu.Lock()
				bad = append(bad, cmd+" "+strconv.Quote(k))
				mu.Unlock()
			}
		}
		return false
	})
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		if len(bad) > 0 {
			t.Errorf("commands named keys without the prefix %q: %v", prefix, abbreviated(bad))
		}
		for _, k := range m.Keys() {
			if !strings.HasPrefix(k, prefix) {
				t.Errorf("key %q left without the prefix %q", k, prefix)
			}
		}
	})
}

func abbreviated(s []string) []string {
	s = slices.Compact(slices.Sorted(slices.Values(s)))
	if len(s) > 10 {
		return append(s[:10], "...")
	}
	return s
}

// TestKeyNames: without a prefix the keys are those of before the prefix
// existed, byte for byte (data already in Redis stays readable); with
// one, the prefix goes first and the hash tag is unchanged, so keys that
// share a slot still do.
func TestKeyNames(t *testing.T) {
	at := time.Date(2026, 11, 25, 10, 42, 0, 0, time.UTC)
	names := func(k redisstore.Keys) []string {
		return append([]string{k.Feed("alice"), k.Timeline("alice"), k.Celebrity("alice"), k.Followed("alice"),
			k.Unfollowed("alice"), k.Unfollowers("alice"), k.RebuildLock("alice"), k.StreamTicket("t1"), k.Term("#go"), k.Doc(app.ID(42)),
			k.RateLimit("posts:alice"), k.Prefixed("zb:{alice}")}, k.Analytics(at)...)
	}
	want := []string{"feed:{alice}", "timeline:{alice}", "celebrity:{alice}", "celebs:{alice}",
		"unfollowed:{alice}", "unfollowers:{alice}", "rebuild:{alice}", "streamticket:{t1}", "sx:{#go}", "sd:{42}",
		"rl:posts:alice", "zb:{alice}",
		"an:{2026112510}:posts", "an:{2026112510}:tags", "an:{2026112510}:authors", "an:{2026112510}:mtags", "an:{2026112510}:mauthors"}
	if got := names(redisstore.Keys{}); !slices.Equal(got, want) {
		t.Fatalf("keys without a prefix:\n got %q\nwant %q", got, want)
	}
	if got := names(redisstore.NewKeys("")); !slices.Equal(got, want) {
		t.Fatalf("keys of NewKeys(\"\"): %q", got)
	}
	for i, k := range names(redisstore.NewKeys("prod:")) {
		if k != "prod:"+want[i] {
			t.Errorf("prefixed key %q, want %q", k, "prod:"+want[i])
		}
		if hashTag(want[i]) != want[i] && hashTag(k) != hashTag(want[i]) { // a key without a tag has no slot to share
			t.Errorf("prefixed key %q hashes on %q, the unprefixed one on %q", k, hashTag(k), hashTag(want[i]))
		}
	}
}

// hashTag is what Redis Cluster hashes of key: the text between the first
// '{' and the next '}' if it is not empty, else the whole key.
func hashTag(key string) string {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			return key[i+1 : i+1+j]
		}
	}
	return key
}

func TestKeyPrefixValidate(t *testing.T) {
	for _, p := range []string{"", "prod:", "team-a.prod_2:", "x", strings.Repeat("a", redisstore.MaxKeyPrefix)} {
		if err := (redisstore.Config{Addrs: []string{"localhost:6379"}, KeyPrefix: p}).Validate(); err != nil {
			t.Errorf("prefix %q: %v", p, err)
		}
	}
	for _, p := range []string{"{prod}:", "prod}", "a b", "prod*", "pr?d", "[a]", "a\\b", "a\nb", "é",
		strings.Repeat("a", redisstore.MaxKeyPrefix+1)} {
		err := (redisstore.Config{Addrs: []string{"localhost:6379"}, KeyPrefix: p}).Validate()
		var se *setting.Error
		if errs := setting.Flatten(err); len(errs) != 1 || !errors.As(errs[0], &se) || se.Field != "KeyPrefix" {
			t.Errorf("prefix %q: %v, want one error, on KeyPrefix", p, err)
		}
	}
}

// TestKeyPrefix runs a workload touching every adapter (feeds, timelines,
// celebrities, unfollows, rebuild locks, analytics, search, rate limits,
// checkpoints, the health check) under a prefix of its own, then scans
// every master: each key the workload made carries the prefix, and every
// kind of key is there. On a Redis Cluster the scripts that take several
// keys (the guarded feed rewrite, the followed celebrities, an analytics
// bucket) would fail with CROSSSLOT if the prefix split keys that share a
// slot. On miniredis the audit sees every command.
func TestKeyPrefix(t *testing.T) {
	ctx := context.Background()
	servers := map[string]func(t *testing.T, prefix string) rueidis.Client{
		"miniredis": func(t *testing.T, prefix string) rueidis.Client {
			m := miniredis.RunT(t)
			auditKeys(t, m, prefix)
			return dialPrefixed(t, m.Addr(), true, prefix)
		},
		"redis": func(t *testing.T, prefix string) rueidis.Client {
			return dialPrefixed(t, testenv.Require(t, "FEEDSVC_REDIS_ADDR"), false, prefix)
		},
		"cluster": func(t *testing.T, prefix string) rueidis.Client {
			return dialPrefixed(t, testenv.Require(t, "FEEDSVC_REDIS_CLUSTER_ADDRS"), false, prefix)
		},
	}
	for name, open := range servers {
		t.Run(name, func(t *testing.T) {
			u := uniqueUser(t)
			prefix := "kp" + u + ":"
			c := open(t, prefix)
			t.Cleanup(func() { deleteMatching(t, c, prefix+"*") })
			keys := redisstore.KeysOf(c)
			if keys.Prefix() != prefix {
				t.Fatalf("the client carries prefix %q, want %q", keys.Prefix(), prefix)
			}

			reader, star, author := u+"r", u+"s", u+"a"
			tag := "#t" + u
			post := app.ID(time.Now().UnixNano())
			feeds := redisstore.NewFeeds(c, testCap, time.Hour)
			timelines := redisstore.NewTimelines(c, testCap, time.Hour)
			celebs := redisstore.NewCelebrities(c, time.Hour)
			search := redisstore.NewSearch(c, 10, 0)
			analytics := redisstore.NewAnalytics(c)
			cps := redisstore.NewCheckpoints(c)

			must(t, feeds.Fill(ctx, reader, ids(1, 2, 3)))
			must(t, feeds.Add(ctx, entries(reader, 4, 5, 6, 7, 8, 9, 10)))
			must(t, timelines.Fill(ctx, star, ids(7)))
			must(t, celebs.SetStatus(ctx, star, app.Celebrity))
			must(t, celebs.AddFollows(ctx, []app.Follow{{Follower: reader, Followee: star}}))
			if got, err := celebs.Followed(ctx, reader); err != nil || !slices.Equal(got, []string{star}) {
				t.Fatalf("Followed = %v, %v; want %s", got, err, star)
			}
			fl := app.Follow{Follower: reader, Followee: author}
			must(t, feeds.RecordUnfollow(ctx, fl))
			// The guarded rewrite: the feed and the unfollow record in one script.
			must(t, feeds.RemoveUnfollowed(ctx, fl, ids(10)))
			release, ok, err := feeds.TryLockRebuild(ctx, reader, time.Minute)
			if err != nil || !ok {
				t.Fatalf("TryLockRebuild = %v, %v", ok, err)
			}
			defer release(ctx)
			if got, _, err := feeds.Page(ctx, reader, 0, 10); err != nil || slices.Contains(got, 10) || !slices.Contains(got, 9) {
				t.Fatalf("feed = %v, %v; want 9 and not 10 (removed as the unfollowed author's)", got, err)
			}
			now := time.Now()
			must(t, analytics.RecordPost(ctx, post, author, []string{tag}, now))
			must(t, analytics.RecordPost(ctx, post+1, author, []string{tag}, now))
			must(t, analytics.RemovePost(ctx, post+1, now))
			if top, err := analytics.TopTags(ctx, now.Add(-time.Hour), now.Add(time.Minute), 0); err != nil || !slices.Contains(top, app.TagCount{Tag: tag, Count: 1}) {
				t.Fatalf("TopTags = %v, %v; want %s counted once", top, err, tag)
			}
			must(t, search.Index(ctx, post, []string{tag, "w" + u}))
			if got, err := search.Search(ctx, []string{tag, "w" + u}, 0, 10); err != nil || !slices.Equal(got, []app.ID{post}) {
				t.Fatalf("Search = %v, %v; want %d", got, err, post)
			}
			if d, err := redisstore.NewRateLimiter(c).Allow(ctx, "posts:"+author, app.Limit{Quota: 5, Window: time.Minute}); err != nil || !d.Allowed {
				t.Fatalf("Allow = %+v, %v", d, err)
			}
			group := "g" + u
			if _, err := cps.Save(ctx, group, nil, offsets{"posts": {0: 1}}); err != nil {
				t.Fatal(err)
			}
			must(t, feeds.Ping(ctx))

			// Every key of the workload naming the test's users, tags or
			// group carries the prefix (which holds u too, so the keys
			// naming none, such as an analytics bucket's, are listed as
			// well), and every kind of key is there.
			var made []string
			for _, k := range testenv.RedisKeys(t, c, "*"+u+"*") {
				if !strings.HasPrefix(k, prefix) {
					t.Errorf("key %q has no prefix %q", k, prefix)
				}
				made = append(made, strings.TrimPrefix(k, prefix))
			}
			for _, kind := range []string{"feed:", "timeline:", "celebrity:", "celebs:", "unfollowed:", "unfollowers:",
				"rebuild:", "sx:", "sd:", "an:", "rl:", "feedsvc:applied", "feedsvc:health"} {
				if !slices.ContainsFunc(made, func(k string) bool { return strings.HasPrefix(k, kind) }) {
					t.Errorf("no %s key under the prefix among %v", kind, made)
				}
			}
		})
	}
}

// deleteMatching deletes the keys matching pattern on every node.
func deleteMatching(t *testing.T, c rueidis.Client, pattern string) {
	for _, k := range testenv.RedisKeys(t, c, pattern) {
		_ = c.Do(context.Background(), c.B().Del().Key(k).Build()).Error()
	}
}
