// Package redis keeps home feeds in Redis (or Redis Cluster) through rueidis.
//
// A feed is one sorted set per user, key "feed:{USER}" (the braces keep each
// feed on one cluster slot). Every member has score 0 and is the post ID as
// 8 big-endian bytes, so Redis orders members by ID lexicographically
// (ZREVRANGEBYLEX) with no float rounding of 64-bit IDs, and an entry costs
// 8 bytes of payload. The one-byte member "\xff" sorts above every ID and
// marks a feed as complete (built from the store); a feed without it was
// evicted or never built, and readers rebuild it.
package redis

import (
	"context"
	"encoding/binary"
	"fmt"
	"strconv"

	"github.com/redis/rueidis"

	"github.com/feedsvc/feedsvc/app"
)

const completeMarker = "\xff"

// addScript inserts members and trims the feed to its cap in one round trip,
// keeping the completeness marker (the highest member) out of the count.
// ARGV[1] = cap, ARGV[2..] = members.
var addScript = rueidis.NewLuaScript(`
local args = {}
for i = 2, #ARGV do
  args[#args+1] = 0
  args[#args+1] = ARGV[i]
end
redis.call('ZADD', KEYS[1], unpack(args))
local keep = tonumber(ARGV[1])
if redis.call('ZSCORE', KEYS[1], '\255') then keep = keep + 1 end
local n = redis.call('ZCARD', KEYS[1])
if n > keep then redis.call('ZREMRANGEBYRANK', KEYS[1], 0, n - keep - 1) end
return n
`)

// Feeds implements app.FeedCache on Redis.
type Feeds struct {
	client rueidis.Client
	cap    string
}

// NewFeeds returns a feed cache on client, capping each feed at capacity entries.
func NewFeeds(client rueidis.Client, capacity int) *Feeds {
	return &Feeds{client: client, cap: strconv.Itoa(capacity)}
}

// Key returns the Redis key of user's feed.
func Key(user string) string { return "feed:{" + user + "}" }

func member(id app.ID) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(id))
	return string(b[:])
}

func decode(m string) (app.ID, bool) {
	if len(m) != 8 {
		return 0, false
	}
	return app.ID(binary.BigEndian.Uint64([]byte(m))), true
}

// groupByUser turns entries into per-user member lists, in first-seen order.
func groupByUser(entries []app.FeedEntry) (users []string, members map[string][]string) {
	members = make(map[string][]string)
	for _, e := range entries {
		if _, ok := members[e.User]; !ok {
			users = append(users, e.User)
		}
		members[e.User] = append(members[e.User], member(e.Post))
	}
	return users, members
}

// Add implements app.FeedCache: one script call per touched feed, all
// pipelined in one round trip.
func (f *Feeds) Add(ctx context.Context, entries []app.FeedEntry) error {
	users, members := groupByUser(entries)
	return f.add(ctx, users, members)
}

func (f *Feeds) add(ctx context.Context, users []string, members map[string][]string) error {
	if len(users) == 0 {
		return nil
	}
	execs := make([]rueidis.LuaExec, len(users))
	for i, u := range users {
		args := make([]string, 0, len(members[u])+1)
		args = append(args, f.cap)
		args = append(args, members[u]...)
		execs[i] = rueidis.LuaExec{Keys: []string{Key(u)}, Args: args}
	}
	for _, r := range addScript.ExecMulti(ctx, f.client, execs...) {
		if err := r.Error(); err != nil {
			return fmt.Errorf("add to feeds: %w", err)
		}
	}
	return nil
}

// Remove implements app.FeedCache.
func (f *Feeds) Remove(ctx context.Context, entries []app.FeedEntry) error {
	users, members := groupByUser(entries)
	if len(users) == 0 {
		return nil
	}
	cmds := make(rueidis.Commands, len(users))
	for i, u := range users {
		cmds[i] = f.client.B().Zrem().Key(Key(u)).Member(members[u]...).Build()
	}
	for _, r := range f.client.DoMulti(ctx, cmds...) {
		if err := r.Error(); err != nil {
			return fmt.Errorf("remove from feeds: %w", err)
		}
	}
	return nil
}

// Page implements app.FeedCache.
func (f *Feeds) Page(ctx context.Context, user string, before app.ID, limit int) ([]app.ID, bool, error) {
	top := "(" + completeMarker
	if before > 0 {
		top = "(" + member(before)
	}
	key := Key(user)
	res := f.client.DoMulti(ctx,
		f.client.B().Zscore().Key(key).Member(completeMarker).Build(),
		f.client.B().Zrevrangebylex().Key(key).Max(top).Min("-").Limit(0, int64(limit)).Build(),
	)
	complete := true
	if err := res[0].Error(); rueidis.IsRedisNil(err) {
		complete = false
	} else if err != nil {
		return nil, false, fmt.Errorf("read feed %s: %w", user, err)
	}
	raw, err := res[1].AsStrSlice()
	if err != nil {
		return nil, false, fmt.Errorf("read feed %s: %w", user, err)
	}
	ids := make([]app.ID, 0, len(raw))
	for _, m := range raw {
		if id, ok := decode(m); ok {
			ids = append(ids, id)
		}
	}
	return ids, complete, nil
}

// Fill implements app.FeedCache.
func (f *Feeds) Fill(ctx context.Context, user string, ids []app.ID) error {
	ms := make([]string, 0, len(ids)+1)
	for _, id := range ids {
		ms = append(ms, member(id))
	}
	ms = append(ms, completeMarker)
	return f.add(ctx, []string{user}, map[string][]string{user: ms})
}

// Inspect returns the IDs stored in user's feed exactly as cached, newest
// first, without rebuilding anything (nil if the feed is absent).
func (f *Feeds) Inspect(ctx context.Context, user string) ([]app.ID, error) {
	ids, _, err := f.Page(ctx, user, 0, 1<<30)
	return ids, err
}

// Ping checks that Redis answers.
func (f *Feeds) Ping(ctx context.Context) error {
	if err := f.client.Do(ctx, f.client.B().Ping().Build()).Error(); err != nil {
		return fmt.Errorf("redis ping: %w", err)
	}
	return nil
}
