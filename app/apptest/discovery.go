package apptest

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/feedsvc/feedsvc/app"
)

type record struct {
	author string
	tags   []string
	at     time.Time
}

// Analytics is an in-memory app.Analytics counting minute buckets, like the
// Redis adapter: a query's edges take the whole minute they fall in. It
// keeps every bucket, past the adapter's retention too.
type Analytics struct {
	mu      sync.Mutex
	records map[app.ID]record // by post, so each post counts once
	removed map[app.ID]bool   // posts taken back: never counted again
}

var _ app.Analytics = (*Analytics)(nil)

// NewAnalytics returns empty counters.
func NewAnalytics() *Analytics {
	return &Analytics{records: map[app.ID]record{}, removed: map[app.ID]bool{}}
}

// RecordPost implements app.Analytics.
func (a *Analytics) RecordPost(_ context.Context, post app.ID, author string, tags []string, at time.Time) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.records[post]; !ok && !a.removed[post] {
		a.records[post] = record{author: author, tags: slices.Compact(slices.Sorted(slices.Values(tags))), at: at}
	}
	return nil
}

// RemovePost implements app.Analytics.
func (a *Analytics) RemovePost(_ context.Context, post app.ID, _ time.Time) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.records, post)
	a.removed[post] = true
	return nil
}

// TopTags implements app.Analytics: ties are broken by tag; a limit below
// 1 returns every tag.
func (a *Analytics) TopTags(_ context.Context, from, to time.Time, limit int) ([]app.TagCount, error) {
	a.mu.Lock()
	totals := map[string]int64{}
	for _, r := range a.records {
		if inMinutes(r.at, from, to) {
			for _, t := range r.tags {
				totals[t]++
			}
		}
	}
	a.mu.Unlock()
	return app.RankTags(totals, limit), nil
}

// AuthorHourly implements app.Analytics: one entry per UTC hour overlapping
// [from, to), oldest first, zero counts included.
func (a *Analytics) AuthorHourly(_ context.Context, author string, from, to time.Time) ([]app.HourCount, error) {
	var out []app.HourCount
	first := from.UTC().Truncate(time.Hour)
	for h := first; h.Before(to); h = h.Add(time.Hour) {
		out = append(out, app.HourCount{Hour: h})
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, r := range a.records {
		if r.author == author && inMinutes(r.at, from, to) {
			out[int(r.at.Truncate(time.Minute).Sub(first)/time.Hour)].Count++
		}
	}
	return out, nil
}

// inMinutes reports whether at's minute overlaps [from, to).
func inMinutes(at, from, to time.Time) bool {
	m := at.Truncate(time.Minute)
	return !m.Before(from.Truncate(time.Minute)) && m.Before(to)
}

// Search is an in-memory app.SearchIndex, without a cap or retention
// unless NewCappedSearch or NewBoundedSearch gave it one.
type Search struct {
	mu        sync.Mutex
	cap       int           // per term; 0: none
	retention time.Duration // 0: none
	terms     map[string]map[app.ID]bool
	docs      map[app.ID][]string
}

var _ app.SearchIndex = (*Search)(nil)

// NewSearch returns an empty index without a cap.
func NewSearch() *Search { return NewCappedSearch(0) }

// NewCappedSearch returns an empty index that keeps the newest capPerTerm
// posts of each term, as the Redis index does (0: no cap). Like Redis, it
// keeps the term list of a post the cap cut, for Unindex.
func NewCappedSearch(capPerTerm int) *Search { return NewBoundedSearch(capPerTerm, 0) }

// NewBoundedSearch is NewCappedSearch keeping only posts made within
// retention, as the Redis index does (0: every post).
func NewBoundedSearch(capPerTerm int, retention time.Duration) *Search {
	return &Search{cap: capPerTerm, retention: retention, terms: map[string]map[app.ID]bool{}, docs: map[app.ID][]string{}}
}

// floor is the oldest ID the index keeps (0: any).
func (x *Search) floor() app.ID {
	if x.retention <= 0 {
		return 0
	}
	return app.MinIDAt(time.Now().Add(-x.retention))
}

// Index implements app.SearchIndex.
func (x *Search) Index(_ context.Context, id app.ID, terms []string) error {
	if id < x.floor() {
		return nil
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, t := range terms {
		if x.terms[t] == nil {
			x.terms[t] = map[app.ID]bool{}
		}
		x.terms[t][id] = true
		if !slices.Contains(x.docs[id], t) {
			x.docs[id] = append(x.docs[id], t)
		}
		if posts := x.terms[t]; x.cap > 0 && len(posts) > x.cap {
			all := slices.Sorted(maps.Keys(posts))
			for _, old := range all[:len(all)-x.cap] {
				delete(posts, old)
			}
		}
	}
	return nil
}

// Unindex implements app.SearchIndex.
func (x *Search) Unindex(_ context.Context, id app.ID) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, t := range x.docs[id] {
		delete(x.terms[t], id)
	}
	delete(x.docs, id)
	return nil
}

// Docs returns the terms each indexed post is indexed under.
func (x *Search) Docs() map[app.ID][]string {
	x.mu.Lock()
	defer x.mu.Unlock()
	out := make(map[app.ID][]string, len(x.docs))
	for id, terms := range x.docs {
		out[id] = slices.Clone(terms)
	}
	return out
}

// Search implements app.SearchIndex.
func (x *Search) Search(_ context.Context, terms []string, before app.ID, limit int) ([]app.ID, error) {
	if len(terms) == 0 {
		return nil, nil
	}
	floor := x.floor()
	x.mu.Lock()
	var out []app.ID
	for id := range x.terms[terms[0]] {
		ok := (before == 0 || id < before) && id >= floor
		for _, t := range terms[1:] {
			ok = ok && x.terms[t][id]
		}
		if ok {
			out = append(out, id)
		}
	}
	x.mu.Unlock()
	slices.SortFunc(out, func(a, b app.ID) int { return cmp.Compare(b, a) })
	return out[:min(limit, len(out))], nil
}
