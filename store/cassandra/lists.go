package cassandra

import (
	"context"
	"errors"
	"time"

	"github.com/gocql/gocql"

	"github.com/feedsvc/feedsvc/app"
)

var _ app.Lists = (*Store)(nil)

// Lists live in two tables (migration 13): lists, one partition per owner,
// and list_members, one partition per list (keyed by owner and list);
// list_memberships (migration 14) indexes them by member, written with
// list_members in one logged batch.
// Every write is a plain, idempotent upsert or delete at the client's
// timestamp: lists announce nothing, so they need no outbox and no LWT.
//
// A rename updates the title cell only, and reads skip a row without
// created_at: a rename that lands after the list's deletion leaves a row
// no read shows, never a list brought back. A member added while its list
// was being deleted may likewise outlive the list: its partition is
// never read again (list IDs are never reused), so it costs a few bytes
// and shows nowhere (its index row costs fan-out a write to a list feed
// no one reads). DeleteList drops the index, then the members and the list
// last, so a failure half way leaves a list its owner sees, and deletes
// again.

// CreateList implements app.Lists.
func (s *Store) CreateList(ctx context.Context, l app.List) (err error) {
	ctx, end := s.bound(ctx)
	defer func() { err = end(err) }()
	// A retry writes the same cells again: it may undo a rename made in
	// between, which its owner sees (no LWT for so rare a race).
	err = s.query(`INSERT INTO lists (owner, list_id, title, created_at) VALUES (?, ?, ?, ?)`,
		l.Owner, int64(l.ID), l.Name, l.CreatedAt.UTC()).WithContext(ctx).Exec()
	if err != nil {
		return failf("cassandra: create list %s of %s: %w", l.ID, l.Owner, err)
	}
	return nil
}

// RenameList implements app.Lists.
func (s *Store) RenameList(ctx context.Context, owner string, id app.ID, title string) (err error) {
	ctx, end := s.bound(ctx)
	defer func() { err = end(err) }()
	err = s.query(`UPDATE lists SET title = ? WHERE owner = ? AND list_id = ?`, title, owner, int64(id)).WithContext(ctx).Exec()
	if err != nil {
		return failf("cassandra: rename list %s of %s: %w", id, owner, err)
	}
	return nil
}

// GetList implements app.Lists.
func (s *Store) GetList(ctx context.Context, owner string, id app.ID) (_ app.List, _ bool, err error) {
	ctx, end := s.bound(ctx)
	defer func() { err = end(err) }()
	var (
		title   string
		created time.Time
	)
	err = s.query(`SELECT title, created_at FROM lists WHERE owner = ? AND list_id = ?`, owner, int64(id)).WithContext(ctx).Scan(&title, &created)
	if errors.Is(err, gocql.ErrNotFound) || (err == nil && created.IsZero()) {
		return app.List{}, false, nil
	}
	if err != nil {
		return app.List{}, false, failf("cassandra: list %s of %s: %w", id, owner, err)
	}
	return app.List{ID: id, Owner: owner, Name: title, CreatedAt: created.UTC()}, true, nil
}

// OwnerLists implements app.Lists: one partition.
func (s *Store) OwnerLists(ctx context.Context, owner string, limit int) (_ []app.List, err error) {
	ctx, end := s.bound(ctx)
	defer func() { err = end(err) }()
	iter := s.query(`SELECT list_id, title, created_at FROM lists WHERE owner = ?`, owner).WithContext(ctx).PageSize(100).Iter()
	var (
		out     []app.List
		id      int64
		title   string
		created time.Time
	)
	for len(out) < limit && iter.Scan(&id, &title, &created) {
		if created.IsZero() {
			continue // renamed after its deletion: no list
		}
		out = append(out, app.List{ID: app.ID(id), Owner: owner, Name: title, CreatedAt: created.UTC()})
	}
	if err := iter.Close(); err != nil {
		return nil, failf("cassandra: lists of %s: %w", owner, err)
	}
	return out, nil
}

// DeleteList implements app.Lists.
func (s *Store) DeleteList(ctx context.Context, owner string, id app.ID) (err error) {
	ctx, end := s.bound(ctx)
	defer func() { err = end(err) }()
	for after := ""; ; {
		members, err := s.ListMembers(ctx, owner, id, after, 100)
		if err != nil {
			return err
		}
		if len(members) == 0 {
			break
		}
		b := s.unloggedBatch().WithContext(ctx)
		for _, m := range members {
			b.Query(`DELETE FROM list_memberships WHERE member = ? AND owner = ? AND list_id = ?`, m, owner, int64(id))
		}
		if err := s.execBatch(b); err != nil {
			return failf("cassandra: delete list %s of %s: unindex members: %w", id, owner, err)
		}
		after = members[len(members)-1]
	}
	err = s.query(`DELETE FROM list_members WHERE owner = ? AND list_id = ?`, owner, int64(id)).WithContext(ctx).Exec()
	if err != nil {
		return failf("cassandra: delete members of list %s of %s: %w", id, owner, err)
	}
	err = s.query(`DELETE FROM lists WHERE owner = ? AND list_id = ?`, owner, int64(id)).WithContext(ctx).Exec()
	if err != nil {
		return failf("cassandra: delete list %s of %s: %w", id, owner, err)
	}
	return nil
}

