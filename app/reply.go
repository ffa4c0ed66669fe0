package app

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// Replies (issue #24, item 4). A reply is a post like any other, saved
// with its post.created event through the outbox (so it is searchable,
// counted, moderated), that records its parent (InReplyTo) and the
// parent's author (InReplyToAuthor): consumers need no read of the
// parent, which may be deleted since (a deleted parent leaves its replies
// standing).
//
// The reply rule (as Mastodon's and Twitter's home timelines): a reply
// goes into follower F's home feed only if F also follows the parent's
// author, or F is the parent's author. A reply to oneself (a thread)
// reaches every follower. Every path that fills a feed applies it:
//
//   - fan-out asks once per page of the author's followers which of them
//     follow each parent's author (Graph.FollowersAmong), never once per
//     follower;
//   - a follow's merge (and an unmute's) asks once which of the merged
//     replies' parent authors the follower follows (Graph.FolloweesAmong);
//   - a feed rebuild reads the user's followees first and filters with
//     that set, with no further read;
//   - a feed read applies it to its page (one FolloweesAmong, only when
//     the page holds replies to a third user): the celebrity read-time
//     merge gets it there, and a reply stays out once its reader stops
//     following the parent's author.
//
// The parent's author is notified (NotifyReply), keyed by the reply's ID,
// so a redelivery rewrites the same row; not for a reply to oneself, nor
// across a block, nor from a user the parent's author mutes.
//
// Reply counts are read from the store's reply index (Replies), one
// batched read per page of posts, like like counts: the index holds the
// live replies, so a count is exact and no redelivery makes it drift.

// NotifyReply is the kind of a reply's notification.
const NotifyReply = "reply"

// replyParent is the post author may reply to: one it can see
// (ErrNotFound otherwise) and not across a block with its author either
// way (ErrForbidden, as a like).
func (s *Service) replyParent(ctx context.Context, author string, parent ID) (Post, error) {
	p, err := s.GetPost(ctx, author, parent)
	if err != nil {
		return Post{}, err
	}
	blocked, err := blockedEither(ctx, s.Graph, author, p.Author)
	if err != nil {
		return Post{}, fmt.Errorf("reply to %s: %w", parent, err)
	}
	if blocked {
		return Post{}, fmt.Errorf("%w: you and %s block each other (either way); the post cannot be replied to", ErrForbidden, p.Author)
	}
	return p, nil
}

// RepliesTo pages through the direct replies to parent, oldest first (a
// conversation reads down); the cursor is the last reply ID seen. The
// parent must be one reader can see (ErrNotFound) and not across a block
// with its author (ErrForbidden, as for replying). Replies deleted or
// moderated are not listed, nor those of users on either side of a block
// with reader or muted by it: a page may be short while the cursor is set.
func (s *Service) RepliesTo(ctx context.Context, reader string, parent ID, cursor string, limit int) ([]Post, string, error) {
	after, err := parseCursor(cursor)
	if err != nil {
		return nil, "", err
	}
	if _, err := s.replyParent(ctx, reader, parent); err != nil {
		return nil, "", err
	}
	if s.Replies == nil {
		return nil, "", fmt.Errorf("replies to %s: %w: no reply index", parent, ErrUnavailable)
	}
	ids, err := s.Replies.Replies(ctx, parent, after, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("replies to %s: %w", parent, err)
	}
	ids, next := cutPage(ids, limit, func(id ID) ID { return id })
	if len(ids) == 0 {
		return []Post{}, next, nil
	}
	posts, err := s.Posts.GetPosts(ctx, ids)
	if err != nil {
		return nil, "", fmt.Errorf("replies to %s: %w", parent, err)
	}
	hidden, err := s.readHidden(ctx, reader)
	if err != nil {
		return nil, "", fmt.Errorf("replies to %s: %w", parent, err)
	}
	out := make([]Post, 0, len(ids))
	for _, id := range ids {
		if p, ok := posts[id]; ok && p.VisibleTo(reader) && p.Moderated == "" && !hidden.Has(p.Author) {
			out = append(out, p)
		}
	}
	return out, next, nil
}

// needsParentFollow reports whether reply p reaches reader's feed only if
// reader follows the parent's author: p replies to someone other than its
// author and reader.
func needsParentFollow(p Post, reader string) bool {
	return p.IsReply() && p.InReplyToAuthor != "" && p.InReplyToAuthor != p.Author && p.InReplyToAuthor != reader
}

// replyRule is applyReplyRule on a page for reader; a read that may
// degrade goes on without the graph, leaving out the replies the rule
// would have checked.
func (s *Service) replyRule(ctx context.Context, reader string, posts []Post, hidden HiddenSet) ([]Post, error) {
	out, err := applyReplyRule(ctx, s.Graph, reader, posts, hidden)
	if err != nil && Degrade(ctx, err, DegradedReplies) {
		return slices.DeleteFunc(posts, func(p Post) bool { return needsParentFollow(p, reader) }), nil
	}
	return out, err
}

