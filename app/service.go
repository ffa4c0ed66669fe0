package app

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"
)

// Service is feedsvc's use cases for the API: posting, following and
// reading feeds. It never touches followers' feeds when posting; that is
// the fanout consumer's job.
type Service struct {
	Posts PostStore
	Graph Graph
	Feeds FeedCache
	// Timelines and Celebrities serve hybrid fan-out: reads merge the
	// timelines of the celebrities a user follows (nil: no merging).
	Timelines   FeedCache
	Celebrities Celebrities
	Events      Publisher
	Notes       NotificationStore
	IDs         *IDGen
	FeedCap     int
	Log         *slog.Logger
	Now         func() time.Time
}

// CreatePost validates, stores and announces a post: save, then publish
// post.created, then return. If the event cannot be published the post is
// withdrawn and the error returned, so nothing is acknowledged that the
// consumers will never hear of.
func (s *Service) CreatePost(ctx context.Context, author, text string) (Post, error) {
	if err := ValidatePostText(text); err != nil {
		return Post{}, err
	}
	id, err := s.IDs.Next()
	if err != nil {
		return Post{}, fmt.Errorf("new post: %w", err)
	}
	p := Post{ID: id, Author: author, Text: text}
	p.CreatedAt = p.ID.Time().UTC()
	if err := s.Posts.SavePost(ctx, p); err != nil {
		return Post{}, fmt.Errorf("save post: %w", err)
	}
	if err := s.Events.Publish(ctx, s.event(PostCreated, p.ID, &p, nil)); err != nil {
		// Withdraw with a fresh context: the request's may be what expired.
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if derr := s.Posts.DeletePost(wctx, p); derr != nil {
			s.Log.Error("withdraw unpublished post", "post", p.ID, "err", derr)
		}
		return Post{}, fmt.Errorf("publish post.created: %w", err)
	}
	return p, nil
}

// GetPost returns one post as caller may see it: a moderated post is not
// found for anyone but its author.
func (s *Service) GetPost(ctx context.Context, caller string, id ID) (Post, error) {
	m, err := s.Posts.GetPosts(ctx, []ID{id})
	if err != nil {
		return Post{}, fmt.Errorf("get post: %w", err)
	}
	p, ok := m[id]
	if !ok || !p.VisibleTo(caller) {
		return Post{}, fmt.Errorf("post %s: %w", id, ErrNotFound)
	}
	return p, nil
}

// DeletePost deletes the caller's own post and announces post.deleted so it
// leaves every feed. Feed reads skip deleted posts at once, before fan-out
// catches up.
func (s *Service) DeletePost(ctx context.Context, caller string, id ID) error {
	p, err := s.GetPost(ctx, caller, id)
	if err != nil {
		return err
	}
	if p.Author != caller {
		return fmt.Errorf("post %s belongs to another user: %w", id, ErrForbidden)
	}
	if err := s.Posts.DeletePost(ctx, p); err != nil {
		return fmt.Errorf("delete post: %w", err)
	}
	del := Post{ID: p.ID, Author: p.Author}
	if err := s.Events.Publish(ctx, s.event(PostDeleted, p.ID, &del, nil)); err != nil {
		return fmt.Errorf("publish post.deleted: %w", err)
	}
	return nil
}

// AuthorPosts pages through a user's posts as caller may see them, newest
// first.
func (s *Service) AuthorPosts(ctx context.Context, caller, user string, cursor string, limit int) ([]Post, string, error) {
	before, err := parseCursor(cursor)
	if err != nil {
		return nil, "", err
	}
	posts, err := s.Posts.AuthorPosts(ctx, user, before, limit)
	if err != nil {
		return nil, "", fmt.Errorf("author posts: %w", err)
	}
	next := nextCursor(posts, limit, func(p Post) ID { return p.ID })
	return slices.DeleteFunc(posts, func(p Post) bool { return !p.VisibleTo(caller) }), next, nil
}

// Follow makes follower follow followee and announces it; the fanout consumer
// then merges the followee's recent posts into the follower's feed.
func (s *Service) Follow(ctx context.Context, follower, followee string) error {
	if follower == followee {
		return fmt.Errorf("%w: a user cannot follow themselves", ErrInvalid)
	}
	if err := s.requireUser(ctx, followee); err != nil {
		return err
	}
	if _, err := s.Graph.Follow(ctx, follower, followee); err != nil {
		return fmt.Errorf("follow: %w", err)
	}
	// Published even when the edge already existed: a retry after a failed
	// publish must still reach the consumers, and handlers are idempotent.
	f := Follow{Follower: follower, Followee: followee}
	return s.publishFollow(ctx, UserFollowed, f)
}

// Unfollow removes the edge and announces it; the fanout consumer removes
// the followee's posts from the follower's feed.
func (s *Service) Unfollow(ctx context.Context, follower, followee string) error {
	if follower == followee {
		return fmt.Errorf("%w: a user cannot unfollow themselves", ErrInvalid)
	}
	if err := s.requireUser(ctx, followee); err != nil {
		return err
	}
	if _, err := s.Graph.Unfollow(ctx, follower, followee); err != nil {
		return fmt.Errorf("unfollow: %w", err)
	}
	return s.publishFollow(ctx, UserUnfollowed, Follow{Follower: follower, Followee: followee})
}

func (s *Service) publishFollow(ctx context.Context, typ string, f Follow) error {
	id, err := s.IDs.Next()
	if err != nil {
		return fmt.Errorf("%s: %w", typ, err)
	}
	if err := s.Events.Publish(ctx, s.event(typ, id, nil, &f)); err != nil {
		return fmt.Errorf("publish %s: %w", typ, err)
	}
	return nil
}

// Followers pages through a user's followers.
func (s *Service) Followers(ctx context.Context, user, cursor string, limit int) ([]string, string, error) {
	if err := s.requireUser(ctx, user); err != nil {
		return nil, "", err
	}
	return s.Graph.Followers(ctx, user, cursor, limit)
}

// Following pages through the users a user follows.
func (s *Service) Following(ctx context.Context, user, cursor string, limit int) ([]string, string, error) {
	if err := s.requireUser(ctx, user); err != nil {
		return nil, "", err
	}
	return s.Graph.Following(ctx, user, cursor, limit)
}

func (s *Service) requireUser(ctx context.Context, user string) error {
	ok, err := s.Graph.UserExists(ctx, user)
	if err != nil {
		return fmt.Errorf("look up user: %w", err)
	}
	if !ok {
		return fmt.Errorf("user %q: %w", user, ErrNotFound)
	}
	return nil
}

func (s *Service) event(typ string, id ID, p *Post, f *Follow) Event {
	return Event{ID: typ + ":" + id.String(), Type: typ, Time: s.now(), Post: p, Follow: f}
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// nextCursor is the cursor after a page: the ID of its last item when the
// page is full (there may be more), else empty (the end).
func nextCursor[T any](page []T, limit int, id func(T) ID) string {
	if len(page) == 0 || len(page) < limit {
		return ""
	}
	return id(page[len(page)-1]).String()
}

func parseCursor(c string) (ID, error) {
	if c == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(c, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%w: bad cursor %q", ErrInvalid, c)
	}
	return ID(n), nil
}
