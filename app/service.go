package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"
	"golang.org/x/sync/singleflight"
)

// Service is feedsvc's use cases for the API: posting, following and
// reading feeds. It never touches followers' feeds when posting; that is
// the fanout consumer's job.
type Service struct {
	Posts PostStore
	Graph Graph
	Feeds FeedCache
	// RebuildLocks keep one rebuild of a feed at a time across processes
	// (nil: within this process only).
	RebuildLocks RebuildLocks
	// Unfollows closes the race of a rebuild that read the graph just
	// before an unfollow (see Unfollows).
	Unfollows Unfollows
	// Timelines and Celebrities serve hybrid fan-out: reads merge the
	// timelines of the celebrities a user follows (nil: no merging).
	Timelines   FeedCache
	Celebrities Celebrities
	// Dispatch publishes what the store wrote to its outbox now, not at
	// the relay's next poll (nil: the relay polls).
	Dispatch Dispatcher
	// DispatchWait bounds how long a request waits for that publish (0:
	// not at all); the write is durable either way.
	DispatchWait time.Duration
	// Keys remembers Idempotency-Keys (nil: keys are refused).
	Keys    IdempotencyKeys
	Notes   NotificationStore
	IDs     *IDGen
	FeedCap int
	// ViewCacheTTL is how long this process keeps a reader's hidden set
	// (ReadHiddenSet) and a post's like and reply counts between reads
	// (0: read them every time); see hiddenCache and ViewPosts for what a
	// change does to them.
	ViewCacheTTL time.Duration
	// Likes keeps likes; hydrated posts read their counts from it (nil:
	// liking answers 503 and every count is zero).
	Likes Likes
	// Replies indexes replies by parent; reply listings and counts read it
	// (nil: listing replies answers 503 and every count is zero).
	Replies Replies
	// Reposts indexes reposts by original and keeps who hides whose
	// reposts (nil: reposting answers 503 and every count is zero).
	Reposts Reposts
	// Lists keeps users' lists of accounts (nil: every list call answers
	// 503).
	Lists Lists
	// MaxFollowing caps how many users one user may follow (0: no cap).
	MaxFollowing int
	// MaxRebuilds bounds the feed rebuilds this process runs at once (0:
	// DefaultMaxRebuilds); see rebuildOnce.
	MaxRebuilds int
	Log         *slog.Logger
	Now         func() time.Time

	// rebuilds collapses concurrent rebuilds of one feed (rebuildOnce);
	// rebuildSlots bounds those of different feeds.
	rebuilds     singleflight.Group
	rebuildSlots struct {
		once sync.Once
		sem  *semaphore.Weighted
	}
	hidden hiddenCache
	counts ttlMap[ID, postCounts]
}

// DefaultDispatchWait is how long a write waits for its event to be
// published before it answers anyway: not at all. The relay publishes a
// write's event at once either way; waiting for Kafka's acknowledgement
// doubled POST p99 (docs/performance.md) and guarantees nothing more, since
// the event is durable in the outbox before the answer.
const DefaultDispatchWait = 0

// CreatePost validates and stores a post together with its post.created
// event (the outbox), then hands the event to the relay and returns. Once
// SavePost returns the post and its event are durable: the event is
// published whether Kafka is up now or later. key, when set, is the
// client's Idempotency-Key: a retry with the same key returns the post the
// first call created, and creates nothing.
func (s *Service) CreatePost(ctx context.Context, author, text, key string) (Post, error) {
	return s.CreateReply(ctx, author, text, key, 0)
}

// CreateReply is CreatePost for a reply to the post parent (0: no parent,
// a post like CreatePost's). The parent must be one author can see (else
// ErrNotFound: unknown, deleted, moderated and not theirs) and not across
// a block with its author, either way (ErrForbidden, as for a like). The
// reply records its parent and the parent's author.
func (s *Service) CreateReply(ctx context.Context, author, text, key string, parent ID) (Post, error) {
	if err := ValidatePostText(text); err != nil {
		return Post{}, err
	}
	id, err := s.IDs.Next()
	if err != nil {
		return Post{}, fmt.Errorf("new post: %w", err)
	}
	if key != "" {
		var done bool
		var p Post
		if id, p, done, err = s.bindKey(ctx, author, text, key, id, parent); err != nil || done {
			return p, err
		}
	}
	p := Post{ID: id, Author: author, Text: text}
	p.CreatedAt = p.ID.Time().UTC()
	if parent != 0 {
		// Checked after the key: a retry whose first request made the
		// reply answers with it, even if the parent is gone since.
		pp, err := s.replyParent(ctx, author, parent)
		if err != nil {
			return Post{}, err
		}
		p.InReplyTo, p.InReplyToAuthor = pp.ID, pp.Author
	}
	recID := p.ID
	if key != "" {
		// A retry may write a post whose ID was made long ago (its first
		// write failed): its record gets a fresh ID, or the relay, whose
		// cursor has moved on, would never read it. The event's ID stays
		// the post's, so consumers see one event even if both land.
		if recID, err = s.IDs.Next(); err != nil {
			return Post{}, fmt.Errorf("new post: %w", err)
		}
	}
	rec := NewOutboxRecord(recID, s.event(ctx, PostCreated, p.ID, &p, nil))
	sctx, end := startSpan(ctx, "store.save_post")
	err = s.Posts.SavePost(sctx, p, rec)
	end(err)
	if p.InReplyTo != 0 {
		s.counts.forget(p.InReplyTo) // its reply count; even on error
	}
	if err != nil {
		return Post{}, fmt.Errorf("save post: %w", err)
	}
	s.dispatch(ctx, rec)
	return p, nil
}

