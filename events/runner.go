package events

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"go.opentelemetry.io/otel/trace"

	"github.com/feedsvc/feedsvc/app"
)

// Runner consumes topics as one consumer group and feeds every event to a
// handler, at least once: an offset is marked (and so committed) only after
// the handler succeeded.
//
// Failures are sorted by kind. An event that can never succeed (one that
// does not decode, or whose handler returns an error wrapping
// app.ErrInvalid) goes to the topic's dead-letter topic at once and the
// partition moves on. Any other failure, a handler panic included, is taken
// for a dependency's: the event is retried with exponential backoff and
// jitter for as long as it lasts, its offset uncommitted, and the events
// of its key wait (they are not handled out of order). While it waits,
// feedsvc_consumer_stuck counts it for the partition and a log line says
// why.
//
// A partition's events are handled on Lanes lanes by key (an author's
// posts, a follower's follows): one key's events in order on one lane,
// different keys' side by side, so a partition is not held to one event's
// round trips at a time (after an outage, its backlog drains that many
// times faster). Offsets are marked in order, up to the first event not
// handled yet.
type Runner struct {
	Cluster Cluster
	Group   string
	Topics  []string
	Handler app.Handler
	Log     *slog.Logger
	Metrics *Metrics
	// Backoff is the first retry delay (default 100ms), doubled per attempt
	// up to MaxBackoff (default 10s); each wait is jittered.
	Backoff    time.Duration
	MaxBackoff time.Duration
	// StuckLogEvery is how often a partition that is still retrying is
	// logged again after its first failure (default 30s).
	StuckLogEvery time.Duration
	// Healthy, if set, is asked when a stuck partition is logged, so the log
	// line also says which dependency the health checks find down.
	Healthy func(context.Context) error
	// Checkpoints, if set, is the store the handler writes that can lose
	// acknowledged writes (Redis). An offset is then committed only once
	// the store's checkpoint covers it, and a partition whose committed
	// offset the store does not cover (seen when it is assigned, or every
	// StaleCheckEvery while it runs) is rewound to what the store holds, so
	// the lost effects are redone.
	Checkpoints Checkpoints
	// CheckpointEvery is how often handled offsets are checkpointed and
	// marked (default 1s); StaleCheckEvery how often the store's
	// checkpoints are compared with what it was known to hold (default 5s).
	CheckpointEvery time.Duration
	StaleCheckEvery time.Duration
	// Lanes is how many events of one partition are handled at once, each
	// key on one lane (0: DefaultLanes; 1: one event at a time).
	Lanes int
}

// errLogEvery spaces the log lines of a group's consumer errors.
const errLogEvery = 10 * time.Second

// DefaultLanes is Runner.Lanes when unset; maxLanes bounds the setting.
const (
	DefaultLanes = 8
	maxLanes     = 256
)

// laneDepth is how many events wait on each lane: with a key stuck, the
// other keys of its partition go on until its lane is full.
const laneDepth = 32

