package redis

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/feedsvc/feedsvc/app"
)

// gcraScript is the generic cell rate algorithm: one key per limited
// client holds its theoretical arrival time (TAT, µs of Redis's clock, so
// the api replicas' clocks do not matter). A request is allowed when the
// TAT it would push to stays within the quota's worth of intervals ahead of
// now; a refused one changes nothing. The key expires when the client's
// quota is whole again.
//
// KEYS[1] = the client's key. ARGV[1] = interval per request (µs),
// ARGV[2] = quota × interval (µs). Returns {allowed, remaining,
// retry after (µs), reset (µs)}.
var gcraScript = rueidis.NewLuaScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local span = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local diff = now - (new_tat - span)
if diff < 0 then
	return {0, 0, -diff, tat - now}
end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000))
return {1, math.floor(diff / interval), 0, new_tat - now}
`)

// RateLimiter implements app.RateLimiter on Redis: every api process
// using the same Redis shares the counts. One key per client and limit,
// so it works on a Redis Cluster too.
type RateLimiter struct {
	client rueidis.Client
	keys   Keys
}

var _ app.RateLimiter = (*RateLimiter)(nil)

// NewRateLimiter returns a limiter on client.
func NewRateLimiter(client rueidis.Client) *RateLimiter {
	return &RateLimiter{client: client, keys: KeysOf(client)}
}

// Allow implements app.RateLimiter.
func (r *RateLimiter) Allow(ctx context.Context, key string, l app.Limit) (app.RateDecision, error) {
	if l.Off() {
		return app.RateDecision{Allowed: true, Remaining: -1}, nil
	}
	interval := max(l.Window.Microseconds()/int64(l.Quota), 1)
	span := interval * int64(l.Quota)
	vals, err := gcraScript.Exec(ctx, r.client, []string{r.keys.RateLimit(key)},
		[]string{strconv.FormatInt(interval, 10), strconv.FormatInt(span, 10)}).ToArray()
	if err != nil {
		return app.RateDecision{}, fmt.Errorf("rate limit %s: %w", key, err)
	}
	if len(vals) != 4 {
		return app.RateDecision{}, fmt.Errorf("rate limit %s: %d values from the script, want 4", key, len(vals))
	}
	var n [4]int64
	for i, v := range vals {
		if n[i], err = v.AsInt64(); err != nil {
			return app.RateDecision{}, fmt.Errorf("rate limit %s: %w", key, err)
		}
	}
	return app.RateDecision{
		Allowed:    n[0] == 1,
		Remaining:  int(n[1]),
		RetryAfter: time.Duration(n[2]) * time.Microsecond,
		Reset:      time.Duration(n[3]) * time.Microsecond,
	}, nil
}