// bindKey binds an Idempotency-Key to the post about to be made (id). When
// an earlier request holds the key, it returns that request's post (done)
// or, if that request's write did not land, its ID to write again.
func (s *Service) bindKey(ctx context.Context, author, text, key string, id, parent ID) (ID, Post, bool, error) {
	if s.Keys == nil {
		return 0, Post{}, false, fmt.Errorf("%w: Idempotency-Key is not supported here", ErrInvalid)
	}
	if err := ValidateIdempotencyKey(key); err != nil {
		return 0, Post{}, false, err
	}
	fp := fingerprint(text, parent)
	b, err := s.Keys.BindKey(ctx, author, key, KeyBinding{ID: id, Fingerprint: fp})
	if err != nil {
		return 0, Post{}, false, fmt.Errorf("idempotency key: %w", err)
	}
	if b.Fingerprint != fp {
		return 0, Post{}, false, fmt.Errorf("%w: Idempotency-Key %q was used for another post", ErrKeyReused, key)
	}
	if b.ID == id {
		return id, Post{}, false, nil
	}
	got, err := s.Posts.GetPosts(ctx, []ID{b.ID})
	if err != nil {
		return 0, Post{}, false, fmt.Errorf("idempotency key: %w", err)
	}
	if p, ok := got[b.ID]; ok {
		return b.ID, p, true, nil
	}
	deleted, err := s.Posts.WasDeleted(ctx, b.ID)
	if err != nil {
		return 0, Post{}, false, fmt.Errorf("idempotency key: %w", err)
	}
	if deleted {
		// The post was made and deleted since: bring nothing back, and
		// say so rather than answer with a post that is gone.
		return 0, Post{}, false, fmt.Errorf("%w: post %s", ErrKeyPostDeleted, b.ID)
	}
	// The first request's write did not land (or has not yet): write the
	// same post under the same ID; saving it twice is harmless.
	return b.ID, Post{}, false, nil
}

// ValidateIdempotencyKey checks a client's Idempotency-Key: 1 to 255
// visible ASCII characters.
func ValidateIdempotencyKey(key string) error {
	if len(key) == 0 || len(key) > 255 {
		return fmt.Errorf("%w: Idempotency-Key must be 1 to 255 characters", ErrInvalid)
	}
	for _, c := range []byte(key) {
		if c < 0x21 || c > 0x7e {
			return fmt.Errorf("%w: Idempotency-Key must be visible ASCII characters", ErrInvalid)
		}
	}
	return nil
}

// fingerprint identifies a post's content for its Idempotency-Key: its
// text and, for a reply, its parent (a post without one keeps the
// fingerprint it had before replies, so keys bound then still match).
func fingerprint(text string, parent ID) string {
	if parent != 0 {
		text += "\x00in_reply_to:" + parent.String()
	}
	sum := sha256.Sum256([]byte(text))
	return hex.EncodeToString(sum[:16])
}

// dispatch hands rec to the relay and waits for it a little: usually the
// event is in Kafka when the request answers, but never at the cost of
// answering late.
func (s *Service) dispatch(ctx context.Context, rec OutboxRecord) {
	if s.Dispatch == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, s.DispatchWait)
	defer cancel()
	s.Dispatch.Dispatch(ctx, rec)
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
	eid, err := s.IDs.Next()
	if err != nil {
		return fmt.Errorf("delete post: %w", err)
	}
	// The parent goes with it: the store (or the relay completing the
	// deletion) takes the reply out of its parent's replies.
	// So does a repost's original: the store takes the repost out of
	// the original's reposts.
	del := Post{ID: p.ID, Author: p.Author, InReplyTo: p.InReplyTo, RepostOf: p.RepostOf}
	rec := NewOutboxRecord(eid, s.event(ctx, PostDeleted, p.ID, &del, nil))
	sctx, end := startSpan(ctx, "store.delete_post")
	err = s.Posts.DeletePost(sctx, p, rec)
	end(err)
	if p.InReplyTo != 0 || p.RepostOf != 0 {
		s.counts.forget(p.InReplyTo, p.RepostOf) // its parent's or original's counts
	}
	if err != nil {
		return fmt.Errorf("delete post: %w", err)
	}
	s.dispatch(ctx, rec)
	return nil
}

