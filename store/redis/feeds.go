// Package redis keeps home feeds, analytics counters and the search index in
// Redis (or Redis Cluster) through rueidis.
//
// A feed is one string per user, key "feed:{USER}" (the braces keep each
// feed on one cluster slot): a state byte ('c' complete: built from the
// store; 'p' partial: only fan-out wrote to it, readers must rebuild it)
// followed by the post IDs as 8-byte big-endian numbers, newest first, at
// most the cap. At the default cap of 800 that is about 9 bytes per entry in
// Redis memory, where a sorted set costs over 100 (BenchmarkFeedMemory).
// Scripts do every change in one round trip, so inserts stay idempotent and
// ordered and the cap is kept without a second command.
package redis

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"

	"github.com/redis/rueidis"

	"github.com/feedsvc/feedsvc/app"
)

// Feed states, the first byte of a feed value.
const (
	stateComplete = 'c'
	statePartial  = 'p'
)

// luaHelpers compare 8-byte big-endian IDs byte by byte: Lua's string
// comparison follows the server's locale (strcoll), not byte order.
const luaHelpers = `
local function cmp(a, ai, b, bi)
  for k = 0, 7 do
    local x, y = string.byte(a, ai + k), string.byte(b, bi + k)
    if x ~= y then
      if x > y then return 1 end
      return -1
    end
  end
  return 0
end
-- first index (0-based) whose entry is <= id, in a newest-first body of n entries
local function seek(body, n, id, idi)
  local lo, hi = 0, n
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if cmp(body, mid * 8 + 1, id, idi) > 0 then lo = mid + 1 else hi = mid end
  end
  return lo
end
`

// addScript merges ARGV[3] (IDs, newest first, no duplicates) into the feed
// and keeps the newest ARGV[1] entries. ARGV[2] is 'c' to mark the feed
// complete, ” to keep its state (a new feed starts partial).
var addScript = rueidis.NewLuaScript(luaHelpers + `
local v = redis.call('GET', KEYS[1])
local state, body = 'p', ''
if v then state, body = string.sub(v, 1, 1), string.sub(v, 2) end
if ARGV[2] ~= '' then state = ARGV[2] end
local cap, new = tonumber(ARGV[1]), ARGV[3]
local nb, nn = #body / 8, #new / 8
-- Fast path, the common fan-out case: everything new is newer than the feed.
if nn > 0 and (nb == 0 or cmp(new, (nn - 1) * 8 + 1, body, 1) > 0) then
  local keep = math.max(0, math.min(nb, cap - nn))
  redis.call('SET', KEYS[1], state .. string.sub(new, 1, math.min(nn, cap) * 8) .. string.sub(body, 1, keep * 8))
  return math.min(nn, cap) + keep
end
local out, k, i, j = {}, 0, 0, 0
-- Merge two newest-first lists, copying runs of the old body in one piece.
while k < cap and i < nn do
  local p = seek(body, nb, new, i * 8 + 1)
  if p > j then
    local take = math.min(p - j, cap - k)
    out[#out + 1] = string.sub(body, j * 8 + 1, (j + take) * 8)
    k, j = k + take, j + take
  end
  if k < cap then
    if j < nb and cmp(body, j * 8 + 1, new, i * 8 + 1) == 0 then j = j + 1 end
    out[#out + 1] = string.sub(new, i * 8 + 1, i * 8 + 8)
    k = k + 1
  end
  i = i + 1
end
if k < cap and j < nb then
  local stop = math.min(nb, j + cap - k)
  out[#out + 1] = string.sub(body, j * 8 + 1, stop * 8)
  k = k + stop - j
end
redis.call('SET', KEYS[1], state .. table.concat(out))
return k
`)

// removeScript deletes ARGV[1..] (8-byte IDs) from the feed.
var removeScript = rueidis.NewLuaScript(luaHelpers + `
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local state, body = string.sub(v, 1, 1), string.sub(v, 2)
local removed = 0
for a = 1, #ARGV do
  local n = #body / 8
  local p = seek(body, n, ARGV[a], 1)
  if p < n and cmp(body, p * 8 + 1, ARGV[a], 1) == 0 then
    body = string.sub(body, 1, p * 8) .. string.sub(body, p * 8 + 9)
    removed = removed + 1
  end
end
if removed > 0 then redis.call('SET', KEYS[1], state .. body) end
return removed
`)

