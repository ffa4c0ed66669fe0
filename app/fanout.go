package app

import (
	"context"
	"fmt"
	"log/slog"
)

// Fanout keeps home feeds up to date from events: it writes each new post ID
// into the feeds of the author's followers, removes deleted posts, and merges
// or removes a followee's posts when a follow starts or ends. Every step is
// idempotent (set insert/remove), so redelivery and replay are harmless.
type Fanout struct {
	Posts PostStore
	Graph Graph
	Feeds FeedCache
	// FeedCap is the feed length; a follow merges at most this many posts.
	FeedCap int
	// PageSize is how many followers are read, and feed writes pipelined, at once.
	PageSize int
	Log      *slog.Logger
}

// Handle implements Handler.
func (f *Fanout) Handle(ctx context.Context, ev Event) error {
	switch {
	case ev.Type == PostCreated && ev.Post != nil:
		// A replayed post.created of a since-deleted post must not come back.
		found, err := f.Posts.GetPosts(ctx, []ID{ev.Post.ID})
		if err != nil {
			return fmt.Errorf("look up post %s: %w", ev.Post.ID, err)
		}
		if p, ok := found[ev.Post.ID]; !ok || p.Moderated != "" {
			return nil
		}
		return f.toFollowers(ctx, ev.Post, f.Feeds.Add)
	case (ev.Type == PostDeleted || ev.Type == PostModerated) && ev.Post != nil:
		return f.toFollowers(ctx, ev.Post, f.Feeds.Remove)
	case ev.Type == UserFollowed && ev.Follow != nil:
		return f.onFollowChange(ctx, *ev.Follow, true, f.Feeds.Add)
	case ev.Type == UserUnfollowed && ev.Follow != nil:
		return f.onFollowChange(ctx, *ev.Follow, false, f.Feeds.Remove)
	}
	return nil // not ours: other consumers' event types are skipped
}

// onFollowChange applies a follow or unfollow only if the graph still agrees,
// so replaying an old event never undoes a newer change (a replayed
// user.unfollowed after a re-follow would otherwise empty the feed).
func (f *Fanout) onFollowChange(ctx context.Context, fl Follow, following bool, apply func(context.Context, []FeedEntry) error) error {
	now, err := f.Graph.IsFollowing(ctx, fl.Follower, fl.Followee)
	if err != nil {
		return fmt.Errorf("check follow %s -> %s: %w", fl.Follower, fl.Followee, err)
	}
	if now != following {
		return nil
	}
	return f.mergeFollowee(ctx, fl, apply)
}

func (f *Fanout) toFollowers(ctx context.Context, p *Post, apply func(context.Context, []FeedEntry) error) error {
	entries := make([]FeedEntry, 0, f.pageSize())
	err := forEachPage(ctx, func(cursor string) ([]string, string, error) {
		return f.Graph.Followers(ctx, p.Author, cursor, f.pageSize())
	}, 0, func(followers []string) error {
		entries = entries[:0]
		for _, u := range followers {
			entries = append(entries, FeedEntry{User: u, Post: p.ID})
		}
		return apply(ctx, entries)
	})
	if err != nil {
		return fmt.Errorf("fan out post %s of %s: %w", p.ID, p.Author, err)
	}
	return nil
}

// mergeFollowee adds (or removes) the followee's newest FeedCap posts to (or
// from) the follower's feed. A followee's posts older than those cannot be in
// the feed: the newer ones would have pushed them past the cap.
func (f *Fanout) mergeFollowee(ctx context.Context, fl Follow, apply func(context.Context, []FeedEntry) error) error {
	posts, err := f.Posts.AuthorPosts(ctx, fl.Followee, 0, f.FeedCap)
	if err != nil {
		return fmt.Errorf("posts of %s: %w", fl.Followee, err)
	}
	if len(posts) == 0 {
		return nil
	}
	entries := make([]FeedEntry, 0, len(posts))
	for _, p := range posts {
		if p.Moderated == "" {
			entries = append(entries, FeedEntry{User: fl.Follower, Post: p.ID})
		}
	}
	if err := apply(ctx, entries); err != nil {
		return fmt.Errorf("merge %s into feed of %s: %w", fl.Followee, fl.Follower, err)
	}
	return nil
}

func (f *Fanout) pageSize() int {
	if f.PageSize > 0 {
		return f.PageSize
	}
	return 1000
}
