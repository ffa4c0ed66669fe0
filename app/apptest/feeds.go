package apptest

import (
	"context"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/feedsvc/feedsvc/app"
)

// Feeds is an in-memory app.FeedCache, without a cap unless
// NewCappedFeeds gave it one. Like the Redis cache it writes only into
// feeds that are cached (Prepare or Fill made them). It also remembers
// unfollows (app.Unfollows) without forgetting them.
type Feeds struct {
	mu       sync.Mutex
	cap      int // 0: none
	feeds    map[string]map[app.ID]bool
	complete map[string]bool
	// floor holds, per cached feed, the highest ID the cap cut from it: like
	// the Redis cache's, no entry at or below it enters again, so a late
	// write of an old post cannot bring back what the cap cut.
	floor map[string]app.ID
	// unfollowed holds when each recorded unfollow happened.
	unfollowed map[app.Follow]time.Time
	// locks holds when each rebuild lock expires (app.RebuildLocks).
	locks map[string]time.Time
}

var (
	_ app.FeedCache    = (*Feeds)(nil)
	_ app.Unfollows    = (*Feeds)(nil)
	_ app.RebuildLocks = (*Feeds)(nil)
)

// NewFeeds returns an empty Feeds without a cap.
func NewFeeds() *Feeds { return NewCappedFeeds(0) }

// NewCappedFeeds returns an empty Feeds that keeps the newest capacity
// entries of each feed, as the Redis cache does (0: no cap).
func NewCappedFeeds(capacity int) *Feeds {
	return &Feeds{cap: capacity, feeds: map[string]map[app.ID]bool{}, complete: map[string]bool{},
		floor: map[string]app.ID{}, unfollowed: map[app.Follow]time.Time{}, locks: map[string]time.Time{}}
}

// TryLockRebuild implements app.RebuildLocks.
func (f *Feeds) TryLockRebuild(_ context.Context, user string, ttl time.Duration) (func(context.Context), bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if time.Now().Before(f.locks[user]) {
		return nil, false, nil
	}
	until := time.Now().Add(ttl)
	f.locks[user] = until
	return func(context.Context) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.locks[user] == until {
			delete(f.locks, user)
		}
	}, true, nil
}

// RecordUnfollow implements app.Unfollows.
func (f *Feeds) RecordUnfollow(_ context.Context, fl app.Follow) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.unfollowed[fl] = time.Now()
	return nil
}

// ClearUnfollow implements app.Unfollows.
func (f *Feeds) ClearUnfollow(_ context.Context, fl app.Follow) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.unfollowed, fl)
	return nil
}

// RecentUnfollowers implements app.Unfollows.
func (f *Feeds) RecentUnfollowers(_ context.Context, author string, within time.Duration) ([]string, error) {
	return f.recent(within, func(fl app.Follow) (string, bool) { return fl.Follower, fl.Followee == author }), nil
}

// RecentUnfollowees implements app.Unfollows.
func (f *Feeds) RecentUnfollowees(_ context.Context, user string, within time.Duration) ([]string, error) {
	return f.recent(within, func(fl app.Follow) (string, bool) { return fl.Followee, fl.Follower == user }), nil
}

func (f *Feeds) recent(within time.Duration, match func(app.Follow) (string, bool)) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for fl, at := range f.unfollowed {
		if u, ok := match(fl); ok && time.Since(at) <= within {
			out = append(out, u)
		}
	}
	slices.Sort(out)
	return out
}

// RemoveUnfollowed implements app.Unfollows.
func (f *Feeds) RemoveUnfollowed(_ context.Context, fl app.Follow, posts []app.ID) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.unfollowed[fl]; ok {
		for _, id := range posts {
			delete(f.feeds[fl.Follower], id)
		}
	}
	return nil
}

// Add implements app.FeedCache.
func (f *Feeds) Add(_ context.Context, es []app.FeedEntry) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	touched := map[string]bool{}
	for _, e := range es {
		if f.feeds[e.User] != nil && e.Post > f.floor[e.User] {
			f.feeds[e.User][e.Post] = true
			touched[e.User] = true
		}
	}
	for u := range touched {
		f.trim(u)
	}
	return nil
}

// trim cuts user's feed to the cap, oldest first, raising its floor.
func (f *Feeds) trim(user string) {
	feed := f.feeds[user]
	if f.cap <= 0 || len(feed) <= f.cap {
		return
	}
	all := slices.Sorted(maps.Keys(feed))
	for _, id := range all[:len(all)-f.cap] {
		delete(feed, id)
		f.floor[user] = max(f.floor[user], id)
	}
}

