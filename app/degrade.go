package app

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"
)

// Degraded reads. While the store is unavailable a feed page can still be
// served from what Redis and the api process hold: the page's IDs come
// from Redis, its posts from the post cache, the reader's blocks and mutes
// from a copy at most MaxStale past its expiry. What cannot be had is left
// out: posts not in the cache, replies whose rule needs the graph, reposts
// whose settings cannot be read; counts read as zero. The reader is told
// what was missing (Degraded). Only reads that ask (WithDegradedReads)
// degrade: every other caller, writes and consumers included, still gets
// the error.

// MaxStale bounds how long past its expiry a degraded read may use a
// cached copy (of a post, or of a reader's blocks and mutes): a block or
// a delete made through another process within that time may not show
// while the store is down.
const MaxStale = 5 * time.Minute

// Parts a degraded read can go without, as Degraded reports them.
const (
	DegradedPosts   = "posts"
	DegradedHidden  = "blocks-mutes"
	DegradedReplies = "replies"
	DegradedReposts = "reposts"
	DegradedCounts  = "counts"
)

type degradedKey struct{}

type degradation struct {
	mu   sync.Mutex
	what []string
}

// WithDegradedReads returns a context under which reads may answer without
// the store (see Degrade); Degraded then reports what they went without.
func WithDegradedReads(ctx context.Context) context.Context {
	return context.WithValue(ctx, degradedKey{}, &degradation{})
}

// Degrade reports whether a read under ctx may go on without what err
// failed to give (part, one of the Degraded* names), and records it. Only
// a store that is unavailable (ErrUnavailable) is gone without; a read not
// under WithDegradedReads never is.
func Degrade(ctx context.Context, err error, part string) bool {
	d, _ := ctx.Value(degradedKey{}).(*degradation)
	if d == nil || !errors.Is(err, ErrUnavailable) {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if !slices.Contains(d.what, part) {
		d.what = append(d.what, part)
	}
	return true
}

// Degraded returns what the reads under ctx went without, in the order
// met (nil: nothing, the answer is whole).
func Degraded(ctx context.Context) []string {
	d, _ := ctx.Value(degradedKey{}).(*degradation)
	if d == nil {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.what)
}
