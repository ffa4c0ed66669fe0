package cassandra

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gocql/gocql"

	"github.com/feedsvc/feedsvc/app"
)

// Mutes live in two tables (migration 9), like blocks: mutes, one
// partition per muter (whom it mutes: a feed read's side), and muted_by,
// one partition per muted user (who mutes it: fan-out's side), each row
// with the expiry (null: none).
//
// They are written as blocks are (blocks.go): plain writes at the
// timestamp of the change's record ID, the record first, the rows after
// it, and the relay completes a record by writing its change again at
// that timestamp, so the later change wins however often either is
// written. A mute with an expiry also gets a TTL of muteGrace past it:
// the rows of a mute that expired without any read meeting it go away by
// themselves. By then the muter's feed, unread that long, has expired
// too (--feed-inactive-after, 30 days) and is rebuilt without the mute.
//
// ExpireMute deletes at the write time of the expired mute's cells: a
// tombstone wins over a write of the same timestamp only, so a mute made
// again since (a later timestamp) stays. Its record needs no completion:
// an expired mute left behind is ignored, and expired again by the next
// read that meets it.

// muteGrace is how long after its expiry a mute's rows are kept.
const muteGrace = 90 * 24 * time.Hour

// Mute implements app.Graph.
func (s *Store) Mute(ctx context.Context, m app.Mute, out ...app.OutboxRecord) (_ bool, err error) {
	ctx, end := s.bound(ctx)
	defer func() { err = end(err) }()
	m.ExpiresAt = m.ExpiresAt.Truncate(time.Millisecond)
	old, existed, err := s.getMute(ctx, m.Muter, m.Muted)
	if err != nil {
		return false, fmt.Errorf("cassandra: mute %s -> %s: %w", m.Muter, m.Muted, err)
	}
	changed := !existed || !old.ExpiresAt.Equal(m.ExpiresAt)
	return s.changeMute(ctx, "mute", m, true, changed, out)
}

// Unmute implements app.Graph.
func (s *Store) Unmute(ctx context.Context, muter, muted string, out ...app.OutboxRecord) (_ bool, err error) {
	ctx, end := s.bound(ctx)
	defer func() { err = end(err) }()
	_, existed, err := s.getMute(ctx, muter, muted)
	if err != nil {
		return false, fmt.Errorf("cassandra: unmute %s -> %s: %w", muter, muted, err)
	}
	return s.changeMute(ctx, "unmute", app.Mute{Muter: muter, Muted: muted}, false, existed, out)
}

// changeMute writes the record when changed, then the rows (also when
// not: that puts right a muted_by row an earlier call's partly applied
// batch left behind).
func (s *Store) changeMute(ctx context.Context, what string, m app.Mute, present, changed bool, out []app.OutboxRecord) (bool, error) {
	if changed {
		if err := s.writeOutbox(ctx, out); err != nil {
			return false, fmt.Errorf("cassandra: %s %s -> %s: %w", what, m.Muter, m.Muted, err)
		}
	}
	stamp := time.Now().UnixMicro()
	if len(out) > 0 {
		stamp = blockStamp(out[0].ID)
	}
	if err := s.writeMute(ctx, m, present, stamp); err != nil {
		return false, failf("cassandra: %s %s -> %s: %w", what, m.Muter, m.Muted, err)
	}
	return changed, nil
}

// writeMute writes (or deletes) both rows of m at stamp.
func (s *Store) writeMute(ctx context.Context, m app.Mute, present bool, stamp int64) error {
	b := s.unloggedBatch().WithContext(ctx).WithTimestamp(stamp)
	switch {
	case !present:
		b.Query(`DELETE FROM mutes WHERE muter = ? AND muted = ?`, m.Muter, m.Muted)
		b.Query(`DELETE FROM muted_by WHERE muted = ? AND muter = ?`, m.Muted, m.Muter)
	case m.ExpiresAt.IsZero():
		// A null expiry (a tombstone for the cell), and no TTL: it
		// replaces a mute with an expiry, TTL included.
		b.Query(`INSERT INTO mutes (muter, muted, expires_at) VALUES (?, ?, ?)`, m.Muter, m.Muted, nil)
		b.Query(`INSERT INTO muted_by (muted, muter, expires_at) VALUES (?, ?, ?)`, m.Muted, m.Muter, nil)
	default:
		ttl := int(time.Until(m.ExpiresAt.Add(muteGrace)) / time.Second)
		if ttl <= 0 {
			return nil // gone by now anyway
		}
		b.Query(`INSERT INTO mutes (muter, muted, expires_at) VALUES (?, ?, ?) USING TTL ?`, m.Muter, m.Muted, m.ExpiresAt, ttl)
		b.Query(`INSERT INTO muted_by (muted, muter, expires_at) VALUES (?, ?, ?) USING TTL ?`, m.Muted, m.Muter, m.ExpiresAt, ttl)
	}
	return s.execBatch(b)
}