// Drop implements app.FeedCache.
func (f *Feeds) Drop(_ context.Context, user string) error {
	f.Evict(user)
	return nil
}

// DropListFeeds implements app.ListFeedsReset.
func (f *Feeds) DropListFeeds(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for user := range f.feeds {
		if strings.HasPrefix(user, "list:") {
			delete(f.feeds, user)
			delete(f.complete, user)
			delete(f.floor, user)
		}
	}
	return nil
}

// Evict drops user's feed, as an expiry or a Redis eviction would.
func (f *Feeds) Evict(user string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.feeds, user)
	delete(f.complete, user)
	delete(f.floor, user)
}

// Prepare implements app.FeedCache.
func (f *Feeds) Prepare(_ context.Context, user string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.feeds[user] == nil {
		f.feeds[user] = map[app.ID]bool{}
	}
	return nil
}

// Remove implements app.FeedCache.
func (f *Feeds) Remove(_ context.Context, es []app.FeedEntry) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range es {
		delete(f.feeds[e.User], e.Post)
	}
	return nil
}

// Floor is the highest ID the cap cut from user's feed (0: none), as
// Redis's Feeds.Floor reports it.
func (f *Feeds) Floor(user string) app.ID {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.floor[user]
}

// IDs returns user's cached feed, newest first.
func (f *Feeds) IDs(user string) []app.ID {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []app.ID
	for id := range f.feeds[user] {
		out = append(out, id)
	}
	slices.Sort(out)
	slices.Reverse(out)
	return out
}

// Page implements app.FeedCache.
func (f *Feeds) Page(_ context.Context, user string, before app.ID, limit int) ([]app.ID, bool, error) {
	var out []app.ID
	for _, id := range f.IDs(user) {
		if (before == 0 || id < before) && len(out) < limit {
			out = append(out, id)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return out, f.complete[user], nil
}

// Fill implements app.FeedCache.
func (f *Feeds) Fill(ctx context.Context, user string, ids []app.ID) error {
	_ = f.Prepare(ctx, user)
	es := make([]app.FeedEntry, 0, len(ids))
	for _, id := range ids {
		es = append(es, app.FeedEntry{User: user, Post: id})
	}
	_ = f.Add(ctx, es)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.complete[user] = true
	return nil
}

// Celebrities is the hybrid fan-out state in memory. Like the Redis
// adapter, it records a user's celebrity follows only while the user's
// feed is cached in Feeds.
type Celebrities struct {
	mu       sync.Mutex
	status   map[string]app.CelebrityStatus
	followed map[string]map[string]bool
	feeds    *Feeds
}

var _ app.Celebrities = (*Celebrities)(nil)

// NewCelebrities returns empty celebrity state next to feeds.
func NewCelebrities(feeds *Feeds) *Celebrities {
	return &Celebrities{status: map[string]app.CelebrityStatus{}, followed: map[string]map[string]bool{}, feeds: feeds}
}

// Statuses implements app.Celebrities.
func (c *Celebrities) Statuses(_ context.Context, authors []string) ([]app.CelebrityStatus, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]app.CelebrityStatus, len(authors))
	for i, a := range authors {
		out[i] = c.status[a]
	}
	return out, nil
}

// SetStatus implements app.Celebrities.
func (c *Celebrities) SetStatus(_ context.Context, author string, s app.CelebrityStatus) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.status[author] = s
	return nil
}

// AddFollows implements app.Celebrities.
func (c *Celebrities) AddFollows(_ context.Context, fs []app.Follow) error {
	// A follow is recorded only next to a cached feed. Lock order: the
	// feeds, then c.
	c.feeds.mu.Lock()
	defer c.feeds.mu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, f := range fs {
		if c.feeds.feeds[f.Follower] == nil {
			continue
		}
		if c.followed[f.Follower] == nil {
			c.followed[f.Follower] = map[string]bool{}
		}
		c.followed[f.Follower][f.Followee] = true
	}
	return nil
}

// RemoveFollows implements app.Celebrities.
func (c *Celebrities) RemoveFollows(_ context.Context, fs []app.Follow) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, f := range fs {
		delete(c.followed[f.Follower], f.Followee)
	}
	return nil
}

// Followed implements app.Celebrities.
func (c *Celebrities) Followed(_ context.Context, user string) ([]string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for name := range c.followed[user] {
		out = append(out, name)
	}
	return out, nil
}

// Forget drops user's recorded celebrity follows, as losing the cached feed
// they live next to would.
func (c *Celebrities) Forget(user string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.followed, user)
}
