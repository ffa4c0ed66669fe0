// Package redis keeps home feeds, analytics counters and the search index in
// Redis (or Redis Cluster) through rueidis.
//
// A feed is one string per user, key "feed:{USER}" (the braces keep each
// feed on one cluster slot): a state byte ('C' complete: built from the
// store; 'P' partial: only fan-out wrote to it, readers must rebuild it)
// followed by the post IDs as 8-byte big-endian numbers, oldest first, so the
// common fan-out insert (a post newer than the whole feed) is an APPEND of 8
// bytes instead of a copy of the value. Only the newest cap entries are
// visible: the value may hold a few more (the slack, older entries that are
// logically gone) until an insert would make Redis reallocate the string,
// at which point the script rewrites it with the newest cap entries. At the
// default cap of 800 that is about 9 bytes per entry in Redis memory, where a
// sorted set costs over 100 (BenchmarkFeedMemory). Scripts do every change in
// one round trip, so inserts stay idempotent and ordered and the cap is kept
// without a second command.
//
// Values in the earlier newest-first layout (state 'c'/'p') and any other
// unknown or malformed value read as an absent feed: readers rebuild it and
// writers overwrite it (feeds are a cache, there is nothing to migrate).
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
	stateComplete = 'C'
	statePartial  = 'P'
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
-- first index (0-based) whose entry is >= id, in an oldest-first body of n entries
local function seek(body, n, id, idi)
  local lo, hi = 0, n
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if cmp(body, mid * 8 + 1, id, idi) < 0 then lo = mid + 1 else hi = mid end
  end
  return lo
end
-- open returns the length, state byte and entry count of feed key, or 0 for
-- an absent, old-format or malformed value.
local function open(key)
  local len = redis.call('STRLEN', key)
  if len == 0 or (len - 1) % 8 ~= 0 then return 0 end
  local state = redis.call('GETRANGE', key, 0, 0)
  if state ~= 'C' and state ~= 'P' then return 0 end
  return len, state, (len - 1) / 8
end
-- visible returns the newest min(n, cap) entries of a feed of length len,
-- oldest first.
local function visible(key, len, n, cap)
  if n == 0 then return '' end
  return redis.call('GETRANGE', key, len - math.min(n, cap) * 8, len - 1)
end
-- rewrite replaces the value. SETRANGE on an absent key allocates the string
-- at its allocator size class and keeps that room for later APPENDs (SET
-- would trim it, and the next APPEND would then double the allocation).
local function rewrite(key, v)
  redis.call('DEL', key)
  redis.call('SETRANGE', key, 0, v)
end
-- fits tells whether appending add bytes to a value of len bytes stays in its
-- current allocation (jemalloc size classes: 4 per power of two; sds header
-- of 5 bytes plus the terminator for 256 B..64 KB). Small values may grow
-- freely; a wrong guess costs memory until the next rewrite, never
-- correctness.
local function fits(len, add)
  if len + add < 256 then return true end
  if len < 256 or len + add >= 65536 then return false end
  local s = len + 6
  local p = 1
  while p * 2 <= s - 1 do p = p * 2 end
  local g = p / 4
  return len + add + 6 <= math.ceil(s / g) * g