// completeMute writes the change of a mute or unmute record again, at
// its timestamp: whatever came after it still wins. An unmute by expiry
// (its event carries the expiry) is not written again (see above).
func (s *Store) completeMute(ctx context.Context, r app.OutboxRecord) error {
	m := *r.Event.Mute
	if r.Event.Type == app.UserUnmuted && !m.ExpiresAt.IsZero() {
		return nil
	}
	return s.writeMute(ctx, m, r.Event.Type == app.UserMuted, blockStamp(r.ID))
}

// ExpireMute implements app.Graph.
func (s *Store) ExpireMute(ctx context.Context, m app.Mute, out ...app.OutboxRecord) (_ bool, err error) {
	ctx, end := s.bound(ctx)
	defer func() { err = end(err) }()
	if m.ExpiresAt.IsZero() {
		return false, nil
	}
	var at time.Time
	var stamp int64
	err = s.query(`SELECT expires_at, WRITETIME(expires_at) FROM mutes WHERE muter = ? AND muted = ?`, m.Muter, m.Muted).
		WithContext(ctx).Scan(&at, &stamp)
	if errors.Is(err, gocql.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, failf("cassandra: expire mute %s -> %s: %w", m.Muter, m.Muted, err)
	}
	if !at.Equal(m.ExpiresAt.Truncate(time.Millisecond)) {
		return false, nil // made again since, with another expiry
	}
	if err := s.writeOutbox(ctx, out); err != nil {
		return false, fmt.Errorf("cassandra: expire mute %s -> %s: %w", m.Muter, m.Muted, err)
	}
	if err := s.writeMute(ctx, m, false, stamp); err != nil {
		return false, failf("cassandra: expire mute %s -> %s: %w", m.Muter, m.Muted, err)
	}
	return true, nil
}

// GetMute implements app.Graph.
func (s *Store) GetMute(ctx context.Context, muter, muted string) (_ app.Mute, _ bool, err error) {
	ctx, end := s.bound(ctx)
	defer func() { err = end(err) }()
	return s.getMute(ctx, muter, muted)
}

func (s *Store) getMute(ctx context.Context, muter, muted string) (app.Mute, bool, error) {
	var at time.Time
	err := s.query(`SELECT expires_at FROM mutes WHERE muter = ? AND muted = ?`, muter, muted).WithContext(ctx).Scan(&at)
	if errors.Is(err, gocql.ErrNotFound) {
		return app.Mute{}, false, nil
	}
	if err != nil {
		return app.Mute{}, false, failf("cassandra: get mute %s -> %s: %w", muter, muted, err)
	}
	return app.Mute{Muter: muter, Muted: muted, ExpiresAt: expiryOf(at)}, true, nil
}

// expiryOf is a scanned expiry: gocql scans a null timestamp as the zero
// time.Time, and a set one in UTC.
func expiryOf(at time.Time) time.Time {
	if at.IsZero() {
		return time.Time{}
	}
	return at.UTC()
}

// Muting implements app.Graph. Mutes come in name order of the muted; the
// cursor is the last one returned.
func (s *Store) Muting(ctx context.Context, user, cursor string, limit int) ([]app.Mute, string, error) {
	var name string
	var at time.Time
	return pageRows(s, ctx, `SELECT muted, expires_at FROM mutes WHERE muter = ? AND muted > ? LIMIT ?`, "mutes", user, cursor, limit,
		[]any{&name, &at}, func() (app.Mute, string) {
			return app.Mute{Muter: user, Muted: name, ExpiresAt: expiryOf(at)}, name
		})
}

// MutedBy implements app.Graph, as Muting, in name order of the muters.
func (s *Store) MutedBy(ctx context.Context, user, cursor string, limit int) ([]app.Mute, string, error) {
	var name string
	var at time.Time
	return pageRows(s, ctx, `SELECT muter, expires_at FROM muted_by WHERE muted = ? AND muter > ? LIMIT ?`, "muted by", user, cursor, limit,
		[]any{&name, &at}, func() (app.Mute, string) {
			return app.Mute{Muter: name, Muted: user, ExpiresAt: expiryOf(at)}, name
		})
}