// pageScript returns the state byte and up to ARGV[2] entries below ARGV[1]
// (an 8-byte ID), or nil for an absent feed.
var pageScript = rueidis.NewLuaScript(luaHelpers + `
local v = redis.call('GET', KEYS[1])
if not v then return false end
local body = string.sub(v, 2)
local n = #body / 8
local start = seek(body, n, ARGV[1], 1)
if start < n and cmp(body, start * 8 + 1, ARGV[1], 1) == 0 then start = start + 1 end
local stop = math.min(n, start + tonumber(ARGV[2]))
return string.sub(v, 1, 1) .. string.sub(body, start * 8 + 1, stop * 8)
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

func putID(b []byte, id app.ID) []byte {
	return binary.BigEndian.AppendUint64(b, uint64(id))
}

// member encodes an ID as 8 big-endian bytes, whose byte order is ID order
// (feeds and search sets rely on it).
func member(id app.ID) string { return string(putID(nil, id)) }

// decode reverses member.
func decode(m string) (app.ID, bool) {
	if len(m) != 8 {
		return 0, false
	}
	return app.ID(binary.BigEndian.Uint64([]byte(m))), true
}

// pack encodes ids newest first, without duplicates.
func pack(ids []app.ID) string {
	sorted := slices.Clone(ids)
	slices.SortFunc(sorted, func(a, b app.ID) int { return cmp.Compare(b, a) })
	sorted = slices.Compact(sorted)
	b := make([]byte, 0, 8*len(sorted))
	for _, id := range sorted {
		b = putID(b, id)
	}
	return string(b)
}

// groupByUser turns entries into per-user ID lists, in first-seen order.
func groupByUser(entries []app.FeedEntry) (users []string, ids map[string][]app.ID) {
	ids = make(map[string][]app.ID)
	for _, e := range entries {
		if _, ok := ids[e.User]; !ok {
			users = append(users, e.User)
		}
		ids[e.User] = append(ids[e.User], e.Post)
	}
	return users, ids
}

// Add implements app.FeedCache: one script call per touched feed, all
// pipelined in one round trip.
func (f *Feeds) Add(ctx context.Context, entries []app.FeedEntry) error {
	users, ids := groupByUser(entries)
	return f.add(ctx, users, ids, "")
}

func (f *Feeds) add(ctx context.Context, users []string, ids map[string][]app.ID, state string) error {
	if len(users) == 0 {
		return nil
	}
	execs := make([]rueidis.LuaExec, len(users))
	for i, u := range users {
		execs[i] = rueidis.LuaExec{Keys: []string{Key(u)}, Args: []string{f.cap, state, pack(ids[u])}}
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
	users, ids := groupByUser(entries)
	if len(users) == 0 {
		return nil
	}
	execs := make([]rueidis.LuaExec, len(users))
	for i, u := range users {
		args := make([]string, len(ids[u]))
		for j, id := range ids[u] {
			args[j] = member(id)
		}
		execs[i] = rueidis.LuaExec{Keys: []string{Key(u)}, Args: args}
	}
	for _, r := range removeScript.ExecMulti(ctx, f.client, execs...) {
		if err := r.Error(); err != nil {
			return fmt.Errorf("remove from feeds: %w", err)
		}
	}
	return nil
}

// Page implements app.FeedCache.
func (f *Feeds) Page(ctx context.Context, user string, before app.ID, limit int) ([]app.ID, bool, error) {
	var v string
	var err error
	if before == 0 {
		// The first page is a prefix of the value: no script needed. An
		// absent key reads as "".
		v, err = f.client.Do(ctx, f.client.B().Getrange().Key(Key(user)).Start(0).End(int64(limit)*8).Build()).ToString()
		if err == nil && v == "" {
			return nil, false, nil
		}
	} else {
		v, err = pageScript.Exec(ctx, f.client, []string{Key(user)}, []string{member(before), strconv.Itoa(limit)}).ToString()
		if rueidis.IsRedisNil(err) {
			return nil, false, nil
		}
	}
	if err != nil {
		return nil, false, fmt.Errorf("read feed %s: %w", user, err)
	}
	if len(v) == 0 || (len(v)-1)%8 != 0 {
		return nil, false, fmt.Errorf("read feed %s: corrupt value of %d bytes", user, len(v))
	}
	ids := make([]app.ID, 0, (len(v)-1)/8)
	for p := 1; p < len(v); p += 8 {
		id, _ := decode(v[p : p+8])
		ids = append(ids, id)
	}
	return ids, v[0] == stateComplete, nil
}

// Fill implements app.FeedCache: it merges ids (keeping what fan-out wrote
// meanwhile) and marks the feed complete.
func (f *Feeds) Fill(ctx context.Context, user string, ids []app.ID) error {
	return f.add(ctx, []string{user}, map[string][]app.ID{user: ids}, string(rune(stateComplete)))
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
