package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"time"
)

// The transactional outbox: every event the api emits is written by the
// store together with the change it announces (a post, its deletion, a
// follow edge), as an OutboxRecord: in the same atomic write, or first,
// with the relay completing the change (Outbox.CompleteOutbox) when the
// write after it did not land. A Relay publishes the records to the log,
// in order per shard, so an event exists exactly when its change does: a
// crash or a Kafka outage delays events, never loses them, and a change
// that was not written announces nothing.

// OutboxShards is how many shards the outbox has. A record's shard is a
// hash of its event's partition key (the author, the follower), so one
// author's events keep their order. It is part of the stored layout: a new
// value needs the outbox drained first.
const OutboxShards = 16

// OutboxShard is the shard of the events keyed by key.
func OutboxShard(key string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	return int(h.Sum32() % OutboxShards)
}

// OutboxRecord is one event in the outbox.
type OutboxRecord struct {
	// ID orders the records of a shard; it is a Snowflake ID, so it also
	// says when the record was made.
	ID    ID
	Shard int
	Event Event
	// Done is set by ScanOutbox on records already published.
	Done bool
}

// NewOutboxRecord makes the record of ev, placed by the event's key.
func NewOutboxRecord(id ID, ev Event) OutboxRecord {
	return OutboxRecord{ID: id, Shard: OutboxShard(ev.Key()), Event: ev}
}

// Payload is the record's event as stored.
func (r OutboxRecord) Payload() ([]byte, error) {
	b, err := json.Marshal(r.Event)
	if err != nil {
		return nil, fmt.Errorf("outbox record %s: encode: %w", r.ID, err)
	}
	return b, nil
}

// DecodeOutboxEvent reads a stored payload back.
func DecodeOutboxEvent(b []byte) (Event, error) {
	var ev Event
	if err := json.Unmarshal(b, &ev); err != nil {
		return Event{}, fmt.Errorf("outbox: decode event: %w", err)
	}
	return ev, nil
}

// Outbox is the relay's side of the store's outbox. The store writes
// records with the changes (PostStore.SavePost, DeletePost, Graph.Follow,
// Unfollow take them); the relay scans, publishes and marks them.
type Outbox interface {
	// ScanOutbox returns up to limit records of shard with ID > after, in
	// ID order, including those marked done (Done set; their Event may be
	// left empty). A store may drop records past its retention (days).
	ScanOutbox(ctx context.Context, shard int, after ID, limit int) ([]OutboxRecord, error)
	// MarkOutboxDone records that the records ids of shard were published.
	MarkOutboxDone(ctx context.Context, shard int, ids []ID) error
	// OutboxCursor returns shard's cursor: every record at or below it is
	// done (0 when never set).
	OutboxCursor(ctx context.Context, shard int) (ID, error)
	// SetOutboxCursor moves shard's cursor; a store may then drop the
	// records at or below it.
	SetOutboxCursor(ctx context.Context, shard int, cursor ID) error
	// CompleteOutbox makes sure the changes recs announce are in the
	// store before the relay publishes them, and says for each record
	// whether to publish it. A store that writes a change and its record
	// in one atomic write has nothing to do: every record is published.
	// One that writes the record first and the change after it (so that no
	// single write spans replicas that may be down) writes the change
	// again here, idempotently and without undoing anything that came
	// after it (a post deleted since stays deleted), or, for a change that
	// may not happen (a follow decided by a conditional write), reports
	// whether it did.
	CompleteOutbox(ctx context.Context, recs []OutboxRecord) ([]Completion, error)
}

// Completion is what the relay does with a record, as CompleteOutbox
// finds its change.
type Completion uint8

const (
	// Publish: the change is in the store.
	Publish Completion = iota
	// Drop: the change did not happen and never will (a follow of an
	// edge that existed, or whose write failed): the record announces
	// nothing and is marked done unpublished.
	Drop
	// Wait: the change may still be under way (its write is in flight):
	// the record, and those after it of the same follow edge, wait for
	// the next step.
	Wait
)

