package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/sync/errgroup"
)

// Lists (issue #24, the last piece of the social graph). A user makes named
// lists of accounts and reads a list's timeline: its members' own posts and
// reposts, newest first, hidden as the home feed hides them.
//
// A list timeline is a feed like a home feed, stored in the FeedCache under
// ListFeed(id): fanned out on write, capped, rebuilt on a miss from the
// members' posts and paged exactly like the home feed, under the same
// rules, with the owner as the reader. Fan-out finds the lists an author
// is in through Lists.ListsOf, one read per batch of the author's posts,
// and writes to the cached ones (an absent list feed is rebuilt on read).
//
// Membership changes are merged into the list feed by the api at once, as
// a follow's merge does for a home feed (applyListChange): a list has one
// reader, who expects to see a member's posts on the next read, and nothing
// else consumes lists, so they need no outbox. The order closes the races
// with fan-out and rebuilds: an add writes the membership before it merges
// (a post the merge does not read is stored later, and its fan-out reads
// ListsOf after the add; an absent feed is rebuilt from members read after
// it); a removal records the pair in Unfollows before it writes (fan-out
// and rebuilds that read the member before take their writes back).
//
// Only the owner sees or changes a list: the store keeps it under its
// owner, so another user asking for it finds nothing (404, never 403, so
// a list's existence does not leak). Members are not told.
//
// A block between the owner and a member, either way, or the owner's mute
// of a member keeps the member stored but takes its posts out of the list
// feed (fan-out's user.blocked and user.muted; reads hide them meanwhile),
// and an unblock or unmute merges them back; adding a member across a
// block is 403, as for a follow.

// Caps of lists. Counting reads the rows, so two concurrent writes may
// pass a cap by one, as for follows (checkFollowingCap).
const (
	// MaxLists is how many lists one user may have.
	MaxLists = 20
	// MaxListMembers is how many members one list may have; it also bounds
	// the reads of a list timeline's page.
	MaxListMembers = 500
	// MaxListNameChars is the longest list name, in Unicode code points
	// after trimming.
	MaxListNameChars = 100
)

// listFeedReaders bounds the members' timelines a list timeline page reads
// at once, as mergeCelebrities bounds its reads.
const listFeedReaders = 16

