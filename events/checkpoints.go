package events

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
)

// Checkpoints is where a consumer group whose handler writes to a store
// that can lose acknowledged writes (Redis restarted from an old snapshot,
// a lagging replica promoted, FLUSHALL) records how far that store holds
// its effects: per topic and partition, the next offset. It lives in that
// store itself, so when the store goes back in time, so does the
// checkpoint. Offsets map topic to partition to offset.
type Checkpoints interface {
	// Save raises group's checkpoints to next. prev is what the caller
	// last knew them to be; where the store holds less (or nothing) it lost
	// writes: Save changes nothing there and returns those partitions in
	// lost, with what the store holds (-1: nothing).
	Save(ctx context.Context, group string, prev, next map[string]map[int32]int64) (lost map[string]map[int32]int64, err error)
	// Load returns group's checkpoints of parts (topic: partitions); a
	// partition without one is absent.
	Load(ctx context.Context, group string, parts map[string][]int32) (map[string]map[int32]int64, error)
}

// Defaults of the Runner's checkpoint timings.
const (
	defaultCheckpointEvery = time.Second // as often as sarama commits
	defaultStaleCheckEvery = 5 * time.Second
)

// staleRewind decides, when a group is assigned a partition, where it must
// resume so that the store holds every committed event's effects.
// committed is the group's committed offset (-1: none), checkpoint what the
// store holds (held false: nothing), oldest the partition's log start. It
// returns the offset to resume at and whether that is a rewind.
func staleRewind(committed, checkpoint int64, held bool, oldest int64) (to int64, rewind bool) {
	if committed < 0 {
		return 0, false // no commit: the group starts at the oldest event anyway
	}
	to = oldest
	if held {
		to = max(checkpoint, oldest)
	}
	return to, to < committed
}

// lostWrites reports whether the store lost writes of a partition: it
// holds less than this process knew it to hold, or nothing.
func lostWrites(known, checkpoint int64, held bool) bool {
	return !held || checkpoint < known
}

type topicPartition struct {
	topic     string
	partition int32
}

func toOffsets(m map[topicPartition]int64) map[string]map[int32]int64 {
	out := map[string]map[int32]int64{}
	for tp, off := range m {
		if out[tp.topic] == nil {
			out[tp.topic] = map[int32]int64{}
		}
		out[tp.topic][tp.partition] = off
	}
	return out
}

// rewindStale runs when the group is assigned partitions, before they are
// consumed: each partition whose committed offset is past what the store
// holds is rewound to the store's checkpoint (the log start if it holds
// none), so the events whose effects the store lost are handled again. It
// returns the checkpoints the store holds.
func (h *groupHandler) rewindStale(s sarama.ConsumerGroupSession) (map[topicPartition]int64, error) {
	r := h.r
	ctx, cancel := context.WithTimeout(s.Context(), 30*time.Second)
	defer cancel()
	claims := s.Claims()
	var topics []string
	for t := range claims {
		topics = append(topics, t)
	}
	committed, err := h.ops.committed(r.Group, topics)
	if err != nil {
		return nil, err
	}
	held, err := r.Checkpoints.Load(ctx, r.Group, claims)
	if err != nil {
		return nil, fmt.Errorf("checkpoints of group %s: %w", r.Group, err)
	}
	known := map[topicPartition]int64{}
	rewound := false
	for topic, parts := range claims {
		for _, p := range parts {
			cp, ok := held[topic][p]
			if ok {
				known[topicPartition{topic, p}] = cp
			}
			c, has := committed[topic][p]
			if !has || (ok && cp >= c) {
				continue
			}
			oldest, err := h.ops.client.GetOffset(topic, p, sarama.OffsetOldest)
			if err != nil {
				return nil, fmt.Errorf("oldest offset of %s/%d: %w", topic, p, err)
			}
			to, rewind := staleRewind(c, cp, ok, oldest)
			if !rewind {
				continue
			}
			s.ResetOffset(topic, p, to, "")
			rewound = true
			r.Metrics.redisRewinds.WithLabelValues(r.Group).Inc()
			held := any(cp)
			if !ok {
				held = "none"
			}
			r.Log.Warn("redis holds less than the group committed: rewinding to redo the lost events",
				"group", r.Group, "topic", topic, "partition", p, "from", c, "to", to, "checkpoint", held, "events", c-to)
		}
	}
	// A loss seen by the last session counts until StoreLost succeeded (a
	// failed one is retried with the next Setup).
	rewound = rewound || h.lossSeen.Load()
	if sl, ok := r.Handler.(StoreLossHandler); ok && rewound {
		// Before the replay: what the handler keeps in the store that no
		// event redoes is dropped first.
		if err := sl.StoreLost(ctx); err != nil {
			return nil, fmt.Errorf("group %s: after the store lost writes: %w", r.Group, err)
		}
	}
	h.lossSeen.Store(false)
	return known, nil
}

// StoreLossHandler is a Handler with state in the checkpointed store that
// replaying events does not rebuild (fan-out's list feeds, which the api
// merges into): StoreLost runs when the store is found to have lost writes,
// before the replay, to drop that state so that it is rebuilt from the
// system of record.
type StoreLossHandler interface {
	StoreLost(ctx context.Context) error
}

