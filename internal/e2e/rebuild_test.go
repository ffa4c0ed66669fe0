package e2e_test

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/redis/rueidis"

	"github.com/feedsvc/feedsvc/internal/testenv"
	redisstore "github.com/feedsvc/feedsvc/store/redis"
)

// TestRebuildViews: a Redis that lost the search index and the trends
// counters beyond what the event log still holds gets them back from the
// store with `feedsvc rebuild`, exactly (a deleted post stays out); with
// the embedded Redis there is nothing to rebuild from outside serve, and
// the command says so.
func TestRebuildViews(t *testing.T) {
	forEach(t, func(t *testing.T, s *system) {
		s.up()
		if !s.dep.real {
			out, err := s.cliErr("rebuild", "search")
			if err == nil || !strings.Contains(out, "--redis-addr") {
				t.Fatalf("rebuild search on the embedded Redis: %v, %q; want an error naming --redis-addr", err, out)
			}
			return
		}
		alice := s.user("alice")
		word, tag := "rebuilt"+s.suffix, "rb"+s.suffix
		var live []string
		for i := range 3 {
			p := alice.post(s, word+" #"+tag)
			if i == 1 {
				alice.must(s, "DELETE", "/v1/posts/"+p.ID, nil, 204)
				continue
			}
			live = append(live, p.ID)
		}
		views := func() error {
			return errors.Join(sameSet(alice.search(s, word), live),
				equalf(alice.tagCount(s, tag), int64(len(live))),
				equalf(postsCounted(alice.stats(s, alice.name, "?hours=2")), int64(len(live))))
		}
		testenv.Eventually(t, "the consumers wrote search and trends", views)

		// The loss: every search and counter key of this deployment.
		n := s.dropRedisKeys("sx:*", "sd:*", "an:*")
		if err := errors.Join(sameSet(alice.search(s, word), nil), equalf(alice.tagCount(s, tag), -1)); err != nil || n == 0 {
			t.Fatalf("after dropping %d keys: %v", n, err)
		}

		for _, view := range []string{"search", "trends"} {
			out := s.cli("rebuild", view)
			if !regexp.MustCompile(`^rebuild ` + view + `: [1-9][0-9]* users, [1-9][0-9]* posts written, [0-9]+ skipped`).MatchString(out) {
				t.Fatalf("rebuild %s printed %q", view, out)
			}
		}
		if err := views(); err != nil {
			t.Fatalf("after the rebuild: %v", err)
		}
	})
}

// postsCounted is the sum of hs (two hours: the posts may straddle one's end).
func postsCounted(hs []hourCount) int64 {
	var n int64
	for _, h := range hs {
		n += h.Count
	}
	return n
}

// cliErr runs a feedsvc command with the system's configuration and
// returns its stderr and how it ended.
func (s *system) cliErr(args ...string) (string, error) {
	s.t.Helper()
	cmd := s.command(args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	return stderr.String(), err
}

// dropRedisKeys deletes the keys of this deployment (its key prefix) that
// match any of patterns, on a single-node Redis, and returns how many.
func (s *system) dropRedisKeys(patterns ...string) int {
	s.t.Helper()
	ctx := context.Background()
	prefix := s.envValue("FEEDSVC_REDIS_KEY_PREFIX")
	client, err := redisstore.Open(ctx, realRedis(s.redis, prefix), nil)
	if err != nil {
		s.t.Fatal(err)
	}
	defer client.Close()
	n := 0
	for _, p := range patterns {
		var cursor uint64
		for {
			e, err := client.Do(ctx, client.B().Scan().Cursor(cursor).Match(prefix+p).Count(1000).Build()).AsScanEntry()
			if err != nil {
				s.t.Fatal(err)
			}
			if len(e.Elements) > 0 {
				if err := client.Do(ctx, client.B().Del().Key(e.Elements...).Build()).Error(); err != nil && !rueidis.IsRedisNil(err) {
					s.t.Fatal(err)
				}
				n += len(e.Elements)
			}
			if cursor = e.Cursor; cursor == 0 {
				break
			}
		}
	}
	return n
}