end
`

// addScript merges ARGV[4] (IDs, oldest first, no duplicates) into the feed,
// of which the newest ARGV[1] entries are visible; the value may hold up to
// ARGV[2] more. ARGV[3] is 'C' to mark the feed complete, ” to keep its
// state (a new feed starts partial). It returns the number of visible entries.
var addScript = rueidis.NewLuaScript(luaHelpers + `
local key, cap, slack, new = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[4]
local nn = #new / 8
-- Fast path, the common fan-out case: everything new is newer than the
-- feed. Three calls, no copy of the value: APPEND returns the new length,
-- and the rare append that went past the cap plus slack or out of the
-- string's allocation is followed by a rewrite to the newest cap entries.
local state = redis.call('GETRANGE', key, 0, 0)
if nn > 0 and (state == 'C' or state == 'P') then
  local last = redis.call('GETRANGE', key, -8, -1)
  if #last == 8 and cmp(new, 1, last, 1) > 0 then
    if ARGV[3] ~= '' and ARGV[3] ~= state then
      state = ARGV[3]
      redis.call('SETRANGE', key, 0, state)
    end
    local len = redis.call('APPEND', key, new)
    local before = len - #new
    if (before - 1) % 8 ~= 0 then
      -- A malformed value: start afresh.
      rewrite(key, state .. string.sub(new, math.max(1, #new - cap * 8 + 1)))
      return math.min(nn, cap)
    end
    local n = (len - 1) / 8
    if n > cap + slack or not fits(before, #new) then
      rewrite(key, state .. redis.call('GETRANGE', key, len - math.min(n, cap) * 8, len - 1))
    end
    return math.min(n, cap)
  end
end
local len, n
len, state, n = open(key)
if len == 0 then
  state, n = 'P', 0
end
local want = state
if ARGV[3] ~= '' then want = ARGV[3] end
if n == 0 or (nn > 0 and cmp(new, 1, redis.call('GETRANGE', key, len - 8, len - 1), 1) > 0) then
  if nn >= cap then
    rewrite(key, want .. string.sub(new, #new - cap * 8 + 1))
    return cap
  end
  local keep = math.min(n, cap - nn)
  local old = ''
  if keep > 0 then old = redis.call('GETRANGE', key, len - keep * 8, len - 1) end
  rewrite(key, want .. old .. new)
  return keep + nn
end
local body = visible(key, len, n, cap)
local nb = #body / 8
local out, i, j = {}, 0, 0
-- Merge two oldest-first lists, copying runs of the old body in one piece.
while i < nn do
  local p = seek(body, nb, new, i * 8 + 1)
  if p > j then
    out[#out + 1] = string.sub(body, j * 8 + 1, p * 8)
    j = p
  end
  if j < nb and cmp(body, j * 8 + 1, new, i * 8 + 1) == 0 then j = j + 1 end
  out[#out + 1] = string.sub(new, i * 8 + 1, i * 8 + 8)
  i = i + 1
end
if j < nb then out[#out + 1] = string.sub(body, j * 8 + 1) end
local merged = table.concat(out)
if #merged > cap * 8 then merged = string.sub(merged, #merged - cap * 8 + 1) end
rewrite(key, want .. merged)
return #merged / 8
`)

// removeScript deletes ARGV[2..] (8-byte IDs) from the feed, of which the
// newest ARGV[1] entries are visible (the slack is dropped when it rewrites).
var removeScript = rueidis.NewLuaScript(luaHelpers + `
local key, cap = KEYS[1], tonumber(ARGV[1])
local len, state, n = open(key)
if len == 0 then return 0 end
local body = visible(key, len, n, cap)
local removed = 0
for a = 2, #ARGV do
  local m = #body / 8
  local p = seek(body, m, ARGV[a], 1)
  if p < m and cmp(body, p * 8 + 1, ARGV[a], 1) == 0 then
    body = string.sub(body, 1, p * 8) .. string.sub(body, p * 8 + 9)
    removed = removed + 1
  end
end
if removed > 0 then rewrite(key, state .. body) end
return removed
`)

// pageScript returns the state byte and up to ARGV[2] entries below ARGV[1]
// (an 8-byte ID), oldest first, among the newest ARGV[3] entries of the feed,
// or nil for an absent feed.
var pageScript = rueidis.NewLuaScript(luaHelpers + `
local key, limit, cap = KEYS[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local len, state, n = open(key)
if len == 0 then return false end
local body = visible(key, len, n, cap)
local stop = seek(body, #body / 8, ARGV[1], 1)
local start = math.max(0, stop - limit)
return state .. string.sub(body, start * 8 + 1, stop * 8)
`)

// Feeds implements app.FeedCache on Redis.
type Feeds struct {
	client rueidis.Client
	cap    int
	// capArg and slackArg are the script arguments: the visible cap and how
	// many older entries a value may hold beyond it before a rewrite.
	capArg, slackArg string
}

// NewFeeds returns a feed cache on client, capping each feed at capacity entries.
func NewFeeds(client rueidis.Client, capacity int) *Feeds {
	return &Feeds{client: client, cap: capacity,
		capArg: strconv.Itoa(capacity), slackArg: strconv.Itoa(capacity / 4)}
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

// pack encodes ids oldest first, without duplicates.
func pack(ids []app.ID) string {
	sorted := slices.Clone(ids)
	slices.SortFunc(sorted, func(a, b app.ID) int { return cmp.Compare(a, b) })
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
		execs[i] = rueidis.LuaExec{Keys: []string{Key(u)}, Args: []string{f.capArg, f.slackArg, state, pack(ids[u])}}
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
		args := make([]string, 1, 1+len(ids[u]))
		args[0] = f.capArg
		for _, id := range ids[u] {
			args = append(args, member(id))
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
	// Only the newest cap entries are visible (older slack is not).
	limit = max(0, min(limit, f.cap))
	key := Key(user)
	var state, v string
	var err error
	if before == 0 {
		// The first page is the tail of the value: no script needed, the
		// state byte and the newest limit entries in one round trip (a
		// shorter value comes whole, state byte included). An absent key
		// reads as "".
		rs := f.client.DoMulti(ctx,
			f.client.B().Getrange().Key(key).Start(0).End(0).Build(),
			f.client.B().Getrange().Key(key).Start(-int64(limit)*8).End(-1).Build())
		if state, err = rs[0].ToString(); err == nil {
			v, err = rs[1].ToString()
		}
		if limit == 0 {
			v = ""
		} else if len(v)%8 == 1 {
			v = v[1:]
		}
	} else {
		v, err = pageScript.Exec(ctx, f.client, []string{key}, []string{member(before), strconv.Itoa(limit), f.capArg}).ToString()
		if rueidis.IsRedisNil(err) {
			return nil, false, nil
		}
		if err == nil && v != "" {
			state, v = v[:1], v[1:]
		}
	}
	if err != nil {
		return nil, false, fmt.Errorf("read feed %s: %w", user, err)
	}
	if (state != string(rune(stateComplete)) && state != string(rune(statePartial))) || len(v)%8 != 0 {
		// Absent, in the old newest-first layout, or malformed: the caller
		// rebuilds it (and the rebuild overwrites it).
		return nil, false, nil
	}
	ids := make([]app.ID, 0, len(v)/8)
	for p := len(v) - 8; p >= 0; p -= 8 {
		id, _ := decode(v[p : p+8])
		ids = append(ids, id)
	}
	return ids, state[0] == stateComplete, nil
}

// Fill implements app.FeedCache: it merges ids (keeping what fan-out wrote
// meanwhile) and marks the feed complete.
func (f *Feeds) Fill(ctx context.Context, user string, ids []app.ID) error {
	return f.add(ctx, []string{user}, map[string][]app.ID{user: ids}, string(rune(stateComplete)))
}

// Inspect returns the IDs stored in user's feed exactly as cached, newest
// first, without rebuilding anything (nil if the feed is absent): the
// visible entries, the newest cap (older slack entries are not part of the
// feed).
func (f *Feeds) Inspect(ctx context.Context, user string) ([]app.ID, error) {
	ids, _, err := f.Page(ctx, user, 0, f.cap)
	return ids, err
}

// Ping checks that Redis answers.
func (f *Feeds) Ping(ctx context.Context) error {
	if err := f.client.Do(ctx, f.client.B().Ping().Build()).Error(); err != nil {
		return fmt.Errorf("redis ping: %w", err)
	}
	return nil
}
