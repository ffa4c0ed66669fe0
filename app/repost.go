package app

import (
	"context"
	"fmt"
	"slices"
)

// Reposts (issue #24, item 3). A repost is a post of its own: a row with
// its own ID, no text, and the original's ID and author (RepostOf,
// RepostOfAuthor), saved with a post.created event through the outbox
// like any post. So feeds keep 8-byte IDs, a repost sorts by the time it
// was made, and deleting it (an unrepost), replay, rebuilds, the
// celebrity merge and take-backs all work as for posts. Hydration renders
// it as the original with RepostedBy (renderReposts).
//
//   - Fan-out sends a repost to the reposter's followers except those who
//     hide the reposter's reposts (Reposts.RepostsHiddenAmong, one batched
//     read per page of followers, like the reply rule's FollowersAmong)
//     and those across a block with the original's author or muting it
//     (the original author's hidden set, one read per batch). A repost of
//     a post deleted or moderated by then is not fanned out.
//   - A feed read shows a post once per page: the original or one repost
//     of it, the oldest entry (the one the reader had already, as
//     Mastodon keeps the entry it has among the newest). It drops reposts
//     of gone, moderated or hidden originals, and those of followees whose
//     reposts the reader hides (one RepostsHiddenFrom read, only for a
//     page with reposts), which covers rebuilds and the celebrity merge.
//     De-duplication is at read time only: fan-out reads no feed.
//   - Deleting or moderating the original takes its reposts out of every
//     feed: fan-out reads the index by original (Reposts.RepostsOf) and
//     removes each repost's ID as it removes a post's. The index rows
//     outlive the original, so a replay finds them again.
//   - repost_count and reposted come from the index (RepostCounts, one
//     batched read per page), exact and never drifting under redelivery.
//   - The original's author is notified (kind "repost") once per
//     reposter and post: keyed by the reposter's first repost of it
//     (FirstRepost), so an unrepost and a repost again rewrite the same
//     row; not across a block or mute, not for reposting one's own post.

// NotifyRepost is the kind of a repost's notification.
const NotifyRepost = "repost"

// Repost is one entry of the index of reposts by original.
type Repost struct {
	Reposter string
	ID       ID
}

// RepostCount is what a reader sees of a post's reposts.
type RepostCount struct {
	Count int64
	// Reposted: the reader reposted the post.
	Reposted bool
}

// repostTarget is the post user may repost for id: the post (or, for a
// repost's ID, its original) the user can see (ErrNotFound otherwise),
// not across a block with its author (ErrForbidden, as for likes).
func (s *Service) repostTarget(ctx context.Context, user string, id ID) (Post, error) {
	p, err := s.GetPost(ctx, user, id)
	if err != nil {
		return Post{}, err
	}
	if p.IsRepost() {
		if p, err = s.GetPost(ctx, user, p.RepostOf); err != nil {
			return Post{}, err
		}
	}
	blocked, err := blockedEither(ctx, s.Graph, user, p.Author)
	if err != nil {
		return Post{}, fmt.Errorf("repost %s: %w", id, err)
	}
	if blocked {
		return Post{}, fmt.Errorf("%w: you and %s block each other (either way); the post cannot be reposted", ErrForbidden, p.Author)
	}
	return p, nil
}

// Repost makes user repost post id (a repost's ID reposts its original)
// and returns the repost. Reposting again returns the repost there is and
// announces nothing. Two concurrent first reposts by one user may both
// be made: reads show the post once, and the count counts both rows
// until one is taken back (an LWT per repost would stop that).
func (s *Service) Repost(ctx context.Context, user string, id ID) (Post, error) {
	if s.Reposts == nil {
		return Post{}, fmt.Errorf("repost: %w: no repost index", ErrUnavailable)
	}
	orig, err := s.repostTarget(ctx, user, id)
	if err != nil {
		return Post{}, err
	}
	if rid, ok, err := s.Reposts.RepostBy(ctx, user, orig.ID); err != nil {
		return Post{}, fmt.Errorf("repost %s: %w", orig.ID, err)
	} else if ok {
		return Post{ID: rid, Author: user, CreatedAt: rid.Time().UTC(), RepostOf: orig.ID, RepostOfAuthor: orig.Author}, nil
	}
	rid, err := s.IDs.Next()
	if err != nil {
		return Post{}, fmt.Errorf("repost %s: %w", orig.ID, err)
	}
	r := Post{ID: rid, Author: user, CreatedAt: rid.Time().UTC(), RepostOf: orig.ID, RepostOfAuthor: orig.Author}
	rec := NewOutboxRecord(rid, s.event(ctx, PostCreated, rid, &r, nil))
	err = s.Posts.SavePost(ctx, r, rec)
	s.counts.forget(orig.ID) // its repost count; even on error
	if err != nil {
		return Post{}, fmt.Errorf("save repost of %s: %w", orig.ID, err)
	}
	s.dispatch(ctx, rec)
	return r, nil
}

