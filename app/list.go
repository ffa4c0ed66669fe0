package app

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/sync/errgroup"
)

// Lists (issue #24, the last piece of the social graph). A user makes named
// lists of accounts and reads a list's timeline: its members' own posts,
// newest first, hidden as the home feed hides them.
//
// A list timeline is merged on read, never fanned out on write: a list is
// read far less than it would be written to (every post of every member of
// every list it is on), and a read needs no new consumer, event nor cache.
// A page reads each member's newest posts below the cursor (one
// AuthorPosts per member, MaxListMembers at most, listFeedReaders at a
// time) and keeps the newest limit: every source is cut at the same
// cursor, so pages stay exact across the merge, as the celebrity merge's
// do (feed.go).
//
// Only the owner sees or changes a list: the store keeps it under its
// owner, so another user asking for it finds nothing (404, never 403, so
// a list's existence does not leak). Nothing is announced: members are
// not told, and lists need no outbox.
//
// A block between the owner and a member, either way, keeps the member
// stored but hides its posts (the owner's hidden set, as in the home feed,
// with the owner's mutes); adding a member across a block is 403, as for a
// follow.

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
// owner has no such list).
func (s *Service) DeleteList(ctx context.Context, owner string, id ID) error {
	if _, err := s.GetList(ctx, owner, id); err != nil {
		return err
	}
	if err := s.Lists.DeleteList(ctx, owner, id); err != nil {
		return fmt.Errorf("delete list %s: %w", id, err)
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
		return fmt.Errorf("add %s to list %s: %w", member, id, err)
	}
	return nil
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
	if err := s.Lists.RemoveListMember(ctx, owner, id, member); err != nil {
		return fmt.Errorf("remove %s from list %s: %w", member, id, err)
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
// may be short after hiding while next_cursor is set.
func (s *Service) ReadListFeed(ctx context.Context, owner string, id ID, cursor string, limit int) (FeedPage, error) {
	before, err := parseCursor(cursor)
	if err != nil {
		return FeedPage{}, err
	}
	if _, err := s.GetList(ctx, owner, id); err != nil {
		return FeedPage{}, err
	}
	var members []string
	for after := ""; ; {
		// Past the cap by a race, a list still reads a bounded page.
		page, err := s.Lists.ListMembers(ctx, owner, id, after, MaxListMembers)
		if err != nil {
			return FeedPage{}, fmt.Errorf("list feed %s: members: %w", id, err)
		}
		members = append(members, page...)
		if len(page) < MaxListMembers || len(members) >= 2*MaxListMembers {
			break
		}
		after = page[len(page)-1]
	}
	// One read of the owner's blocks and mutes per page, as the home
	// feed's: its hidden members cost no read of their posts.
	hidden, err := s.readHidden(ctx, owner)
	if err != nil {
		return FeedPage{}, fmt.Errorf("list feed %s: %w", id, err)
	}
	members = slices.DeleteFunc(members, hidden.Has)

	pages := make([][]Post, len(members))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(listFeedReaders)
	for i, m := range members {
		g.Go(func() error {
			posts, err := s.Posts.AuthorPosts(gctx, m, before, limit+1)
			if err != nil {
				return fmt.Errorf("list feed %s: posts of %s: %w", id, m, err)
			}
			pages[i] = posts
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return FeedPage{}, err
	}
	var merged []Post
	for _, p := range pages {
		merged = append(merged, p...)
	}
	// Each post has one author, so the sources share no post.
	slices.SortFunc(merged, func(a, b Post) int { return cmp.Compare(b.ID, a.ID) })
	merged, next := cutPage(merged, limit, func(p Post) ID { return p.ID })

	items := slices.DeleteFunc(merged, func(p Post) bool { return !p.VisibleTo(owner) || hidden.Has(p.Author) })
	if items, err = applyReplyRule(ctx, s.Graph, owner, items, hidden); err != nil {
		return FeedPage{}, fmt.Errorf("list feed %s: %w", id, err)
	}
	if items, err = s.applyRepostRules(ctx, owner, items, hidden); err != nil {
		return FeedPage{}, fmt.Errorf("list feed %s: %w", id, err)
	}
	return FeedPage{Items: nonNilPosts(items), NextCursor: next}, nil
}

func nonNilPosts(p []Post) []Post {
	if p == nil {
		return []Post{}
	}
	return p
}