// Run consumes until ctx is cancelled, then commits what was processed and
// leaves the group. Brokers that cannot be reached at start are waited for
// (see connect), as an outage later is: a process started during a Kafka
// outage runs its other roles and joins the group when Kafka is back.
func (r *Runner) Run(ctx context.Context) error {
	r.Metrics.initGroup(r.Group, r.Topics)
	h := &groupHandler{r: r}
	group, err := r.connect(ctx, h)
	if err != nil || group == nil { // nil: ctx ended first
		return err
	}
	defer group.Close()
	defer h.dlq.Close()
	if h.ops != nil {
		defer h.ops.Close()
	}
	go func() {
		// During an outage sarama reports every partition about every
		// second: one line per errLogEvery, with how many it stands for.
		var last time.Time
		var n int
		for err := range group.Errors() {
			if n++; time.Since(last) < errLogEvery {
				continue
			}
			r.Log.Warn("consumer group error", "group", r.Group, "err", err, "errors", n)
			last, n = time.Now(), 0
		}
	}()
	// Lag is also exported from committed offsets on a timer, so the gauge
	// stays true while a handler is stuck or no events arrive.
	lagCtx, stopLag := context.WithCancel(ctx)
	defer stopLag()
	go r.Metrics.ReportLag(lagCtx, r.Cluster, r.Group, r.Topics, 15*time.Second, r.Log)
	for ctx.Err() == nil {
		// Consume returns at every rebalance; loop to rejoin.
		if err := group.Consume(ctx, r.Topics, h); err != nil {
			if errors.Is(err, sarama.ErrClosedConsumerGroup) {
				return nil
			}
			r.Log.Warn("consume", "group", r.Group, "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
	return nil
}

// connect opens the group, its dead-letter producer and (with Checkpoints)
// the connection that reads committed offsets, retrying with backoff while
// the brokers cannot be reached, until ctx ends. Only a refused login (a
// wrong password or mechanism, a rejected certificate) ends it at once:
// that needs an operator, not time.
func (r *Runner) connect(ctx context.Context, h *groupHandler) (sarama.ConsumerGroup, error) {
	cfg := r.Cluster.Config("feedsvc-" + r.Group)
	// A JoinGroup is answered only once every member rejoined (the broker
	// may hold it up to the rebalance timeout), and sarama waits for it with
	// the plain read timeout: a short one would fail joins during rebalances.
	cfg.Net.ReadTimeout = cfg.Consumer.Group.Rebalance.Timeout + 5*time.Second
	open := func() (sarama.ConsumerGroup, error) {
		group, err := sarama.NewConsumerGroup(r.Cluster.Brokers, r.Group, cfg)
		if err != nil {
			return nil, err
		}
		if h.dlq, err = sarama.NewSyncProducer(r.Cluster.Brokers, r.Cluster.Config("feedsvc-"+r.Group+"-dlq")); err != nil {
			group.Close()
			return nil, fmt.Errorf("dead-letter producer: %w", err)
		}
		if r.Checkpoints != nil {
			// Reads committed offsets and log starts when partitions are assigned.
			if h.ops, err = dialOps(r.Cluster); err != nil {
				h.dlq.Close()
				group.Close()
				return nil, err
			}
		}
		return group, nil
	}
	var lastLog time.Time
	for attempt := 1; ; attempt++ {
		group, err := open()
		if err == nil {
			if attempt > 1 {
				r.Log.Info("consumer group connected", "group", r.Group, "attempts", attempt)
			}
			return group, nil
		}
		err = fmt.Errorf("consumer group %s: %w", r.Group, err)
		if refusedLogin(err) {
			return nil, err
		}
		if time.Since(lastLog) >= 30*time.Second {
			lastLog = time.Now()
			r.Log.Warn("cannot reach Kafka; the consumer group waits", "group", r.Group, "attempt", attempt, "err", err)
		}
		select {
		case <-ctx.Done():
			return nil, nil
		case <-time.After(r.delay(attempt)):
		}
	}
}

// groupHandler is what sarama calls for each session of the group.
type groupHandler struct {
	r   *Runner
	dlq sarama.SyncProducer
	ops *opsConn // with Checkpoints
	// cp keeps the current session's checkpoints (with Checkpoints): set in
	// Setup, before the claims start, and cleared in Cleanup, after they end.
	cp *checkpointer
	// lossSeen is set when a session ended because the store lost writes:
	// the next session's StoreLost runs even if no committed offset has to
	// be rewound (the writes lost were after the last checkpoint).
	lossSeen atomic.Bool
}

var _ sarama.ConsumerGroupHandler = (*groupHandler)(nil)

func (h *groupHandler) Setup(s sarama.ConsumerGroupSession) error {
	h.r.Log.Info("partitions assigned", "group", h.r.Group, "claims", s.Claims())
	if h.r.Checkpoints == nil {
		return nil
	}
	// Until Redis and Kafka answer, the partitions wait, as for a stuck
	// event: failing the session instead would make the group rebalance
	// every second.
	var lastLog time.Time
	for attempt := 1; ; attempt++ {
		known, err := h.rewindStale(s)
		if err == nil {
			h.cp = h.startCheckpointer(s, known)
			return nil
		}
		if s.Context().Err() != nil {
			return err // a rebalance or shutdown: Run joins again or returns
		}
		if time.Since(lastLog) >= 30*time.Second {
			lastLog = time.Now()
			h.r.Log.Warn("cannot compare committed offsets with the Redis checkpoints; partitions wait",
				"group", h.r.Group, "attempt", attempt, "err", err)
		}
		select {
		case <-s.Context().Done():
			return s.Context().Err()
		case <-time.After(h.r.delay(attempt)):
		}
	}
}

func (h *groupHandler) Cleanup(sarama.ConsumerGroupSession) error {
	if h.cp != nil {
		h.cp.stop()
		h.cp = nil
	}
	return nil
}

func (h *groupHandler) ConsumeClaim(s sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	h.r.Metrics.claimed(h.r.Group, claim.Topic(), claim.Partition())
	ctx := s.Context()
	if h.cp != nil {
		ctx = h.cp.ctx // also ends when the store lost writes
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	lanes := h.r.Lanes
	if lanes <= 0 {
		lanes = DefaultLanes
	}
	var (
		mu      sync.Mutex
		pending []*laneItem // in offset order, not marked yet
		// slots bounds pending: with one key stuck, the other lanes go on
		// only as far as that many events past it.
		slots = make(chan struct{}, lanes*laneDepth)
	)
	// The events this session took lately, by ID: a copy of one (Kafka
	// can keep a send it reported failed, and the relay sends it again)
	// is not handled again. After an outage a quarter of the posts
	// topic's events were such copies, each worked through by every group.
	// A copy counts as done at once: its offset is committed only once the
	// first one's is, which comes before it.
	taken := newRecentIDs(recentIDs)
	mark := func() {
		for len(pending) > 0 && pending[0].done {
			msg := pending[0].msg
			pending = pending[1:]
			<-slots
			if h.cp != nil {
				h.cp.handled(msg) // marked once checkpointed
			} else {
				s.MarkMessage(msg, "")
			}
			h.r.Metrics.observeOffset(h.r.Group, msg.Topic, msg.Partition, msg.Offset, claim.HighWaterMarkOffset())
		}
	}
	queues := make([]chan *laneItem, lanes)
	var wg sync.WaitGroup
	for i := range queues {
		queues[i] = make(chan *laneItem, laneDepth)
		wg.Go(func() {
			for it := range queues[i] {
				if ctx.Err() != nil {
					continue // the session ended: left unmarked, redelivered
				}
				batch := h.gather(it, queues[i])
				if err := h.processBatch(ctx, batch); err != nil {
					// Only a cancelled session ends here: the offsets stay
					// unmarked and the events are redelivered to the next owner.
					cancel()
					continue
				}
				mu.Lock()
				for _, it := range batch {
					it.done = true
				}
				mark()
				mu.Unlock()
			}
		})
	}
	defer func() {
		for _, q := range queues {
			close(q)
		}
		wg.Wait()
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case msg, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return nil
			}
			it := &laneItem{msg: msg}
			mu.Lock()
			pending = append(pending, it)
			if id := eventID(msg); taken.has(id) && !again(msg) {
				h.r.Metrics.skippedCopy(h.r.Group)
				it.done = true
				mark()
				mu.Unlock()
				continue
			} else {
				taken.add(id)
			}
			mu.Unlock()
			select {
			case queues[laneOf(msg.Key, lanes)] <- it:
			case <-ctx.Done():
				return nil
			}
		}
	}
}

// recentIDs is how many event IDs a claim remembers.
const recentIDs = 16384

// recentIDsSet remembers the last n IDs added.
type recentIDsSet struct {
	ids  map[string]bool
	ring []string
	next int
	max  int
}

// newRecentIDs remembers up to n IDs; it grows as IDs come (a claim of a
// quiet partition costs little).
func newRecentIDs(n int) *recentIDsSet {
	return &recentIDsSet{ids: map[string]bool{}, max: n}
}

func (r *recentIDsSet) has(id string) bool { return id != "" && r.ids[id] }

func (r *recentIDsSet) add(id string) {
	if id == "" || r.ids[id] {
		return
	}
	r.ids[id] = true
	if len(r.ring) < r.max {
		r.ring = append(r.ring, id)
		return
	}
	delete(r.ids, r.ring[r.next])
	r.ring[r.next] = id
	r.next = (r.next + 1) % len(r.ring)
}

// again reports whether msg is published again on purpose, to be handled
// even by a consumer that took its ID: a dead letter replayed, or an event
// resent to keep its key's order.
func again(m *sarama.ConsumerMessage) bool {
	for _, h := range m.Headers {
		if k := string(h.Key); k == HeaderDLQReplayedFrom || k == HeaderResent {
			return true
		}
	}
	return false
}

// eventID is a message's CloudEvents ID ("" without one).
func eventID(m *sarama.ConsumerMessage) string {
	for _, h := range m.Headers {
		if string(h.Key) == hID {
			return string(h.Value)
		}
	}
	return ""
}

// maxBatch bounds the events a BatchHandler gets at once.
const maxBatch = laneDepth

// gather returns it with, for a BatchHandler, the events already waiting
// on its lane behind it: a backlog goes in batches, a trickle one by one.
func (h *groupHandler) gather(it *laneItem, lane <-chan *laneItem) []*laneItem {
	batch := []*laneItem{it}
	if _, ok := h.r.Handler.(app.BatchHandler); !ok {
		return batch
	}
	for len(batch) < maxBatch {
		select {
		case more, ok := <-lane:
			if !ok {
				return batch
			}
			batch = append(batch, more)
		default:
			return batch
		}
	}
	return batch
}

// processBatch handles a lane's batch until it succeeds, as process does
// one event. A batch with an event that cannot be decoded or can never
// succeed is handled again event by event, so that only that one is
// dead-lettered.
func (h *groupHandler) processBatch(ctx context.Context, batch []*laneItem) error {
	oneByOne := func() error {
		for _, it := range batch {
			if err := h.process(ctx, it.msg); err != nil {
				return err
			}
		}
		return nil
	}
	bh, ok := h.r.Handler.(app.BatchHandler)
	if !ok || len(batch) == 1 {
		return oneByOne()
	}
	evs := make([]app.Event, len(batch))
	for i, it := range batch {
		ev, err := Decode(it.msg)
		if err != nil {
			return oneByOne()
		}
		evs[i] = ev
	}
	r := h.r
	first := batch[0].msg
	stuck := h.stuck(first, evs[0])
	defer stuck.clear()
	// One span per event, all ending with the batch; the handler runs in
	// the first one's.
	spans := make([]trace.Span, len(evs))
	hctx := ctx
	for i, ev := range evs {
		var c context.Context
		c, spans[i] = consumeSpan(ctx, r.Group, batch[i].msg.Topic, ev)
		if i == 0 {
			hctx = c
		}
	}
	defer func() {
		for _, sp := range spans {
			sp.End()
		}
	}()
	for attempt := 1; ; attempt++ {
		start := time.Now()
		err := h.handleBatch(hctx, bh, evs)
		took := time.Since(start) / time.Duration(len(evs))
		for _, ev := range evs {
			r.Metrics.observeHandled(r.Group, ev.Type, err, took)
		}
		if err != nil {
			for _, sp := range spans {
				sp.RecordError(err)
			}
		}
		switch {
		case err == nil:
			stuck.recovered(attempt)
			for i, it := range batch {
				h.logHandled(ctx, it.msg, evs[i])
			}
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case isPermanent(err):
			return oneByOne()
		}
		stuck.failed(ctx, attempt, err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(r.delay(attempt)):
		}
	}
}

// handleBatch is handle for a batch.
func (h *groupHandler) handleBatch(ctx context.Context, bh app.BatchHandler, evs []app.Event) error {
	return h.safely(func() error { return bh.HandleBatch(ctx, evs) })
}

// laneItem is an event on its way through a lane.
type laneItem struct {
	msg  *sarama.ConsumerMessage
	done bool // handled; guarded by ConsumeClaim's mu
}

// laneOf places a key on one of n lanes (FNV-1a); events without a key
// share one lane.
func laneOf(key []byte, n int) int {
	h := fnv.New32a()
	_, _ = h.Write(key)
	return int(h.Sum32() % uint32(n))
}

// process handles one message until it succeeds or is dead-lettered; it
// returns an error only when ctx ended first.
func (h *groupHandler) process(ctx context.Context, msg *sarama.ConsumerMessage) error {
	r := h.r
	ev, err := Decode(msg)
	if err != nil {
		// Undecodable: retrying cannot help.
		return h.deadLetter(ctx, msg, err)
	}
	stuck := h.stuck(msg, ev)
	defer stuck.clear()
	ctx, span := consumeSpan(ctx, r.Group, msg.Topic, ev)
	defer span.End()
	for attempt := 1; ; attempt++ {
		start := time.Now()
		err := h.handle(ctx, ev)
		r.Metrics.observeHandled(r.Group, ev.Type, err, time.Since(start))
		if err != nil {
			span.RecordError(err)
		}
		switch {
		case err == nil:
			stuck.recovered(attempt)
			h.logHandled(ctx, msg, ev)
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case isPermanent(err):
			return h.deadLetter(ctx, msg, err)
		}
		stuck.failed(ctx, attempt, err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(r.delay(attempt)):
		}
	}
}

// logHandled says, at debug level, which event the group handled and
// where it was in the log: with the api's debug line for each publish, a
// change that a view lacks can be followed to the consumer that saw it (or
// did not).
func (h *groupHandler) logHandled(ctx context.Context, msg *sarama.ConsumerMessage, ev app.Event) {
	if h.r.Log == nil || !h.r.Log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	h.r.Log.DebugContext(ctx, "event handled", "group", h.r.Group, "topic", msg.Topic, "partition", msg.Partition,
		"offset", msg.Offset, "type", ev.Type, "key", ev.Key(), "event", ev.ID)
}

// isPermanent reports whether err means the event can never succeed. A
// panic never does (panicError does not unwrap): it may as well come from a
// dependency's state.
func isPermanent(err error) bool { return errors.Is(err, app.ErrInvalid) }

// delay is the wait after the attempt-th failure: exponential, capped, with
// "equal jitter" (half fixed, half random) so that consumers stuck on the
// same outage do not retry in lockstep, yet never hammer it.
func (r *Runner) delay(attempt int) time.Duration {
	d, ceiling := r.Backoff, r.MaxBackoff
	if d <= 0 {
		d = 100 * time.Millisecond
	}
	if ceiling <= 0 {
		ceiling = 10 * time.Second
	}
	ceiling = max(ceiling, d)
	for i := 1; i < attempt && d < ceiling; i++ {
		d *= 2
	}
	d = min(d, ceiling)
	half := d / 2
	return half + rand.N(d-half+1)
}

// panicError is a recovered handler panic.
type panicError struct {
	value any
	stack []byte
}

func (p *panicError) Error() string { return fmt.Sprintf("handler panic: %v", p.value) }

// handle calls the handler and turns a panic into an error, so that one bad
// code path fails its event instead of crashing the process.
func (h *groupHandler) handle(ctx context.Context, ev app.Event) error {
	return h.safely(func() error { return h.r.Handler.Handle(ctx, ev) })
}

// safely runs call, a handler's, with its panic counted and turned into an
// error.
func (h *groupHandler) safely(call func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			h.r.Metrics.panics.WithLabelValues(h.r.Group).Inc()
			err = &panicError{value: v, stack: debug.Stack()}
		}
	}()
	return call()
}

