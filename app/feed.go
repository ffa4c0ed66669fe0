package app

import (
	"context"
	"fmt"
	"sort"
)

// maxRebuildFollowing bounds how many followees a feed rebuild reads; a feed
// holds FeedCap posts, so more sources only cost time.
const maxRebuildFollowing = 5000

// FeedPage is one page of a home feed.
type FeedPage struct {
	Items      []Post `json:"items"`
	NextCursor string `json:"next_cursor"`
}

// ReadFeed returns a page of user's home feed, newest first. The cursor is
// the last post ID of the previous page, so pages stay stable while new posts
// arrive on top. A feed missing from the cache is rebuilt from the store
// first, so a reader never sees an empty feed because the cache lost it.
func (s *Service) ReadFeed(ctx context.Context, user, cursor string, limit int) (FeedPage, error) {
	before, err := parseCursor(cursor)
	if err != nil {
		return FeedPage{}, err
	}
	ids, complete, err := s.Feeds.Page(ctx, user, before, limit)
	if err != nil {
		return FeedPage{}, fmt.Errorf("read feed: %w", err)
	}
	if !complete {
		if err := s.RebuildFeed(ctx, user); err != nil {
			return FeedPage{}, err
		}
		if ids, _, err = s.Feeds.Page(ctx, user, before, limit); err != nil {
			return FeedPage{}, fmt.Errorf("read rebuilt feed: %w", err)
		}
	}
	posts, err := s.Posts.GetPosts(ctx, ids)
	if err != nil {
		return FeedPage{}, fmt.Errorf("hydrate feed: %w", err)
	}
	page := FeedPage{Items: make([]Post, 0, len(ids))}
	for _, id := range ids {
		// A post deleted or moderated since fan-out is skipped here;
		// post.deleted / post.moderated remove it from the cache shortly.
		if p, ok := posts[id]; ok && p.VisibleTo(user) {
			page.Items = append(page.Items, p)
		}
	}
	page.NextCursor = nextCursor(ids, limit, func(id ID) ID { return id })
	return page, nil
}

// RebuildFeed recomputes user's feed from the store: the newest FeedCap posts
// of everyone user follows. Entries fan-out wrote meanwhile are kept (Fill
// only adds), so a post published during the rebuild is not lost.
func (s *Service) RebuildFeed(ctx context.Context, user string) error {
	var ids []ID
	err := forEachPage(ctx, func(cursor string) ([]string, string, error) {
		return s.Graph.Following(ctx, user, cursor, 1000)
	}, maxRebuildFollowing, func(followees []string) error {
		for _, f := range followees {
			posts, err := s.Posts.AuthorPosts(ctx, f, 0, s.FeedCap)
			if err != nil {
				return fmt.Errorf("posts of %s: %w", f, err)
			}
			for _, p := range posts {
				if p.Moderated == "" {
					ids = append(ids, p.ID)
				}
			}
		}
		ids = newest(ids, s.FeedCap)
		return nil
	})
	if err != nil {
		return fmt.Errorf("rebuild feed of %s: %w", user, err)
	}
	if err := s.Feeds.Fill(ctx, user, ids); err != nil {
		return fmt.Errorf("rebuild feed of %s: %w", user, err)
	}
	return nil
}

// newest keeps the n largest IDs, in descending order.
func newest(ids []ID, n int) []ID {
	sort.Slice(ids, func(i, j int) bool { return ids[i] > ids[j] })
	if len(ids) > n {
		ids = ids[:n]
	}
	return ids
}

// forEachPage walks a cursor-paged listing, calling fn per page, until the
// end or until max items were seen (max <= 0: no bound).
func forEachPage(ctx context.Context, page func(cursor string) ([]string, string, error), max int, fn func([]string) error) error {
	cursor, seen := "", 0
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		items, next, err := page(cursor)
		if err != nil {
			return err
		}
		if len(items) > 0 {
			if err := fn(items); err != nil {
				return err
			}
		}
		seen += len(items)
		if next == "" || (max > 0 && seen >= max) {
			return nil
		}
		cursor = next
	}
}
