package app

import (
	"context"
	"fmt"

	"golang.org/x/sync/errgroup"
)

// Likes (issue #24, item 5). A like is an edge user -> post, saved in the
// store with its post.liked (or post.unliked) event through the outbox,
// like a block. The events go on the follows topic, keyed by the liker:
// likes are graph writes, and keying them by the post's author would put
// every like of a popular author's posts on one partition and one lane.
// The liker's key keeps each user's likes and unlikes of a post in order.
//
// Counts are read from the store's like rows, never kept as a counter that
// events increment: the rows are written only by the api, so a redelivered
// or replayed event cannot make a count drift, and a feed page reads every
// count and the reader's own likes in one batched call (ViewPosts).
//
// The post's author is notified once per liker and post: the notification's
// ID is the ID of the liker's first like of the post (FirstLike), so a
// redelivery, a replay, or a like again after an unlike rewrites the same
// row. An unlike leaves the notification. Nothing notifies across a block,
// nor a like of one's own post.

// Like is one user's like of a post.
type Like struct {
	// User likes Post, written by Author.
	User   string `json:"liker"`
	Post   ID     `json:"liked_post,string"`
	Author string `json:"post_author"`
	// ID is the ID of the change (its outbox record): it orders a like and
	// an unlike of one pair in the store.
	ID ID `json:"like_id,string"`
}

// LikeCount is what a reader sees of a post's likes.
type LikeCount struct {
	Count int64
	// Liked: the reader likes the post.
	Liked bool
}

// PostView is a post as the api renders it to a reader: with its like
// count and whether the reader likes it.
type PostView struct {
	Post
	LikeCount int64 `json:"like_count"`
	Liked     bool  `json:"liked"`
	// ReplyCount is how many live replies the post has (see reply.go).
	ReplyCount int64 `json:"reply_count"`
	// RepostCount is how many live reposts the post has, and Reposted
	// whether the reader reposted it (see repost.go).
	RepostCount int64 `json:"repost_count"`
	Reposted    bool  `json:"reposted"`
}

// NotifyLike is the kind of a like's notification.
const NotifyLike = "like"

// Like makes user like post id and announces it. A post the user cannot
// see (unknown, deleted, moderated and not theirs) is ErrNotFound; one
// across a block with its author, either way, is ErrForbidden. Liking
// again is harmless and announces nothing.
func (s *Service) Like(ctx context.Context, user string, id ID) error {
	p, err := s.GetPost(ctx, user, id)
	if err != nil {
		return err
	}
	blocked, err := blockedEither(ctx, s.Graph, user, p.Author)
	if err != nil {
		return fmt.Errorf("like: %w", err)
	}
	if blocked {
		return fmt.Errorf("%w: you and %s block each other (either way); the post cannot be liked", ErrForbidden, p.Author)
	}
	return s.setLike(ctx, PostLiked, user, p)
}

// Unlike takes user's like of post id back and announces it; unliking a
// post the user does not like is harmless. A post the user cannot see is
// ErrNotFound; across a block an unlike is allowed.
func (s *Service) Unlike(ctx context.Context, user string, id ID) error {
	p, err := s.GetPost(ctx, user, id)
	if err != nil {
		return err
	}
	return s.setLike(ctx, PostUnliked, user, p)
}

func (s *Service) setLike(ctx context.Context, typ, user string, p Post) error {
	if s.Likes == nil {
		return fmt.Errorf("%s: %w: no likes store", typ, ErrUnavailable)
	}
	rid, err := s.IDs.Next()
	if err != nil {
		return fmt.Errorf("%s: %w", typ, err)
	}
	l := Like{User: user, Post: p.ID, Author: p.Author, ID: rid}
	rec := NewOutboxRecord(rid, WithTrace(ctx, Event{ID: typ + ":" + rid.String(), Type: typ, Time: s.now(), Like: &l}))
	set := s.Likes.Like
	if typ == PostUnliked {
		set = s.Likes.Unlike
	}
	changed, err := set(ctx, l, rec)
	s.counts.forget(p.ID) // even on error: it may have landed
	if err != nil {
		return fmt.Errorf("%s %s by %s: %w", typ, p.ID, user, err)
	}
	if changed {
		s.dispatch(ctx, rec)
	}
	return nil
}

// postCounts are the counts a post is rendered with.
type postCounts struct{ likes, replies, reposts int64 }

