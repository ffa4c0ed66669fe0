// Package redis keeps home feeds, analytics counters and the search index in
// Redis (or Redis Cluster) through rueidis.
//
// A feed is one Redis list per user, key "feed:{USER}" (the braces keep
// each feed on one cluster slot; Keys puts the deployment's prefix before
// every key): a state element ('C' complete: built from
// the store; 'P' partial: a rebuild is under way, readers must rebuild it;
// lower-case 'c' and 'p' when an 8-byte floor follows, see below) followed
// by post IDs as 8-byte big-endian strings, appended in arrival order. Fan-out is one native RPUSHX per follower: it appends only to a
// feed that exists (users who stopped reading cost nothing), runs at the
// server's own command rate (no script), and returns the length, which
// tells the writer when the list passed its cap plus slack.
//
// The visible feed is the newest cap distinct IDs of the list: readers sort
// and de-duplicate (fan-out from several partitions may append out of
// order, and a redelivered event appends a duplicate). Everything else is
// slack, which compaction drops: it reads the list, keeps the newest cap,
// and writes them back sorted in one script that first checks that the
// list did not change since the read (compare-and-set), so no concurrent
// append is ever lost; a conflicting compaction is simply retried. Lists of
// 8-byte strings are listpack-encoded, about 10-11 bytes per entry in Redis
// memory where a sorted set costs over 100 (BenchmarkFeedMemory).
//
// The floor is the highest ID the cap ever cut from the feed: entries at
// or below it are not part of the feed, so the feed stays a window of the
// newest posts without holes. Without it, an event arriving late (after a
// Kafka outage) for a post older than those cut came back into a feed
// whose deletions had freed places, below posts the cap had dropped.
//
// A value of another type (the earlier packed-string layout) or a list
// without a state element reads as an absent feed: readers rebuild it and
// the rebuild replaces it (feeds are a cache, there is nothing to migrate).
package redis

import (
	"cmp"
	"context"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/feedsvc/feedsvc/app"
)

// Feed states, the first element of a feed list (lower-case when an
// 8-byte floor follows them in that element).
const (
	stateComplete = "C"
	statePartial  = "P"
)

// stateElement is the first element of a feed list with state and floor.
func stateElement(state string, floor app.ID) string {
	if floor <= 0 {
		return state
	}
	return strings.ToLower(state) + member(floor)
}

// rewriteAttempts bounds the compare-and-set retries of one rewrite; each
// conflict means another writer changed the feed meanwhile.
const rewriteAttempts = 8

// errConflict reports a rewrite that kept losing to concurrent writers.
var errConflict = errors.New("feed kept changing during rewrite")

// rewriteScript replaces list KEYS[1] with ARGV[5..] (the state element,
// then the entries) if its first ARGV[1] elements are those the caller read
// (ARGV[1] = -1: replace whatever value is there, one that is not a feed),
// their concatenation having the SHA-1 ARGV[2] (the compare-and-set).
// Comparing only the last of them was not enough: after a concurrent
// rewrite shortened the list, appends of redelivered events could put the
// same ID back at the same place, and the stale rewrite then dropped every
// entry in between (a window of posts lost from a full feed after a Kafka
// outage). Elements appended since the read are kept after the new ones. ARGV[3] is the
// expiry in ms to set ("0": keep the current one). A value of another type
// is replaced. With a KEYS[2], the rewrite happens only if sorted set
// KEYS[2] holds ARGV[4] (a guarded removal, see RemoveUnfollowed). It
// returns 1, 0 on a conflict, or 2 when the guard does not hold.
var rewriteScript = rueidis.NewLuaScript(`
local key, n = KEYS[1], tonumber(ARGV[1])
if KEYS[2] and not redis.call('ZSCORE', KEYS[2], ARGV[4]) then return 2 end
local t = redis.call('TYPE', key)['ok']
local ttl, tail = -1, {}
if n >= 0 then
  if t == 'list' then
    if redis.call('LLEN', key) < n then return 0 end
    if n > 0 and redis.sha1hex(table.concat(redis.call('LRANGE', key, 0, n - 1))) ~= ARGV[2] then return 0 end
    tail = redis.call('LRANGE', key, n, -1)
    ttl = redis.call('PTTL', key)
  elseif t ~= 'none' or n ~= 0 then
    return 0
  end
end
redis.call('DEL', key)
-- RPUSH in chunks: unpack is bounded by the Lua stack.
for i = 5, #ARGV, 1000 do
  redis.call('RPUSH', key, unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
for i = 1, #tail, 1000 do
  redis.call('RPUSH', key, unpack(tail, i, math.min(i + 999, #tail)))
end
local set = tonumber(ARGV[3])
if set > 0 then
  redis.call('PEXPIRE', key, set)
elseif ttl > 0 then
  redis.call('PEXPIRE', key, ttl)
end
return 1
`)