// AuthorPosts pages through a user's posts as caller may see them, newest
// first.
func (s *Service) AuthorPosts(ctx context.Context, caller, user string, cursor string, limit int) ([]Post, string, error) {
	before, err := parseCursor(cursor)
	if err != nil {
		return nil, "", err
	}
	posts, err := s.Posts.AuthorPosts(ctx, user, before, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("author posts: %w", err)
	}
	if len(posts) == 0 && before == 0 {
		// Nothing at all: an unknown user is 404, as on every route
		// that names a user. A user with posts is known: no lookup.
		if err := s.RequireUser(ctx, user); err != nil {
			return nil, "", err
		}
	}
	posts, next := cutPage(posts, limit, func(p Post) ID { return p.ID })
	posts = slices.DeleteFunc(posts, func(p Post) bool { return !p.VisibleTo(caller) })
	if slices.ContainsFunc(posts, Post.IsRepost) {
		// Reposts show as their originals, which the caller's blocks
		// and mutes may hide: one read, only for a page with reposts.
		hidden, err := s.readHidden(ctx, caller)
		if err != nil {
			return nil, "", fmt.Errorf("author posts: %w", err)
		}
		if posts, err = s.renderReposts(ctx, caller, posts, hidden); err != nil {
			return nil, "", fmt.Errorf("author posts: %w", err)
		}
		// A repost of the user's own post renders as that post: a page
		// shows it once, as a feed page does.
		posts = dedupPosts(posts)
	}
	return posts, next, nil
}

// ReadPost is GetPost as rendered: a repost shows as its original, with
// the reposter (ErrNotFound when the original is gone or hidden).
func (s *Service) ReadPost(ctx context.Context, caller string, id ID) (Post, error) {
	p, err := s.GetPost(ctx, caller, id)
	if err != nil || !p.IsRepost() {
		return p, err
	}
	hidden, err := s.readHidden(ctx, caller)
	if err != nil {
		return Post{}, fmt.Errorf("get post: %w", err)
	}
	out, err := s.renderReposts(ctx, caller, []Post{p}, hidden)
	if err != nil {
		return Post{}, fmt.Errorf("get post: %w", err)
	}
	if len(out) == 0 {
		return Post{}, fmt.Errorf("post %s: %w", id, ErrNotFound)
	}
	return out[0], nil
}

// Follow makes follower follow followee and announces it; the fanout consumer
// then merges the followee's recent posts into the follower's feed.
func (s *Service) Follow(ctx context.Context, follower, followee string) error {
	return s.FollowWith(ctx, follower, followee, nil)
}

// FollowWith is Follow with the follow's repost setting: reposts (when
// not nil) says whether the follower sees the followee's reposts. A new
// follow starts from the default (shown), whatever an earlier follow of
// the pair had; following again without a setting keeps the one there.
func (s *Service) FollowWith(ctx context.Context, follower, followee string, reposts *bool) error {
	if follower == followee {
		return fmt.Errorf("%w: a user cannot follow themselves", ErrInvalid)
	}
	if err := s.RequireUser(ctx, followee); err != nil {
		return err
	}
	if err := checkNotBlocked(ctx, s.Graph, follower, followee); err != nil {
		return err
	}
	if err := s.checkFollowingCap(ctx, follower, followee); err != nil {
		return err
	}
	rec, err := s.followRecord(ctx, UserFollowed, follower, followee)
	if err != nil {
		return err
	}
	// An edge that existed already announces nothing again.
	created, err := s.Graph.Follow(ctx, follower, followee, rec)
	if err != nil {
		return fmt.Errorf("follow: %w", err)
	}
	if created {
		s.dispatch(ctx, rec)
	}
	if show := created; reposts != nil || (show && s.Reposts != nil) {
		if reposts != nil {
			show = *reposts
		}
		if err := s.SetShowReposts(ctx, follower, followee, show); err != nil {
			return fmt.Errorf("follow: %w", err)
		}
	}
	// A block that landed between the check and the edge: its Block read
	// no edge to end (or ran before it), so the follow ends itself.
	if err := checkNotBlocked(ctx, s.Graph, follower, followee); err != nil {
		if uerr := s.endFollow(ctx, Follow{Follower: follower, Followee: followee}); uerr != nil {
			return fmt.Errorf("follow: undo across a block: %w", uerr)
		}
		return err
	}
	return nil
}

// DefaultMaxFollowing is the cap on how many users one user may follow.
const DefaultMaxFollowing = 5000