// ViewPosts renders posts for reader with their like, repost and reply
// counts and the reader's likes and reposts, with batched reads for the
// whole page, never one per post: the counts of the posts not in this
// process's cache (ViewCacheTTL), one read each, then the reader's own
// likes (reposts) among the posts that have any, which on most pages is
// no read at all. Without a Likes store (a Reposts or Replies index) those
// counts are zero.
func (s *Service) ViewPosts(ctx context.Context, reader string, posts []Post) ([]PostView, error) {
	views := make([]PostView, len(posts))
	for i, p := range posts {
		views[i].Post = p
	}
	if len(posts) == 0 {
		return views, nil
	}
	now := s.now()
	counts := make(map[ID]postCounts, len(posts))
	var missing []ID
	var gen uint64
	for i, p := range posts {
		c, ok, g := s.counts.get(p.ID, now)
		if i == 0 {
			gen = g // the oldest generation: a forget since skips the put
		}
		if ok && s.ViewCacheTTL > 0 {
			counts[p.ID] = c
		} else {
			missing = append(missing, p.ID)
		}
	}
	if len(missing) > 0 {
		read, err := s.readCounts(ctx, missing)
		switch {
		case err != nil && Degrade(ctx, err, DegradedCounts):
			// Stale counts where this process has them, else zero.
			for _, id := range missing {
				counts[id], _ = s.counts.stale(id, now, MaxStale)
			}
		case err != nil:
			return nil, err
		default:
			for _, id := range missing {
				counts[id] = read[id]
				if s.ViewCacheTTL > 0 {
					s.counts.put(gen, id, read[id], now, now.Add(s.ViewCacheTTL))
				}
			}
		}
	}
	// The posts reader may like (repost): those with a like (repost).
	var liked, reposted []ID
	for i := range views {
		c := counts[views[i].ID]
		views[i].LikeCount, views[i].ReplyCount, views[i].RepostCount = c.likes, c.replies, c.reposts
		if c.likes > 0 {
			liked = append(liked, views[i].ID)
		}
		if c.reposts > 0 {
			reposted = append(reposted, views[i].ID)
		}
	}
	if s.Likes != nil && reader != "" && len(liked) > 0 {
		mine, err := s.Likes.LikeCounts(ctx, reader, liked)
		if err != nil && !Degrade(ctx, err, DegradedCounts) {
			return nil, fmt.Errorf("read likes of %s: %w", reader, err)
		}
		for i := range views {
			if c, ok := mine[views[i].ID]; ok {
				views[i].LikeCount, views[i].Liked = c.Count, c.Liked
			}
		}
	}
	if s.Reposts != nil && reader != "" && len(reposted) > 0 {
		mine, err := s.Reposts.RepostCounts(ctx, reader, reposted)
		if err != nil && !Degrade(ctx, err, DegradedCounts) {
			return nil, fmt.Errorf("read reposts of %s: %w", reader, err)
		}
		for i := range views {
			if c, ok := mine[views[i].ID]; ok {
				views[i].RepostCount, views[i].Reposted = c.Count, c.Reposted
			}
		}
	}
	return views, nil
}

// readCounts reads the like, repost and reply counts of posts from the
// stores: three independent reads, at once (one round trip, not three,
// on every feed page whose counts are not cached).
func (s *Service) readCounts(ctx context.Context, posts []ID) (map[ID]postCounts, error) {
	var (
		likes   map[ID]LikeCount
		reposts map[ID]RepostCount
		replies map[ID]int64
	)
	g, gctx := errgroup.WithContext(ctx)
	if s.Likes != nil {
		g.Go(func() (err error) {
			if likes, err = s.Likes.LikeCounts(gctx, "", posts); err != nil {
				return fmt.Errorf("read likes: %w", err)
			}
			return nil
		})
	}
	if s.Reposts != nil {
		g.Go(func() (err error) {
			if reposts, err = s.Reposts.RepostCounts(gctx, "", posts); err != nil {
				return fmt.Errorf("read repost counts: %w", err)
			}
			return nil
		})
	}
	if s.Replies != nil {
		g.Go(func() (err error) {
			if replies, err = s.Replies.ReplyCounts(gctx, posts); err != nil {
				return fmt.Errorf("read reply counts: %w", err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	out := make(map[ID]postCounts, len(posts))
	for id, c := range likes {
		out[id] = postCounts{likes: c.Count}
	}
	for id, r := range reposts {
		c := out[id]
		c.reposts = r.Count
		out[id] = c
	}
	for id, n := range replies {
		c := out[id]
		c.replies = n
		out[id] = c
	}
	return out, nil
}

// notifyLike notifies the author of a liked post, once per liker and post
// (the ID of the first like), unless the like was taken back since, the
// post is gone or moderated, the liker is the author, or a block stands
// between them.
func (n *Notifier) notifyLike(ctx context.Context, l Like) error {
	if n.Likes == nil || l.User == l.Author || l.Post <= 0 {
		return nil
	}
	first, ok, err := n.Likes.FirstLike(ctx, l.User, l.Post)
	if err != nil || !ok {
		return err
	}
	// A post deleted or moderated since notifies nobody (its like
	// notifications would be removed with its mentions anyway).
	posts, err := n.Posts.GetPosts(ctx, []ID{l.Post})
	if err != nil {
		return fmt.Errorf("notify like of %s: %w", l.Post, err)
	}
	p, found := posts[l.Post]
	if !found || p.Moderated != "" {
		return nil
	}
	blocked, err := blockedEither(ctx, n.Graph, l.User, p.Author)
	if err != nil {
		return fmt.Errorf("notify like of %s: %w", l.Post, err)
	}
	if blocked {
		return nil
	}
	err = n.Notifications.AddNotification(ctx, Notification{
		ID: first, User: p.Author, Kind: NotifyLike, Actor: l.User, Post: l.Post, CreatedAt: first.Time().UTC(),
	})
	if err != nil {
		return fmt.Errorf("notify like of %s: %w", l.Post, err)
	}
	n.signal(ctx, p.Author)
	return nil
}
