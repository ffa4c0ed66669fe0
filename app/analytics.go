package app

import (
	"cmp"
	"context"
	"fmt"
	"slices"
)

// Analyst keeps activity counters from events: on post.created it counts
// the post for its author's hour and each of its hashtags. The Analytics
// sink counts each event ID once, so redelivery and replay are harmless.
type Analyst struct {
	Analytics Analytics
}

// Handle implements Handler.
func (a *Analyst) Handle(ctx context.Context, ev Event) error {
	if ev.Type != PostCreated || ev.Post == nil {
		return nil // not ours
	}
	p := ev.Post
	at := p.CreatedAt
	if at.IsZero() {
		at = p.ID.Time()
	}
	id := ev.ID
	if id == "" {
		// Every producer sets one; the post ID is the next best dedupe key.
		id = "post:" + p.ID.String()
	}
	if err := a.Analytics.RecordPost(ctx, id, p.Author, Hashtags(p.Text), at.UTC()); err != nil {
		return fmt.Errorf("record post %s of %s: %w", p.ID, p.Author, err)
	}
	return nil
}

// RankTags orders tag totals for trends: most used first, ties by tag, at
// most limit (0: all).
func RankTags(totals map[string]int64, limit int) []TagCount {
	out := make([]TagCount, 0, len(totals))
	for tag, n := range totals {
		out = append(out, TagCount{Tag: tag, Count: n})
	}
	slices.SortFunc(out, func(x, y TagCount) int {
		if c := cmp.Compare(y.Count, x.Count); c != 0 {
			return c
		}
		return cmp.Compare(x.Tag, y.Tag)
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out
}