// stuckPartition reports one event's retries: the stuck gauge, the retries
// counter and a rate-limited log line.
type stuckPartition struct {
	h         *groupHandler
	msg       *sarama.ConsumerMessage
	ev        app.Event
	since     time.Time // first failure; zero while not stuck
	lastLog   time.Time
	lastCause string
}

func (h *groupHandler) stuck(msg *sarama.ConsumerMessage, ev app.Event) *stuckPartition {
	return &stuckPartition{h: h, msg: msg, ev: ev}
}

func (s *stuckPartition) failed(ctx context.Context, attempt int, err error) {
	r := s.h.r
	r.Metrics.retries.WithLabelValues(r.Group).Inc()
	now := time.Now()
	if s.since.IsZero() {
		s.since = now
		r.Metrics.stuck.WithLabelValues(r.Group, s.msg.Topic, itoa(s.msg.Partition)).Inc()
	}
	every := r.StuckLogEvery
	if every <= 0 {
		every = 30 * time.Second
	}
	// The first failure, then every `every`, and whenever the cause changes.
	if attempt > 1 && now.Sub(s.lastLog) < every && err.Error() == s.lastCause {
		return
	}
	s.lastLog, s.lastCause = now, err.Error()
	attrs := []any{"group", r.Group, "topic", s.msg.Topic, "partition", s.msg.Partition, "offset", s.msg.Offset,
		"type", s.ev.Type, "event", s.ev.ID, "attempt", attempt, "stuck_for", now.Sub(s.since).Round(time.Millisecond), "err", err}
	var p *panicError
	if errors.As(err, &p) {
		attrs = append(attrs, "stack", string(p.stack))
	}
	if r.Healthy != nil {
		hctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		health := "ok"
		if herr := r.Healthy(hctx); herr != nil {
			health = herr.Error()
		}
		cancel()
		attrs = append(attrs, "health", health)
	}
	r.Log.Warn("consumer stuck: retrying the event until it succeeds", attrs...)
}

