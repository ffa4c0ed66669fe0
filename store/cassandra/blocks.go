package cassandra

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gocql/gocql"

	"github.com/feedsvc/feedsvc/app"
)

// Blocks live in two tables (migration 8): blocks, one partition per
// blocker (whom it blocks), and blocked_by, one partition per blocked user
// (who blocks it), so each side's block set is one partition read.
//
// Unlike a follow, whose LWT decides whether the edge is new (a follow
// notifies, so it must be announced once), a block is a plain write at the
// timestamp of its record's ID: blocking twice is harmless, and of a block
// and an unblock the later one wins wherever and however often either is
// written. So the record goes first, the rows after it, and the relay
// completes a record whose rows may not have landed by writing them again
// at the same timestamp (completeBlock): a later unblock (or block) keeps
// winning. "Changed" comes from a read before the write: two concurrent
// blocks of one pair may both report it and both be announced, which the
// consumers, idempotent, do not mind.

// blockStamp is the write timestamp (microseconds) of the block change
// with record ID id: its millisecond, and the ID's sequence scaled into
// the microseconds, so that two changes a node made in one millisecond
// keep their order.
func blockStamp(id app.ID) int64 {
	const seqBits, seqMask = 12, 1<<12 - 1
	seq := int64(id) & seqMask
	return id.Time().UnixMilli()*1000 + seq*1000>>seqBits
}

// Block implements app.Graph.
func (s *Store) Block(ctx context.Context, blocker, blocked string, out ...app.OutboxRecord) (_ bool, err error) {
	return s.setBlock(ctx, blocker, blocked, true, out)
}

// Unblock implements app.Graph.
func (s *Store) Unblock(ctx context.Context, blocker, blocked string, out ...app.OutboxRecord) (_ bool, err error) {
	return s.setBlock(ctx, blocker, blocked, false, out)
}

func (s *Store) setBlock(ctx context.Context, blocker, blocked string, present bool, out []app.OutboxRecord) (_ bool, err error) {
	ctx, end := s.bound(ctx)
	defer func() { err = end(err) }()
	what := "block"
	if !present {
		what = "unblock"
	}
	existed, err := s.isBlocked(ctx, blocker, blocked)
	if err != nil {
		return false, fmt.Errorf("cassandra: %s %s -> %s: %w", what, blocker, blocked, err)
	}
	changed := existed != present
	if changed {
		if err := s.writeOutbox(ctx, out); err != nil {
			return false, fmt.Errorf("cassandra: %s %s -> %s: %w", what, blocker, blocked, err)
		}
	}
	stamp := time.Now().UnixMicro()
	if len(out) > 0 {
		stamp = blockStamp(out[0].ID)
	}
	// Written even when nothing changed: it puts right a blocked_by row
	// an earlier call's partly applied batch left behind.
	if err := s.writeBlock(ctx, blocker, blocked, present, stamp); err != nil {
		return false, failf("cassandra: %s %s -> %s: %w", what, blocker, blocked, err)
	}
	return changed, nil
}

// writeBlock writes (or deletes) both rows of blocker -> blocked at stamp.
func (s *Store) writeBlock(ctx context.Context, blocker, blocked string, present bool, stamp int64) error {
	b := s.unloggedBatch().WithContext(ctx).WithTimestamp(stamp)
	if present {
		b.Query(`INSERT INTO blocks (blocker, blocked) VALUES (?, ?)`, blocker, blocked)
		b.Query(`INSERT INTO blocked_by (blocked, blocker) VALUES (?, ?)`, blocked, blocker)
	} else {
		b.Query(`DELETE FROM blocks WHERE blocker = ? AND blocked = ?`, blocker, blocked)
		b.Query(`DELETE FROM blocked_by WHERE blocked = ? AND blocker = ?`, blocked, blocker)
	}
	return s.execBatch(b)
}

// completeBlock writes the change of a block or unblock record again, at
// its timestamp: whatever came after it still wins.
func (s *Store) completeBlock(ctx context.Context, r app.OutboxRecord) error {
	b := r.Event.Block
	return s.writeBlock(ctx, b.Blocker, b.Blocked, r.Event.Type == app.UserBlocked, blockStamp(r.ID))
}

// IsBlocked implements app.Graph.
func (s *Store) IsBlocked(ctx context.Context, blocker, blocked string) (_ bool, err error) {
	ctx, end := s.bound(ctx)
	defer func() { err = end(err) }()
	return s.isBlocked(ctx, blocker, blocked)
}

func (s *Store) isBlocked(ctx context.Context, blocker, blocked string) (bool, error) {
	var b string
	err := s.query(`SELECT blocked FROM blocks WHERE blocker = ? AND blocked = ?`, blocker, blocked).WithContext(ctx).Scan(&b)
	if errors.Is(err, gocql.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, failf("cassandra: is blocked %s -> %s: %w", blocker, blocked, err)
	}
	return true, nil
}

// Blocking implements app.Graph. Users come in name order; the cursor is
// the last user returned.
func (s *Store) Blocking(ctx context.Context, user, cursor string, limit int) ([]string, string, error) {
	return s.blockList(ctx, `SELECT blocked FROM blocks WHERE blocker = ? AND blocked > ? LIMIT ?`, "blocks", user, cursor, limit)
}

// BlockedBy implements app.Graph, as Blocking.
func (s *Store) BlockedBy(ctx context.Context, user, cursor string, limit int) ([]string, string, error) {
	return s.blockList(ctx, `SELECT blocker FROM blocked_by WHERE blocked = ? AND blocker > ? LIMIT ?`, "blocked by", user, cursor, limit)
}

func (s *Store) blockList(ctx context.Context, stmt, what, user, cursor string, limit int) ([]string, string, error) {
	var name string
	return pageRows(s, ctx, stmt, what, user, cursor, limit, []any{&name}, func() (string, string) { return name, name })
}

// pageRows pages a graph partition with stmt (user, cursor, limit+1 bound
// in that order), scanning each row into dest; item makes a row's entry
// and its clustering name, the cursor of the next page.
func pageRows[T any](s *Store, ctx context.Context, stmt, what, user, cursor string, limit int, dest []any, item func() (T, string)) (_ []T, _ string, err error) {
	ctx, end := s.bound(ctx)
	defer func() { err = end(err) }()
	if limit <= 0 {
		return nil, "", nil
	}
	// One extra row tells whether another page exists.
	iter := s.query(stmt, user, cursor, limit+1).WithContext(ctx).Iter()
	items := make([]T, 0, min(limit+1, 1024))
	names := make([]string, 0, min(limit+1, 1024))
	for iter.Scan(dest...) {
		v, name := item()
		items = append(items, v)
		names = append(names, name)
	}
	if err := iter.Close(); err != nil {
		return nil, "", failf("cassandra: %s of %s: %w", what, user, err)
	}
	if len(items) > limit {
		return items[:limit], names[limit-1], nil
	}
	return items, "", nil
}