// applyReplyRule keeps of posts (a page of reader's feed, or a followee's
// posts merged into it) those the reply rule lets into reader's feed: one
// FolloweesAmong read, and none when no post replies to a third user. A
// parent's author in hidden (reader's blocks either way and mutes, when
// the caller has them) counts as not followed: a follow stored across a
// block (its LWT's outcome unknown as the block read the graph) is never
// used, and replies to a muted user stay out, as in Mastodon.
func applyReplyRule(ctx context.Context, g Graph, reader string, posts []Post, hidden HiddenSet) ([]Post, error) {
	var parents []string
	for _, p := range posts {
		if needsParentFollow(p, reader) && !slices.Contains(parents, p.InReplyToAuthor) {
			parents = append(parents, p.InReplyToAuthor)
		}
	}
	if len(parents) == 0 {
		return posts, nil
	}
	followed, err := g.FolloweesAmong(ctx, reader, parents)
	if err != nil {
		return nil, fmt.Errorf("reply rule for %s: %w", reader, err)
	}
	return slices.DeleteFunc(posts, func(p Post) bool {
		return needsParentFollow(p, reader) && (!slices.Contains(followed, p.InReplyToAuthor) || hidden.Has(p.InReplyToAuthor))
	}), nil
}

// replyAudience applies the reply rule in fan-out, to pages of an
// author's followers: for each page, one FollowersAmong read per distinct
// parent author (other than the author) among the posts. It applies the
// repost rules too (repost.go): one RepostsHiddenAmong read per page when
// the posts hold reposts, and the hidden sets of the reposted authors,
// read once for all pages.
type replyAudience struct {
	g       Graph
	posts   []Post
	parents []string
	// follows holds, for the current page, the followers following each
	// parent author.
	follows map[string]map[string]bool

	author  string
	reposts Reposts
	// origHidden is the hidden set of each reposted author (other than
	// author) among the posts; nil without reposts.
	origHidden map[string]HiddenSet
	// noReposts holds, for the current page, the followers hiding
	// author's reposts.
	noReposts map[string]bool
}

// newReplyAudience is the audience of ps (posts of author, in fan-out
// order), nil when every follower gets every post (no reply to another
// user and no repost among them). r may be nil (no repost settings).
func newReplyAudience(ctx context.Context, g Graph, r Reposts, author string, ps []Post, now time.Time) (*replyAudience, error) {
	a := &replyAudience{g: g, posts: ps, author: author, reposts: r}
	for _, p := range ps {
		if needsParentFollow(p, author) && !slices.Contains(a.parents, p.InReplyToAuthor) {
			a.parents = append(a.parents, p.InReplyToAuthor)
		}
		if p.IsRepost() {
			if a.origHidden == nil {
				a.origHidden = map[string]HiddenSet{}
			}
			if _, ok := a.origHidden[p.RepostOfAuthor]; !ok && p.RepostOfAuthor != author && p.RepostOfAuthor != "" {
				// Followers across a block with the original's author,
				// or muting it, get none of its reposts.
				h, _, err := ReadHiddenSet(ctx, g, p.RepostOfAuthor, MutingUser, now)
				if err != nil {
					return nil, fmt.Errorf("hidden set of %s: %w", p.RepostOfAuthor, err)
				}
				a.origHidden[p.RepostOfAuthor] = h
			}
		}
	}
	if len(a.parents) == 0 && a.origHidden == nil {
		return nil, nil
	}
	return a, nil
}

// page reads, for a page of followers, which of them follow each parent
// author and which hide the author's reposts.
func (a *replyAudience) page(ctx context.Context, followers []string) error {
	if a.origHidden != nil && a.reposts != nil {
		off, err := a.reposts.RepostsHiddenAmong(ctx, a.author, followers)
		if err != nil {
			return fmt.Errorf("followers of %s hiding its reposts: %w", a.author, err)
		}
		a.noReposts = make(map[string]bool, len(off))
		for _, u := range off {
			a.noReposts[u] = true
		}
	}
	a.follows = make(map[string]map[string]bool, len(a.parents))
	for _, parent := range a.parents {
		users, err := a.g.FollowersAmong(ctx, parent, followers)
		if err != nil {
			return fmt.Errorf("followers of %s among a page: %w", parent, err)
		}
		set := make(map[string]bool, len(users))
		for _, u := range users {
			set[u] = true
		}
		a.follows[parent] = set
	}
	return nil
}

// gets reports whether follower u (of the current page) gets post i.
func (a *replyAudience) gets(i int, u string) bool {
	p := a.posts[i]
	if p.IsRepost() {
		return !a.noReposts[u] && !a.origHidden[p.RepostOfAuthor].Has(u)
	}
	return !needsParentFollow(p, u) || a.follows[p.InReplyToAuthor][u]
}

// notifyReply notifies the parent's author of reply p, which the caller
// found live and not moderated; hidden is the reply author's hidden set
// (blocks either way, and the users who mute it).
func (n *Notifier) notifyReply(ctx context.Context, p Post, hidden HiddenSet) error {
	to := p.InReplyToAuthor
	if !p.IsReply() || to == "" || to == p.Author || hidden.Has(to) {
		return nil
	}
	// Keyed by the reply's ID: a redelivery rewrites the same row, and the
	// reply's deletion or moderation removes it with its mentions.
	err := n.Notifications.AddNotification(ctx, Notification{
		ID: p.ID, User: to, Kind: NotifyReply, Actor: p.Author, Post: p.ID, CreatedAt: p.CreatedAt,
	})
	if err != nil {
		return fmt.Errorf("notify reply %s to %s: %w", p.ID, to, err)
	}
	n.signal(ctx, to)
	return nil
}