// checkFollowingCap refuses a new follow past MaxFollowing (ErrLimit); a
// follow of an edge that exists is not new and passes. It reads up to the
// cap's worth of the follower's list, one partition, only to count: a cap
// that two concurrent follows may pass by one, not an exact one.
func (s *Service) checkFollowingCap(ctx context.Context, follower, followee string) error {
	if s.MaxFollowing <= 0 {
		return nil
	}
	following, _, err := s.Graph.Following(ctx, follower, "", s.MaxFollowing)
	if err != nil {
		return fmt.Errorf("follow: count following: %w", err)
	}
	if len(following) < s.MaxFollowing {
		return nil
	}
	already, err := s.Graph.IsFollowing(ctx, follower, followee)
	if err != nil {
		return fmt.Errorf("follow: %w", err)
	}
	if already {
		return nil
	}
	return fmt.Errorf("%w: %s follows %d users, the most one may follow; unfollow someone first", ErrLimit, follower, s.MaxFollowing)
}

// Unfollow removes the edge and announces it; the fanout consumer removes
// the followee's posts from the follower's feed.
func (s *Service) Unfollow(ctx context.Context, follower, followee string) error {
	if follower == followee {
		return fmt.Errorf("%w: a user cannot unfollow themselves", ErrInvalid)
	}
	if err := s.RequireUser(ctx, followee); err != nil {
		return err
	}
	rec, err := s.followRecord(ctx, UserUnfollowed, follower, followee)
	if err != nil {
		return err
	}
	removed, err := s.Graph.Unfollow(ctx, follower, followee, rec)
	if err != nil {
		return fmt.Errorf("unfollow: %w", err)
	}
	if removed {
		s.dispatch(ctx, rec)
	}
	return nil
}

func (s *Service) followRecord(ctx context.Context, typ, follower, followee string) (OutboxRecord, error) {
	id, err := s.IDs.Next()
	if err != nil {
		return OutboxRecord{}, fmt.Errorf("%s: %w", typ, err)
	}
	f := Follow{Follower: follower, Followee: followee}
	return NewOutboxRecord(id, s.event(ctx, typ, id, nil, &f)), nil
}

// Followers pages through a user's followers.
func (s *Service) Followers(ctx context.Context, user, cursor string, limit int) ([]string, string, error) {
	if err := s.RequireUser(ctx, user); err != nil {
		return nil, "", err
	}
	users, next, err := s.Graph.Followers(ctx, user, cursor, limit)
	return s.listEdges(ctx, user, users, next, err)
}

// Following pages through the users a user follows.
func (s *Service) Following(ctx context.Context, user, cursor string, limit int) ([]string, string, error) {
	if err := s.RequireUser(ctx, user); err != nil {
		return nil, "", err
	}
	users, next, err := s.Graph.Following(ctx, user, cursor, limit)
	return s.listEdges(ctx, user, users, next, err)
}

// listEdges drops from a page of user's follows (either way) those across
// a block, with one read of its block set. A block ends the follows both
// ways, but a follow whose outcome was unknown as the block landed (its
// LWT timed out, and the relay completed it after the block's read) can
// stay stored: such an edge is never shown nor used (fan-out, rebuilds
// and the notifier skip it too), and the unblock ends it.
func (s *Service) listEdges(ctx context.Context, user string, users []string, next string, err error) ([]string, string, error) {
	if err != nil || len(users) == 0 {
		return users, next, err
	}
	blocks, _, err := s.hiddenSet(ctx, user, NoMutes)
	if err != nil {
		return nil, "", fmt.Errorf("blocks of %s: %w", user, err)
	}
	return slices.DeleteFunc(users, blocks.Has), next, nil
}

// RequireUser is nil for a user feedsvc knows (one that has signed in or
// been written about), else an ErrNotFound: every route that names a user
// answers 404 for an unknown one.
func (s *Service) RequireUser(ctx context.Context, user string) error {
	ok, err := s.Graph.UserExists(ctx, user)
	if err != nil {
		return fmt.Errorf("look up user: %w", err)
	}
	if !ok {
		return fmt.Errorf("user %q: %w", user, ErrNotFound)
	}
	return nil
}

// event is a new event of the call whose context is ctx: it carries that
// call's trace context.
func (s *Service) event(ctx context.Context, typ string, id ID, p *Post, f *Follow) Event {
	return WithTrace(ctx, Event{ID: typ + ":" + id.String(), Type: typ, Time: s.now(), Post: p, Follow: f})
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// cutPage is the page of at most limit items out of items, which were read
// with a limit of limit+1, and the cursor after it: the ID of its last item
// when the read found more, else empty (the end, also after a full last
// page).
func cutPage[T any](items []T, limit int, id func(T) ID) ([]T, string) {
	if len(items) <= limit {
		return items, ""
	}
	return items[:limit], id(items[limit-1]).String()
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
