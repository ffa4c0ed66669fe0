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

// SavePost implements app.PostStore. The writes are plain upserts, so saving
// again is harmless; a logged batch makes sure that once any of them lands
// all of them eventually do, so a post never lacks its timeline entry.
//
// A different post under the same ID is refused (app.ErrIDConflict) by a
// read first, not an LWT: leased nodes and a monotonic generator make IDs
// unique, so the read only catches faults that come one after the other
// (a clock far behind after a restart, one --node-id reused), for one
// single-partition read instead of an LWT's four round trips per post.
// Two writers racing in the same millisecond could both pass it; only an
// LWT would stop that, and only a misconfigured --node-id can cause it.
func (s *Store) SavePost(ctx context.Context, p app.Post) error {
	stored, ok, err := s.getPost(ctx, p.ID)
	if err != nil {
		return fmt.Errorf("cassandra: save post: %w", err)
	}
	if ok && stored.Conflicts(p) {
		return fmt.Errorf("cassandra: save post %s by %s: %w (held by a post of %s)", p.ID, p.Author, app.ErrIDConflict, stored.Author)
	}
	m := month(p.ID)
	created := p.CreatedAt.UTC()
	b := s.session.NewBatch(gocql.LoggedBatch).WithContext(ctx)
	b.Query(`INSERT INTO posts (id, author, text, created_at, moderated) VALUES (?, ?, ?, ?, ?)`,
		int64(p.ID), p.Author, p.Text, created, p.Moderated)
	b.Query(`INSERT INTO posts_by_author (author, month, id, text, created_at, moderated) VALUES (?, ?, ?, ?, ?, ?)`,
		p.Author, m, int64(p.ID), p.Text, created, p.Moderated)
	b.Query(`INSERT INTO user_post_months (author, month) VALUES (?, ?)`, p.Author, m)
	if err := s.session.ExecuteBatch(b); err != nil {
		return fmt.Errorf("cassandra: save post %s: %w", p.ID, err)
	}
	return nil
}

// GetPosts implements app.PostStore.
func (s *Store) GetPosts(ctx context.Context, ids []app.ID) (map[app.ID]app.Post, error) {
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
		return nil, fmt.Errorf("cassandra: get posts: %w", errors.Join(errs...))
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("cassandra: get posts: %w", err)
	}
	return out, nil
}

// getPost reads one post; ok is false when it does not exist.
func (s *Store) getPost(ctx context.Context, id app.ID) (p app.Post, ok bool, err error) {
	var created time.Time
	err = s.session.Query(`SELECT author, text, created_at, moderated FROM posts WHERE id = ?`, int64(id)).
		WithContext(ctx).Scan(&p.Author, &p.Text, &created, &p.Moderated)
	if errors.Is(err, gocql.ErrNotFound) {
		return app.Post{}, false, nil
	}
	if err != nil {
		return app.Post{}, false, fmt.Errorf("post %s: %w", id, err)
	}
	p.ID = id
	p.CreatedAt = created.UTC()
	return p, true, nil
}

// DeletePost implements app.PostStore. Deleting a missing post writes
// tombstones and is not an error.
func (s *Store) DeletePost(ctx context.Context, p app.Post) error {
	if p.Author == "" {
		// The timeline row is keyed by author; recover it if the caller
		// only knew the ID.
		stored, ok, err := s.getPost(ctx, p.ID)
		if err != nil {
			return fmt.Errorf("cassandra: delete post: %w", err)
		}
		if !ok {
			return nil
		}
		p.Author = stored.Author
	}
	// The user_post_months row stays: removing it would race with a
	// concurrent SavePost in the same month, and an empty month costs
	// AuthorPosts only one cheap read.
	b := s.session.NewBatch(gocql.LoggedBatch).WithContext(ctx)
	b.Query(`DELETE FROM posts WHERE id = ?`, int64(p.ID))
	b.Query(`DELETE FROM posts_by_author WHERE author = ? AND month = ? AND id = ?`, p.Author, month(p.ID), int64(p.ID))
	if err := s.session.ExecuteBatch(b); err != nil {
		return fmt.Errorf("cassandra: delete post %s: %w", p.ID, err)
	}
	return nil
}

// AuthorPosts implements app.PostStore. It walks the author's months newest
// first and reads each month's partition until limit posts are found.
func (s *Store) AuthorPosts(ctx context.Context, author string, before app.ID, limit int) ([]app.Post, error) {
	if limit <= 0 {
		return nil, nil
	}
	monthsQ := s.session.Query(`SELECT month FROM user_post_months WHERE author = ?`, author)
	if before > 0 {
		monthsQ = s.session.Query(`SELECT month FROM user_post_months WHERE author = ? AND month <= ?`, author, month(before))
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
		return nil, fmt.Errorf("cassandra: author posts %s: months: %w", author, err)
	}
	return posts, nil
}

// monthPosts appends up to n posts of author in month m with ID < before
// (0: no bound), newest first.
func (s *Store) monthPosts(ctx context.Context, posts []app.Post, author, m string, before app.ID, n int) ([]app.Post, error) {
	q := s.session.Query(`SELECT id, text, created_at, moderated FROM posts_by_author WHERE author = ? AND month = ? LIMIT ?`,
		author, m, n)
	if before > 0 {
		q = s.session.Query(`SELECT id, text, created_at, moderated FROM posts_by_author WHERE author = ? AND month = ? AND id < ? LIMIT ?`,
			author, m, int64(before), n)
	}
	iter := q.WithContext(ctx).Iter()
	var (
		id              int64
		text, moderated string
		created         time.Time
	)
	for iter.Scan(&id, &text, &created, &moderated) {
		posts = append(posts, app.Post{ID: app.ID(id), Author: author, Text: text, CreatedAt: created.UTC(), Moderated: moderated})
	}
	if err := iter.Close(); err != nil {
		return nil, fmt.Errorf("cassandra: author posts %s month %s: %w", author, m, err)
	}
	return posts, nil
}