// readScript returns list KEYS[1] as one string (the state element, then
// the 8-byte entries; "" for a value of another type), or false for an
// absent key: one reply to parse instead of one per entry. ARGV[1] is an
// expiry in ms to renew ("0": none).
var readScript = rueidis.NewLuaScript(`
local t = redis.call('TYPE', KEYS[1])['ok']
if t == 'none' then return false end
if t ~= 'list' then return '' end
if tonumber(ARGV[1]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return table.concat(redis.call('LRANGE', KEYS[1], 0, -1))
`)

// prepareScript creates list KEYS[1] holding only the partial state if no
// feed exists, with expiry ARGV[1] ms ("0": none).
var prepareScript = rueidis.NewLuaScript(`
local t = redis.call('TYPE', KEYS[1])['ok']
if t == 'list' then return 0 end
if t ~= 'none' then redis.call('DEL', KEYS[1]) end
redis.call('RPUSH', KEYS[1], 'P')
if tonumber(ARGV[1]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return 1
`)

// Feeds implements app.FeedCache on Redis. The same code keeps home feeds
// (NewFeeds) and the hybrid fan-out's author timelines (NewTimelines).
//
// With a TTL, a list expires when nobody read its first page for that long
// (a rebuild or a read sets the expiry again; fan-out writes keep it). Fan-out
// writes only into lists that exist, so a user who stopped reading costs no
// writes and no memory, and gets a rebuilt feed on return.
type Feeds struct {
	client rueidis.Client
	keys   Keys
	cap    int
	// slack is how many entries a list may hold beyond the cap before the
	// writer that passed it compacts it.
	slack  int
	key    func(string) string
	ttl    time.Duration
	health *Health
}

var _ app.FeedCache = (*Feeds)(nil)

// NewFeeds returns the home feed cache on client: capacity entries per feed,
// expiring after ttl without a read (0: never).
func NewFeeds(client rueidis.Client, capacity int, ttl time.Duration) *Feeds {
	return newLists(client, capacity, ttl, KeysOf(client).Feed)
}

// NewTimelines returns the cache of celebrities' recent posts (hybrid
// fan-out), keyed by author, with the same encoding as feeds.
func NewTimelines(client rueidis.Client, capacity int, ttl time.Duration) *Feeds {
	return newLists(client, capacity, ttl, KeysOf(client).Timeline)
}

func newLists(client rueidis.Client, capacity int, ttl time.Duration, key func(string) string) *Feeds {
	return &Feeds{client: client, keys: KeysOf(client), cap: capacity, slack: max(1, capacity/4), key: key, ttl: ttl, health: NewHealth(client)}
}

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

// sortedMembers encodes ids oldest first, without duplicates.
func sortedMembers(ids []app.ID) []string {
	sorted := slices.Clone(ids)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	out := make([]string, len(sorted))
	for i, id := range sorted {
		out[i] = member(id)
	}
	return out
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

func isWrongType(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "WRONGTYPE")
}