// Unrepost takes user's repost of post id back (a repost's ID names its
// original): the repost is deleted, with its post.deleted, and leaves
// every feed. Without a repost it is harmless; a post the user cannot see
// and never reposted is ErrNotFound. Allowed across a block.
func (s *Service) Unrepost(ctx context.Context, user string, id ID) error {
	if s.Reposts == nil {
		return fmt.Errorf("unrepost: %w: no repost index", ErrUnavailable)
	}
	found, err := s.Posts.GetPosts(ctx, []ID{id})
	if err != nil {
		return fmt.Errorf("unrepost %s: %w", id, err)
	}
	if p, ok := found[id]; ok && p.IsRepost() {
		id = p.RepostOf
	}
	rid, ok, err := s.Reposts.RepostBy(ctx, user, id)
	if err != nil {
		return fmt.Errorf("unrepost %s: %w", id, err)
	}
	if !ok {
		// Nothing to take back: a post the user cannot see is 404, as
		// for an unlike; the original may be gone with the repost kept.
		_, err := s.GetPost(ctx, user, id)
		return err
	}
	return s.DeletePost(ctx, user, rid)
}

// SetShowReposts records whether follower sees followee's reposts in its
// home feed (PUT /v1/following/{user} with {"reposts": false}).
func (s *Service) SetShowReposts(ctx context.Context, follower, followee string, show bool) error {
	if s.Reposts == nil {
		return fmt.Errorf("repost setting: %w: no repost index", ErrUnavailable)
	}
	if err := s.Reposts.SetShowReposts(ctx, follower, followee, show); err != nil {
		return fmt.Errorf("repost setting %s -> %s: %w", follower, followee, err)
	}
	return nil
}

// renderReposts replaces each repost among posts by its original as
// reader may see it, with RepostedBy and RepostID set: one read of the
// originals for the page. A repost whose original is gone, not visible to
// reader, or by an author in hidden is dropped.
func (s *Service) renderReposts(ctx context.Context, reader string, posts []Post, hidden HiddenSet) ([]Post, error) {
	var originals []ID
	for _, p := range posts {
		if p.IsRepost() && !slices.Contains(originals, p.RepostOf) {
			originals = append(originals, p.RepostOf)
		}
	}
	if len(originals) == 0 {
		return posts, nil
	}
	found, err := s.Posts.GetPosts(ctx, originals)
	if err != nil {
		return nil, fmt.Errorf("reposted posts: %w", err)
	}
	out := posts[:0]
	for _, p := range posts {
		if !p.IsRepost() {
			out = append(out, p)
			continue
		}
		o, ok := found[p.RepostOf]
		if !ok || o.IsRepost() || !o.VisibleTo(reader) || o.Moderated != "" || hidden.Has(o.Author) {
			continue
		}
		o.RepostedBy, o.RepostID = p.Author, p.ID
		out = append(out, o)
	}
	return out, nil
}