// checkpointer keeps one session's checkpoints. A handled event's offset is
// marked (and so committed) only after the store's checkpoint covers it, so
// a committed offset never passes what the store holds unless the store
// lost it. It also watches for the store going back in time while the
// session runs, and then ends the session: the next one rewinds.
type checkpointer struct {
	r    *Runner
	sess sarama.ConsumerGroupSession
	// ctx is the session's, ended early when the store lost writes.
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	applied map[topicPartition]int64 // handled, not yet checkpointed

	known map[topicPartition]int64 // what the store held last we looked or wrote; loop only
	lost  bool                     // loop only until done is closed
	seen  *atomic.Bool             // the group handler's lossSeen
}

func (h *groupHandler) startCheckpointer(s sarama.ConsumerGroupSession, known map[topicPartition]int64) *checkpointer {
	ctx, cancel := context.WithCancel(s.Context())
	c := &checkpointer{r: h.r, sess: s, ctx: ctx, cancel: cancel, done: make(chan struct{}),
		applied: map[topicPartition]int64{}, known: known, seen: &h.lossSeen}
	go c.loop()
	return c
}

// handled records that msg's effects are in the store.
func (c *checkpointer) handled(msg *sarama.ConsumerMessage) {
	c.mu.Lock()
	c.applied[topicPartition{msg.Topic, msg.Partition}] = msg.Offset + 1
	c.mu.Unlock()
}

func (c *checkpointer) loop() {
	defer close(c.done)
	r := c.r
	every, checkEvery := r.CheckpointEvery, r.StaleCheckEvery
	if every <= 0 {
		every = defaultCheckpointEvery
	}
	if checkEvery <= 0 {
		checkEvery = defaultStaleCheckEvery
	}
	flush, check := time.NewTicker(every), time.NewTicker(checkEvery)
	defer flush.Stop()
	defer check.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-flush.C:
			c.flush(c.ctx)
		case <-check.C:
			c.check(c.ctx)
		}
		if c.lost {
			c.cancel() // the claims return and the session ends
			return
		}
	}
}

// flush checkpoints what was handled, then marks it.
func (c *checkpointer) flush(ctx context.Context) {
	c.mu.Lock()
	next := c.applied
	c.applied = map[topicPartition]int64{}
	c.mu.Unlock()
	if len(next) == 0 {
		return
	}
	r := c.r
	lost, err := r.Checkpoints.Save(ctx, r.Group, toOffsets(c.known), toOffsets(next))
	if err != nil {
		// Unmarked, the events are redone if the process stops now; kept,
		// they are checkpointed next time.
		c.mu.Lock()
		for tp, off := range next {
			c.applied[tp] = max(c.applied[tp], off)
		}
		c.mu.Unlock()
		if ctx.Err() == nil {
			r.Log.Warn("checkpoint write failed; offsets wait uncommitted", "group", r.Group, "err", err)
		}
		return
	}
	if c.sawLoss(lost) {
		return
	}
	for tp, off := range next {
		c.sess.MarkOffset(tp.topic, tp.partition, off, "")
		c.known[tp] = max(c.known[tp], off)
	}
}

// check compares what the store holds with what it was known to hold.
func (c *checkpointer) check(ctx context.Context) {
	if len(c.known) == 0 {
		return
	}
	r := c.r
	parts := map[string][]int32{}
	for tp := range c.known {
		parts[tp.topic] = append(parts[tp.topic], tp.partition)
	}
	held, err := r.Checkpoints.Load(ctx, r.Group, parts)
	if err != nil {
		if ctx.Err() == nil {
			r.Log.Warn("checkpoint read failed", "group", r.Group, "err", err)
		}
		return
	}
	lost := map[string]map[int32]int64{}
	for tp, known := range c.known {
		cp, ok := held[tp.topic][tp.partition]
		if lostWrites(known, cp, ok) {
			if !ok {
				cp = -1
			}
			if lost[tp.topic] == nil {
				lost[tp.topic] = map[int32]int64{}
			}
			lost[tp.topic][tp.partition] = cp
		}
	}
	c.sawLoss(lost)
}

// sawLoss logs the partitions the store lost writes of, if any, and
// reports whether there were some.
func (c *checkpointer) sawLoss(lost map[string]map[int32]int64) bool {
	r := c.r
	for topic, parts := range lost {
		for p, held := range parts {
			c.lost = true
			c.seen.Store(true)
			r.Log.Warn("redis lost writes (restarted from an older snapshot, failed over to a lagging replica, or flushed): ending the session to redo them",
				"group", r.Group, "topic", topic, "partition", p, "known", c.known[topicPartition{topic, p}], "holds", held)
		}
	}
	return c.lost
}

// stop ends the loop and, unless the store lost writes, checkpoints and
// marks what was handled last, so the final commit includes it.
func (c *checkpointer) stop() {
	c.cancel()
	<-c.done
	if c.lost {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c.flush(ctx)
}
