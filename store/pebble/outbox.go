package pebble

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/feedsvc/feedsvc/app"
)

var (
	_ app.Outbox          = (*Store)(nil)
	_ app.IdempotencyKeys = (*Store)(nil)
)

// Outbox key layout: a record and its done mark are separate keys, so a
// record written again (an idempotent retry) keeps its mark.
const (
	prefixOutbox     = "ob/" // ob/<shard BE u16><id BE>  -> JSON event
	prefixOutboxDone = "od/" // od/<shard BE u16><id BE>  -> empty
	prefixCursor     = "oc/" // oc/<shard BE u16>         -> id BE
	prefixIdemKey    = "ik/" // ik/<user>\0<key>          -> JSON keyBinding
)

// idemKeyTTL is how long an Idempotency-Key is remembered, as on Cassandra.
const idemKeyTTL = 24 * time.Hour

func shardKey(prefix string, shard int) []byte {
	return binary.BigEndian.AppendUint16([]byte(prefix), uint16(shard))
}

func outboxKey(prefix string, shard int, id app.ID) []byte {
	return append(shardKey(prefix, shard), idBytes(id)...)
}

// addOutbox puts out into b, the batch of the change the records announce.
func addOutbox(b *pebble.Batch, out []app.OutboxRecord) error {
	for _, r := range out {
		v, err := r.Payload()
		if err != nil {
			return fmt.Errorf("pebble: %w", err)
		}
		_ = b.Set(outboxKey(prefixOutbox, r.Shard, r.ID), v, nil)
	}
	return nil
}

// ScanOutbox implements app.Outbox.
func (s *Store) ScanOutbox(_ context.Context, shard int, after app.ID, limit int) ([]app.OutboxRecord, error) {
	it, err := s.db.NewIter(&pebble.IterOptions{
		LowerBound: outboxKey(prefixOutbox, shard, after+1),
		UpperBound: shardKey(prefixOutbox, shard+1),
	})
	if err != nil {
		return nil, fmt.Errorf("pebble: scan outbox: %w", err)
	}
	var out []app.OutboxRecord
	for ok := it.First(); ok && len(out) < limit; ok = it.Next() {
		k := it.Key()
		id := app.ID(binary.BigEndian.Uint64(k[len(k)-8:]))
		ev, err := app.DecodeOutboxEvent(it.Value())
		if err != nil {
			_ = it.Close()
			return nil, fmt.Errorf("pebble: outbox record %s: %w", id, err)
		}
		done, err := s.has(outboxKey(prefixOutboxDone, shard, id))
		if err != nil {
			_ = it.Close()
			return nil, err
		}
		out = append(out, app.OutboxRecord{ID: id, Shard: shard, Event: ev, Done: done})
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return nil, fmt.Errorf("pebble: scan outbox: %w", err)
	}
	return out, nil
}

// MarkOutboxDone implements app.Outbox.
func (s *Store) MarkOutboxDone(_ context.Context, shard int, ids []app.ID) error {
	b := s.db.NewBatch()
	defer b.Close()
	for _, id := range ids {
		_ = b.Set(outboxKey(prefixOutboxDone, shard, id), nil, nil)
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("pebble: mark outbox done: %w", err)
	}
	return nil
}

// OutboxCursor implements app.Outbox.
func (s *Store) OutboxCursor(_ context.Context, shard int) (app.ID, error) {
	v, closer, err := s.db.Get(shardKey(prefixCursor, shard))
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("pebble: outbox cursor: %w", err)
	}
	defer closer.Close()
	return app.ID(binary.BigEndian.Uint64(v)), nil
}

// SetOutboxCursor implements app.Outbox, and drops the records (and done
// marks) at or below the cursor: unlike Cassandra, Pebble deletes ranges
// cheaply, and nothing reads below the cursor again.
func (s *Store) SetOutboxCursor(_ context.Context, shard int, c app.ID) error {
	b := s.db.NewBatch()
	defer b.Close()
	_ = b.Set(shardKey(prefixCursor, shard), idBytes(c), nil)
	_ = b.DeleteRange(shardKey(prefixOutbox, shard), outboxKey(prefixOutbox, shard, c+1), nil)
	_ = b.DeleteRange(shardKey(prefixOutboxDone, shard), outboxKey(prefixOutboxDone, shard, c+1), nil)
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("pebble: move outbox cursor: %w", err)
	}
	return nil
}

// CompleteOutbox implements app.Outbox: a change and its record are one
// batch, so every record found is published.
func (s *Store) CompleteOutbox(_ context.Context, recs []app.OutboxRecord) ([]app.Completion, error) {
	return make([]app.Completion, len(recs)), nil
}

// keyBinding is a stored Idempotency-Key.
type keyBinding struct {
	ID          app.ID    `json:"id"`
	Fingerprint string    `json:"fp"`
	Expires     time.Time `json:"expires"`
}

// BindKey implements app.IdempotencyKeys; keys expire after a day.
func (s *Store) BindKey(_ context.Context, user, key string, want app.KeyBinding) (app.KeyBinding, error) {
	s.keyMu.Lock()
	defer s.keyMu.Unlock()
	k := pairKey(prefixIdemKey, user, key)
	v, closer, err := s.db.Get(k)
	switch {
	case err == nil:
		var held keyBinding
		derr := json.Unmarshal(v, &held)
		closer.Close()
		if derr != nil {
			return app.KeyBinding{}, fmt.Errorf("pebble: decode idempotency key: %w", derr)
		}
		if time.Now().Before(held.Expires) {
			return app.KeyBinding{ID: held.ID, Fingerprint: held.Fingerprint}, nil
		}
	case !errors.Is(err, pebble.ErrNotFound):
		return app.KeyBinding{}, fmt.Errorf("pebble: idempotency key: %w", err)
	}
	v, err = json.Marshal(keyBinding{ID: want.ID, Fingerprint: want.Fingerprint, Expires: time.Now().Add(idemKeyTTL)})
	if err != nil {
		return app.KeyBinding{}, fmt.Errorf("pebble: encode idempotency key: %w", err)
	}
	if err := s.db.Set(k, v, pebble.Sync); err != nil {
		return app.KeyBinding{}, fmt.Errorf("pebble: idempotency key: %w", err)
	}
	return want, nil
}
