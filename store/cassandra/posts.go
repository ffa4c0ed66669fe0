package cassandra

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/feedsvc/feedsvc/app"
	"github.com/gocql/gocql"
)

var _ app.PostStore = (*Store)(nil)

// getConcurrency bounds the parallel single-partition reads of GetPosts.
// Separate token-aware reads spread over the replicas, where one
// multi-partition IN would make a single coordinator gather them all.
const getConcurrency = 32

// month is the timeline bucket of a post: "YYYY-MM" in UTC, taken from the
// ID (not CreatedAt) so that saving and deleting always agree on it.
// The format sorts lexically in time order.
func month(id app.ID) string { return id.Time().UTC().Format("2006-01") }

// SavePost implements app.PostStore. It writes the post's outbox records
// first and the post after them, as plain upserts at the timestamp of the
// post's ID: saving again is harmless, and a later delete or moderation
// always wins over it. Not one logged batch: its batchlog goes to two other
// nodes, and with one of three nodes dead but not yet convicted by the
// failure detector (seconds to tens of seconds) every such batch timed out,
// where a write at LOCAL_QUORUM needs only two replicas. A record whose
// post did not land (a crash, a failed write) is completed by the relay
// (CompleteOutbox) before its event goes out, so a post never lacks its
// event and an event never lacks its post.
//
// A different post under the same ID is refused (app.ErrIDConflict) by a
// read first, not an LWT: leased nodes and a monotonic generator make IDs
// unique, so the read only catches faults that come one after the other
// (a clock far behind after a restart, one --node-id reused), for one
// single-partition read instead of an LWT's four round trips per post.
// Two writers racing in the same millisecond could both pass it; only an
// LWT would stop that, and only a misconfigured --node-id can cause it.
func (s *Store) SavePost(ctx context.Context, p app.Post, out ...app.OutboxRecord) (err error) {
	ctx, end := s.bound(ctx)
	defer func() { err = end(err) }()
	stored, ok, err := s.getPost(ctx, p.ID)
	if err != nil {
		return fmt.Errorf("cassandra: save post: %w", err)
	}
	if ok && stored.Conflicts(p) {
		return fmt.Errorf("cassandra: save post %s by %s: %w (held by a post of %s)", p.ID, p.Author, app.ErrIDConflict, stored.Author)
	}
	if err := s.writeOutbox(ctx, out); err != nil {
		return fmt.Errorf("cassandra: save post %s: %w", p.ID, err)
	}
	if err := s.writePost(ctx, p); err != nil {
		return failf("cassandra: save post %s: %w", p.ID, err)
	}
	return nil
}

// writePost writes p's rows at the timestamp of its ID (see SavePost).
func (s *Store) writePost(ctx context.Context, p app.Post) error {
	m := month(p.ID)
	created := p.CreatedAt.UTC()
	b := s.unloggedBatch().WithContext(ctx).WithTimestamp(p.ID.Time().UnixMicro())
	b.Query(`INSERT INTO posts (id, author, text, created_at, moderated, in_reply_to, in_reply_to_author, repost_of, repost_of_author) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		int64(p.ID), p.Author, p.Text, created, p.Moderated, int64(p.InReplyTo), p.InReplyToAuthor, int64(p.RepostOf), p.RepostOfAuthor)
	b.Query(`INSERT INTO posts_by_author (author, month, id, text, created_at, moderated, in_reply_to, in_reply_to_author, repost_of, repost_of_author) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		p.Author, m, int64(p.ID), p.Text, created, p.Moderated, int64(p.InReplyTo), p.InReplyToAuthor, int64(p.RepostOf), p.RepostOfAuthor)
	b.Query(`INSERT INTO user_post_months (author, month) VALUES (?, ?)`, p.Author, m)
	if p.IsReply() {
		// At the ID's timestamp like the rest: a deletion or moderation
		// (written later) wins over a save again by the relay.
		b.Query(`INSERT INTO replies (parent_id, id) VALUES (?, ?)`, int64(p.InReplyTo), int64(p.ID))
	}
	if p.IsRepost() {
		// Likewise: a deletion or moderation of the repost wins.
		b.Query(`INSERT INTO reposts (original_id, reposter, id) VALUES (?, ?, ?)`, int64(p.RepostOf), p.Author, int64(p.ID))
		b.Query(`INSERT INTO repost_ids (original_id, reposter, id) VALUES (?, ?, ?)`, int64(p.RepostOf), p.Author, int64(p.ID))
	}
	return s.execBatch(b)
}