// AddListMember implements app.Lists.
func (s *Store) AddListMember(ctx context.Context, owner string, id app.ID, member string) (err error) {
	ctx, end := s.bound(ctx)
	defer func() { err = end(err) }()
	b := s.loggedBatch().WithContext(ctx)
	b.Query(`INSERT INTO list_members (owner, list_id, member) VALUES (?, ?, ?)`, owner, int64(id), member)
	b.Query(`INSERT INTO list_memberships (member, owner, list_id) VALUES (?, ?, ?)`, member, owner, int64(id))
	if err = s.execBatch(b); err != nil {
		return failf("cassandra: add %s to list %s of %s: %w", member, id, owner, err)
	}
	return nil
}

// RemoveListMember implements app.Lists.
func (s *Store) RemoveListMember(ctx context.Context, owner string, id app.ID, member string) (err error) {
	ctx, end := s.bound(ctx)
	defer func() { err = end(err) }()
	b := s.loggedBatch().WithContext(ctx)
	b.Query(`DELETE FROM list_members WHERE owner = ? AND list_id = ? AND member = ?`, owner, int64(id), member)
	b.Query(`DELETE FROM list_memberships WHERE member = ? AND owner = ? AND list_id = ?`, member, owner, int64(id))
	if err = s.execBatch(b); err != nil {
		return failf("cassandra: remove %s from list %s of %s: %w", member, id, owner, err)
	}
	return nil
}

// ListMembers implements app.Lists: one partition, from after on.
func (s *Store) ListMembers(ctx context.Context, owner string, id app.ID, after string, limit int) (_ []string, err error) {
	ctx, end := s.bound(ctx)
	defer func() { err = end(err) }()
	if limit <= 0 {
		return nil, nil
	}
	iter := s.query(`SELECT member FROM list_members WHERE owner = ? AND list_id = ? AND member > ? LIMIT ?`,
		owner, int64(id), after, limit).WithContext(ctx).PageSize(min(limit, 1000)).Iter()
	var (
		out    []string
		member string
	)
	for iter.Scan(&member) {
		out = append(out, member)
	}
	if err := iter.Close(); err != nil {
		return nil, failf("cassandra: members of list %s of %s: %w", id, owner, err)
	}
	return out, nil
}

// CountListMembers implements app.Lists: a COUNT over the list's
// partition, bounded by app.MaxListMembers rows.
func (s *Store) CountListMembers(ctx context.Context, owner string, id app.ID) (_ int, err error) {
	ctx, end := s.bound(ctx)
	defer func() { err = end(err) }()
	var n int64
	err = s.query(`SELECT COUNT(*) FROM list_members WHERE owner = ? AND list_id = ?`, owner, int64(id)).WithContext(ctx).Scan(&n)
	if err != nil {
		return 0, failf("cassandra: count members of list %s of %s: %w", id, owner, err)
	}
	return int(n), nil
}

// IsListMember implements app.Lists.
func (s *Store) IsListMember(ctx context.Context, owner string, id app.ID, member string) (_ bool, err error) {
	ctx, end := s.bound(ctx)
	defer func() { err = end(err) }()
	var m string
	err = s.query(`SELECT member FROM list_members WHERE owner = ? AND list_id = ? AND member = ?`, owner, int64(id), member).WithContext(ctx).Scan(&m)
	if errors.Is(err, gocql.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, failf("cassandra: member %s of list %s of %s: %w", member, id, owner, err)
	}
	return true, nil
}

// ListsOf implements app.Lists: one partition, from after on.
func (s *Store) ListsOf(ctx context.Context, member string, after app.ListRef, limit int) (_ []app.ListRef, err error) {
	ctx, end := s.bound(ctx)
	defer func() { err = end(err) }()
	if limit <= 0 {
		return nil, nil
	}
	var q *gocql.Query
	if after.Owner == "" {
		q = s.query(`SELECT owner, list_id FROM list_memberships WHERE member = ? LIMIT ?`, member, limit)
	} else {
		q = s.query(`SELECT owner, list_id FROM list_memberships WHERE member = ? AND (owner, list_id) > (?, ?) LIMIT ?`,
			member, after.Owner, int64(after.ID), limit)
	}
	iter := q.WithContext(ctx).PageSize(min(limit, 1000)).Iter()
	var (
		out   []app.ListRef
		owner string
		id    int64
	)
	for iter.Scan(&owner, &id) {
		out = append(out, app.ListRef{Owner: owner, ID: app.ID(id)})
	}
	if err := iter.Close(); err != nil {
		return nil, failf("cassandra: lists of %s: %w", member, err)
	}
	return out, nil
}