// Add implements app.FeedCache: one RPUSHX per touched feed, all pipelined
// in one round trip; feeds that passed their cap plus slack are compacted
// afterwards.
func (f *Feeds) Add(ctx context.Context, entries []app.FeedEntry) error {
	users, ids := groupByUser(entries)
	if len(users) == 0 {
		return nil
	}
	cmds := make(rueidis.Commands, len(users))
	pushed := make([]int64, len(users))  // rueidis recycles a command once sent: count first
	encoded := make(map[app.ID][]string) // fan-out sends one post to many feeds: encode it once
	for i, u := range users {
		elems := encoded[ids[u][0]]
		if len(ids[u]) > 1 {
			elems = sortedMembers(ids[u])
		} else if elems == nil {
			elems = []string{member(ids[u][0])}
			encoded[ids[u][0]] = elems
		}
		cmds[i] = f.client.B().Rpushx().Key(f.key(u)).Element(elems...).Build()
		pushed[i] = int64(len(elems))
	}
	var full []string
	for i, r := range f.client.DoMulti(ctx, cmds...) {
		n, err := r.AsInt64()
		if isWrongType(err) {
			// An old-format value: not a cached feed, like an absent one.
			continue
		}
		if err != nil {
			return fmt.Errorf("add to feeds: %w", err)
		}
		// Compact each time the length crosses cap+1 plus a multiple of
		// the slack. Pushes are serialized, so exactly one writer sees
		// each crossing, and concurrent writers do not all compact.
		base := int64(1 + f.cap)
		if n > base && (n-base)/int64(f.slack) > max(0, n-pushed[i]-base)/int64(f.slack) {
			full = append(full, users[i])
		}
	}
	return f.compact(ctx, full)
}

// compact rewrites users' feeds to their visible entries, two pipelined
// round trips for all of them. A feed that changed meanwhile is left as it
// is: its next append past the limit compacts it again.
func (f *Feeds) compact(ctx context.Context, users []string) error {
	if len(users) == 0 {
		return nil
	}
	reads := make([]rueidis.LuaExec, len(users))
	for i, u := range users {
		reads[i] = rueidis.LuaExec{Keys: []string{f.key(u)}, Args: []string{"0"}}
	}
	writes := make([]rueidis.LuaExec, 0, len(users))
	for i, r := range readScript.ExecMulti(ctx, f.client, reads...) {
		blob, err := r.ToString()
		if rueidis.IsRedisNil(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("compact feed %s: %w", users[i], err)
		}
		l := f.parse(blob)
		if l.state == "" {
			continue
		}
		writes = append(writes, rueidis.LuaExec{Keys: []string{f.key(users[i])},
			Args: f.rewriteArgs(l.n, l.sum, "0", "", l.state, l.floor, l.visible)})
	}
	for _, r := range rewriteScript.ExecMulti(ctx, f.client, writes...) {
		if err := r.Error(); err != nil {
			return fmt.Errorf("compact feeds: %w", err)
		}
	}
	return nil
}

// rewriteArgs are rewriteScript's arguments: the compare-and-set
// expectation, the expiry, the guard's member, the state element and the
// newest cap of ids above floor; the floor rises to the highest ID the cap
// cuts.
func (f *Feeds) rewriteArgs(n int, sum, ttl, guarded, state string, floor app.ID, ids []app.ID) []string {
	ids = slices.DeleteFunc(slices.Clone(ids), func(id app.ID) bool { return id <= floor })
	members := sortedMembers(ids)
	if len(members) > f.cap {
		cut := members[len(members)-f.cap-1]
		members = members[len(members)-f.cap:]
		if id, ok := decode(cut); ok {
			floor = max(floor, id)
		}
	}
	args := make([]string, 0, 5+len(members))
	args = append(args, strconv.Itoa(n), sum, ttl, guarded, stateElement(state, floor))
	return append(args, members...)
}

// Remove implements app.FeedCache: the feed is compacted to its visible
// entries without the removed ones, so an older entry past the cap never
// comes back into view. A feed that holds none of them is left as it is.
func (f *Feeds) Remove(ctx context.Context, entries []app.FeedEntry) error {
	users, ids := groupByUser(entries)
	for _, u := range users {
		if err := f.rewrite(ctx, u, removing(ids[u]), "", nil); err != nil {
			return fmt.Errorf("remove from feed %s: %w", u, err)
		}
	}
	return nil
}

