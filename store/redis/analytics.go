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

// Analytics layout. Counters live in hour buckets by the post's time
// (CreatedAt, UTC), so a replayed event lands in the bucket it was first
// counted in. One bucket is five keys sharing the hash tag of its hour, so
// one script can update them on a Redis Cluster:
//
//	an:{2026112510}:posts     hash post ID -> what it counted, or "-" once removed
//	an:{2026112510}:tags      hash tag -> posts of the hour using it (the rollup)
//	an:{2026112510}:authors   hash author -> posts of the hour
//	an:{2026112510}:mtags     hash "MM\ntag" -> posts of minute MM using it
//	an:{2026112510}:mauthors  hash "MM\nauthor" -> posts of minute MM
//
// A query reads the rollups of the whole hours it covers and the minute
// counters of the hours it covers in part (at most two), so a 7-day trends
// read costs about 170 commands, not one per minute (10,080).
//
// The posts hash is each post's membership: "MM\nauthor\ntag\ntag...", what
// RecordPost added, so RemovePost takes back exactly that; "-" marks a
// removed post, so a replayed post.created (or one handled after its
// post.deleted) counts nothing. All five expire together
// AnalyticsRetention after the bucket's hour.
const (
	// AnalyticsRetention is how long a bucket is kept; queries reach at
	// most this far back.
	AnalyticsRetention = 8 * 24 * time.Hour
	bucketLayout       = "2006010215"
	// readChunk bounds the commands pipelined in one DoMulti.
	readChunk = 1000
	// removed is the membership of a post RemovePost took back.
	removed = "-"
)

// recordScript counts one post in one hour bucket, exactly once, unless it
// was removed. KEYS = posts, tags, authors, mtags, mauthors. ARGV[1] = post
// ID, ARGV[2] = expiry (unix seconds), ARGV[3] = membership, ARGV[4] =
// minute (MM), ARGV[5] = author, ARGV[6..] = distinct tags.
var recordScript = rueidis.NewLuaScript(`
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[3]) == 0 then return 0 end
local mm = ARGV[4] .. '\n'
redis.call('HINCRBY', KEYS[3], ARGV[5], 1)
redis.call('HINCRBY', KEYS[5], mm .. ARGV[5], 1)
for i = 6, #ARGV do
	redis.call('HINCRBY', KEYS[2], ARGV[i], 1)
	redis.call('HINCRBY', KEYS[4], mm .. ARGV[i], 1)
end
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
local function down(key, field)
	if redis.call('HINCRBY', key, field, -1) <= 0 then redis.call('HDEL', key, field) end
end
local mm, hour, minute = nil, KEYS[3], KEYS[5]
for name in string.gmatch(m, '[^\n]+') do
	if not mm then
		mm = name .. '\n'
	else
		down(hour, name)
		down(minute, mm .. name)
		hour, minute = KEYS[2], KEYS[4]
	end
end
return 1
`)

// Analytics implements app.Analytics on Redis.
type Analytics struct {
	client rueidis.Client
	keys   Keys
	now    func() time.Time
}

var _ app.Analytics = (*Analytics)(nil)

// NewAnalytics returns activity counters on client.
func NewAnalytics(client rueidis.Client) *Analytics {
	return &Analytics{client: client, keys: KeysOf(client), now: time.Now}
}

// bucket returns the hour of at and its expiry, and false when the bucket
// is past the retention: gone, and it must not come back.
func (a *Analytics) bucket(at time.Time) (hour, expires time.Time, ok bool) {
	hour = at.UTC().Truncate(time.Hour)
	expires = hour.Add(AnalyticsRetention)
	return hour, expires, expires.After(a.now())
}

// minuteField is the field of name in a minute counter: "MM\nname".
func minuteField(at time.Time, name string) string {
	return fmt.Sprintf("%02d\n%s", at.UTC().Minute(), name)
}

// RecordPost implements app.Analytics. A post older than the retention is
// ignored.
func (a *Analytics) RecordPost(ctx context.Context, post app.ID, author string, tags []string, at time.Time) error {
	hour, expires, ok := a.bucket(at)
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
	mm := fmt.Sprintf("%02d", at.UTC().Minute())
	args := make([]string, 0, len(names)+4)
	args = append(args, post.String(), strconv.FormatInt(expires.Unix(), 10), mm+"\n"+strings.Join(names, "\n"), mm)
	args = append(args, names...)
	if err := recordScript.Exec(ctx, a.client, a.keys.Analytics(hour), args).Error(); err != nil {
		return fmt.Errorf("record post %s in bucket %s: %w", post, hour.Format(bucketLayout), err)
	}
	return nil
}