// GetPosts implements app.PostStore.
func (s *Store) GetPosts(ctx context.Context, ids []app.ID) (_ map[app.ID]app.Post, err error) {
	ctx, end := s.bound(ctx)
	defer func() { err = end(err) }()
	out := make(map[app.ID]app.Post, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	seen := make(map[app.ID]bool, len(ids))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		errs []error
		sem  = make(chan struct{}, getConcurrency)
	)
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			// A failed read cancelled the rest; stop starting new ones.
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			p, ok, err := s.getPost(ctx, id)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				errs = append(errs, err)
				cancel()
			case ok:
				out[id] = p
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		return nil, failf("cassandra: get posts: %w", errors.Join(errs...))
	}
	if err := ctx.Err(); err != nil {
		return nil, failf("cassandra: get posts: %w", err)
	}
	return out, nil
}

// getPost reads one post; ok is false when it does not exist. A row with
// no author is no post: HidePost's update of a deleted post leaves one.
func (s *Store) getPost(ctx context.Context, id app.ID) (p app.Post, ok bool, err error) {
	var (
		created      time.Time
		parent, orig int64
	)
	err = s.query(`SELECT author, text, created_at, moderated, in_reply_to, in_reply_to_author, repost_of, repost_of_author FROM posts WHERE id = ?`, int64(id)).
		WithContext(ctx).Scan(&p.Author, &p.Text, &created, &p.Moderated, &parent, &p.InReplyToAuthor, &orig, &p.RepostOfAuthor)
	if errors.Is(err, gocql.ErrNotFound) || (err == nil && p.Author == "") {
		return app.Post{}, false, nil
	}
	if err != nil {
		return app.Post{}, false, failf("cassandra: post %s: %w", id, err)
	}
	p.ID = id
	p.CreatedAt = created.UTC()
	p.InReplyTo = app.ID(parent)
	p.RepostOf = app.ID(orig)
	return p, true, nil
}

// DeletePost implements app.PostStore. Deleting a missing post writes
// tombstones and is not an error. As in SavePost, the outbox records go
// first and the deletion after them; a deletion that did not land is
// written again by the relay (CompleteOutbox) before post.deleted goes out.
func (s *Store) DeletePost(ctx context.Context, p app.Post, out ...app.OutboxRecord) (err error) {
	ctx, end := s.bound(ctx)
	defer func() { err = end(err) }()
	if p.Author == "" {
		// The timeline row is keyed by author, the reply row by parent;
		// recover them if the caller only knew the ID.
		stored, _, err := s.getPost(ctx, p.ID)
		if err != nil {
			return failf("cassandra: delete post: %w", err)
		}
		p.Author, p.InReplyTo, p.RepostOf = stored.Author, stored.InReplyTo, stored.RepostOf
	}
	if err := s.writeOutbox(ctx, out); err != nil {
		return fmt.Errorf("cassandra: delete post %s: %w", p.ID, err)
	}
	if err := s.deletePost(ctx, p, time.Now()); err != nil {
		return failf("cassandra: delete post %s: %w", p.ID, err)
	}
	return nil
}

// deletePost removes p's rows and records the deletion (at when), in an
// unlogged batch: each write is idempotent, and a batch that partly landed
// is written again by whoever retries (the client, or the relay).
func (s *Store) deletePost(ctx context.Context, p app.Post, when time.Time) error {
	b := s.unloggedBatch().WithContext(ctx)
	b.Query(`DELETE FROM posts WHERE id = ?`, int64(p.ID))
	if p.Author != "" {
		// The user_post_months row stays: removing it would race with a
		// concurrent SavePost in the same month, and an empty month costs
		// AuthorPosts only one cheap read.
		b.Query(`DELETE FROM posts_by_author WHERE author = ? AND month = ? AND id = ?`, p.Author, month(p.ID), int64(p.ID))
	}
	if p.IsReply() {
		b.Query(`DELETE FROM replies WHERE parent_id = ? AND id = ?`, int64(p.InReplyTo), int64(p.ID))
	}
	if p.IsRepost() && p.Author != "" {
		b.Query(`DELETE FROM reposts WHERE original_id = ? AND reposter = ? AND id = ?`, int64(p.RepostOf), p.Author, int64(p.ID))
	}
	b.Query(`INSERT INTO deleted_posts (id, author, deleted_at) VALUES (?, ?, ?)`, int64(p.ID), p.Author, when.UTC())
	return s.execBatch(b)
}

// WasDeleted implements app.PostStore, reading deleted_posts at the
// configured consistency (LOCAL_QUORUM or stronger, see Config.Validate),
// which DeletePost also writes at.
func (s *Store) WasDeleted(ctx context.Context, id app.ID) (_ bool, err error) {
	ctx, end := s.bound(ctx)
	defer func() { err = end(err) }()
	var got int64
	err = s.query(`SELECT id FROM deleted_posts WHERE id = ?`, int64(id)).WithContext(ctx).Scan(&got)
	if errors.Is(err, gocql.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, failf("cassandra: deletion of post %s: %w", id, err)
	}
	return true, nil
}