func (s *stuckPartition) recovered(attempt int) {
	if s.since.IsZero() {
		return
	}
	r := s.h.r
	r.Log.Info("consumer unstuck", "group", r.Group, "topic", s.msg.Topic, "partition", s.msg.Partition,
		"offset", s.msg.Offset, "event", s.ev.ID, "attempts", attempt, "stuck_for", time.Since(s.since).Round(time.Millisecond))
}

// clear resets the gauge when the event is done with, handled, dead-lettered
// or left to the partition's next owner.
func (s *stuckPartition) clear() {
	if !s.since.IsZero() {
		s.h.r.Metrics.stuck.WithLabelValues(s.h.r.Group, s.msg.Topic, itoa(s.msg.Partition)).Dec()
	}
}

// deadLetter copies msg, with the error, to the dead-letter topic. It keeps
// trying until the copy is acknowledged: the original offset must not be
// committed before the event is safe somewhere.
func (h *groupHandler) deadLetter(ctx context.Context, msg *sarama.ConsumerMessage, cause error) error {
	headers := make([]sarama.RecordHeader, 0, len(msg.Headers)+5)
	for _, hd := range msg.Headers {
		headers = append(headers, *hd)
	}
	headers = append(headers,
		sarama.RecordHeader{Key: []byte(HeaderDLQError), Value: []byte(cause.Error())},
		sarama.RecordHeader{Key: []byte(HeaderDLQGroup), Value: []byte(h.r.Group)},
		sarama.RecordHeader{Key: []byte(HeaderDLQTopic), Value: []byte(msg.Topic)},
		sarama.RecordHeader{Key: []byte(HeaderDLQPartition), Value: []byte(fmt.Sprint(msg.Partition))},
		sarama.RecordHeader{Key: []byte(HeaderDLQOffset), Value: []byte(fmt.Sprint(msg.Offset))},
	)
	out := &sarama.ProducerMessage{
		Topic:     DeadLetter(msg.Topic),
		Key:       sarama.ByteEncoder(msg.Key),
		Value:     sarama.ByteEncoder(msg.Value),
		Headers:   headers,
		Timestamp: msg.Timestamp,
	}
	for {
		// SendMessage waits out the producer's retries; the caller's ctx
		// (shutdown, a rebalance) must not. An abandoned send that lands
		// anyway only makes a second dead-letter copy: the offset stays
		// uncommitted, so the event comes back and is copied again.
		sent := make(chan error, 1)
		go func() { _, _, err := h.dlq.SendMessage(out); sent <- err }()
		var err error
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err = <-sent:
		}
		if err == nil {
			h.r.Metrics.deadLettered.WithLabelValues(h.r.Group, msg.Topic).Inc()
			h.r.Log.Error("event dead-lettered: it can never succeed", "group", h.r.Group, "topic", msg.Topic,
				"partition", msg.Partition, "offset", msg.Offset, "err", cause)
			return nil
		}
		h.r.Log.Error("dead-letter publish failed; retrying", "group", h.r.Group, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// Headers added to dead-lettered events.
const (
	HeaderDLQError     = "x-dlq-error"
	HeaderDLQGroup     = "x-dlq-group"
	HeaderDLQTopic     = "x-dlq-topic"
	HeaderDLQPartition = "x-dlq-partition"
	HeaderDLQOffset    = "x-dlq-offset"
)
