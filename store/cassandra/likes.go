package cassandra

import (
	"context"
	"errors"
	"fmt"

	"github.com/gocql/gocql"

	"github.com/feedsvc/feedsvc/app"
)

var _ app.Likes = (*Store)(nil)

// Likes live in two tables (migration 10): likes, one partition per post
// (who likes it now), and like_ids, the ID of every like of a pair, kept
// through unlikes (the smallest is the first like, see FirstLike).
//
// Like a block, a like is a plain write at the timestamp of its record's
// ID (blockStamp): the record goes first, the row after it, and the relay
// completes a record whose row may not have landed by writing it again at
// the same timestamp (completeLike), so a later unlike keeps winning.
// "Changed" comes from a read before the write: two concurrent likes of one
// pair may both be announced, which changes no count (counts are the rows)
// and notifies once (the notification is keyed by the first like).
//
// A count is a COUNT over the post's partition: exact, and one query for a
// page of posts, but it reads every like of the post. A post with very
// many likes makes its readers pay for them; a count cached per post
// (recomputed, never incremented) is the next step if that shows.

// Like implements app.Likes.
func (s *Store) Like(ctx context.Context, l app.Like, out ...app.OutboxRecord) (bool, error) {
	return s.setLike(ctx, l, true, out)
}

// Unlike implements app.Likes.
func (s *Store) Unlike(ctx context.Context, l app.Like, out ...app.OutboxRecord) (bool, error) {
	return s.setLike(ctx, l, false, out)
}

func (s *Store) setLike(ctx context.Context, l app.Like, present bool, out []app.OutboxRecord) (_ bool, err error) {
	ctx, end := s.bound(ctx)
	defer func() { err = end(err) }()
	what := "like"
	if !present {
		what = "unlike"
	}
	var liker string
	err = s.query(`SELECT liker FROM likes WHERE post_id = ? AND liker = ?`, int64(l.Post), l.User).WithContext(ctx).Scan(&liker)
	existed := err == nil
	if err != nil && !errors.Is(err, gocql.ErrNotFound) {
		return false, failf("cassandra: %s %s by %s: %w", what, l.Post, l.User, err)
	}
	changed := existed != present
	if changed {
		if err := s.writeOutbox(ctx, out); err != nil {
			return false, fmt.Errorf("cassandra: %s %s by %s: %w", what, l.Post, l.User, err)
		}
	}
	// Written even when nothing changed, at this change's timestamp: a
	// change before it whose request failed after its record was written
	// (the relay completes it later, at its own, older timestamp) must
	// not win over this one, as with blocks.
	if err := s.writeLike(ctx, l, present, changed); err != nil {
		return false, failf("cassandra: %s %s by %s: %w", what, l.Post, l.User, err)
	}
	return changed, nil
}

// writeLike writes (or deletes) l's row at the timestamp of l.ID, and for
// a like that changed something (withID) the row of its ID.
func (s *Store) writeLike(ctx context.Context, l app.Like, present, withID bool) error {
	b := s.unloggedBatch().WithContext(ctx).WithTimestamp(blockStamp(l.ID))
	if present {
		b.Query(`INSERT INTO likes (post_id, liker) VALUES (?, ?)`, int64(l.Post), l.User)
		if withID {
			b.Query(`INSERT INTO like_ids (post_id, liker, like_id) VALUES (?, ?, ?)`, int64(l.Post), l.User, int64(l.ID))
		}
	} else {
		b.Query(`DELETE FROM likes WHERE post_id = ? AND liker = ?`, int64(l.Post), l.User)
	}
	return s.execBatch(b)
}

// completeLike writes the change of a like or unlike record again, at its
// timestamp: whatever came after it still wins.
func (s *Store) completeLike(ctx context.Context, r app.OutboxRecord) error {
	return s.writeLike(ctx, *r.Event.Like, r.Event.Type == app.PostLiked, true)
}

// LikeCounts implements app.Likes: two queries for the whole page, the
// counts and the reader's own likes, each over the posts' partitions.
func (s *Store) LikeCounts(ctx context.Context, reader string, posts []app.ID) (_ map[app.ID]app.LikeCount, err error) {
	ctx, end := s.bound(ctx)
	defer func() { err = end(err) }()
	out := make(map[app.ID]app.LikeCount, len(posts))
	if len(posts) == 0 {
		return out, nil
	}
	ids := make([]int64, len(posts))
	for i, id := range posts {
		ids[i] = int64(id)
	}
	var (
		post  int64
		count int64
	)
	iter := s.query(`SELECT post_id, COUNT(*) FROM likes WHERE post_id IN ? GROUP BY post_id`, ids).WithContext(ctx).Iter()
	for iter.Scan(&post, &count) {
		c := out[app.ID(post)]
		c.Count = count
		out[app.ID(post)] = c
	}
	if err := iter.Close(); err != nil {
		return nil, failf("cassandra: count likes: %w", err)
	}
	if reader == "" {
		return out, nil
	}
	iter = s.query(`SELECT post_id FROM likes WHERE post_id IN ? AND liker = ?`, ids, reader).WithContext(ctx).Iter()
	for iter.Scan(&post) {
		c := out[app.ID(post)]
		c.Liked = true
		out[app.ID(post)] = c
	}
	if err := iter.Close(); err != nil {
		return nil, failf("cassandra: likes of %s: %w", reader, err)
	}
	return out, nil
}

// FirstLike implements app.Likes.
func (s *Store) FirstLike(ctx context.Context, user string, post app.ID) (_ app.ID, _ bool, err error) {
	ctx, end := s.bound(ctx)
	defer func() { err = end(err) }()
	var liker string
	err = s.query(`SELECT liker FROM likes WHERE post_id = ? AND liker = ?`, int64(post), user).WithContext(ctx).Scan(&liker)
	if errors.Is(err, gocql.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, failf("cassandra: like of %s by %s: %w", post, user, err)
	}
	var first int64
	err = s.query(`SELECT like_id FROM like_ids WHERE post_id = ? AND liker = ? LIMIT 1`, int64(post), user).WithContext(ctx).Scan(&first)
	if errors.Is(err, gocql.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, failf("cassandra: first like of %s by %s: %w", post, user, err)
	}
	return app.ID(first), true, nil
}
