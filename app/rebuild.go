package app

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
)

// UserScanner pages through every user the store recorded (EnsureUser),
// for operator jobs that must visit everyone.
type UserScanner interface {
	// Users returns up to limit users after cursor ("": from the start),
	// in an order of the store's own that stays stable while users are
	// added, and the cursor of the next page ("" at the end).
	Users(ctx context.Context, cursor string, limit int) (users []string, next string, err error)
}

// RebuildSource is what a view rebuild reads: every user, and each one's
// posts.
type RebuildSource interface {
	UserScanner
	AuthorPosts(ctx context.Context, author string, before ID, limit int) ([]Post, error)
}

// The views RebuildView can rebuild from the store: those kept only in
// Redis, which a Redis loss older than the event log's retention would
// otherwise leave with holes for good.
const (
	// ViewSearch is the search index (what the search consumer writes).
	ViewSearch = "search"
	// ViewTrends is the activity counters: trends and each author's posts
	// per hour (what the analytics consumer writes).
	ViewTrends = "trends"
)

// RebuildViews lists the views RebuildView knows, for usage and errors.
var RebuildViews = []string{ViewSearch, ViewTrends}

// PostWriter writes one live post into a view, idempotently: what the
// view's consumer does on post.created.
type PostWriter func(ctx context.Context, p Post) error

// IndexPost is the search index's PostWriter, as Indexer writes it.
func IndexPost(idx SearchIndex) PostWriter {
	return func(ctx context.Context, p Post) error {
		if err := idx.Index(ctx, p.ID, Terms(p.Text)); err != nil {
			return fmt.Errorf("index post %s: %w", p.ID, err)
		}
		return nil
	}
}

// CountPost is the activity counters' PostWriter, as Analyst writes it.
func CountPost(an Analytics) PostWriter {
	return func(ctx context.Context, p Post) error {
		if err := an.RecordPost(ctx, p.ID, p.Author, Hashtags(p.Text), postTime(p)); err != nil {
			return fmt.Errorf("record post %s of %s: %w", p.ID, p.Author, err)
		}
		return nil
	}
}

// postTime is the time a post is counted at: its CreatedAt, or for an
// event that carries only the ID (post.deleted) the ID's time, which is
// CreatedAt for every post the api creates.
func postTime(p Post) time.Time {
	if p.CreatedAt.IsZero() {
		return p.ID.Time().UTC()
	}
	return p.CreatedAt.UTC()
}

// RebuildProgress is where a rebuild stands.
type RebuildProgress struct {
	Users   int64 // users whose posts were all visited
	Written int64 // posts written into the view
	Skipped int64 // reposts and moderated posts: no view counts them
}

// rebuildPage is how many users, and how many of one user's posts, a
// rebuild reads at a time.
const rebuildPage = 200

// RebuildView writes every live post made at or after since (zero: all)
// into a view, from the store: each user's posts, workers users at a time.
// Reposts and moderated posts are skipped, as the consumers skip or
// remove them; deleted posts are no longer in the store. The writes are
// the consumers' own and idempotent, so a rebuild can run beside them and
// again after a failure. progress, if set, is called after each user.
func RebuildView(ctx context.Context, src RebuildSource, write PostWriter, since time.Time, workers int, progress func(RebuildProgress)) (RebuildProgress, error) {
	var users, written, skipped atomic.Int64
	snapshot := func() RebuildProgress {
		return RebuildProgress{Users: users.Load(), Written: written.Load(), Skipped: skipped.Load()}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(workers, 1))
	cursor := ""
	for {
		page, next, err := src.Users(gctx, cursor, rebuildPage)
		if err != nil {
			// A worker's failure cancels gctx: its error is the cause.
			if werr := g.Wait(); werr != nil {
				return snapshot(), werr
			}
			return snapshot(), fmt.Errorf("rebuild: list users after %q: %w", cursor, err)
		}
		for _, u := range page {
			g.Go(func() error {
				w, s, err := rebuildUser(gctx, src, write, u, since)
				written.Add(w)
				skipped.Add(s)
				if err != nil {
					return err
				}
				users.Add(1)
				if progress != nil {
					progress(snapshot())
				}
				return nil
			})
		}
		if next == "" || gctx.Err() != nil {
			break
		}
		cursor = next
	}
	if err := g.Wait(); err != nil {
		return snapshot(), err
	}
	return snapshot(), ctx.Err()
}

// rebuildUser writes author's posts since since, newest first.
func rebuildUser(ctx context.Context, src RebuildSource, write PostWriter, author string, since time.Time) (written, skipped int64, _ error) {
	var before ID
	for {
		ps, err := src.AuthorPosts(ctx, author, before, rebuildPage)
		if err != nil {
			return written, skipped, fmt.Errorf("rebuild: posts of %s: %w", author, err)
		}
		for _, p := range ps {
			if p.ID.Time().Before(since) {
				return written, skipped, nil // newest first: the rest is older
			}
			if p.IsRepost() || p.Moderated != "" {
				skipped++
				continue
			}
			if err := write(ctx, p); err != nil {
				return written, skipped, fmt.Errorf("rebuild: %w", err)
			}
			written++
		}
		if len(ps) < rebuildPage {
			return written, skipped, nil
		}
		before = ps[len(ps)-1].ID
	}
}
