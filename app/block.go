package app

import (
	"context"
	"fmt"
	"slices"
	"time"

	"golang.org/x/sync/errgroup"
)

// Blocks (issue #24, first slice). A block is an edge blocker -> blocked,
// saved with its user.blocked event through the outbox like a follow. It
// ends the follows in both directions (each unfollow with its own
// user.unfollowed event), and from then on:
//
//   - neither may follow the other (the blocked user gets 403; so does the
//     blocker, who must unblock first);
//   - fan-out writes no post of one into the other's feed (the author's
//     block set, both directions, is read once per post or batch);
//   - feed reads drop the posts of users the reader blocks or is blocked
//     by (one read of the reader's block set per read);
//   - fan-out's user.blocked takes each one's posts out of the other's
//     feed, and records the pair as unfollowed both ways (Unfollows), so
//     a post in flight, fanned out from a follower list read before the
//     block, is taken back as after an unfollow;
//   - a mention across the pair notifies nobody.
//
// Unblocking brings no follow back.

// MaxBlocks caps how many users one user may block, and bounds each side
// of a block set read (ReadHiddenSet): the set is read whole, once per
// fan-out of a post and once per feed read.
const MaxBlocks = 10_000

// Block makes blocker block blocked, announces it, and ends the follows
// between them both ways. Blocking again is harmless, and finishes the
// unfollows a failed earlier call left undone.
func (s *Service) Block(ctx context.Context, blocker, blocked string) error {
	if blocker == blocked {
		return fmt.Errorf("%w: a user cannot block themselves", ErrInvalid)
	}
	if err := s.RequireUser(ctx, blocked); err != nil {
		return err
	}
	if err := s.checkBlockingCap(ctx, blocker, blocked); err != nil {
		return err
	}
	rec, err := s.blockRecord(ctx, UserBlocked, blocker, blocked)
	if err != nil {
		return err
	}
	// The block goes first: from now on a follow either way is refused
	// (or, if its check ran just before, undone by its own re-check, see
	// Follow), so the unfollows below leave no edge behind.
	changed, err := s.Graph.Block(ctx, blocker, blocked, rec)
	s.hidden.forget(blocker, blocked) // even on error: it may have landed
	if err != nil {
		return fmt.Errorf("block: %w", err)
	}
	if changed {
		s.dispatch(ctx, rec)
	}
	for _, f := range []Follow{{Follower: blocker, Followee: blocked}, {Follower: blocked, Followee: blocker}} {
		if err := s.endFollow(ctx, f); err != nil {
			return fmt.Errorf("block: %w", err)
		}
	}
	return nil
}

// endFollow removes the edge f if it exists, with its user.unfollowed
// event, so that every view of the follow ends as after an unfollow. A
// missing edge costs one read and writes nothing.
func (s *Service) endFollow(ctx context.Context, f Follow) error {
	following, err := s.Graph.IsFollowing(ctx, f.Follower, f.Followee)
	if err != nil || !following {
		return err
	}
	rec, err := s.followRecord(ctx, UserUnfollowed, f.Follower, f.Followee)
	if err != nil {
		return err
	}
	removed, err := s.Graph.Unfollow(ctx, f.Follower, f.Followee, rec)
	if err != nil {
		return fmt.Errorf("unfollow %s -> %s: %w", f.Follower, f.Followee, err)
	}
	if removed {
		s.dispatch(ctx, rec)
	}
	return nil
}

// Unblock removes the block and announces it; it brings no follow back.
// Unblocking a user not blocked is harmless.
func (s *Service) Unblock(ctx context.Context, blocker, blocked string) error {
	if blocker == blocked {
		return fmt.Errorf("%w: a user cannot unblock themselves", ErrInvalid)
	}
	if err := s.RequireUser(ctx, blocked); err != nil {
		return err
	}
	// A follow that raced the block and was not undone (its request
	// failed or its process died before its re-check) must not come back
	// to life with the unblock: unblocking brings no follow back.
	for _, f := range []Follow{{Follower: blocker, Followee: blocked}, {Follower: blocked, Followee: blocker}} {
		if err := s.endFollow(ctx, f); err != nil {
			return fmt.Errorf("unblock: %w", err)
		}
	}
	rec, err := s.blockRecord(ctx, UserUnblocked, blocker, blocked)
	if err != nil {
		return err
	}
	changed, err := s.Graph.Unblock(ctx, blocker, blocked, rec)
	s.hidden.forget(blocker, blocked)
	if err != nil {
		return fmt.Errorf("unblock: %w", err)
	}
	if changed {
		s.dispatch(ctx, rec)
	}
	return nil
}

// Blocking pages through the users user blocks.
func (s *Service) Blocking(ctx context.Context, user, cursor string, limit int) ([]string, string, error) {
	users, next, err := s.Graph.Blocking(ctx, user, cursor, limit)
	if err != nil {
		return nil, "", fmt.Errorf("blocks of %s: %w", user, err)
	}
	return users, next, nil
}

// checkBlockingCap refuses a new block past MaxBlocks (ErrLimit), as
// checkFollowingCap does for follows.
func (s *Service) checkBlockingCap(ctx context.Context, blocker, blocked string) error {
	blocking, _, err := s.Graph.Blocking(ctx, blocker, "", MaxBlocks)
	if err != nil {
		return fmt.Errorf("block: count blocks: %w", err)
	}
	if len(blocking) < MaxBlocks {
		return nil
	}
	already, err := s.Graph.IsBlocked(ctx, blocker, blocked)
	if err != nil {
		return fmt.Errorf("block: %w", err)
	}
	if already {
		return nil
	}
	return fmt.Errorf("%w: %s blocks %d users, the most one may block; unblock someone first", ErrLimit, blocker, MaxBlocks)
}

