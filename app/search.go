package app

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"
)

// Indexer keeps the search index up to date from events: post.created
// indexes the post's terms, post.deleted and post.moderated remove it.
// Index and Unindex are idempotent, so redelivery and replay are harmless.
type Indexer struct {
	Posts  PostStore
	Search SearchIndex
	// PendingWindow is how long a post.created whose post is not visible
	// yet (and not recorded deleted) is retried (0: DefaultPendingWindow).
	PendingWindow time.Duration
	// Now is the clock the window is measured with (nil: time.Now).
	Now func() time.Time
	Log *slog.Logger
}

// Handle implements Handler.
func (x *Indexer) Handle(ctx context.Context, ev Event) error {
	if ev.Post == nil {
		return nil
	}
	switch ev.Type {
	case PostCreated:
		if ev.Post.IsRepost() {
			return nil // no text of its own: search finds the original
		}
		// A replayed post.created of a since-deleted or moderated post must
		// not come back; the stored post is also the authoritative text.
		p, ok, err := newPostLookup(x.Posts, x.PendingWindow, x.Now, x.Log).get(ctx, ev)
		if err != nil || !ok || p.Moderated != "" {
			return err
		}
		return IndexPost(x.Search)(ctx, p)
	case PostDeleted, PostModerated:
		if err := x.Search.Unindex(ctx, ev.Post.ID); err != nil {
			return fmt.Errorf("unindex post %s: %w", ev.Post.ID, err)
		}
	}
	return nil
}

// maxSearchRounds bounds how many index pages one Search reads while
// filling a page with visible posts.
const maxSearchRounds = 5

// Search query caps: each term is a sorted set read, so a query's cost
// grows with its terms; the length is checked before any folding.
const (
	MaxQueryChars = 256
	MaxQueryTerms = 8
)

// queryTerms checks a search query against the caps and folds it into
// index terms. A hashtag counts as one term though it is looked up under
// two ("#go" and "go").
func queryTerms(q string) ([]string, error) {
	if n := utf8.RuneCountInString(q); n > MaxQueryChars {
		return nil, fmt.Errorf("%w: the query has %d characters, more than %d", ErrInvalid, n, MaxQueryChars)
	}
	terms := Terms(q)
	if len(terms) == 0 {
		return nil, fmt.Errorf("%w: the query has no searchable words", ErrInvalid)
	}
	words := 0
	for _, t := range terms {
		if !strings.HasPrefix(t, "#") {
			words++
		}
	}
	if words > MaxQueryTerms {
		return nil, fmt.Errorf("%w: the query has %d terms, more than %d", ErrInvalid, words, MaxQueryTerms)
	}
	return terms, nil
}

// Discovery is the read side of search and analytics: full-text search over
// posts, trending hashtags and per-author activity.
//
// The index field is Index, not Search: Go forbids a field and a method of
// the same name.
type Discovery struct {
	Index     SearchIndex
	Analytics Analytics
	Posts     PostStore
	Now       func() time.Time
}

func (d *Discovery) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

// Search returns up to limit posts visible to caller that contain every
// term of q (folded, see Terms), newest first. The cursor is the last post
// ID of the previous page; an empty next cursor means there are no more.
func (d *Discovery) Search(ctx context.Context, caller, q, cursor string, limit int) ([]Post, string, error) {
	terms, err := queryTerms(q)
	if err != nil {
		return nil, "", err
	}
	if limit < 1 {
		return nil, "", fmt.Errorf("%w: limit must be positive", ErrInvalid)
	}
	before, err := parseCursor(cursor)
	if err != nil {
		return nil, "", err
	}
	posts := make([]Post, 0, limit)
	for range maxSearchRounds {
		// One past the page says whether the index has more.
		ids, err := d.Index.Search(ctx, terms, before, limit+1)
		if err != nil {
			return nil, "", fmt.Errorf("search %q: %w", q, err)
		}
		exhausted := len(ids) <= limit
		found, err := d.Posts.GetPosts(ctx, ids)
		if err != nil {
			return nil, "", fmt.Errorf("hydrate search results: %w", err)
		}
		for i, id := range ids {
			// A post deleted or moderated since it was indexed is skipped
			// here; its event removes it from the index shortly.
			if p, ok := found[id]; ok && p.VisibleTo(caller) {
				posts = append(posts, p)
				if len(posts) == limit {
					if exhausted && i == len(ids)-1 {
						return posts, "", nil
					}
					return posts, id.String(), nil
				}
			}
		}
		if exhausted {
			return posts, "", nil
		}
		before = ids[len(ids)-1]
	}
	// Too many hidden posts in a row: hand back a short page and let the
	// client continue after the last ID looked at.
	return posts, before.String(), nil
}

// Trends returns the limit most used hashtags in the window up to now, most
// used first.
func (d *Discovery) Trends(ctx context.Context, window time.Duration, limit int) ([]TagCount, error) {
	if window <= 0 {
		return nil, fmt.Errorf("%w: window must be positive", ErrInvalid)
	}
	if limit < 1 {
		return nil, fmt.Errorf("%w: limit must be positive", ErrInvalid)
	}
	now := d.now()
	tags, err := d.Analytics.TopTags(ctx, now.Add(-window), now, limit)
	if err != nil {
		return nil, fmt.Errorf("top tags of the last %s: %w", window, err)
	}
	return tags, nil
}

// AuthorStats returns author's posts per hour for the last hours hours, the
// current (partial) hour included, oldest first.
func (d *Discovery) AuthorStats(ctx context.Context, author string, hours int) ([]HourCount, error) {
	if hours < 1 {
		return nil, fmt.Errorf("%w: hours must be positive", ErrInvalid)
	}
	now := d.now()
	from := now.Truncate(time.Hour).Add(-time.Duration(hours-1) * time.Hour)
	counts, err := d.Analytics.AuthorHourly(ctx, author, from, now)
	if err != nil {
		return nil, fmt.Errorf("hourly posts of %s: %w", author, err)
	}
	return counts, nil
}
