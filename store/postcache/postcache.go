// Package postcache keeps recently read posts in the api process, so a feed
// page is hydrated from memory instead of one store read per post.
//
// Posts change only when deleted or moderated. This process forgets a post
// it deletes or saves at once; a change made elsewhere (another api
// process, the moderation role) shows after at most the TTL. Feed reads
// stay exact sooner than that: fan-out removes a deleted or moderated post's
// ID from the feeds, and only IDs still in a feed are hydrated.
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
	cache *expirable.LRU[app.ID, app.Post]
}

var _ app.PostStore = (*Store)(nil)

// New caches up to size posts of next for ttl each.
func New(next app.PostStore, size int, ttl time.Duration) *Store {
	return &Store{PostStore: next, cache: expirable.NewLRU[app.ID, app.Post](size, nil, ttl)}
}

// GetPosts implements app.PostStore: cached posts from memory, the rest in
// one call to the store. Missing posts are not cached, so a post saved by
// another process is found at once.
func (s *Store) GetPosts(ctx context.Context, ids []app.ID) (map[app.ID]app.Post, error) {
	out := make(map[app.ID]app.Post, len(ids))
	var missing []app.ID
	for _, id := range ids {
		if p, ok := s.cache.Get(id); ok {
			out[id] = p
		} else {
			missing = append(missing, id)
		}
	}
	if len(missing) == 0 {
		return out, nil
	}
	found, err := s.PostStore.GetPosts(ctx, missing)
	if err != nil {
		return nil, err
	}
	for id, p := range found {
		s.cache.Add(id, p)
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
