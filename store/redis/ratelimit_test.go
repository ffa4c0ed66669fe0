package redis_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/feedsvc/feedsvc/app"
	redisstore "github.com/feedsvc/feedsvc/store/redis"
)

// TestRateLimitConformance runs the limiter's cases on every backend; two
// clients of one server stand for two api processes.
func TestRateLimitConformance(t *testing.T) {
	ctx := context.Background()
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			c := open(t)
			one, two := redisstore.NewRateLimiter(c), redisstore.NewRateLimiter(c)
			if !strings.HasPrefix(name, "miniredis") { // a second connection to the same server
				two = redisstore.NewRateLimiter(open(t))
			}
			allow := func(l *redisstore.RateLimiter, key string, lim app.Limit) app.RateDecision {
				t.Helper()
				d, err := l.Allow(ctx, key, lim)
				if err != nil {
					t.Fatal(err)
				}
				return d
			}
			hour := app.Limit{Quota: 3, Window: time.Hour}

			t.Run("quota shared by processes, then refused with a retry time", func(t *testing.T) {
				key := "posts:" + uniqueUser(t)
				for i, l := range []*redisstore.RateLimiter{one, two, one} {
					if d := allow(l, key, hour); !d.Allowed || d.Remaining != 2-i {
						t.Fatalf("request %d: %+v, want allowed with %d remaining", i+1, d, 2-i)
					}
				}
				for _, l := range []*redisstore.RateLimiter{two, one} {
					d := allow(l, key, hour)
					if d.Allowed || d.Remaining != 0 || d.RetryAfter <= 0 || d.RetryAfter > 20*time.Minute || d.Reset <= 40*time.Minute || d.Reset > time.Hour {
						t.Fatalf("past the quota: %+v, want refused, retry within 20m, reset within the hour", d)
					}
				}
				if d := allow(one, "posts:"+uniqueUser(t), hour); !d.Allowed || d.Remaining != 2 {
					t.Fatalf("another client: %+v, want its own quota", d)
				}
				ttl, err := c.Do(ctx, c.B().Pttl().Key(redisstore.KeysOf(c).RateLimit(key)).Build()).AsInt64()
				if err != nil || ttl <= 0 || ttl > time.Hour.Milliseconds() {
					t.Fatalf("key TTL %d ms (%v), want within the window", ttl, err)
				}
			})

			t.Run("a refused request is not counted, and the quota refills", func(t *testing.T) {
				// Quota 2 a second: one request per 500 ms. The third is
				// refused only while it comes within 500 ms of the first,
				// which a loaded machine may not manage: then the round
				// shows nothing, and another key tries again.
				fast := app.Limit{Quota: 2, Window: time.Second}
				interval := fast.Window / time.Duration(fast.Quota)
				var key string
				var first app.RateDecision
				var sent, answered time.Time // of the first refusal
				for round := 1; ; round++ {
					key = "follows:" + uniqueUser(t)
					began := time.Now()
					allow(one, key, fast)
					allow(one, key, fast)
					sent = time.Now()
					first = allow(two, key, fast)
					answered = time.Now()
					if !first.Allowed {
						break
					}
					if answered.Sub(began) < interval {
						t.Fatalf("past the quota within %s of the first request: %+v", interval, first)
					}
					if round == 20 {
						t.Fatalf("in 20 rounds, never 3 requests within %s (the last took %s): nothing to check", interval, answered.Sub(began))
					}
				}
				// The quota is whole again at the first refusal's time (on
				// Redis's clock) plus its retry time; sent+RetryAfter is no
				// later. A request answered before that must be refused.
				refill := sent.Add(first.RetryAfter)
				for range 5 {
					// A refusal that counted would push the retry time out.
					d := allow(two, key, fast)
					if d.Allowed {
						if time.Now().Before(refill) {
							t.Fatalf("allowed before the first refusal's retry time: %+v", d)
						}
						break // the quota refilled (a slow machine): no more refusals to check
					}
					if d.RetryAfter > first.RetryAfter {
						t.Fatalf("a later refusal: %+v, want a retry time within the first's %s", d, first.RetryAfter)
					}
				}
				// Whole again by the first refusal's answer plus its retry
				// time (whatever the refusals since).
				time.Sleep(time.Until(answered.Add(first.RetryAfter)) + 50*time.Millisecond)
				if d := allow(one, key, fast); !d.Allowed {
					t.Fatalf("after the retry time: %+v, want allowed (refusals must not push it back)", d)
				}
			})

			t.Run("off limits nothing", func(t *testing.T) {
				for range 10 {
					if d := allow(one, "x:"+uniqueUser(t), app.Limit{}); !d.Allowed {
						t.Fatalf("off: %+v", d)
					}
				}
			})
		})
	}
}