// ShardLeases lends outbox shards to relays, so that with several api
// processes each shard has one relay at a time. A store that only one
// process can open needs none.
type ShardLeases interface {
	// LeaseShard leases shard to owner for ttl if it is free (never
	// leased, released or expired); it reports whether owner holds it.
	LeaseShard(ctx context.Context, shard int, owner string, ttl time.Duration) (bool, error)
	// RenewShard extends owner's lease of shard; ErrLeaseLost when owner
	// does not hold it.
	RenewShard(ctx context.Context, shard int, owner string, ttl time.Duration) error
	// ReleaseShard frees shard if owner holds it.
	ReleaseShard(ctx context.Context, shard int, owner string) error
}

// BatchPublisher publishes several events in one round trip, keeping the
// order of events with the same key. A Publisher that implements it lets
// the relay publish a backlog quickly. PublishBatch returns once every
// event is acknowledged or refused, within a bound of its own, or when ctx
// ends.
type BatchPublisher interface {
	PublishBatch(ctx context.Context, evs []Event) error
}

// PartialPublishError is a batch publish of which only some events failed:
// the others are in the log, and publishing them again would duplicate
// them (after an outage, while some partitions still had no leader, whole
// batches of hundreds were sent again for a few failed events).
type PartialPublishError struct {
	// Failed holds the indexes, in the batch, of the events not published.
	Failed []int
	Err    error
}

func (e *PartialPublishError) Error() string {
	return fmt.Sprintf("%d events of the batch not published: %v", len(e.Failed), e.Err)
}

func (e *PartialPublishError) Unwrap() error { return e.Err }

// Dispatcher hands a record just written to the relay, so that it is
// published now instead of at the next poll. It returns once the record is
// published, when ctx ends, or at once when the relay cannot publish it
// soon (another process holds its shard, or Kafka is failing); the record
// is durable in any case.
type Dispatcher interface {
	Dispatch(ctx context.Context, rec OutboxRecord)
}

// ErrKeyReused means an Idempotency-Key came back with a different request.
var ErrKeyReused = errors.New("idempotency key already used for a different request")

// ErrKeyPostDeleted means an Idempotency-Key came back after the post its
// first request made was deleted: the request is not made again (a retry
// must not bring a deleted post back), and the post it would answer with
// no longer exists.
var ErrKeyPostDeleted = errors.New("the post made with this idempotency key was deleted")

// KeyBinding is what an idempotency key is bound to: the post it created
// and a fingerprint of the request that created it.
type KeyBinding struct {
	ID          ID
	Fingerprint string
}

// IdempotencyKeys remembers, for a while (a day), which post a client's
// Idempotency-Key created, so that a retried POST creates nothing new.
type IdempotencyKeys interface {
	// BindKey binds user's key to b unless it is bound already, atomically
	// (two concurrent calls agree), and returns the binding that holds.
	BindKey(ctx context.Context, user, key string, b KeyBinding) (KeyBinding, error)
}

// OutboxBacklog is what waits in the outbox.
type OutboxBacklog struct {
	// Pending is the number of records not yet published.
	Pending int
	// Oldest is when the oldest of them was made (zero when none).
	Oldest time.Time
}

// ReadOutboxBacklog counts the records not yet published, in every shard,
// reading each from its cursor.
func ReadOutboxBacklog(ctx context.Context, o Outbox) (OutboxBacklog, error) {
	var b OutboxBacklog
	for shard := range OutboxShards {
		after, err := o.OutboxCursor(ctx, shard)
		if err != nil {
			return b, err
		}
		for {
			recs, err := o.ScanOutbox(ctx, shard, after, 1000)
			if err != nil {
				return b, err
			}
			for _, r := range recs {
				if r.Done {
					continue
				}
				b.Pending++
				if t := r.ID.Time(); b.Oldest.IsZero() || t.Before(b.Oldest) {
					b.Oldest = t
				}
			}
			if len(recs) < 1000 {
				break
			}
			after = recs[len(recs)-1].ID
		}
	}
	return b, nil
}
