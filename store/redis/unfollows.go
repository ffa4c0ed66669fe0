package redis

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/feedsvc/feedsvc/app"
)

// Recent unfollows (app.Unfollows) are two sorted sets scored by the Redis
// server's clock in ms: "unfollowed:{USER}" holds the users USER stopped
// following, on the slot of USER's feed, so that a guarded removal checks
// it in the same script that rewrites the feed; "unfollowers:{AUTHOR}"
// holds who stopped following AUTHOR, the index fan-out reads once per
// post. The second is only a hint: removals are decided by the first.

// unfollowRetention is how long an unfollow is remembered: far longer than
// a fan-out or a rebuild takes between its graph read and its writes.
const unfollowRetention = time.Hour

// unfollowScript adds ARGV[1] to sorted set KEYS[1] at the server's time in
// ms, drops members older than ARGV[2] ms and expires the set after that.
var unfollowScript = rueidis.NewLuaScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local keep = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now - keep))
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('PEXPIRE', KEYS[1], keep)
return 1
`)

// recentScript returns the members of sorted set KEYS[1] scored within the
// last ARGV[1] ms of the server's time.
var recentScript = rueidis.NewLuaScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZRANGEBYSCORE', KEYS[1], now - tonumber(ARGV[1]), '+inf')
`)

var _ app.Unfollows = (*Feeds)(nil)

// RecordUnfollow implements app.Unfollows.
func (f *Feeds) RecordUnfollow(ctx context.Context, fl app.Follow) error {
	keep := strconv.FormatInt(unfollowRetention.Milliseconds(), 10)
	for _, r := range unfollowScript.ExecMulti(ctx, f.client,
		rueidis.LuaExec{Keys: []string{f.keys.Unfollowed(fl.Follower)}, Args: []string{fl.Followee, keep}},
		rueidis.LuaExec{Keys: []string{f.keys.Unfollowers(fl.Followee)}, Args: []string{fl.Follower, keep}},
	) {
		if err := r.Error(); err != nil {
			return fmt.Errorf("record unfollow %s -> %s: %w", fl.Follower, fl.Followee, err)
		}
	}
	return nil
}

// ClearUnfollow implements app.Unfollows.
func (f *Feeds) ClearUnfollow(ctx context.Context, fl app.Follow) error {
	for _, r := range f.client.DoMulti(ctx,
		f.client.B().Zrem().Key(f.keys.Unfollowed(fl.Follower)).Member(fl.Followee).Build(),
		f.client.B().Zrem().Key(f.keys.Unfollowers(fl.Followee)).Member(fl.Follower).Build(),
	) {
		if err := r.Error(); err != nil {
			return fmt.Errorf("clear unfollow %s -> %s: %w", fl.Follower, fl.Followee, err)
		}
	}
	return nil
}

// RecentUnfollowers implements app.Unfollows.
func (f *Feeds) RecentUnfollowers(ctx context.Context, author string, within time.Duration) ([]string, error) {
	return f.recent(ctx, f.keys.Unfollowers(author), within)
}

// RecentUnfollowees implements app.Unfollows.
func (f *Feeds) RecentUnfollowees(ctx context.Context, user string, within time.Duration) ([]string, error) {
	return f.recent(ctx, f.keys.Unfollowed(user), within)
}

func (f *Feeds) recent(ctx context.Context, key string, within time.Duration) ([]string, error) {
	ms := strconv.FormatInt(min(within, unfollowRetention).Milliseconds(), 10)
	users, err := recentScript.Exec(ctx, f.client, []string{key}, []string{ms}).AsStrSlice()
	if err != nil {
		return nil, fmt.Errorf("recent unfollows in %s: %w", key, err)
	}
	return users, nil
}

// RemoveUnfollowed implements app.Unfollows: the feed's compare-and-set
// rewrite also checks, in the same script, that the unfollow is still
// recorded, so a follow again that put the posts back in is never undone.
func (f *Feeds) RemoveUnfollowed(ctx context.Context, fl app.Follow, posts []app.ID) error {
	g := &guard{key: f.keys.Unfollowed(fl.Follower), member: fl.Followee}
	if err := f.rewrite(ctx, fl.Follower, removing(posts), "", g); err != nil {
		return fmt.Errorf("remove posts of unfollowed %s from feed %s: %w", fl.Followee, fl.Follower, err)
	}
	return nil
}
