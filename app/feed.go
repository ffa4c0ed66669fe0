package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"
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
// first, so a reader never sees an empty feed because the cache lost it (or
// expired it while the user was away). The recent posts of the celebrities
// user follows are merged in (hybrid fan-out): every source is ordered by
// ID and cut at the same cursor, so pages stay exact across the merge.
func (s *Service) ReadFeed(ctx context.Context, user, cursor string, limit int) (FeedPage, error) {
	before, err := parseCursor(cursor)
	if err != nil {
		return FeedPage{}, err
	}
	// One past the page says whether there is more.
	ids, complete, err := s.Feeds.Page(ctx, user, before, limit+1)
	if err != nil {
		return FeedPage{}, fmt.Errorf("read feed: %w", err)
	}
	if !complete {
		if err := s.rebuildOnce(ctx, user, func(ctx context.Context) error { return s.RebuildFeed(ctx, user) }); err != nil {
			return FeedPage{}, err
		}
		if ids, _, err = s.Feeds.Page(ctx, user, before, limit+1); err != nil {
			return FeedPage{}, fmt.Errorf("read rebuilt feed: %w", err)
		}
	}
	if s.Celebrities != nil {
		if ids, err = s.mergeCelebrities(ctx, user, ids, before, limit+1); err != nil {
			return FeedPage{}, err
		}
	}
	ids, next := cutPage(ids, limit, func(id ID) ID { return id })
	items, err := s.feedItems(ctx, user, ids, before == 0)
	if err != nil {
		return FeedPage{}, fmt.Errorf("read feed: %w", err)
	}
	return FeedPage{Items: items, NextCursor: next}, nil
}

