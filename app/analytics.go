package app

import (
	"cmp"
	"context"
	"fmt"
	"slices"
)

// Analyst keeps activity counters from events: on post.created it counts
// the post for its author's hour and each of its hashtags; post.deleted and
// post.moderated take exactly that back, so a deleted or moderated post's
// hashtags leave the trends. The Analytics sink counts each post once and
// un-counts it once, and a post it un-counted is never counted again, so
// redelivery and replay (create then delete, in order) stay exact.
type Analyst struct {
	Analytics Analytics
}

// Handle implements Handler.
func (a *Analyst) Handle(ctx context.Context, ev Event) error {
	if ev.Post == nil {
		return nil
	}
	p := ev.Post
	switch ev.Type {
	case PostCreated:
		if p.IsRepost() {
			return nil // no text, and not a post of the reposter's own
		}
		return CountPost(a.Analytics)(ctx, *p)
	case PostDeleted, PostModerated:
		// The bucket is the post's time, as RecordPost's.
		if err := a.Analytics.RemovePost(ctx, p.ID, postTime(*p)); err != nil {
			return fmt.Errorf("remove post %s of %s: %w", p.ID, p.Author, err)
		}
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