// List is a user's named list of accounts.
type List struct {
	ID ID `json:"id,string"`
	// Owner is the only user who sees or changes the list; not rendered
	// (only the owner ever reads it).
	Owner     string    `json:"-"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// ListRef names one list: its owner and its ID.
type ListRef struct {
	Owner string
	ID    ID
}

// ListFeed is the FeedCache name of list id's timeline: a feed like a
// home feed, under a name no user can have (user IDs hold no ':').
func ListFeed(id ID) string { return "list:" + id.String() }

// ValidateListName checks a list name and returns it trimmed: valid
// UTF-8, 1..MaxListNameChars characters after trimming spaces, and one
// line (no control characters).
func ValidateListName(name string) (string, error) {
	if !utf8.ValidString(name) {
		return "", fmt.Errorf("%w: name is not valid UTF-8", ErrInvalid)
	}
	t := strings.TrimSpace(name)
	n := utf8.RuneCountInString(t)
	if n == 0 {
		return "", fmt.Errorf("%w: name must not be empty", ErrInvalid)
	}
	if n > MaxListNameChars {
		return "", fmt.Errorf("%w: name has %d characters, the maximum is %d", ErrInvalid, n, MaxListNameChars)
	}
	if strings.ContainsFunc(t, unicode.IsControl) {
		return "", fmt.Errorf("%w: name must be one line, without control characters", ErrInvalid)
	}
	return t, nil
}

func (s *Service) listStore(what string) (Lists, error) {
	if s.Lists == nil {
		return nil, fmt.Errorf("%s: %w: no list store", what, ErrUnavailable)
	}
	return s.Lists, nil
}

// CreateList makes a list named name for owner. Past MaxLists lists it
// is ErrLimit; a bad name is ErrInvalid. Both change nothing.
func (s *Service) CreateList(ctx context.Context, owner, name string) (List, error) {
	store, err := s.listStore("create list")
	if err != nil {
		return List{}, err
	}
	t, err := ValidateListName(name)
	if err != nil {
		return List{}, err
	}
	have, err := store.OwnerLists(ctx, owner, MaxLists)
	if err != nil {
		return List{}, fmt.Errorf("create list: count lists of %s: %w", owner, err)
	}
	if len(have) >= MaxLists {
		return List{}, fmt.Errorf("%w: %s has %d lists, the most one may have; delete one first", ErrLimit, owner, MaxLists)
	}
	id, err := s.IDs.Next()
	if err != nil {
		return List{}, fmt.Errorf("create list: %w", err)
	}
	l := List{ID: id, Owner: owner, Name: t, CreatedAt: id.Time().UTC()}
	if err := store.CreateList(ctx, l); err != nil {
		return List{}, fmt.Errorf("create list of %s: %w", owner, err)
	}
	return l, nil
}

// GetList returns owner's list id; a list of anyone else, or none, is
// ErrNotFound.
func (s *Service) GetList(ctx context.Context, owner string, id ID) (List, error) {
	store, err := s.listStore("get list")
	if err != nil {
		return List{}, err
	}
	l, ok, err := store.GetList(ctx, owner, id)
	if err != nil {
		return List{}, fmt.Errorf("get list %s: %w", id, err)
	}
	if !ok {
		return List{}, fmt.Errorf("list %s: %w", id, ErrNotFound)
	}
	return l, nil
}

// OwnerLists returns owner's lists, oldest first (MaxLists at most, so no
// paging).
func (s *Service) OwnerLists(ctx context.Context, owner string) ([]List, error) {
	store, err := s.listStore("lists")
	if err != nil {
		return nil, err
	}
	// A list made by two concurrent creates past the cap is listed too:
	// read one page more than the cap.
	ls, err := store.OwnerLists(ctx, owner, 2*MaxLists)
	if err != nil {
		return nil, fmt.Errorf("lists of %s: %w", owner, err)
	}
	return ls, nil
}

// RenameList sets the name of owner's list id and returns the list.
func (s *Service) RenameList(ctx context.Context, owner string, id ID, name string) (List, error) {
	t, err := ValidateListName(name)
	if err != nil {
		return List{}, err
	}
	l, err := s.GetList(ctx, owner, id)
	if err != nil {
		return List{}, err
	}
	if err := s.Lists.RenameList(ctx, owner, id, t); err != nil {
		return List{}, fmt.Errorf("rename list %s: %w", id, err)
	}
	l.Name = t
	return l, nil
}

// DeleteList deletes owner's list id with its members (ErrNotFound when
// owner has no such list), then its cached feed. A rebuild racing the
// delete may fill the feed again: no read finds it (the list is gone),
// and it expires unread.
func (s *Service) DeleteList(ctx context.Context, owner string, id ID) error {
	if _, err := s.GetList(ctx, owner, id); err != nil {
		return err
	}
	if err := s.Lists.DeleteList(ctx, owner, id); err != nil {
		return fmt.Errorf("delete list %s: %w", id, err)
	}
	if err := s.Feeds.Drop(ctx, ListFeed(id)); err != nil {
		return fmt.Errorf("delete list %s: drop its feed: %w", id, err)
	}
	return nil
}

// AddListMember adds member to owner's list id: ErrNotFound for a list
// that is not owner's or an unknown member, ErrForbidden across a block
// either way (as for a follow), ErrLimit past MaxListMembers. Adding a
// member already there is harmless, also at the cap.
func (s *Service) AddListMember(ctx context.Context, owner string, id ID, member string) error {
	if _, err := s.GetList(ctx, owner, id); err != nil {
		return err
	}
	if err := s.RequireUser(ctx, member); err != nil {
		return err
	}
	blocked, err := blockedEither(ctx, s.Graph, owner, member)
	if err != nil {
		return fmt.Errorf("add list member: %w", err)
	}
	if blocked {
		return fmt.Errorf("%w: you and %s block each other (either way); they cannot be added to a list", ErrForbidden, member)
	}
	n, err := s.Lists.CountListMembers(ctx, owner, id)
	if err != nil {
		return fmt.Errorf("add list member: count members of %s: %w", id, err)
	}
	if n >= MaxListMembers {
		already, err := s.Lists.IsListMember(ctx, owner, id, member)
		if err != nil {
			return fmt.Errorf("add list member: %w", err)
		}
		if already {
			return nil
		}
		return fmt.Errorf("%w: list %s has %d members, the most a list may have; remove one first", ErrLimit, id, MaxListMembers)
	}
	if err := s.Lists.AddListMember(ctx, owner, id, member); err != nil {
		return fmt.Errorf("add %s to list %s: %w", member, id, s.dropListFeed(ctx, id, err))
	}
	// After the store: see the package comment on the order.
	if err := s.listFanout().addToList(ctx, ListRef{Owner: owner, ID: id}, member); err != nil {
		return fmt.Errorf("add %s to list %s: %w", member, id, s.dropListFeed(ctx, id, err))
	}
	return nil
}

// dropListFeed drops list id's feed after a membership change the store
// took and the feed did not, or one whose store write failed (err) and
// may have landed all the same (a timeout): the next read rebuilds it from
// the members as stored. No event redoes a membership change, so a feed
// left as it was would keep a removed member's posts (deleted ones too:
// their removal looks for the lists the author is in) or lack an added
// one's. If the drop fails too (Redis down), the feed stays
// as it was until it expires or the client's retry merges again.
func (s *Service) dropListFeed(ctx context.Context, id ID, err error) error {
	if derr := s.Feeds.Drop(context.WithoutCancel(ctx), ListFeed(id)); derr != nil {
		return errors.Join(err, fmt.Errorf("drop its feed: %w", derr))
	}
	return err
}

// RemoveListMember removes member from owner's list id (ErrNotFound for a
// list that is not owner's) and an unknown user (ErrNotFound, as every
// route naming a user); removing one not there is harmless, and allowed
// across a block.
func (s *Service) RemoveListMember(ctx context.Context, owner string, id ID, member string) error {
	if _, err := s.GetList(ctx, owner, id); err != nil {
		return err
	}
	if err := s.RequireUser(ctx, member); err != nil {
		return err
	}
	// The pair is recorded before the store changes (see Unfollows), so
	// a dead Redis refuses the removal before anything changed.
	ref := ListRef{Owner: owner, ID: id}
	if err := s.Unfollows.RecordUnfollow(ctx, listFollow(ref, member)); err != nil {
		return fmt.Errorf("remove %s from list %s: %w", member, id, err)
	}
	if err := s.Lists.RemoveListMember(ctx, owner, id, member); err != nil {
		return fmt.Errorf("remove %s from list %s: %w", member, id, s.dropListFeed(ctx, id, err))
	}
	if err := s.listFanout().applyListChange(ctx, ref, member, false); err != nil {
		return fmt.Errorf("remove %s from list %s: %w", member, id, s.dropListFeed(ctx, id, err))
	}
	return nil
}

// ListMembers pages through the members of owner's list id in name order;
// the cursor is the last member of the previous page. Members across a
// block are listed (the owner added them, and may remove them); only
// their posts are hidden.
func (s *Service) ListMembers(ctx context.Context, owner string, id ID, cursor string, limit int) ([]string, string, error) {
	if cursor != "" && !ValidUserID(cursor) {
		return nil, "", fmt.Errorf("%w: bad cursor %q", ErrInvalid, cursor)
	}
	if _, err := s.GetList(ctx, owner, id); err != nil {
		return nil, "", err
	}
	members, err := s.Lists.ListMembers(ctx, owner, id, cursor, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("members of list %s: %w", id, err)
	}
	next := ""
	if len(members) > limit {
		members, next = members[:limit], members[limit-1]
	}
	return members, next, nil
}

// ReadListFeed returns a page of the timeline of owner's list id: the
// members' own posts (and reposts), newest first, with the home feed's
// hiding: the owner's hidden set (blocks either way and its mutes), posts
// deleted or moderated, the reply rule, and the repost rules. The cursor
// is the last post ID of the previous page, as for the home feed; a page
// may be short after hiding while next_cursor is set. A list feed missing
// from the cache is rebuilt first (RebuildListFeed), as a home feed is.
func (s *Service) ReadListFeed(ctx context.Context, owner string, id ID, cursor string, limit int) (FeedPage, error) {
	before, err := parseCursor(cursor)
	if err != nil {
		return FeedPage{}, err
	}
	l, err := s.GetList(ctx, owner, id)
	if err != nil {
		return FeedPage{}, err
	}
	key := ListFeed(id)
	ids, complete, err := s.Feeds.Page(ctx, key, before, limit+1)
	if err != nil {
		return FeedPage{}, fmt.Errorf("read list feed %s: %w", id, err)
	}
	if !complete {
		if err := s.rebuildOnce(ctx, key, func(ctx context.Context) error { return s.RebuildListFeed(ctx, l) }); err != nil {
			return FeedPage{}, err
		}
		if ids, _, err = s.Feeds.Page(ctx, key, before, limit+1); err != nil {
			return FeedPage{}, fmt.Errorf("read rebuilt list feed %s: %w", id, err)
		}
	}
	ids, next := cutPage(ids, limit, func(id ID) ID { return id })
	items, err := s.feedItems(ctx, owner, ids, before == 0)
	if err != nil {
		return FeedPage{}, fmt.Errorf("list feed %s: %w", id, err)
	}
	return FeedPage{Items: items, NextCursor: next}, nil
}

// RebuildListFeed recomputes list l's feed from the store: the newest
// FeedCap posts of its members, under the rules fan-out applies with the
// owner as the reader (members hidden from the owner left out, the reply
// rule, no dead reposts, nothing moderated). It follows RebuildFeed's
// order: prepare, read, fill, then take back what a removal or a post's
// removal took out meanwhile.
func (s *Service) RebuildListFeed(ctx context.Context, l List) error {
	start := time.Now()
	key := ListFeed(l.ID)
	if err := s.Feeds.Prepare(ctx, key); err != nil {
		return fmt.Errorf("rebuild list feed %s: %w", l.ID, err)
	}
	hidden, expired, err := ReadHiddenSet(ctx, s.Graph, l.Owner, MutedByUser, s.now())
	if err != nil {
		return fmt.Errorf("rebuild list feed %s: %w", l.ID, err)
	}
	s.expireMutes(ctx, expired)
	var members []string
	for after := ""; ; {
		// Past the cap by a race, a list still reads a bounded set.
		page, err := s.Lists.ListMembers(ctx, l.Owner, l.ID, after, MaxListMembers)
		if err != nil {
			return fmt.Errorf("rebuild list feed %s: members: %w", l.ID, err)
		}
		members = append(members, page...)
		if len(page) < MaxListMembers || len(members) >= 2*MaxListMembers {
			break
		}
		after = page[len(page)-1]
	}
	members = slices.DeleteFunc(members, hidden.Has)
	byAuthor := make([][]ID, len(members))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(listFeedReaders)
	for i, m := range members {
		g.Go(func() error {
			posts, err := s.Posts.AuthorPosts(gctx, m, 0, s.rebuildDepth())
			if err == nil {
				posts, err = applyReplyRule(gctx, s.Graph, l.Owner, posts, hidden)
			}
			if err == nil {
				// A repost of a post gone or moderated is in no feed.
				posts, err = liveReposts(gctx, s.Posts, posts)
			}
			if err != nil {
				return fmt.Errorf("rebuild list feed %s: posts of %s: %w", l.ID, m, err)
			}
			byAuthor[i] = visibleIDs(nil, posts)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	read := make(map[string][]ID, len(members))
	var ids []ID
	for i, m := range members {
		read[m] = byAuthor[i]
		ids = append(ids, byAuthor[i]...)
	}
	ids = newest(ids, s.rebuildDepth())
	if err := s.Feeds.Fill(ctx, key, ids); err != nil {
		return fmt.Errorf("rebuild list feed %s: %w", l.ID, err)
	}
	s.logger().Info("list feed rebuilt", "list", l.ID, "owner", l.Owner, "members", len(members), "posts", len(ids), "took", time.Since(start))
	return s.afterRebuild(ctx, key, start, read, ids)
}

func nonNilPosts(p []Post) []Post {
	if p == nil {
		return []Post{}
	}
	return p
}