// HidePost implements app.PostStore without a lightweight transaction.
// It updates only the moderated cells: an UPDATE writes no row marker, so
// on a deleted post (whichever write has the later timestamp) it leaves at
// most a row without author or text, which reads treat as no post. A
// conditional UPDATE ... IF EXISTS would cost two Paxos rounds (one per
// table, not atomic together) and still leave such a row when the delete,
// a plain write, carries an older timestamp from a skewed clock.
func (s *Store) HidePost(ctx context.Context, p app.Post, rule string) error {
	if p.Author == "" {
		stored, ok, err := s.getPost(ctx, p.ID)
		if err != nil || !ok {
			return err
		}
		p.Author, p.InReplyTo, p.RepostOf = stored.Author, stored.InReplyTo, stored.RepostOf
	}
	// Unlogged: both updates are idempotent, and the moderator retries
	// until the batch succeeds (a logged batch's batchlog would make one
	// node down fail it).
	b := s.unloggedBatch().WithContext(ctx)
	b.Query(`UPDATE posts SET moderated = ? WHERE id = ?`, rule, int64(p.ID))
	b.Query(`UPDATE posts_by_author SET moderated = ? WHERE author = ? AND month = ? AND id = ?`,
		rule, p.Author, month(p.ID), int64(p.ID))
	if p.IsReply() {
		// A moderated reply leaves its parent's replies (and count).
		b.Query(`DELETE FROM replies WHERE parent_id = ? AND id = ?`, int64(p.InReplyTo), int64(p.ID))
	}
	if p.IsRepost() {
		// A moderated repost leaves the original's reposts.
		b.Query(`DELETE FROM reposts WHERE original_id = ? AND reposter = ? AND id = ?`, int64(p.RepostOf), p.Author, int64(p.ID))
	}
	if err := s.execBatch(b); err != nil {
		return failf("cassandra: hide post %s: %w", p.ID, err)
	}
	return nil
}

// AuthorPosts implements app.PostStore. It walks the author's months newest
// first and reads each month's partition until limit posts are found.
func (s *Store) AuthorPosts(ctx context.Context, author string, before app.ID, limit int) (_ []app.Post, err error) {
	ctx, end := s.bound(ctx)
	defer func() { err = end(err) }()
	if limit <= 0 {
		return nil, nil
	}
	monthsQ := s.query(`SELECT month FROM user_post_months WHERE author = ?`, author)
	if before > 0 {
		monthsQ = s.query(`SELECT month FROM user_post_months WHERE author = ? AND month <= ?`, author, month(before))
	}
	// A small page size: most calls are satisfied by the first month or two.
	months := monthsQ.WithContext(ctx).PageSize(16).Iter()
	posts := make([]app.Post, 0, min(limit, 256))
	var m string
	for len(posts) < limit && months.Scan(&m) {
		var err error
		posts, err = s.monthPosts(ctx, posts, author, m, before, limit-len(posts))
		if err != nil {
			_ = months.Close()
			return nil, err
		}
	}
	if err := months.Close(); err != nil {
		return nil, failf("cassandra: author posts %s: months: %w", author, err)
	}
	return posts, nil
}

// monthPosts appends up to n posts of author in month m with ID < before
// (0: no bound), newest first. Rows without text (left by HidePost on a
// deleted post) are skipped, and reading goes on past them.
func (s *Store) monthPosts(ctx context.Context, posts []app.Post, author, m string, before app.ID, n int) ([]app.Post, error) {
	for n > 0 {
		const cols = `SELECT id, text, created_at, moderated, in_reply_to, in_reply_to_author, repost_of, repost_of_author FROM posts_by_author `
		q := s.query(cols+`WHERE author = ? AND month = ? LIMIT ?`, author, m, n)
		if before > 0 {
			q = s.query(cols+`WHERE author = ? AND month = ? AND id < ? LIMIT ?`, author, m, int64(before), n)
		}
		iter := q.WithContext(ctx).Iter()
		var (
			id, parent, orig                         int64
			text, moderated, parentOwner, origAuthor string
			created                                  time.Time
			scanned, added                           int
		)
		for iter.Scan(&id, &text, &created, &moderated, &parent, &parentOwner, &orig, &origAuthor) {
			scanned++
			before = app.ID(id)
			if text == "" && orig == 0 {
				continue // no text and no original: a row HidePost left
			}
			added++
			posts = append(posts, app.Post{ID: app.ID(id), Author: author, Text: text, CreatedAt: created.UTC(), Moderated: moderated,
				InReplyTo: app.ID(parent), InReplyToAuthor: parentOwner, RepostOf: app.ID(orig), RepostOfAuthor: origAuthor})
		}
		if err := iter.Close(); err != nil {
			return nil, failf("cassandra: author posts %s month %s: %w", author, m, err)
		}
		if scanned < n {
			break // the month has no more
		}
		n -= added
	}
	return posts, nil
}