// feedItems hydrates ids, a page of reader's home or list feed, into the
// posts reader sees (first: the page is the first one).
func (s *Service) feedItems(ctx context.Context, reader string, ids []ID, first bool) ([]Post, error) {
	var (
		posts  map[ID]Post
		hidden HiddenSet
	)
	// The posts and the reader's hidden set at once: independent reads.
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		if posts, err = s.Posts.GetPosts(gctx, ids); err != nil {
			return fmt.Errorf("hydrate: %w", err)
		}
		return nil
	})
	if len(ids) > 0 || first {
		// One read of the reader's blocks and mutes per page, whatever
		// its sources (the stored feed, a rebuild, celebrity timelines):
		// user.blocked and user.muted take the posts out of stored
		// feeds, but not of a celebrity's timeline, nor before their
		// events are handled. A first page reads it even when empty, so
		// that an expired mute is met (and its posts come back) also
		// when it had emptied the feed.
		g.Go(func() (err error) {
			hidden, err = s.readHidden(gctx, reader)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var err error
	items := make([]Post, 0, len(ids))
	for _, id := range ids {
		// A post deleted or moderated since fan-out is skipped here;
		// post.deleted / post.moderated remove it from the cache shortly.
		if p, ok := posts[id]; ok && p.VisibleTo(reader) && !hidden.Has(p.Author) {
			items = append(items, p)
		}
	}
	// The reply rule (reply.go) on every source, the celebrity merge's
	// too: one read, only for a page with replies to third users.
	if items, err = s.replyRule(ctx, reader, items, hidden); err != nil {
		return nil, err
	}
	// Reposts (repost.go): rendered as their originals, hidden per
	// follow, and each post shown once per page.
	return s.applyRepostRules(ctx, reader, items, hidden)
}

// mergeCelebrities merges the timelines of the celebrities user follows
// into ids (one page of the feed), keeping the newest limit without
// duplicates (a feed may hold posts from before its author became a
// celebrity).
func (s *Service) mergeCelebrities(ctx context.Context, user string, ids []ID, before ID, limit int) ([]ID, error) {
	celebs, err := s.Celebrities.Followed(ctx, user)
	if err != nil || len(celebs) == 0 {
		return ids, err
	}
	// Concurrent reads: Redis pipelines them into one round trip.
	pages := make([][]ID, len(celebs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for i, c := range celebs {
		g.Go(func() (err error) {
			pages[i], err = s.timelinePage(gctx, c, before, limit)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for _, p := range pages {
		ids = append(ids, p...)
	}
	slices.SortFunc(ids, func(a, b ID) int { return cmp.Compare(b, a) })
	ids = slices.Compact(ids)
	if len(ids) > limit {
		ids = ids[:limit]
	}
	return ids, nil
}

// timelinePage reads a page of a celebrity's cached timeline, rebuilding it
// from the store when it is not cached.
func (s *Service) timelinePage(ctx context.Context, author string, before ID, limit int) ([]ID, error) {
	ids, complete, err := s.Timelines.Page(ctx, author, before, limit)
	if err != nil {
		return nil, fmt.Errorf("read timeline of %s: %w", author, err)
	}
	if complete {
		return ids, nil
	}
	if err := s.Timelines.Prepare(ctx, author); err != nil {
		return nil, fmt.Errorf("rebuild timeline of %s: %w", author, err)
	}
	posts, err := s.Posts.AuthorPosts(ctx, author, 0, s.rebuildDepth())
	if err != nil {
		return nil, fmt.Errorf("rebuild timeline of %s: %w", author, err)
	}
	filled := visibleIDs(nil, posts)
	if err := s.Timelines.Fill(ctx, author, filled); err != nil {
		return nil, fmt.Errorf("rebuild timeline of %s: %w", author, err)
	}
	if err := s.dropRemovedSince(ctx, s.Timelines, author, map[string][]ID{author: filled}); err != nil {
		// The timeline may keep a deleted post's ID: dropped, the next
		// read rebuilds it (reads hide such a post meanwhile).
		if derr := s.Timelines.Drop(context.WithoutCancel(ctx), author); derr != nil {
			err = errors.Join(err, derr)
		}
		return nil, fmt.Errorf("rebuild timeline of %s: %w", author, err)
	}
	if ids, _, err = s.Timelines.Page(ctx, author, before, limit); err != nil {
		return nil, fmt.Errorf("read rebuilt timeline of %s: %w", author, err)
	}
	return ids, nil
}

// readHidden is the reader's hidden set: the users on either side of its
// blocks and those it mutes (hiddenSet with MutedByUser). The expired mutes
// it meets are expired (expireMutes), so that their posts come back.
func (s *Service) readHidden(ctx context.Context, user string) (HiddenSet, error) {
	set, expired, err := s.hiddenSet(ctx, user, MutedByUser)
	if err != nil {
		return nil, err
	}
	s.expireMutes(ctx, expired)
	return set, nil
}

// hiddenSet is ReadHiddenSet through this process's cache when
// ViewCacheTTL is set.
func (s *Service) hiddenSet(ctx context.Context, user string, side MuteSide) (HiddenSet, []Mute, error) {
	load := func(ctx context.Context) (HiddenSet, []Mute, error) {
		return ReadHiddenSet(ctx, s.Graph, user, side, s.now())
	}
	if s.ViewCacheTTL <= 0 {
		return load(ctx)
	}
	now := s.now()
	set, expired, err := s.hidden.read(ctx, user, side, now, s.ViewCacheTTL, load)
	if err != nil {
		// With no copy, the read fails: a blocked author's posts are
		// never shown for want of the block.
		if stale, ok := s.hidden.sets.stale(hiddenKey{user, side}, now, MaxStale); ok && Degrade(ctx, err, DegradedHidden) {
			return stale, nil, nil
		}
	}
	return set, expired, err
}

// visibleIDs appends the IDs of the posts that are not moderated.
func visibleIDs(ids []ID, posts []Post) []ID {
	for _, p := range posts {
		if p.Moderated == "" {
			ids = append(ids, p.ID)
		}
	}
	return ids
}

// rebuildTimeout bounds a rebuild that readers share (see rebuildOnce).
const rebuildTimeout = 30 * time.Second

// rebuildLockTTL bounds how long a rebuild holds its lock: past it, a
// reader waiting for a process that died mid-rebuild starts its own. It is
// the rebuild's own deadline, so a slow but live rebuild keeps it.
const rebuildLockTTL = rebuildTimeout

// rebuildPoll is how often a reader waiting for another process's rebuild
// looks whether the feed is complete.
const rebuildPoll = 50 * time.Millisecond

// DefaultMaxRebuilds is how many feed rebuilds one process runs at once.
// Each reads up to maxRebuildFollowing authors' posts: after a Redis
// flush, every reader's first page would otherwise start one, and the
// storm of store reads could take the store down for everyone. Readers
// beyond it wait for a slot within their own deadline (then 503).
const DefaultMaxRebuilds = 16

// rebuildSlot takes one of the process's rebuild slots (see
// DefaultMaxRebuilds) and returns its release.
func (s *Service) rebuildSlot(ctx context.Context, user string) (func(), error) {
	s.rebuildSlots.once.Do(func() {
		s.rebuildSlots.sem = semaphore.NewWeighted(int64(cmp.Or(s.MaxRebuilds, DefaultMaxRebuilds)))
	})
	if err := s.rebuildSlots.sem.Acquire(ctx, 1); err != nil {
		return nil, fmt.Errorf("rebuild feed of %s: waited for one of %d rebuild slots: %w (%w)", user,
			cmp.Or(s.MaxRebuilds, DefaultMaxRebuilds), ErrUnavailable, err)
	}
	return func() { s.rebuildSlots.sem.Release(1) }, nil
}

// rebuildOnce rebuilds the feed key (a user's, or a list's: ListFeed)
// with rebuild, or waits for the rebuild already
// running in this process or, through RebuildLocks, in another: a rebuild
// reads up to maxRebuildFollowing authors' posts, and readers of one feed
// arriving together (a client's retries, several devices, on any api
// replica) must not each start one. The rebuild outlives a reader that
// leaves (its own deadline bounds it); each reader waits no longer than
// its own context. A reader that comes just after a rebuild finds the
// feed complete and rebuilds nothing.
func (s *Service) rebuildOnce(ctx context.Context, user string, rebuild func(context.Context) error) error {
	ch := s.rebuilds.DoChan(user, func() (any, error) {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rebuildTimeout)
		defer cancel()
		release, err := s.rebuildSlot(rctx, user)
		if err != nil {
			return nil, err
		}
		defer release()
		return nil, s.rebuildShared(rctx, user, rebuild)
	})
	select {
	case r := <-ch:
		return r.Err
	case <-ctx.Done():
		return fmt.Errorf("rebuild feed of %s: %w", user, context.Cause(ctx))
	}
}

// rebuildShared rebuilds user's feed unless it is complete or another
// process holds its rebuild lock; then it waits for the feed to be
// complete, and takes over if the lock goes without it (the other process
// died or failed). A lock that cannot be taken (Redis failing) stops no
// reader: it rebuilds.
func (s *Service) rebuildShared(ctx context.Context, user string, rebuild func(context.Context) error) error {
	poll := time.NewTimer(0)
	defer poll.Stop()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("rebuild feed of %s: %w", user, context.Cause(ctx))
		case <-poll.C:
		}
		if _, complete, err := s.Feeds.Page(ctx, user, 0, 1); err == nil && complete {
			return nil
		}
		if s.RebuildLocks == nil {
			return rebuild(ctx)
		}
		release, ok, err := s.RebuildLocks.TryLockRebuild(ctx, user, rebuildLockTTL)
		if ok {
			defer release(context.WithoutCancel(ctx))
			// The holder before may have finished just now.
			if _, complete, err := s.Feeds.Page(ctx, user, 0, 1); err == nil && complete {
				return nil
			}
		}
		if ok || err != nil {
			return rebuild(ctx)
		}
		poll.Reset(rebuildPoll)
	}
}

// RebuildFeed recomputes user's feed from the store: the newest FeedCap posts
// of everyone user follows, except celebrities, whose posts are merged on
// read and only recorded as followed. The feed is prepared first and Fill
// only adds, so a post fanned out during the rebuild is not lost.
func (s *Service) RebuildFeed(ctx context.Context, user string) error {
	start := time.Now()
	if err := s.Feeds.Prepare(ctx, user); err != nil {
		return fmt.Errorf("rebuild feed of %s: %w", user, err)
	}
	var (
		ids    []ID
		celebs []Follow
		// byAuthor are the IDs read of each followee, for takeBackUnfollowed.
		byAuthor = map[string][]ID{}
	)
	// A followee across a block (a follow that raced it) or muted fills
	// nothing in; a block or mute after this read records the pair as
	// unfollowed, and takeBackUnfollowed takes its posts back out.
	// Read fresh, not through the view cache: what a rebuild leaves out
	// stays out of the stored feed, where a stale set would outlive its TTL.
	hidden, expired, err := ReadHiddenSet(ctx, s.Graph, user, MutedByUser, s.now())
	if err != nil {
		return fmt.Errorf("rebuild feed of %s: %w", user, err)
	}
	s.expireMutes(ctx, expired)
	// The followees are read first, whole: the reply rule keeps a
	// followee's reply to a third user only if user follows that user too,
	// which this set answers with no further read.
	var followees []string
	err = forEachPage(ctx, func(cursor string) ([]string, string, error) {
		return s.Graph.Following(ctx, user, cursor, 1000)
	}, maxRebuildFollowing, func(page []string) error {
		followees = append(followees, page...)
		return nil
	})
	if err != nil {
		return fmt.Errorf("rebuild feed of %s: %w", user, err)
	}
	following := make(map[string]bool, len(followees))
	for _, f := range followees {
		following[f] = true
	}
	for chunk := range slices.Chunk(followees, 1000) {
		statuses := make([]CelebrityStatus, len(chunk))
		if s.Celebrities != nil {
			if statuses, err = s.Celebrities.Statuses(ctx, chunk); err != nil {
				return fmt.Errorf("rebuild feed of %s: %w", user, err)
			}
		}
		for i, f := range chunk {
			if hidden.Has(f) {
				continue
			}
			if statuses[i] != NotCelebrity {
				celebs = append(celebs, Follow{Follower: user, Followee: f})
				continue
			}
			posts, err := s.Posts.AuthorPosts(ctx, f, 0, s.rebuildDepth())
			if err != nil {
				return fmt.Errorf("rebuild feed of %s: posts of %s: %w", user, f, err)
			}
			posts = slices.DeleteFunc(posts, func(p Post) bool {
				return needsParentFollow(p, user) && (!following[p.InReplyToAuthor] || hidden.Has(p.InReplyToAuthor))
			})
			// A repost of a post gone or moderated is in no feed.
			if posts, err = liveReposts(ctx, s.Posts, posts); err != nil {
				return fmt.Errorf("rebuild feed of %s: posts of %s: %w", user, f, err)
			}
			byAuthor[f] = visibleIDs(nil, posts)
			ids = append(ids, byAuthor[f]...)
		}
		ids = newest(ids, s.rebuildDepth())
	}
	if len(celebs) > 0 {
		if err := s.Celebrities.AddFollows(ctx, celebs); err != nil {
			return fmt.Errorf("rebuild feed of %s: %w", user, err)
		}
	}
	if err := s.Feeds.Fill(ctx, user, ids); err != nil {
		return fmt.Errorf("rebuild feed of %s: %w", user, err)
	}
	// Rebuilds are rare (a lost, expired or never-built feed): a line each
	// tells what a feed was made of when it is found short later.
	s.logger().Info("feed rebuilt", "user", user, "followees", len(followees), "posts", len(ids), "took", time.Since(start))
	return s.afterRebuild(ctx, user, start, byAuthor, ids)
}

// rebuildDepth is how many posts a rebuild reads of each source and fills
// at most: one past the cap, so that the feed's cap cuts that one on the
// fill and records it as the floor. A rebuild that cut it itself would
// leave the floor at 0, and the feed would read as holding every post
// above it, older ones it never got included.
func (s *Service) rebuildDepth() int { return s.FeedCap + 1 }

// afterRebuild takes out of the feed key, rebuilt since start, what was
// taken out meanwhile: the posts of the authors unfollowed (or removed
// from the list) and the posts deleted or moderated, among ids, what the
// rebuild filled (byAuthor: what it read of each author).
func (s *Service) afterRebuild(ctx context.Context, user string, start time.Time, byAuthor map[string][]ID, ids []ID) error {
	err := s.takeBackUnfollowed(ctx, user, start, byAuthor)
	if err == nil {
		err = s.dropRemovedSince(ctx, s.Feeds, user, filledOf(byAuthor, ids))
	}
	if err != nil {
		// The feed is complete but may hold an unfollowed author's posts,
		// or a deleted one's ID: dropped, the next read rebuilds it.
		if derr := s.Feeds.Drop(context.WithoutCancel(ctx), user); derr != nil {
			err = errors.Join(err, derr)
		}
		s.logger().Warn("rebuilt feed dropped: the next read rebuilds it", "user", user, "err", err)
		return fmt.Errorf("rebuild feed of %s: %w", user, err)
	}
	return nil
}

// takeBackUnfollowed removes from user's feed the posts of the users it
// stopped following since the rebuild began (byAuthor: what the rebuild
// read of each): the rebuild may have read them as followed and filled
// their posts in after the unfollow's fan-out took them out (see
// Unfollows).
func (s *Service) takeBackUnfollowed(ctx context.Context, user string, start time.Time, byAuthor map[string][]ID) error {
	gone, err := s.Unfollows.RecentUnfollowees(ctx, user, time.Since(start)+unfollowRaceMargin)
	if err != nil {
		return err
	}
	for _, a := range gone {
		if ids := byAuthor[a]; len(ids) > 0 {
			if err := s.Unfollows.RemoveUnfollowed(ctx, Follow{Follower: user, Followee: a}, ids); err != nil {
				return err
			}
		}
	}
	return nil
}

// dropRemovedSince takes out of owner's feed (or timeline) the posts a
// rebuild filled in that were deleted or moderated after it read them
// (byAuthor: what it read of each author). Their post.deleted (or
// post.moderated) may have been handled between that read and the fill,
// finding nothing to remove yet. It reads each author's posts again: a
// removal recorded after this read is handled after the fill, and removes
// the post itself.
func (s *Service) dropRemovedSince(ctx context.Context, cache FeedCache, owner string, byAuthor map[string][]ID) error {
	var gone []FeedEntry
	for author, ids := range byAuthor {
		if len(ids) == 0 {
			continue
		}
		posts, err := s.Posts.AuthorPosts(ctx, author, 0, s.rebuildDepth())
		if err != nil {
			return fmt.Errorf("posts of %s again: %w", author, err)
		}
		still := make(map[ID]bool, len(posts))
		var oldest ID // below it (a full page), this read says nothing
		for _, p := range posts {
			still[p.ID] = p.Moderated == ""
			if len(posts) >= s.rebuildDepth() && (oldest == 0 || p.ID < oldest) {
				oldest = p.ID
			}
		}
		for _, id := range ids {
			if id >= oldest && !still[id] {
				gone = append(gone, FeedEntry{User: owner, Post: id})
			}
		}
	}
	if len(gone) == 0 {
		return nil
	}
	if err := cache.Remove(ctx, gone); err != nil {
		return fmt.Errorf("take out posts removed meanwhile: %w", err)
	}
	return nil
}

// filledOf keeps of each author's IDs those among filled (the newest of
// all, which the feed got), and only the authors that have some.
func filledOf(byAuthor map[string][]ID, filled []ID) map[string][]ID {
	in := make(map[ID]bool, len(filled))
	for _, id := range filled {
		in[id] = true
	}
	out := map[string][]ID{}
	for a, ids := range byAuthor {
		for _, id := range ids {
			if in[id] {
				out[a] = append(out[a], id)
			}
		}
	}
	return out
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
func forEachPage[T any](ctx context.Context, page func(cursor string) ([]T, string, error), max int, fn func([]T) error) error {
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