// removing is the rewrite change that takes gone out of a feed; it reports
// no change when the feed holds none of them.
func removing(gone []app.ID) func([]app.ID) ([]app.ID, bool) {
	return func(visible []app.ID) ([]app.ID, bool) {
		n := len(visible)
		visible = slices.DeleteFunc(visible, func(id app.ID) bool { return slices.Contains(gone, id) })
		return visible, len(visible) < n
	}
}

// guard makes a rewrite conditional on member being in sorted set key.
type guard struct{ key, member string }

// list is a feed as read: its state ("" when the value is not a feed), its
// floor (including what the cap cuts from this read), its visible entries
// (the newest cap distinct IDs above the floor, oldest first), and its raw
// length and the SHA-1 of its elements for a compare-and-set.
type list struct {
	state   string
	floor   app.ID
	visible []app.ID
	n       int
	sum     string
}

// read reads user's feed, renewing its expiry if touch.
func (f *Feeds) read(ctx context.Context, user string, touch bool) (list, error) {
	ttl := "0"
	if touch {
		ttl = strconv.FormatInt(f.ttl.Milliseconds(), 10)
	}
	blob, err := readScript.Exec(ctx, f.client, []string{f.key(user)}, []string{ttl}).ToString()
	if rueidis.IsRedisNil(err) {
		return list{}, nil
	}
	if err != nil {
		return list{}, fmt.Errorf("read feed %s: %w", user, err)
	}
	return f.parse(blob), nil
}

// parse decodes readScript's string.
func (f *Feeds) parse(blob string) list {
	var state string
	var floor app.ID
	head := 1
	switch {
	case len(blob) >= 1 && (blob[:1] == stateComplete || blob[:1] == statePartial):
		state = blob[:1]
	case len(blob) >= 9 && (blob[:1] == "c" || blob[:1] == "p"):
		state, head = strings.ToUpper(blob[:1]), 9
		floor, _ = decode(blob[1:9])
	}
	if state == "" || (len(blob)-head)%8 != 0 {
		return list{n: -1} // not a feed: any rewrite replaces it
	}
	n := (len(blob) - head) / 8
	ids := make([]app.ID, 0, n)
	for i := range n {
		if id := app.ID(binary.BigEndian.Uint64([]byte(blob[head+8*i : head+8+8*i]))); id > floor {
			ids = append(ids, id)
		}
	}
	slices.SortFunc(ids, cmp.Compare)
	ids = slices.Compact(ids)
	if len(ids) > f.cap {
		floor = ids[len(ids)-f.cap-1]
		ids = ids[len(ids)-f.cap:]
	}
	sum := sha1.Sum([]byte(blob)) // the elements as rewriteScript concatenates them
	return list{state: state, floor: floor, visible: ids, n: n + 1, sum: hex.EncodeToString(sum[:])}
}

// rewrite replaces user's feed with change(visible entries), capped, under
// compare-and-set, retrying on conflicts; a change that reports false
// leaves the feed as it is. state "" keeps the feed's state and leaves an
// absent feed absent; stateComplete creates the feed if need be and sets
// its expiry. With a guard, nothing is written unless it holds.
func (f *Feeds) rewrite(ctx context.Context, user string, change func([]app.ID) ([]app.ID, bool), state string, g *guard) error {
	keys, guarded := []string{f.key(user)}, ""
	if g != nil {
		keys, guarded = append(keys, g.key), g.member
	}
	ttl := "0"
	if state != "" && f.ttl > 0 {
		ttl = strconv.FormatInt(f.ttl.Milliseconds(), 10)
	}
	for range rewriteAttempts {
		l, err := f.read(ctx, user, false)
		if err != nil {
			return err
		}
		if l.state == "" && state == "" {
			return nil // not cached: nothing to change
		}
		want, visible := l.state, l.visible
		if state != "" {
			want = state
		}
		visible, changed := change(visible)
		if !changed && state == "" {
			return nil
		}
		ok, err := rewriteScript.Exec(ctx, f.client, keys, f.rewriteArgs(l.n, l.sum, ttl, guarded, want, l.floor, visible)).AsInt64()
		if err != nil {
			return fmt.Errorf("rewrite feed %s: %w", user, err)
		}
		if ok != 0 {
			return nil
		}
	}
	return fmt.Errorf("rewrite feed %s: %w", user, errConflict)
}

