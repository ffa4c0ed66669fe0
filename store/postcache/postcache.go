// Package postcache keeps recently read posts in the api process, so a feed
// page is hydrated from memory instead of one store read per post.
//
// Posts change only when deleted or moderated. This process forgets a post
// it deletes or saves at once; a change made elsewhere (another api
// process, the moderation role) shows after at most the TTL. Feed reads
// stay exact sooner than that: fan-out removes a deleted or moderated post's
// ID from the feeds, and only IDs still in a feed are hydrated.
//
// While the store is unavailable, a read that may degrade (app.Degrade)
// is served the copies it holds up to app.MaxStale past the TTL, and goes
// without the others.
package postcache

import (
	"context"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"

	"github.com/feedsvc/feedsvc/app"
)

// Store is an app.PostStore that caches GetPosts results in front of another.
type Store struct {
	app.PostStore
	// cache keeps each post with when it was read, for ttl plus
	// app.MaxStale: fresh for ttl, stale after.
	cache *expirable.LRU[app.ID, cached]
	ttl   time.Duration
	now   func() time.Time
}

type cached struct {
	post app.Post
	read time.Time
}

var _ app.PostStore = (*Store)(nil)

// New caches up to size posts of next for ttl each.
func New(next app.PostStore, size int, ttl time.Duration) *Store {
	return &Store{PostStore: next, cache: expirable.NewLRU[app.ID, cached](size, nil, ttl+app.MaxStale), ttl: ttl, now: time.Now}
}

// GetPosts implements app.PostStore: cached posts from memory, the rest in
// one call to the store. Missing posts are not cached, so a post saved by
// another process is found at once. A store that is unavailable fails
// the call, unless the read may degrade: then it has the stale copies.
func (s *Store) GetPosts(ctx context.Context, ids []app.ID) (map[app.ID]app.Post, error) {
	out := make(map[app.ID]app.Post, len(ids))
	var missing []app.ID
	now := s.now()
	for _, id := range ids {
		if c, ok := s.cache.Get(id); ok && now.Sub(c.read) < s.ttl {
			out[id] = c.post
		} else {
			missing = append(missing, id)
		}
	}
	if len(missing) == 0 {
		return out, nil
	}
	found, err := s.PostStore.GetPosts(ctx, missing)
	if err != nil {
		if !app.Degrade(ctx, err, app.DegradedPosts) {
			return nil, err
		}
		for _, id := range missing {
			if c, ok := s.cache.Peek(id); ok {
				out[id] = c.post
			}
		}
		return out, nil
	}
	for id, p := range found {
		s.cache.Add(id, cached{p, now})
		out[id] = p
	}
	return out, nil
}

// SavePost implements app.PostStore.
func (s *Store) SavePost(ctx context.Context, p app.Post, out ...app.OutboxRecord) error {
	s.cache.Remove(p.ID)
	return s.PostStore.SavePost(ctx, p, out...)
}

// DeletePost implements app.PostStore.
func (s *Store) DeletePost(ctx context.Context, p app.Post, out ...app.OutboxRecord) error {
	s.cache.Remove(p.ID)
	err := s.PostStore.DeletePost(ctx, p, out...)
	s.cache.Remove(p.ID) // again: a read racing the delete may have cached it
	return err
}

// HidePost implements app.PostStore.
func (s *Store) HidePost(ctx context.Context, p app.Post, rule string) error {
	s.cache.Remove(p.ID)
	err := s.PostStore.HidePost(ctx, p, rule)
	s.cache.Remove(p.ID)
	return err
}
