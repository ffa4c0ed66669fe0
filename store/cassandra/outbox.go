package cassandra

import (
	"context"
	"errors"
	"time"

	"github.com/gocql/gocql"

	"github.com/feedsvc/feedsvc/app"
)

var (
	_ app.Outbox          = (*Store)(nil)
	_ app.IdempotencyKeys = (*Store)(nil)
)

const (
	// outboxBucket is the time span of one outbox partition.
	outboxBucket = 10 * time.Minute
	// outboxRetention is the outbox table's TTL: older records are gone.
	outboxRetention = 7 * 24 * time.Hour
	// outboxSkew: records are read up to this far in the future, for
	// writers whose clock runs ahead.
	outboxSkew = time.Minute
)

func bucketOf(t time.Time) int64 { return t.UnixMilli() / outboxBucket.Milliseconds() }

// writeOutbox writes the records, each a single-partition write. The
// insert leaves done alone, so a record written again (an idempotent
// retry) keeps its mark.
func (s *Store) writeOutbox(ctx context.Context, out []app.OutboxRecord) error {
	for _, r := range out {
		v, err := r.Payload()
		if err != nil {
			return err
		}
		err = s.query(`INSERT INTO outbox (shard, bucket, id, event) VALUES (?, ?, ?, ?)`,
			r.Shard, bucketOf(r.ID.Time()), int64(r.ID), v).WithContext(ctx).Exec()
		if err != nil {
			return failf("outbox record %s: %w", r.ID, err)
		}
	}
	return nil
}

// CompleteOutbox implements app.Outbox: the store writes a record before
// its change, so the change of a post is written again, the same way (at
// the same timestamp: a deletion or moderation since wins over it), and
// that of a follow, which an LWT decides, is looked up (completeEdge); a
// block's, mute's or like's is written again at its timestamp
// (completeBlock, completeMute, completeLike).
func (s *Store) CompleteOutbox(ctx context.Context, recs []app.OutboxRecord) ([]app.Completion, error) {
	verdicts := make([]app.Completion, len(recs))
	for i, r := range recs {
		ev := r.Event
		var err error
		switch {
		case ev.Type == app.PostCreated && ev.Post != nil:
			err = s.writePost(ctx, *ev.Post)
		case ev.Type == app.PostDeleted && ev.Post != nil:
			err = s.deletePost(ctx, *ev.Post, ev.Time)
		case (ev.Type == app.UserFollowed || ev.Type == app.UserUnfollowed) && ev.Follow != nil:
			verdicts[i], err = s.completeEdge(ctx, r)
		case (ev.Type == app.UserBlocked || ev.Type == app.UserUnblocked) && ev.Block != nil:
			err = s.completeBlock(ctx, r)
		case (ev.Type == app.UserMuted || ev.Type == app.UserUnmuted) && ev.Mute != nil:
			err = s.completeMute(ctx, r)
		case (ev.Type == app.PostLiked || ev.Type == app.PostUnliked) && ev.Like != nil:
			err = s.completeLike(ctx, r)
		}
		if err != nil {
			return nil, failf("cassandra: complete outbox record %s (%s): %w", r.ID, ev.ID, err)
		}
	}
	return verdicts, nil
}

// ScanOutbox implements app.Outbox: it reads the shard's partitions from
// the one holding after up to the present (plus outboxSkew), one bounded
// query each, and stops at limit.
func (s *Store) ScanOutbox(ctx context.Context, shard int, after app.ID, limit int) ([]app.OutboxRecord, error) {
	now := time.Now()
	first := max(bucketOf(after.Time()), bucketOf(now.Add(-outboxRetention)))
	last := bucketOf(now.Add(outboxSkew))
	var out []app.OutboxRecord
	for b := first; b <= last && len(out) < limit; b++ {
		iter := s.query(`SELECT id, event, done FROM outbox WHERE shard = ? AND bucket = ? AND id > ? LIMIT ?`,
			shard, b, int64(after), limit-len(out)).WithContext(ctx).Iter()
		var (
			id    int64
			event []byte
			done  bool
		)
		for iter.Scan(&id, &event, &done) {
			r := app.OutboxRecord{ID: app.ID(id), Shard: shard, Done: done}
			switch {
			case len(event) == 0:
				// Only the done mark outlived the record (its update
				// came later, with a fresh TTL): nothing to publish.
				r.Done = true
			case done:
				// Published: its event is not needed (scans reread
				// many such records).
			default:
				ev, err := app.DecodeOutboxEvent(event)
				if err != nil {
					_ = iter.Close()
					return nil, err
				}
				r.Event = ev
			}
			out = append(out, r)
			event, done = nil, false
		}
		if err := iter.Close(); err != nil {
			return nil, failf("cassandra: scan outbox shard %d: %w", shard, err)
		}
	}
	return out, nil
}

// MarkOutboxDone implements app.Outbox, one unlogged batch per partition.
func (s *Store) MarkOutboxDone(ctx context.Context, shard int, ids []app.ID) error {
	byBucket := map[int64][]app.ID{}
	for _, id := range ids {
		b := bucketOf(id.Time())
		byBucket[b] = append(byBucket[b], id)
	}
	var errs []error
	for bucket, ids := range byBucket {
		b := s.unloggedBatch().WithContext(ctx)
		for _, id := range ids {
			b.Query(`UPDATE outbox USING TTL ? SET done = true WHERE shard = ? AND bucket = ? AND id = ?`,
				int(outboxRetention.Seconds()), shard, bucket, int64(id))
		}
		if err := s.execBatch(b); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return failf("cassandra: mark outbox shard %d done: %w", shard, err)
	}
	return nil
}

// OutboxCursor implements app.Outbox.
func (s *Store) OutboxCursor(ctx context.Context, shard int) (app.ID, error) {
	var c int64
	err := s.query(`SELECT cursor FROM outbox_cursors WHERE shard = ?`, shard).WithContext(ctx).Scan(&c)
	if errors.Is(err, gocql.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, failf("cassandra: outbox cursor %d: %w", shard, err)
	}
	return app.ID(c), nil
}

// SetOutboxCursor implements app.Outbox. Records below the cursor are left
// to their TTL: deleting them would only add tombstones.
func (s *Store) SetOutboxCursor(ctx context.Context, shard int, c app.ID) error {
	err := s.query(`INSERT INTO outbox_cursors (shard, cursor) VALUES (?, ?)`, shard, int64(c)).WithContext(ctx).Exec()
	if err != nil {
		return failf("cassandra: move outbox cursor %d: %w", shard, err)
	}
	return nil
}

// BindKey implements app.IdempotencyKeys with an LWT, so two concurrent
// requests with one key agree on the post. Keys expire after a day (the
// table's TTL).
func (s *Store) BindKey(ctx context.Context, user, key string, want app.KeyBinding) (_ app.KeyBinding, err error) {
	ctx, end := s.bound(ctx)
	defer func() { err = end(err) }()
	prev := map[string]any{}
	applied, err := lwt(s.query(`INSERT INTO idempotency_keys (user, key, post_id, fingerprint) VALUES (?, ?, ?, ?) IF NOT EXISTS`,
		user, key, int64(want.ID), want.Fingerprint)).WithContext(ctx).MapScanCAS(prev)
	if err != nil {
		return app.KeyBinding{}, failf("cassandra: idempotency key: %w", err)
	}
	if applied {
		return want, nil
	}
	id, _ := prev["post_id"].(int64)
	fp, _ := prev["fingerprint"].(string)
	return app.KeyBinding{ID: app.ID(id), Fingerprint: fp}, nil
}