// Page implements app.FeedCache; reading the first page renews the expiry.
func (f *Feeds) Page(ctx context.Context, user string, before app.ID, limit int) ([]app.ID, bool, error) {
	return f.page(ctx, user, before, limit, before == 0)
}

func (f *Feeds) page(ctx context.Context, user string, before app.ID, limit int, touch bool) ([]app.ID, bool, error) {
	l, err := f.read(ctx, user, touch)
	if err != nil || l.state == "" {
		return nil, false, err
	}
	visible := l.visible
	stop := len(visible)
	if before != 0 {
		stop, _ = slices.BinarySearch(visible, before)
	}
	start := max(0, stop-max(0, limit))
	ids := slices.Clone(visible[start:stop])
	slices.Reverse(ids)
	return ids, l.state == stateComplete, nil
}

// Prepare implements app.FeedCache: an absent feed becomes an empty partial
// one, which fan-out writes into and readers still rebuild.
func (f *Feeds) Prepare(ctx context.Context, user string) error {
	err := prepareScript.Exec(ctx, f.client, []string{f.key(user)}, []string{strconv.FormatInt(f.ttl.Milliseconds(), 10)}).Error()
	if err != nil {
		return fmt.Errorf("prepare feed %s: %w", user, err)
	}
	return nil
}

// Fill implements app.FeedCache: it merges ids (keeping what fan-out wrote
// meanwhile), marks the feed complete and sets its expiry.
func (f *Feeds) Fill(ctx context.Context, user string, ids []app.ID) error {
	return f.rewrite(ctx, user, func(visible []app.ID) ([]app.ID, bool) { return append(visible, ids...), true }, stateComplete, nil)
}

var _ app.ListFeedsReset = (*Feeds)(nil)

// DropListFeeds implements app.ListFeedsReset: it scans every node for
// the deployment's list feeds and deletes them.
func (f *Feeds) DropListFeeds(ctx context.Context) error {
	pattern := f.key(app.ListFeed(0))
	pattern = pattern[:strings.Index(pattern, "list:")+len("list:")] + "*"
	for addr, node := range f.client.Nodes() {
		for cursor := uint64(0); ; {
			e, err := node.Do(ctx, node.B().Scan().Cursor(cursor).Match(pattern).Count(1000).Build()).AsScanEntry()
			if err != nil {
				return fmt.Errorf("scan %s for list feeds: %w", addr, err)
			}
			for _, k := range e.Elements {
				// Each key on its own: a cluster routes it to its master.
				if err := f.client.Do(ctx, f.client.B().Del().Key(k).Build()).Error(); err != nil {
					return fmt.Errorf("drop list feed %s: %w", k, err)
				}
			}
			if cursor = e.Cursor; cursor == 0 {
				break
			}
		}
	}
	return nil
}

// Drop implements app.FeedCache.
func (f *Feeds) Drop(ctx context.Context, user string) error {
	if err := f.client.Do(ctx, f.client.B().Del().Key(f.key(user)).Build()).Error(); err != nil {
		return fmt.Errorf("drop feed %s: %w", user, err)
	}
	return nil
}

// Inspect returns the IDs stored in user's feed exactly as cached, newest
// first, without rebuilding anything or renewing its expiry (nil if the
// feed is absent): the visible entries, the newest cap (older slack
// entries are not part of the feed).
func (f *Feeds) Inspect(ctx context.Context, user string) ([]app.ID, error) {
	ids, _, err := f.page(ctx, user, 0, f.cap, false)
	return ids, err
}

// Floor returns the highest post ID the cap has cut from user's feed (0:
// none, or no feed), without renewing its expiry: entries at or below it
// are not part of the feed, so a checker may not expect them there.
func (f *Feeds) Floor(ctx context.Context, user string) (app.ID, error) {
	l, err := f.read(ctx, user, false)
	return l.floor, err
}

// Ping checks that every Redis shard accepts a write (see Health).
func (f *Feeds) Ping(ctx context.Context) error { return f.health.Ping(ctx) }
