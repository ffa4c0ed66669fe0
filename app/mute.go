package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// Mutes (issue #24, second slice). A mute is an edge muter -> muted, for
// a while or until unmuted, saved with its user.muted event through the
// outbox on the follows topic, like a block. Unlike a block it is one
// way and ends no follow. While it is active:
//
//   - fan-out writes none of the muted user's posts into the muter's feed
//     (the author's "muted by" set is read with its block set, once per
//     post or batch: ReadHiddenSet);
//   - feed reads, rebuilds and the celebrity merge drop the muted user's
//     posts (the reader's mutes are read with its block set, once per
//     page);
//   - fan-out's user.muted takes the muted user's posts out of the
//     muter's feed as an unfollow would, and records the pair as
//     unfollowed, so that a post in flight (fanned out from a follower
//     list read before the mute) is taken back;
//   - a mention of the muter by the muted user notifies nobody.
//
// Unmuting (user.unmuted) merges the muted user's posts back into the
// muter's feed, as a follow does, if the muter still follows them.
//
// A mute with a duration expires: from ExpiresAt every filter ignores it.
// The first read in the api that meets an expired mute (a feed read, a
// rebuild, GET /v1/mutes) expires it through the normal path: ExpireMute
// removes it, unless it was made again since, with its user.unmuted event,
// and fan-out's handling of that event merges the posts back. Fan-out
// ignores expired mutes but does not expire them (its role issues no
// event IDs): the muter's next feed read does.

// MaxMutes caps how many users one user may mute, and bounds the mute
// side of a hidden-set read (ReadHiddenSet).
const MaxMutes = 10_000

// MaxMuteDuration is the longest a mute may be given a duration for; a
// mute without one lasts until unmuted.
const MaxMuteDuration = 365 * 24 * time.Hour

// Mute makes muter mute muted, for d (0: until unmuted), and announces
// it. Muting again replaces the expiry; it is announced again only when
// it changed.
func (s *Service) Mute(ctx context.Context, muter, muted string, d time.Duration) error {
	if muter == muted {
		return fmt.Errorf("%w: a user cannot mute themselves", ErrInvalid)
	}
	if d < 0 || d > MaxMuteDuration {
		return fmt.Errorf("%w: a mute's duration must be positive and at most %s (365 days)", ErrInvalid, MaxMuteDuration)
	}
	if err := s.RequireUser(ctx, muted); err != nil {
		return err
	}
	if err := s.checkMutingCap(ctx, muter, muted); err != nil {
		return err
	}
	m := Mute{Muter: muter, Muted: muted}
	if d > 0 {
		// Kept to the millisecond, as the stores keep it.
		m.ExpiresAt = s.now().Add(d).UTC().Truncate(time.Millisecond)
	}
	rec, err := s.muteRecord(ctx, UserMuted, m)
	if err != nil {
		return err
	}
	changed, err := s.Graph.Mute(ctx, m, rec)
	s.hidden.forget(muter, muted) // even on error: it may have landed
	if err != nil {
		return fmt.Errorf("mute: %w", err)
	}
	if changed {
		s.dispatch(ctx, rec)
	}
	return nil
}

// Unmute removes the mute and announces it; fan-out then merges the
// muted user's posts back into the muter's feed. Unmuting a user not
// muted is harmless.
func (s *Service) Unmute(ctx context.Context, muter, muted string) error {
	if muter == muted {
		return fmt.Errorf("%w: a user cannot unmute themselves", ErrInvalid)
	}
	if err := s.RequireUser(ctx, muted); err != nil {
		return err
	}
	rec, err := s.muteRecord(ctx, UserUnmuted, Mute{Muter: muter, Muted: muted})
	if err != nil {
		return err
	}
	changed, err := s.Graph.Unmute(ctx, muter, muted, rec)
	s.hidden.forget(muter, muted)
	if err != nil {
		return fmt.Errorf("unmute: %w", err)
	}
	if changed {
		s.dispatch(ctx, rec)
	}
	return nil
}

// Muting pages through the mutes user made that are active; the expired
// ones it meets are expired (expireMutes), so a page may hold fewer than
// limit while more follow.
func (s *Service) Muting(ctx context.Context, user, cursor string, limit int) ([]Mute, string, error) {
	mutes, next, err := s.Graph.Muting(ctx, user, cursor, limit)
	if err != nil {
		return nil, "", fmt.Errorf("mutes of %s: %w", user, err)
	}
	now := s.now()
	active := mutes[:0]
	var expired []Mute
	for _, m := range mutes {
		if m.Active(now) {
			active = append(active, m)
		} else {
			expired = append(expired, m)
		}
	}
	s.expireMutes(ctx, expired)
	return active, next, nil
}

// expireMutes removes expired mutes a read met, each with its
// user.unmuted event (carrying the expiry), so that fan-out merges the
// muted users' posts back. It is best effort: the read that met them
// ignores them already, and the next one tries again.
func (s *Service) expireMutes(ctx context.Context, expired []Mute) {
	for _, m := range expired {
		if err := s.expireMute(ctx, m); err != nil {
			s.logger().Warn("expired mute not removed; the next read retries", "muter", m.Muter, "muted", m.Muted, "err", err)
		}
	}
}

func (s *Service) expireMute(ctx context.Context, m Mute) error {
	rec, err := s.muteRecord(ctx, UserUnmuted, m)
	if err != nil {
		return err
	}
	changed, err := s.Graph.ExpireMute(ctx, m, rec)
	s.hidden.forget(m.Muter, m.Muted)
	if err != nil {
		return fmt.Errorf("expire mute %s -> %s: %w", m.Muter, m.Muted, err)
	}
	if changed {
		s.dispatch(ctx, rec)
	}
	return nil
}

// checkMutingCap refuses a new mute past MaxMutes (ErrLimit), as
// checkBlockingCap does for blocks.
func (s *Service) checkMutingCap(ctx context.Context, muter, muted string) error {
	mutes, _, err := s.Graph.Muting(ctx, muter, "", MaxMutes)
	if err != nil {
		return fmt.Errorf("mute: count mutes: %w", err)
	}
	if len(mutes) < MaxMutes {
		return nil
	}
	if _, already, err := s.Graph.GetMute(ctx, muter, muted); err != nil || already {
		return err
	}
	return fmt.Errorf("%w: %s mutes %d users, the most one may mute; unmute someone first", ErrLimit, muter, MaxMutes)
}

func (s *Service) muteRecord(ctx context.Context, typ string, m Mute) (OutboxRecord, error) {
	id, err := s.IDs.Next()
	if err != nil {
		return OutboxRecord{}, fmt.Errorf("%s: %w", typ, err)
	}
	ev := WithTrace(ctx, Event{ID: typ + ":" + id.String(), Type: typ, Time: s.now(), Mute: &m})
	return NewOutboxRecord(id, ev), nil
}

// mutedNow reports whether muter has an active mute of muted at now.
func mutedNow(ctx context.Context, g Graph, muter, muted string, now time.Time) (bool, error) {
	m, ok, err := g.GetMute(ctx, muter, muted)
	if err != nil {
		return false, fmt.Errorf("check mute %s -> %s: %w", muter, muted, err)
	}
	return ok && m.Active(now), nil
}

func (s *Service) logger() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.New(slog.DiscardHandler)
}