// checkNotBlocked refuses a follow across a block, either way, with
// ErrForbidden (403): the blocked user may not follow the blocker, and the
// blocker must unblock before following the blocked.
func checkNotBlocked(ctx context.Context, g Graph, follower, followee string) error {
	blocked, err := g.IsBlocked(ctx, followee, follower)
	if err != nil {
		return fmt.Errorf("follow: %w", err)
	}
	if blocked {
		return fmt.Errorf("%w: %s has blocked you", ErrForbidden, followee)
	}
	blocking, err := g.IsBlocked(ctx, follower, followee)
	if err != nil {
		return fmt.Errorf("follow: %w", err)
	}
	if blocking {
		return fmt.Errorf("%w: you block %s; unblock them first", ErrForbidden, followee)
	}
	return nil
}

func (s *Service) blockRecord(ctx context.Context, typ, blocker, blocked string) (OutboxRecord, error) {
	id, err := s.IDs.Next()
	if err != nil {
		return OutboxRecord{}, fmt.Errorf("%s: %w", typ, err)
	}
	ev := WithTrace(ctx, Event{ID: typ + ":" + id.String(), Type: typ, Time: s.now(),
		Block: &Block{Blocker: blocker, Blocked: blocked}})
	return NewOutboxRecord(id, ev), nil
}

// HiddenSet is, for one user, the users whose posts are kept apart from
// it: those on either side of its blocks, and those on one side of its
// active mutes (see ReadHiddenSet). A nil set is empty.
type HiddenSet map[string]bool

// Has reports whether user is in the set.
func (h HiddenSet) Has(user string) bool { return h[user] }

// MuteSide is which side of a user's mutes a hidden set holds: mutes are
// one-directional, blocks are not.
type MuteSide int

const (
	// NoMutes: the block set only.
	NoMutes MuteSide = iota
	// MutedByUser: the users user mutes, whose posts its feed drops (feed
	// reads and rebuilds).
	MutedByUser
	// MutingUser: the users who mute user, whom its posts skip (fan-out)
	// and its mentions do not notify.
	MutingUser
)

// ReadHiddenSet reads user's hidden set in one pass: its block set (two
// listings, each bounded by MaxBlocks) and one side of its mutes (one
// listing, bounded by MaxMutes). A user past either bound is still kept
// out of the feeds by the user.blocked and user.muted events' removals,
// only not filtered again. Mutes not active at now are left out of the
// set and returned as expired, for the caller to expire
// (Service.expireMutes) or ignore. It is the one read fan-out makes per
// post (or batch), and a feed read per page; the result may be cached by
// the caller.
func ReadHiddenSet(ctx context.Context, g Graph, user string, side MuteSide, now time.Time) (HiddenSet, []Mute, error) {
	// The listings go at once: on a post's way to its followers, and on a
	// feed read, their latencies would otherwise add up.
	var blocking, blockedBy []string
	var mutes []Mute
	grp, gctx := errgroup.WithContext(ctx)
	grp.Go(func() (err error) {
		if blocking, err = readAll(gctx, user, g.Blocking, MaxBlocks); err != nil {
			return fmt.Errorf("block set of %s: %w", user, err)
		}
		return nil
	})
	grp.Go(func() (err error) {
		if blockedBy, err = readAll(gctx, user, g.BlockedBy, MaxBlocks); err != nil {
			return fmt.Errorf("block set of %s: %w", user, err)
		}
		return nil
	})
	if side != NoMutes {
		list := g.Muting
		if side == MutingUser {
			list = g.MutedBy
		}
		grp.Go(func() (err error) {
			if mutes, err = readAll(gctx, user, list, MaxMutes); err != nil {
				return fmt.Errorf("mutes of %s: %w", user, err)
			}
			return nil
		})
	}
	if err := grp.Wait(); err != nil {
		return nil, nil, err
	}
	set := make(HiddenSet, len(blocking)+len(blockedBy)+len(mutes))
	for _, u := range slices.Concat(blocking, blockedBy) {
		set[u] = true
	}
	var expired []Mute
	for _, m := range mutes {
		other := m.Muted
		if side == MutingUser {
			other = m.Muter
		}
		if m.Active(now) {
			set[other] = true
		} else {
			expired = append(expired, m)
		}
	}
	return set, expired, nil
}

// readAll reads user's whole listing, at most max items, 1,000 a page.
func readAll[T any](ctx context.Context, user string, list func(context.Context, string, string, int) ([]T, string, error), max int) ([]T, error) {
	var all []T
	err := forEachPage(ctx, func(cursor string) ([]T, string, error) {
		return list(ctx, user, cursor, 1000)
	}, max, func(items []T) error {
		all = append(all, items...)
		return nil
	})
	return all, err
}

// blockedEither reports whether a and b block each other in either
// direction.
func blockedEither(ctx context.Context, g Graph, a, b string) (bool, error) {
	for _, p := range [][2]string{{a, b}, {b, a}} {
		blocked, err := g.IsBlocked(ctx, p[0], p[1])
		if err != nil || blocked {
			return blocked, err
		}
	}
	return false, nil
}

// DropBlocked removes from posts those of users on either side of a block
// with reader (search results: issue #24), with one read of its block set.
func (s *Service) DropBlocked(ctx context.Context, reader string, posts []Post) ([]Post, error) {
	if len(posts) == 0 {
		return posts, nil
	}
	blocks, _, err := s.hiddenSet(ctx, reader, NoMutes)
	if err != nil {
		return nil, fmt.Errorf("blocks of %s: %w", reader, err)
	}
	return slices.DeleteFunc(posts, func(p Post) bool { return blocks.Has(p.Author) }), nil
}
