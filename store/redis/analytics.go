package redis

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/feedsvc/feedsvc/app"
)

// Analytics layout. Counters live in minute buckets by event time (the
// post's CreatedAt, UTC), so a replayed event lands in the bucket it was
// first counted in. One bucket is three keys sharing the hash tag of its
// minute, so one script can update them on a Redis Cluster:
//
//	an:{202611251034}:seen     set of event IDs counted in this minute (dedupe)
//	an:{202611251034}:tags     hash tag -> posts using it
//	an:{202611251034}:authors  hash author -> posts
//
// All three expire together AnalyticsRetention after the bucket's minute.
const (
	// AnalyticsRetention is how long a minute bucket is kept; queries
	// reach at most this far back.
	AnalyticsRetention = 8 * 24 * time.Hour
	bucketLayout       = "200601021504"
	// readChunk bounds the commands pipelined in one DoMulti.
	readChunk = 1000
)

// recordScript counts one event in one minute bucket, exactly once.
// KEYS = seen, tags, authors. ARGV[1] = event ID, ARGV[2] = expiry (unix
// seconds), ARGV[3] = author, ARGV[4..] = distinct tags.
var recordScript = rueidis.NewLuaScript(`
if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[3], ARGV[3], 1)
for i = 4, #ARGV do redis.call('HINCRBY', KEYS[2], ARGV[i], 1) end
for i = 1, #KEYS do redis.call('EXPIREAT', KEYS[i], ARGV[2]) end
return 1
`)

// Analytics implements app.Analytics on Redis.
type Analytics struct {
	client rueidis.Client
	now    func() time.Time
}

var _ app.Analytics = (*Analytics)(nil)

// NewAnalytics returns activity counters on client.
func NewAnalytics(client rueidis.Client) *Analytics {
	return &Analytics{client: client, now: time.Now}
}

// AnalyticsKeys returns the keys of the minute bucket holding time at:
// dedupe set, tag counters, author counters. Deleting them together and
// replaying the bucket's events reproduces its counts.
func AnalyticsKeys(at time.Time) []string {
	p := "an:{" + at.UTC().Format(bucketLayout) + "}:"
	return []string{p + "seen", p + "tags", p + "authors"}
}

// RecordPost implements app.Analytics. An event older than the retention
// is ignored: its bucket is gone and must not come back.
func (a *Analytics) RecordPost(ctx context.Context, eventID, author string, tags []string, at time.Time) error {
	minute := at.UTC().Truncate(time.Minute)
	expires := minute.Add(AnalyticsRetention)
	if !expires.After(a.now()) {
		return nil
	}
	args := make([]string, 0, len(tags)+3)
	args = append(args, eventID, strconv.FormatInt(expires.Unix(), 10), author)
	seen := make(map[string]bool, len(tags))
	for _, t := range tags {
		if t != "" && !seen[t] {
			seen[t] = true
			args = append(args, t)
		}
	}
	if err := recordScript.Exec(ctx, a.client, AnalyticsKeys(minute), args).Error(); err != nil {
		return fmt.Errorf("record event %s in bucket %s: %w", eventID, minute.Format(bucketLayout), err)
	}
	return nil
}

// minutes returns the start of every minute overlapping [from, to), oldest
// first, no further back than the retention.
func (a *Analytics) minutes(from, to time.Time) []time.Time {
	if oldest := a.now().Add(-AnalyticsRetention).Truncate(time.Minute); from.Before(oldest) {
		from = oldest
	}
	var out []time.Time
	for m := from.UTC().Truncate(time.Minute); m.Before(to); m = m.Add(time.Minute) {
		out = append(out, m)
	}
	return out
}

// readAll runs cmds pipelined, in chunks, and hands each reply to use in
// order.
func (a *Analytics) readAll(ctx context.Context, cmds rueidis.Commands, use func(i int, r rueidis.RedisResult) error) error {
	for start := 0; start < len(cmds); start += readChunk {
		end := min(start+readChunk, len(cmds))
		for i, r := range a.client.DoMulti(ctx, cmds[start:end]...) {
			if err := r.Error(); err != nil && !rueidis.IsRedisNil(err) {
				return err
			}
			if err := use(start+i, r); err != nil {
				return err
			}
		}
	}
	return nil
}

// TopTags implements app.Analytics at minute resolution: every minute bucket
// overlapping [from, to) counts. Ties are broken by tag, so the order is
// stable. A limit below 1 returns every tag.
func (a *Analytics) TopTags(ctx context.Context, from, to time.Time, limit int) ([]app.TagCount, error) {
	ms := a.minutes(from, to)
	cmds := make(rueidis.Commands, len(ms))
	for i, m := range ms {
		cmds[i] = a.client.B().Hgetall().Key(AnalyticsKeys(m)[1]).Build()
	}
	totals := map[string]int64{}
	err := a.readAll(ctx, cmds, func(_ int, r rueidis.RedisResult) error {
		counts, err := r.AsIntMap()
		if err != nil && !rueidis.IsRedisNil(err) {
			return err
		}
		for tag, n := range counts {
			totals[tag] += n
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read tag counts %s..%s: %w", from.Format(time.RFC3339), to.Format(time.RFC3339), err)
	}
	return app.RankTags(totals, limit), nil
}

// AuthorHourly implements app.Analytics: one entry per hour overlapping
// [from, to), oldest first, zero counts included; each hour sums its
// minute buckets that overlap [from, to). Hours are UTC.
func (a *Analytics) AuthorHourly(ctx context.Context, author string, from, to time.Time) ([]app.HourCount, error) {
	var out []app.HourCount
	for h := from.UTC().Truncate(time.Hour); h.Before(to); h = h.Add(time.Hour) {
		out = append(out, app.HourCount{Hour: h})
	}
	ms := a.minutes(from, to)
	cmds := make(rueidis.Commands, len(ms))
	for i, m := range ms {
		cmds[i] = a.client.B().Hget().Key(AnalyticsKeys(m)[2]).Field(author).Build()
	}
	first := from.UTC().Truncate(time.Hour)
	err := a.readAll(ctx, cmds, func(i int, r rueidis.RedisResult) error {
		n, err := r.AsInt64()
		if rueidis.IsRedisNil(err) {
			return nil
		}
		if err != nil {
			return err
		}
		out[int(ms[i].Sub(first)/time.Hour)].Count += n
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read hourly posts of %s: %w", author, err)
	}
	return out, nil
}