// applyRepostRules is a feed page's repost step (items newest first, as
// stored): reposts by followees whose reposts reader hides are dropped
// (one read, only for a page with reposts), the rest rendered as their
// originals, and each post shown once: the oldest entry of it stays.
func (s *Service) applyRepostRules(ctx context.Context, reader string, items []Post, hidden HiddenSet) ([]Post, error) {
	var reposters []string
	for _, p := range items {
		if p.IsRepost() && !slices.Contains(reposters, p.Author) {
			reposters = append(reposters, p.Author)
		}
	}
	if len(reposters) == 0 {
		return items, nil
	}
	if s.Reposts != nil {
		off, err := s.Reposts.RepostsHiddenFrom(ctx, reader, reposters)
		if err != nil && Degrade(ctx, err, DegradedReposts) {
			// Whose reposts reader hides is not known: none are shown.
			return dedupPosts(slices.DeleteFunc(items, Post.IsRepost)), nil
		}
		if err != nil {
			return nil, fmt.Errorf("repost settings of %s: %w", reader, err)
		}
		if len(off) > 0 {
			items = slices.DeleteFunc(items, func(p Post) bool { return p.IsRepost() && slices.Contains(off, p.Author) })
		}
	}
	items, err := s.renderReposts(ctx, reader, items, hidden)
	if err != nil {
		return nil, err
	}
	return dedupPosts(items), nil
}

// dedupPosts keeps one entry per post (an original and its reposts are
// one post) of a page ordered newest first: the oldest, which the reader
// met first.
func dedupPosts(items []Post) []Post {
	seen := make(map[ID]bool, len(items))
	keep := make([]bool, len(items))
	for i := len(items) - 1; i >= 0; i-- {
		if !seen[items[i].ID] {
			seen[items[i].ID] = true
			keep[i] = true
		}
	}
	out := items[:0]
	for i, p := range items {
		if keep[i] {
			out = append(out, p)
		}
	}
	return out
}

// liveReposts drops from ps (posts being fanned out) the reposts whose
// original is gone or moderated: one read of the originals.
func liveReposts(ctx context.Context, posts PostStore, ps []Post) ([]Post, error) {
	var originals []ID
	for _, p := range ps {
		if p.IsRepost() && !slices.Contains(originals, p.RepostOf) {
			originals = append(originals, p.RepostOf)
		}
	}
	if len(originals) == 0 {
		return ps, nil
	}
	found, err := posts.GetPosts(ctx, originals)
	if err != nil {
		return nil, fmt.Errorf("reposted posts: %w", err)
	}
	return slices.DeleteFunc(ps, func(p Post) bool {
		if !p.IsRepost() {
			return false
		}
		o, ok := found[p.RepostOf]
		return !ok || o.Moderated != ""
	}), nil
}

// removeReposts takes the reposts of original (deleted or moderated) out
// of feeds, page by page of the index, as their own deletions would.
func (f *Fanout) removeReposts(ctx context.Context, original ID) error {
	if f.Reposts == nil {
		return nil
	}
	var after Repost
	for {
		rs, err := f.Reposts.RepostsOf(ctx, original, after, f.pageSize())
		if err != nil {
			return fmt.Errorf("reposts of %s: %w", original, err)
		}
		for _, r := range rs {
			if err := f.removePost(ctx, &Post{ID: r.ID, Author: r.Reposter, RepostOf: original}); err != nil {
				return err
			}
		}
		if len(rs) < f.pageSize() {
			return nil
		}
		after = rs[len(rs)-1]
	}
}

// notifyRepost notifies the original's author of repost p, which the
// caller found live; hidden is the reposter's hidden set.
func (n *Notifier) notifyRepost(ctx context.Context, p Post, hidden HiddenSet) error {
	to := p.RepostOfAuthor
	if n.Reposts == nil || to == "" || to == p.Author || hidden.Has(to) {
		return nil
	}
	first, ok, err := n.Reposts.FirstRepost(ctx, p.Author, p.RepostOf)
	if err != nil {
		return fmt.Errorf("notify repost of %s: %w", p.RepostOf, err)
	}
	if !ok {
		first = p.ID
	}
	// The original gone or moderated notifies nobody (its notifications
	// leave with it).
	found, err := n.Posts.GetPosts(ctx, []ID{p.RepostOf})
	if err != nil {
		return fmt.Errorf("notify repost of %s: %w", p.RepostOf, err)
	}
	if o, ok := found[p.RepostOf]; !ok || o.Moderated != "" {
		return nil
	}
	err = n.Notifications.AddNotification(ctx, Notification{
		ID: first, User: to, Kind: NotifyRepost, Actor: p.Author, Post: p.RepostOf, CreatedAt: first.Time().UTC(),
	})
	if err != nil {
		return fmt.Errorf("notify repost of %s to %s: %w", p.RepostOf, to, err)
	}
	n.signal(ctx, to)
	return nil
}
