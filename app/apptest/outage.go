package apptest

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/feedsvc/feedsvc/app"
)

// Outage is a Store whose reads a feed page makes (a rebuild's too) fail
// with app.ErrUnavailable while it is down, as Cassandra's do without a
// quorum, or each take a delay first, as a store's round trip does.
type Outage struct {
	*Store
	down  atomic.Bool
	delay atomic.Int64 // nanoseconds
}

// NewOutage returns s, up and without delay until SetDown or SetDelay.
func NewOutage(s *Store) *Outage { return &Outage{Store: s} }

// SetDown starts (true) or ends the outage.
func (d *Outage) SetDown(down bool) { d.down.Store(down) }

// SetDelay makes each of those reads wait rtt first (0: none).
func (d *Outage) SetDelay(rtt time.Duration) { d.delay.Store(int64(rtt)) }

func (d *Outage) err() error {
	if rtt := d.delay.Load(); rtt > 0 {
		time.Sleep(time.Duration(rtt))
	}
	if d.down.Load() {
		return fmt.Errorf("store: %w", app.ErrUnavailable)
	}
	return nil
}

// GetPosts implements app.PostStore.
func (d *Outage) GetPosts(ctx context.Context, ids []app.ID) (map[app.ID]app.Post, error) {
	if err := d.err(); err != nil {
		return nil, err
	}
	return d.Store.GetPosts(ctx, ids)
}

// Blocking implements app.Graph.
func (d *Outage) Blocking(ctx context.Context, u, c string, n int) ([]string, string, error) {
	if err := d.err(); err != nil {
		return nil, "", err
	}
	return d.Store.Blocking(ctx, u, c, n)
}

// BlockedBy implements app.Graph.
func (d *Outage) BlockedBy(ctx context.Context, u, c string, n int) ([]string, string, error) {
	if err := d.err(); err != nil {
		return nil, "", err
	}
	return d.Store.BlockedBy(ctx, u, c, n)
}

// Muting implements app.Graph.
func (d *Outage) Muting(ctx context.Context, u, c string, n int) ([]app.Mute, string, error) {
	if err := d.err(); err != nil {
		return nil, "", err
	}
	return d.Store.Muting(ctx, u, c, n)
}

// FolloweesAmong implements app.Graph.
func (d *Outage) FolloweesAmong(ctx context.Context, u string, users []string) ([]string, error) {
	if err := d.err(); err != nil {
		return nil, err
	}
	return d.Store.FolloweesAmong(ctx, u, users)
}

// LikeCounts implements app.Likes.
func (d *Outage) LikeCounts(ctx context.Context, reader string, ids []app.ID) (map[app.ID]app.LikeCount, error) {
	if err := d.err(); err != nil {
		return nil, err
	}
	return d.Store.LikeCounts(ctx, reader, ids)
}

// ReplyCounts implements app.Replies.
func (d *Outage) ReplyCounts(ctx context.Context, ids []app.ID) (map[app.ID]int64, error) {
	if err := d.err(); err != nil {
		return nil, err
	}
	return d.Store.ReplyCounts(ctx, ids)
}

// Following implements app.Graph.
func (d *Outage) Following(ctx context.Context, u, c string, n int) ([]string, string, error) {
	if err := d.err(); err != nil {
		return nil, "", err
	}
	return d.Store.Following(ctx, u, c, n)
}

// AuthorPosts implements app.PostStore.
func (d *Outage) AuthorPosts(ctx context.Context, author string, before app.ID, limit int) ([]app.Post, error) {
	if err := d.err(); err != nil {
		return nil, err
	}
	return d.Store.AuthorPosts(ctx, author, before, limit)
}

// RepostCounts implements app.Reposts.
func (d *Outage) RepostCounts(ctx context.Context, reader string, ids []app.ID) (map[app.ID]app.RepostCount, error) {
	if err := d.err(); err != nil {
		return nil, err
	}
	return d.Store.RepostCounts(ctx, reader, ids)
}
