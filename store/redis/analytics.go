package redis

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/feedsvc/feedsvc/app"
)

// Analytics layout. Counters live in minute buckets by the post's time
// (CreatedAt, UTC), so a replayed event lands in the bucket it was first
// counted in. One bucket is three keys sharing the hash tag of its minute,
// so one script can update them on a Redis Cluster:
//
//	an:{202611251034}:posts    hash post ID -> what it counted, or "-" once removed
//	an:{202611251034}:tags     hash tag -> posts using it
//	an:{202611251034}:authors  hash author -> posts
//
// The posts hash is each post's membership: "author\ntag\ntag...", what
// RecordPost added, so RemovePost takes back exactly that; "-" marks a
// removed post, so a replayed post.created (or one handled after its
// post.deleted) counts nothing. All three expire together
// AnalyticsRetention after the bucket's minute.
const (
	// AnalyticsRetention is how long a minute bucket is kept; queries
	// reach at most this far back.
	AnalyticsRetention = 8 * 24 * time.Hour
	bucketLayout       = "200601021504"
	// readChunk bounds the commands pipelined in one DoMulti.
	readChunk = 1000
	// removed is the membership of a post RemovePost took back.
	removed = "-"
)

// recordScript counts one post in one minute bucket, exactly once, unless
// it was removed. KEYS = posts, tags, authors. ARGV[1] = post ID, ARGV[2] =
// expiry (unix seconds), ARGV[3] = membership, ARGV[4] = author, ARGV[5..] =
// distinct tags.
var recordScript = rueidis.NewLuaScript(`
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[3]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[3], ARGV[4], 1)
for i = 5, #ARGV do redis.call('HINCRBY', KEYS[2], ARGV[i], 1) end
for i = 1, #KEYS do redis.call('EXPIREAT', KEYS[i], ARGV[2]) end
return 1
`)

// removeScript takes back what recordScript counted for one post, once, and
// marks it removed. A counter that reaches zero is deleted, so a tag nobody
// uses any more leaves the trends. KEYS and ARGV[1..2] as recordScript.
var removeScript = rueidis.NewLuaScript(`
local m = redis.call('HGET', KEYS[1], ARGV[1])
if m == '` + removed + `' then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], '` + removed + `')
redis.call('EXPIREAT', KEYS[1], ARGV[2])
if not m then return 0 end
local key = KEYS[3]
for name in string.gmatch(m, '[^\n]+') do
	if redis.call('HINCRBY', key, name, -1) <= 0 then redis.call('HDEL', key, name) end
	key = KEYS[2]
end
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
// post memberships, tag counters, author counters. Deleting them together
// and replaying the bucket's events reproduces its counts.
func AnalyticsKeys(at time.Time) []string {
	p := "an:{" + at.UTC().Format(bucketLayout) + "}:"
	return []string{p + "posts", p + "tags", p + "authors"}
}

// bucket returns the minute of at and its expiry, and false when the bucket
// is past the retention: gone, and it must not come back.
func (a *Analytics) bucket(at time.Time) (minute, expires time.Time, ok bool) {
	minute = at.UTC().Truncate(time.Minute)
	expires = minute.Add(AnalyticsRetention)
	return minute, expires, expires.After(a.now())
}

// RecordPost implements app.Analytics. A post older than the retention is
// ignored.
func (a *Analytics) RecordPost(ctx context.Context, post app.ID, author string, tags []string, at time.Time) error {
	minute, expires, ok := a.bucket(at)
	if !ok {
		return nil
	}
	// Names are user IDs and folded hashtags, which never hold a newline,
	// the membership's separator; anything else is not counted.
	if author == "" || strings.Contains(author, "\n") {
		return fmt.Errorf("record post %s: %w: author %q", post, app.ErrInvalid, author)
	}
	names := []string{author}
	seen := make(map[string]bool, len(tags))
	for _, t := range tags {
		if t != "" && !seen[t] && !strings.Contains(t, "\n") {
			seen[t] = true
			names = append(names, t)
		}
	}
	args := make([]string, 0, len(names)+3)
	args = append(args, post.String(), strconv.FormatInt(expires.Unix(), 10), strings.Join(names, "\n"))
	args = append(args, names...)
	if err := recordScript.Exec(ctx, a.client, AnalyticsKeys(minute), args).Error(); err != nil {
		return fmt.Errorf("record post %s in bucket %s: %w", post, minute.Format(bucketLayout), err)
	}
	return nil
}

// RemovePost implements app.Analytics. A post older than the retention is
// ignored, like in RecordPost.
func (a *Analytics) RemovePost(ctx context.Context, post app.ID, at time.Time) error {
	minute, expires, ok := a.bucket(at)
	if !ok {
		return nil
	}
	args := []string{post.String(), strconv.FormatInt(expires.Unix(), 10)}
	if err := removeScript.Exec(ctx, a.client, AnalyticsKeys(minute), args).Error(); err != nil {
		return fmt.Errorf("remove post %s from bucket %s: %w", post, minute.Format(bucketLayout), err)
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
