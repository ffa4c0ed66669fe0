package cassandra

import (
	"context"
	"errors"
	"slices"

	"github.com/gocql/gocql"

	"github.com/feedsvc/feedsvc/app"
)

var _ app.Reposts = (*Store)(nil)

// Reposts live in four tables (migration 12): reposts, one partition per
// original, holds the live reposts (writePost adds a repost's row,
// deletePost and HidePost delete it by its ID); repost_ids keeps every
// repost of a pair (the first keys the notification); reposts_hidden and
// reposts_hidden_by hold the per-follow setting both ways. A count is a
// COUNT over the original's partition, as for likes and replies.

// RepostBy implements app.Reposts.
func (s *Store) RepostBy(ctx context.Context, user string, original app.ID) (_ app.ID, _ bool, err error) {
	ctx, end := s.bound(ctx)
	defer func() { err = end(err) }()
	return s.firstRepostIn(ctx, "reposts", user, original)
}

// FirstRepost implements app.Reposts.
func (s *Store) FirstRepost(ctx context.Context, user string, original app.ID) (_ app.ID, _ bool, err error) {
	ctx, end := s.bound(ctx)
	defer func() { err = end(err) }()
	return s.firstRepostIn(ctx, "repost_ids", user, original)
}

func (s *Store) firstRepostIn(ctx context.Context, table, user string, original app.ID) (app.ID, bool, error) {
	var id int64
	err := s.query(`SELECT id FROM `+table+` WHERE original_id = ? AND reposter = ? LIMIT 1`, int64(original), user).
		WithContext(ctx).Scan(&id)
	if errors.Is(err, gocql.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, failf("cassandra: %s of %s by %s: %w", table, original, user, err)
	}
	return app.ID(id), true, nil
}

// RepostsOf implements app.Reposts: a slice of the original's partition.
func (s *Store) RepostsOf(ctx context.Context, original app.ID, after app.Repost, limit int) (_ []app.Repost, err error) {
	ctx, end := s.bound(ctx)
	defer func() { err = end(err) }()
	if limit <= 0 {
		return nil, nil
	}
	q := s.query(`SELECT reposter, id FROM reposts WHERE original_id = ? LIMIT ?`, int64(original), limit)
	if after.Reposter != "" || after.ID != 0 {
		q = s.query(`SELECT reposter, id FROM reposts WHERE original_id = ? AND (reposter, id) > (?, ?) LIMIT ?`,
			int64(original), after.Reposter, int64(after.ID), limit)
	}
	iter := q.WithContext(ctx).Iter()
	var (
		out  []app.Repost
		name string
		id   int64
	)
	for iter.Scan(&name, &id) {
		out = append(out, app.Repost{Reposter: name, ID: app.ID(id)})
	}
	if err := iter.Close(); err != nil {
		return nil, failf("cassandra: reposts of %s: %w", original, err)
	}
	return out, nil
}

// RepostCounts implements app.Reposts: two queries for the whole page, the
// counts and the reader's own reposts, each over the originals' partitions.
func (s *Store) RepostCounts(ctx context.Context, reader string, originals []app.ID) (_ map[app.ID]app.RepostCount, err error) {
	ctx, end := s.bound(ctx)
	defer func() { err = end(err) }()
	out := make(map[app.ID]app.RepostCount, len(originals))
	if len(originals) == 0 {
		return out, nil
	}
	ids := make([]int64, len(originals))
	for i, id := range originals {
		ids[i] = int64(id)
	}
	var post, count int64
	iter := s.query(`SELECT original_id, COUNT(*) FROM reposts WHERE original_id IN ? GROUP BY original_id`, ids).WithContext(ctx).Iter()
	for iter.Scan(&post, &count) {
		c := out[app.ID(post)]
		c.Count = count
		out[app.ID(post)] = c
	}
	if err := iter.Close(); err != nil {
		return nil, failf("cassandra: count reposts: %w", err)
	}
	if reader == "" {
		return out, nil
	}
	iter = s.query(`SELECT original_id FROM reposts WHERE original_id IN ? AND reposter = ?`, ids, reader).WithContext(ctx).Iter()
	for iter.Scan(&post) {
		c := out[app.ID(post)]
		c.Reposted = true
		out[app.ID(post)] = c
	}
	if err := iter.Close(); err != nil {
		return nil, failf("cassandra: reposts of %s: %w", reader, err)
	}
	return out, nil
}

// SetShowReposts implements app.Reposts: both rows in one unlogged batch
// (idempotent; a caller retries a failed one).
func (s *Store) SetShowReposts(ctx context.Context, follower, followee string, show bool) (err error) {
	ctx, end := s.bound(ctx)
	defer func() { err = end(err) }()
	b := s.unloggedBatch().WithContext(ctx)
	if show {
		b.Query(`DELETE FROM reposts_hidden WHERE followee = ? AND follower = ?`, followee, follower)
		b.Query(`DELETE FROM reposts_hidden_by WHERE follower = ? AND followee = ?`, follower, followee)
	} else {
		b.Query(`INSERT INTO reposts_hidden (followee, follower) VALUES (?, ?)`, followee, follower)
		b.Query(`INSERT INTO reposts_hidden_by (follower, followee) VALUES (?, ?)`, follower, followee)
	}
	if err := s.execBatch(b); err != nil {
		return failf("cassandra: repost setting %s -> %s: %w", follower, followee, err)
	}
	return nil
}

// RepostsHiddenAmong implements app.Reposts: one single-partition IN query.
func (s *Store) RepostsHiddenAmong(ctx context.Context, followee string, followers []string) (_ []string, err error) {
	ctx, end := s.bound(ctx)
	defer func() { err = end(err) }()
	return s.namesIn(ctx, `SELECT follower FROM reposts_hidden WHERE followee = ? AND follower IN ?`, followee, followers)
}

// RepostsHiddenFrom implements app.Reposts: one single-partition IN query.
func (s *Store) RepostsHiddenFrom(ctx context.Context, follower string, followees []string) (_ []string, err error) {
	ctx, end := s.bound(ctx)
	defer func() { err = end(err) }()
	return s.namesIn(ctx, `SELECT followee FROM reposts_hidden_by WHERE follower = ? AND followee IN ?`, follower, followees)
}

func (s *Store) namesIn(ctx context.Context, stmt, key string, names []string) ([]string, error) {
	if len(names) == 0 {
		return nil, nil
	}
	names = slices.Compact(slices.Sorted(slices.Values(names)))
	iter := s.query(stmt, key, names).WithContext(ctx).Iter()
	var (
		out  []string
		name string
	)
	for iter.Scan(&name) {
		out = append(out, name)
	}
	if err := iter.Close(); err != nil {
		return nil, failf("cassandra: repost settings of %s: %w", key, err)
	}
	return out, nil
}