// RemovePost implements app.Analytics. A post older than the retention is
// ignored, like in RecordPost.
func (a *Analytics) RemovePost(ctx context.Context, post app.ID, at time.Time) error {
	hour, expires, ok := a.bucket(at)
	if !ok {
		return nil
	}
	args := []string{post.String(), strconv.FormatInt(expires.Unix(), 10)}
	if err := removeScript.Exec(ctx, a.client, a.keys.Analytics(hour), args).Error(); err != nil {
		return fmt.Errorf("remove post %s from bucket %s: %w", post, hour.Format(bucketLayout), err)
	}
	return nil
}

// span is an hour of a query: whole (its rollups count) or in part (its
// minute counters from first to last, inclusive, count).
type span struct {
	hour        time.Time
	whole       bool
	first, last int
}

// spans returns the hours overlapping [from, to) at minute resolution,
// oldest first, no further back than the retention.
func (a *Analytics) spans(from, to time.Time) []span {
	if oldest := a.now().Add(-AnalyticsRetention).Truncate(time.Minute); from.Before(oldest) {
		from = oldest
	}
	from = from.UTC().Truncate(time.Minute)
	// The last minute overlapping [from, to): to itself counts only when
	// it is not on a minute boundary.
	end := to.UTC().Add(-time.Nanosecond).Truncate(time.Minute)
	var out []span
	for h := from.Truncate(time.Hour); !h.After(end) && h.Before(to); h = h.Add(time.Hour) {
		sp := span{hour: h, first: 0, last: 59}
		if h.Equal(from.Truncate(time.Hour)) {
			sp.first = from.Minute()
		}
		if h.Equal(end.Truncate(time.Hour)) {
			sp.last = end.Minute()
		}
		sp.whole = sp.first == 0 && sp.last == 59
		if sp.first <= sp.last {
			out = append(out, sp)
		}
	}
	return out
}

// in reports whether the minute counter field f ("MM\nname") is within the
// span, and returns name.
func (sp span) in(f string) (string, bool) {
	mm, name, ok := strings.Cut(f, "\n")
	n, err := strconv.Atoi(mm)
	return name, ok && err == nil && n >= sp.first && n <= sp.last
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

// TopTags implements app.Analytics at minute resolution: every minute
// overlapping [from, to) counts. Whole hours are read from their rollups,
// so a week costs about 170 commands. Ties are broken by tag, so the order
// is stable. A limit below 1 returns every tag.
func (a *Analytics) TopTags(ctx context.Context, from, to time.Time, limit int) ([]app.TagCount, error) {
	sps := a.spans(from, to)
	cmds := make(rueidis.Commands, len(sps))
	for i, sp := range sps {
		keys := a.keys.Analytics(sp.hour)
		key := keys[3]
		if sp.whole {
			key = keys[1]
		}
		cmds[i] = a.client.B().Hgetall().Key(key).Build()
	}
	totals := map[string]int64{}
	err := a.readAll(ctx, cmds, func(i int, r rueidis.RedisResult) error {
		counts, err := r.AsIntMap()
		if err != nil && !rueidis.IsRedisNil(err) {
			return err
		}
		for f, n := range counts {
			tag := f
			if !sps[i].whole {
				var ok bool
				if tag, ok = sps[i].in(f); !ok {
					continue
				}
			}
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
// [from, to), oldest first, zero counts included; each hour counts the
// author's posts of its minutes within [from, to): one command per hour.
// Hours are UTC.
func (a *Analytics) AuthorHourly(ctx context.Context, author string, from, to time.Time) ([]app.HourCount, error) {
	var out []app.HourCount
	for h := from.UTC().Truncate(time.Hour); h.Before(to); h = h.Add(time.Hour) {
		out = append(out, app.HourCount{Hour: h})
	}
	sps := a.spans(from, to)
	cmds := make(rueidis.Commands, len(sps))
	for i, sp := range sps {
		keys := a.keys.Analytics(sp.hour)
		if sp.whole {
			cmds[i] = a.client.B().Hget().Key(keys[2]).Field(author).Build()
			continue
		}
		fields := make([]string, 0, sp.last-sp.first+1)
		for mm := sp.first; mm <= sp.last; mm++ {
			fields = append(fields, minuteField(sp.hour.Add(time.Duration(mm)*time.Minute), author))
		}
		cmds[i] = a.client.B().Hmget().Key(keys[4]).Field(fields...).Build()
	}
	first := from.UTC().Truncate(time.Hour)
	err := a.readAll(ctx, cmds, func(i int, r rueidis.RedisResult) error {
		var n int64
		if sps[i].whole {
			v, err := r.AsInt64()
			if err != nil && !rueidis.IsRedisNil(err) {
				return err
			}
			n = v
		} else {
			vals, err := r.ToArray()
			if err != nil {
				return err
			}
			for _, v := range vals {
				c, err := v.AsInt64()
				if err != nil && !rueidis.IsRedisNil(err) {
					return err
				}
				n += c
			}
		}
		out[int(sps[i].hour.Sub(first)/time.Hour)].Count += n
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read hourly posts of %s: %w", author, err)
	}
	return out, nil
}
