package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Relay defaults.
const (
	// DefaultRelayPoll is how often an owned shard is scanned for records
	// this process was not told about (written by other api processes, or
	// before a crash).
	DefaultRelayPoll = 250 * time.Millisecond
	// DefaultRelayGrace is how late a record may become visible in the
	// store after its ID was made: a write that timed out and was applied
	// later (a write that timed out on the client but reached replicas), or a
	// writer whose clock is behind. The cursor stays this far behind, and
	// the sweep rereads that window.
	DefaultRelayGrace = 2 * time.Minute
	// DefaultShardLeaseTTL is how long a relay holds a shard without
	// renewing: after a crash, another api process takes the shard over
	// after at most this long. A renewal (a Cassandra LWT) may take a sixth
	// of it: at 10 s that was 1.7 s, less than a busy cluster with a node
	// down takes for Paxos's rounds, and the relays let every shard go and
	// published nothing for minutes while posts were still saved.
	DefaultShardLeaseTTL = 20 * time.Second
	// DefaultRelayHandOff is how long a shard's relay may fail to publish
	// before it gives the shard up, so that an api process that reaches
	// Cassandra but not Kafka does not keep its authors' events waiting
	// while other processes could publish them.
	DefaultRelayHandOff = 30 * time.Second

	// relayLookback: a scan at most every poll interval rereads this far
	// behind the newest record seen, so records that land out of ID order
	// (concurrent writers; an ID is taken before the store's write, which
	// may take up to the store's timeout) are published within a poll
	// rather than by the sweep.
	relayLookback = 5 * time.Second
	// relaySweepEvery is how often the whole grace window is reread.
	relaySweepEvery = 10 * time.Second
	// relayDeepSweepEvery and relayDeepWindow: how often, and how far
	// below the cursor, the relay looks for records that landed even later
	// than the grace (a batch replayed after its nodes came back, a writer
	// whose clock is far behind): they are published late, not lost.
	relayDeepSweepEvery = 5 * time.Minute
	relayDeepWindow     = time.Hour
	// relayBatch is how many records one scan reads and one publish sends.
	relayBatch = 500
	// relayMaxPending bounds the records a shard holds in memory while
	// Kafka is down; the rest stay in the store until these are out.
	relayMaxPending = 10000
	// relayFinalFlush bounds the last publish at shutdown.
	relayFinalFlush = 3 * time.Second
	// relayRecheck is how often the store is asked again about a record
	// whose change may still be under way (Wait).
	relayRecheck = time.Second
)

// Relay publishes the outbox. It runs in every api process; with
// ShardLeases each shard is relayed by one process at a time, which
// publishes the shard's records in ID order, so an author's events keep
// their order. Records this process writes are handed to it (Dispatch)
// and published at once; the others are found by polling. A record is
// marked done once Kafka acknowledged it; a crash in between publishes it
// again (consumers are idempotent), never loses it.
type Relay struct {
	Outbox    Outbox
	Publisher Publisher
	// Leases shares the shards between processes; nil when this process
	// is the only one that can open the store (the embedded store): it
	// then relays every shard.
	Leases ShardLeases
	// Owner names this process among lease holders.
	Owner string
	Log   *slog.Logger
	// Poll, Grace, LeaseTTL and HandOff default to DefaultRelayPoll,
	// DefaultRelayGrace, DefaultShardLeaseTTL and DefaultRelayHandOff.
	Poll     time.Duration
	Grace    time.Duration
	LeaseTTL time.Duration
	HandOff  time.Duration
	// Clock, if set, says whether this process's clock is close to the
	// store's: while it is not, no cursor moves (a clock run ahead would
	// pass records other processes are still writing).
	Clock *ClockGuard

	mu      sync.Mutex
	workers map[int]*shardRelay
	// applied: records whose change this process wrote (Dispatch), by ID
	// with their shard, kept across the shard's workers. A worker started
	// after a lease was lost or handed off still publishes them without
	// asking the store, which cannot tell a follow undone since from one
	// that never happened until edgeSettle (2.5 min): the undo's event
	// waited that long behind it.
	appliedMu sync.Mutex
	applied   [OutboxShards]map[ID]bool

	published atomic.Int64
	completed atomic.Int64
	dropped   atomic.Int64
	failures  atomic.Int64
}

// RelayStats is what the relay reports as metrics.
type RelayStats struct {
	// Shards is how many shards this process relays.
	Shards int
	// Pending and Oldest describe the records waiting in those shards,
	// as far as they were read (at most relayMaxPending per shard).
	Pending int
	Oldest  time.Time
	// Published and Failures count events published and failed publishes;
	// Completed counts records whose change the relay wrote again
	// (Outbox.CompleteOutbox) because it did not know it landed; Dropped
	// counts records whose change did not happen, so nothing was published.
	Published, Completed, Dropped, Failures int64
}

// Stats reports the relay's state.
func (r *Relay) Stats() RelayStats {
	s := RelayStats{Published: r.published.Load(), Completed: r.completed.Load(), Dropped: r.dropped.Load(), Failures: r.failures.Load()}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, w := range r.workers {
		w.mu.Lock()
		s.Shards++
		s.Pending += w.pendingN
		if w.oldest != 0 && (s.Oldest.IsZero() || w.oldest.Time().Before(s.Oldest)) {
			s.Oldest = w.oldest.Time()
		}
		w.mu.Unlock()
	}
	return s
}

func (r *Relay) poll() time.Duration  { return cmp.Or(r.Poll, DefaultRelayPoll) }
func (r *Relay) grace() time.Duration { return cmp.Or(r.Grace, DefaultRelayGrace) }
func (r *Relay) ttl() time.Duration   { return cmp.Or(r.LeaseTTL, DefaultShardLeaseTTL) }

// handOff is how long a shard fails before it is given up (see
// DefaultRelayHandOff); handOffPause is how long this relay then leaves it
// free: two lease rounds, in which a relay that can publish takes it. If
// none does (Kafka is down for every process), it comes back here.
func (r *Relay) handOff() time.Duration      { return cmp.Or(r.HandOff, DefaultRelayHandOff) }
func (r *Relay) handOffPause() time.Duration { return 2 * r.ttl() / 3 }
func (r *Relay) log() *slog.Logger           { return cmp.Or(r.Log, slog.New(slog.DiscardHandler)) }
func (r *Relay) worker(s int) *shardRelay {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.workers[s]
}

// Dispatch implements Dispatcher: it wakes the shard's relay and waits
// until rec is published or ctx ends. It returns at once when this process
// does not relay the shard, or while publishing fails. rec's change is in
// the store (it is handed over once written), so the relay need not
// complete it.
func (r *Relay) Dispatch(ctx context.Context, rec OutboxRecord) {
	r.noteApplied(rec)
	w := r.worker(rec.Shard)
	if w == nil {
		return
	}
	w.mu.Lock()
	if !w.published[rec.ID] {
		w.applied[rec.ID] = true
	}
	if w.failing || w.published[rec.ID] {
		w.mu.Unlock()
		return
	}
	ch := make(chan struct{})
	w.waiters[rec.ID] = append(w.waiters[rec.ID], ch)
	w.mu.Unlock()
	w.wake()
	select {
	case <-ch:
	case <-ctx.Done():
		w.mu.Lock()
		w.waiters[rec.ID] = slices.DeleteFunc(w.waiters[rec.ID], func(c chan struct{}) bool { return c == ch })
		if len(w.waiters[rec.ID]) == 0 {
			delete(w.waiters, rec.ID)
		}
		w.mu.Unlock()
	}
}

// appliedKept bounds how long a record is remembered as applied: past
// edgeSettle the store decides for good without it.
const appliedKept = 10 * time.Minute

func (r *Relay) noteApplied(rec OutboxRecord) {
	if rec.Shard < 0 || rec.Shard >= OutboxShards {
		return
	}
	r.appliedMu.Lock()
	defer r.appliedMu.Unlock()
	if r.applied[rec.Shard] == nil {
		r.applied[rec.Shard] = map[ID]bool{}
	}
	r.applied[rec.Shard][rec.ID] = true
}

func (r *Relay) wasApplied(shard int, id ID) bool {
	r.appliedMu.Lock()
	defer r.appliedMu.Unlock()
	return r.applied[shard][id]
}

// forgetApplied drops the records of shard at or below upTo: those its
// cursor passed (done for good) or, for a shard another process relays,
// those older than appliedKept.
func (r *Relay) forgetApplied(shard int, upTo ID) {
	r.appliedMu.Lock()
	defer r.appliedMu.Unlock()
	maps.DeleteFunc(r.applied[shard], func(id ID, _ bool) bool { return id <= upTo })
}

// Run relays until ctx ends, then publishes what its shards still hold
// (briefly) and releases them. Without Leases it relays every shard;
// with them it takes the free shards and keeps them leased.
func (r *Relay) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	start := func(shard int, until time.Time) *shardRelay {
		w := newShardRelay(shard)
		w.leased, w.validUntil = r.Leases != nil, until
		r.mu.Lock()
		if r.workers == nil {
			r.workers = map[int]*shardRelay{}
		}
		r.workers[shard] = w
		r.mu.Unlock()
		wg.Go(func() { r.runShard(wctx, w) })
		return w
	}
	if r.Leases == nil {
		for s := range OutboxShards {
			start(s, time.Time{})
		}
		<-ctx.Done()
		return nil
	}
	held := map[int]time.Time{}   // shard -> when its lease was last known held
	paused := map[int]handedOff{} // shards given up
	every := r.ttl() / 3
	for {
		r.handOffFailing(held, paused, &wg)
		r.keepShards(ctx, held, paused, start)
		select {
		case <-ctx.Done():
			stop()
			wg.Wait()
			r.releaseAll(held)
			return nil
		case <-time.After(every):
		}
	}
}

// handedOff is a shard given up: it is not leased again before until, nor
// before its release is done.
type handedOff struct {
	until time.Time
	done  chan struct{}
}

// handOffFailing gives up the shards that failed to publish for longer
// than handOff: their workers stop, and once a worker's step in flight is
// over (so that two workers never publish a shard at once) the lease is
// released. The shard is left free for handOffPause.
func (r *Relay) handOffFailing(held map[int]time.Time, paused map[int]handedOff, wg *sync.WaitGroup) {
	now := time.Now()
	for s := range held {
		w := r.worker(s)
		since := w.failingSince()
		if since.IsZero() || now.Sub(since) < r.handOff() {
			continue
		}
		r.log().Warn("outbox shard handed off: this process cannot publish it", "shard", s, "failing_for", now.Sub(since).Round(time.Second))
		delete(held, s)
		h := handedOff{until: now.Add(r.handOffPause()), done: make(chan struct{})}
		paused[s] = h
		r.stopShard(s)
		wg.Go(func() {
			defer close(h.done)
			w.stepMu.Lock() // the step in flight, if any, is over
			w.stepMu.Unlock()
			ctx, cancel := context.WithTimeout(context.Background(), r.ttl()/6)
			defer cancel()
			if err := r.Leases.ReleaseShard(ctx, s, r.Owner); err != nil {
				r.log().Warn("outbox shard lease not released; it expires by itself", "shard", s, "err", err)
			}
		})
	}
	// What this process wrote to shards it does not relay is forgotten
	// once the store decides it for good anyway.
	old := MinIDAt(now.Add(-appliedKept))
	for s := range OutboxShards {
		if _, ok := held[s]; !ok {
			r.forgetApplied(s, old)
		}
	}
	for s, h := range paused {
		select {
		case <-h.done:
			if now.After(h.until) {
				delete(paused, s)
			}
		default:
		}
	}
}

// keepShards renews the shards held and leases free ones (but those
// paused), all shards at once (one slow LWT must not let the others'
// leases run out). A shard whose lease is lost, or not known to be held
// for most of its TTL, stops; its worker stops publishing at once when its
// lease is no longer known to be held, before the lease can expire.
func (r *Relay) keepShards(ctx context.Context, held map[int]time.Time, paused map[int]handedOff, start func(int, time.Time) *shardRelay) {
	ttl := r.ttl()
	type result struct {
		ok  bool
		err error
		t0  time.Time
	}
	var (
		results [OutboxShards]result
		wg      sync.WaitGroup
	)
	for s := range OutboxShards {
		_, holding := held[s]
		if _, skip := paused[s]; skip {
			continue
		}
		wg.Go(func() {
			lctx, cancel := context.WithTimeout(ctx, ttl/6)
			defer cancel()
			res := result{t0: time.Now()}
			if holding {
				res.err = r.Leases.RenewShard(lctx, s, r.Owner, ttl)
				res.ok = res.err == nil
			} else {
				res.ok, res.err = r.Leases.LeaseShard(lctx, s, r.Owner, ttl)
			}
			results[s] = res
		})
	}
	wg.Wait()
	for s, res := range results {
		since, holding := held[s]
		if _, skip := paused[s]; skip {
			continue
		}
		switch {
		case ctx.Err() != nil:
			return
		case res.ok:
			held[s] = res.t0
			until := res.t0.Add(ttl * 8 / 10)
			if w := r.worker(s); w != nil {
				w.hold(until)
			} else {
				start(s, until)
				r.log().Info("relaying outbox shard", "shard", s, "owner", r.Owner)
			}
		case !holding:
			if res.err != nil {
				r.log().Warn("outbox shard lease", "shard", s, "err", res.err)
			}
		case errors.Is(res.err, ErrLeaseLost) || time.Since(since) > ttl*8/10:
			r.log().Warn("outbox shard lease lost: another process relays it", "shard", s, "err", res.err)
			delete(held, s)
			r.stopShard(s)
		default:
			r.log().Warn("outbox shard lease not renewed; retrying", "shard", s, "err", res.err)
		}
	}
}

func (r *Relay) stopShard(s int) {
	r.mu.Lock()
	w := r.workers[s]
	delete(r.workers, s)
	r.mu.Unlock()
	if w != nil {
		w.cancel()
	}
}

func (r *Relay) releaseAll(held map[int]time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for s := range held {
		if err := r.Leases.ReleaseShard(ctx, s, r.Owner); err != nil {
			r.log().Warn("outbox shard lease not released; it expires by itself", "shard", s, "err", err)
		}
	}
}

// Flush publishes everything pending in the shards this process relays,
// or in every shard when it has no Leases and is not running; for tests
// and tools.
func (r *Relay) Flush(ctx context.Context) error {
	r.mu.Lock()
	if r.workers == nil && r.Leases == nil {
		r.workers = map[int]*shardRelay{}
		for s := range OutboxShards {
			r.workers[s] = newShardRelay(s)
		}
	}
	ws := make([]*shardRelay, 0, len(r.workers))
	for _, w := range r.workers {
		ws = append(ws, w)
	}
	r.mu.Unlock()
	var errs []error
	for _, w := range ws {
		w.mu.Lock()
		clear(w.recheck) // a flush asks about held records again at once
		w.mu.Unlock()
		w.stepMu.Lock()
		err := r.step(ctx, w, true)
		w.stepMu.Unlock()
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// shardRelay is one shard's relay state.
type shardRelay struct {
	shard int
	kick  chan struct{}
	stopc chan struct{}
	once  sync.Once

	// mu guards what Dispatch and Stats read.
	mu        sync.Mutex
	waiters   map[ID][]chan struct{}
	published map[ID]bool      // records above cursor published by this process
	applied   map[ID]bool      // records whose change is known written (Dispatch)
	recheck   map[ID]time.Time // held records (Wait): when to ask the store again
	failing   bool
	failSince time.Time // when the failures in a row began (zero: none)
	pendingN  int
	oldest    ID
	// leased: the shard is held through a lease, known held until
	// validUntil; past it nothing is published (another relay may hold it).
	leased     bool
	validUntil time.Time

	// stepMu serializes steps; the fields below belong to the step.
	stepMu       sync.Mutex
	loaded       bool
	cursor       ID
	head         ID
	pending      []OutboxRecord
	queued       map[ID]bool
	lastSweep    time.Time
	lastDeep     time.Time
	lastLookback time.Time
}

// firstWaiter is the lowest ID a request waits for (the largest ID when
// none).
func (w *shardRelay) firstWaiter() ID {
	w.mu.Lock()
	defer w.mu.Unlock()
	first := ID(math.MaxInt64)
	for id := range w.waiters {
		first = min(first, id)
	}
	return first
}

func newShardRelay(shard int) *shardRelay {
	return &shardRelay{
		shard: shard, kick: make(chan struct{}, 1), stopc: make(chan struct{}),
		waiters: map[ID][]chan struct{}{}, published: map[ID]bool{}, applied: map[ID]bool{}, queued: map[ID]bool{},
		recheck: map[ID]time.Time{},
	}
}

// enqueue adds to the pending records, in ID order, those of recs that
// are neither queued nor published yet.
func (w *shardRelay) enqueue(recs []OutboxRecord) {
	if len(recs) == 0 {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, rec := range recs {
		if w.queued[rec.ID] || w.published[rec.ID] {
			continue
		}
		w.queued[rec.ID] = true
		w.pending = append(w.pending, rec)
	}
	slices.SortFunc(w.pending, func(a, b OutboxRecord) int { return cmp.Compare(a.ID, b.ID) })
	w.pendingN = len(w.pending)
	if len(w.pending) > 0 {
		w.oldest = w.pending[0].ID
	}
}

func (w *shardRelay) wake() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

func (w *shardRelay) cancel() { w.once.Do(func() { close(w.stopc) }) }

// hold records that the shard's lease is known held until until.
func (w *shardRelay) hold(until time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.validUntil = until
}

// errLeaseUnknown: the shard's lease is not known to be held right now.
var errLeaseUnknown = errors.New("outbox shard lease not known to be held")

func (w *shardRelay) leaseHeld(now time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.leased && !now.Before(w.validUntil) {
		return errLeaseUnknown
	}
	return nil
}

// runShard steps the shard on every wake and poll; failures back off
// with jitter (and ignore wakes), so an outage costs Kafka little.
func (r *Relay) runShard(ctx context.Context, w *shardRelay) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	var fails int
	var lastLog time.Time
	for {
		failing := fails > 0
		kick := w.kick
		if failing {
			kick = nil
		}
		select {
		case <-ctx.Done():
			r.finalFlush(w, failing)
			return
		case <-w.stopc:
			return
		case <-kick:
		case <-timer.C:
		}
		w.stepMu.Lock()
		err := r.step(ctx, w, false)
		w.stepMu.Unlock()
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		if err == nil {
			if fails > 0 {
				r.log().Info("outbox relay publishing again", "shard", w.shard, "after_failures", fails)
			}
			fails = 0
			w.setFailing(false)
			timer.Reset(r.poll())
			continue
		}
		if ctx.Err() != nil {
			continue
		}
		fails++
		r.failures.Add(1)
		w.setFailing(true)
		if time.Since(lastLog) > 10*time.Second {
			lastLog = time.Now()
			r.log().Warn("outbox relay cannot publish: events wait in the store", "shard", w.shard, "failures", fails, "err", err)
		}
		timer.Reset(relayBackoff(fails))
	}
}

// relayBackoff grows from 100 ms to 2 s, jittered down to half. The cap is
// low because a failed attempt costs little (the broker is down, or the
// send fails fast) and every second of it after the broker returns delays
// every view.
func relayBackoff(fails int) time.Duration {
	d := min(100*time.Millisecond<<min(fails-1, 5), 2*time.Second)
	return d/2 + rand.N(d/2+1)
}

func (w *shardRelay) setFailing(f bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.failing = f
	switch {
	case !f:
		w.failSince = time.Time{}
	case w.failSince.IsZero():
		w.failSince = time.Now()
	}
	if f {
		// Nobody waits for an outage: the api answers without it.
		for id, chs := range w.waiters {
			for _, ch := range chs {
				close(ch)
			}
			delete(w.waiters, id)
		}
	}
}

// failingSince is when the shard's failures in a row began (zero: it is
// not failing, or w is nil).
func (w *shardRelay) failingSince() time.Time {
	if w == nil {
		return time.Time{}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.failSince
}

func (r *Relay) finalFlush(w *shardRelay, failing bool) {
	if failing {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), relayFinalFlush)
	defer cancel()
	w.stepMu.Lock()
	defer w.stepMu.Unlock()
	if err := r.step(ctx, w, false); err != nil {
		r.log().Warn("outbox relay: records left for the next relay", "shard", w.shard, "err", err)
	}
}

// step reads what is new in the shard (at most every poll interval with
// the lookback window; every relaySweepEvery or when sweep is set, the
// whole window above the cursor; every relayDeepSweepEvery, the hour below
// it), publishes what is pending in ID order, and moves the cursor.
func (r *Relay) step(ctx context.Context, w *shardRelay, sweep bool) error {
	now := time.Now()
	if !w.loaded {
		c, err := r.Outbox.OutboxCursor(ctx, w.shard)
		if err != nil {
			return fmt.Errorf("outbox shard %d: %w", w.shard, err)
		}
		w.cursor, w.head, w.loaded = c, c, true
	}
	from := w.cursor
	if w.head != 0 {
		if now.Sub(w.lastLookback) >= r.poll() {
			from = max(from, MinIDAt(w.head.Time().Add(-relayLookback))-1)
			w.lastLookback = now
		} else {
			// Between lookbacks only what is new, and the records
			// requests wait for: the whole window is not reread on every
			// wake. (The read also batches: records written while it
			// runs go out together. Publishing handed records without
			// it, one per wake, cost more than the read: POST p99 at
			// 200/s went from 6 to 12 ms.)
			from = max(from, min(w.head, w.firstWaiter()-1))
		}
	}
	fresh, err := r.read(ctx, w, from, 0)
	if err != nil {
		return err
	}
	swept := false
	if sweep || now.Sub(w.lastSweep) >= relaySweepEvery {
		// (cursor, head] here and (from, end] above: together every record
		// above the cursor, when both reads got to their end.
		all, err := r.read(ctx, w, w.cursor, w.head)
		if err != nil {
			return err
		}
		w.lastSweep, swept = now, all && fresh
	}
	if deep := MinIDAt(now.Add(-relayDeepWindow)); now.Sub(w.lastDeep) >= relayDeepSweepEvery && w.cursor > deep {
		if _, err := r.read(ctx, w, deep, w.cursor); err != nil {
			return err
		}
		w.lastDeep = now
	}
	if err := r.publish(ctx, w); err != nil {
		return err
	}
	if swept {
		r.advance(ctx, w, now)
	}
	return nil
}

// read queues the records above after (up to upTo, 0: no bound) that are
// neither done nor queued nor published. It reports whether it read all of
// them: it stops early when relayMaxPending records wait.
func (r *Relay) read(ctx context.Context, w *shardRelay, after, upTo ID) (bool, error) {
	for len(w.pending) < relayMaxPending {
		recs, err := r.Outbox.ScanOutbox(ctx, w.shard, after, relayBatch)
		if err != nil {
			return false, fmt.Errorf("outbox shard %d: scan: %w", w.shard, err)
		}
		var found []OutboxRecord
		for _, rec := range recs {
			if upTo != 0 && rec.ID > upTo {
				break
			}
			w.head = max(w.head, rec.ID)
			if !rec.Done {
				found = append(found, rec)
			}
		}
		w.enqueue(found)
		if len(recs) < relayBatch || (upTo != 0 && recs[len(recs)-1].ID >= upTo) {
			return true, nil
		}
		after = recs[len(recs)-1].ID
	}
	return false, nil
}

// publish sends the queued records in order, a batch at a time, and marks
// them done. Marks that fail are only logged: the records are published,
// and a relay that reads them again publishes them again, which consumers
// tolerate. Records whose change is still under way (Wait) stay queued,
// with the later records of their follow edge, and the step ends after
// their batch: they are asked about again at the next one.
func (r *Relay) publish(ctx context.Context, w *shardRelay) error {
	for len(w.pending) > 0 {
		if err := w.leaseHeld(time.Now()); err != nil {
			return fmt.Errorf("outbox shard %d: %w", w.shard, err)
		}
		batch := w.pending[:min(len(w.pending), relayBatch)]
		verdicts, err := r.complete(ctx, w, batch)
		if err != nil {
			return err
		}
		// Asking the store took time: the lease must still be held.
		if err := w.leaseHeld(time.Now()); err != nil {
			return fmt.Errorf("outbox shard %d: %w", w.shard, err)
		}
		var send, held []OutboxRecord
		waiting := map[Follow]bool{}
		done := make([]ID, 0, len(batch))
		for i, rec := range batch {
			v := verdicts[i]
			if f := rec.Event.Follow; f != nil && waiting[*f] {
				v = Wait
			}
			switch v {
			case Wait:
				held = append(held, rec)
				if f := rec.Event.Follow; f != nil {
					waiting[*f] = true
				}
				continue
			case Publish:
				send = append(send, rec)
			}
			done = append(done, rec.ID)
		}
		sent := len(send)
		var sendErr error
		if len(send) > 0 {
			evs := make([]Event, len(send))
			for i, rec := range send {
				evs[i] = rec.Event
			}
			// No deadline of the relay's own: a send given up on would go
			// on in the producer, and the next one queue behind it (see
			// events.Producer.PublishBatch).
			if err := r.send(ctx, evs); err != nil {
				retry, partial := toRetry(err, send)
				if !partial {
					return fmt.Errorf("outbox shard %d: publish: %w", w.shard, err)
				}
				// The events that went out are done; the others wait
				// for the next step, in ID order with the held ones.
				sendErr = fmt.Errorf("outbox shard %d: publish: %w", w.shard, err)
				done = slices.DeleteFunc(done, func(id ID) bool { return retry[id] })
				sent -= len(retry)
				sentIDs := make(map[ID]bool, len(send))
				for _, rec := range send {
					sentIDs[rec.ID] = true
				}
				for _, rec := range held {
					retry[rec.ID] = true
				}
				failed := failedOf(err, send)
				held = nil
				for _, rec := range batch {
					if retry[rec.ID] {
						// A later event of a failed one's key went out
						// already: sent again after it, marked so that
						// consumers do not skip it as a copy.
						rec.Event.Resent = rec.Event.Resent || (sentIDs[rec.ID] && !failed[rec.ID])
						held = append(held, rec)
					}
				}
			}
			r.published.Add(int64(sent))
		}
		r.dropped.Add(int64(len(done) - sent))
		w.mu.Lock()
		for _, id := range done {
			w.published[id] = true
			delete(w.queued, id)
			delete(w.applied, id)
			delete(w.recheck, id)
			for _, ch := range w.waiters[id] {
				close(ch)
			}
			delete(w.waiters, id)
		}
		w.pending = append(held, w.pending[len(batch):]...)
		w.pendingN = len(w.pending)
		w.oldest = 0
		if len(w.pending) > 0 {
			w.oldest = w.pending[0].ID
		}
		w.mu.Unlock()
		if len(done) > 0 {
			if err := r.Outbox.MarkOutboxDone(ctx, w.shard, done); err != nil {
				r.log().Warn("outbox: published records not marked done (a later relay may publish them again)", "shard", w.shard, "err", err)
			}
		}
		if sendErr != nil {
			return sendErr
		}
		if len(held) > 0 {
			return nil
		}
	}
	return nil
}

// toRetry returns the records of send to publish again after a batch
// failed partly (partial), or false when the whole batch failed or its
// outcome is unknown. An event published after a failed one of its key is
// published again too, so that the key's events end in the log in order.
func toRetry(err error, send []OutboxRecord) (retry map[ID]bool, partial bool) {
	var pe *PartialPublishError
	if !errors.As(err, &pe) {
		return nil, false
	}
	failed := make(map[int]bool, len(pe.Failed))
	for _, i := range pe.Failed {
		failed[i] = true
	}
	retry = map[ID]bool{}
	keys := map[string]bool{}
	for i, rec := range send {
		if k := topicKey(rec.Event); failed[i] || keys[k] {
			retry[rec.ID], keys[k] = true, true
		}
	}
	return retry, true
}

// failedOf is the records of send that a PartialPublishError err names.
func failedOf(err error, send []OutboxRecord) map[ID]bool {
	var pe *PartialPublishError
	out := map[ID]bool{}
	if errors.As(err, &pe) {
		for _, i := range pe.Failed {
			out[send[i].ID] = true
		}
	}
	return out
}

// topicKey is an event's key with its kind: post and graph (follow,
// block, mute and like) events go to topics of their own, so their keys'
// orders are separate.
func topicKey(ev Event) string {
	if ev.Follow != nil || ev.Block != nil || ev.Mute != nil || ev.Like != nil {
		return "follow:" + ev.Key()
	}
	return "post:" + ev.Key()
}

// complete asks the store about the records in batch not known to have
// landed (not handed over by Dispatch): found by a scan, they may come
// from a write that failed or crashed after its record. It returns what
// to do with each record of batch.
func (r *Relay) complete(ctx context.Context, w *shardRelay, batch []OutboxRecord) ([]Completion, error) {
	verdicts := make([]Completion, len(batch))
	var (
		unknown []OutboxRecord
		at      []int
	)
	now := time.Now()
	w.mu.Lock()
	for i, rec := range batch {
		switch {
		case w.applied[rec.ID] || r.wasApplied(w.shard, rec.ID):
		case now.Before(w.recheck[rec.ID]):
			// Held (Wait) and asked about recently: not again on every
			// wake, which would cost a store read per held record.
			verdicts[i] = Wait
		default:
			unknown = append(unknown, rec)
			at = append(at, i)
		}
	}
	w.mu.Unlock()
	if len(unknown) == 0 {
		return verdicts, nil
	}
	got, err := r.Outbox.CompleteOutbox(ctx, unknown)
	if err != nil {
		return nil, fmt.Errorf("outbox shard %d: %w", w.shard, err)
	}
	if len(got) != len(unknown) {
		return nil, fmt.Errorf("outbox shard %d: the store answered %d verdicts for %d records", w.shard, len(got), len(unknown))
	}
	w.mu.Lock()
	for j, v := range got {
		verdicts[at[j]] = v
		switch v {
		case Publish:
			r.completed.Add(1)
			w.applied[unknown[j].ID] = true // not again when the publish is retried
		case Wait:
			w.recheck[unknown[j].ID] = now.Add(relayRecheck)
		}
	}
	w.mu.Unlock()
	return verdicts, nil
}

func (r *Relay) send(ctx context.Context, evs []Event) error {
	if bp, ok := r.Publisher.(BatchPublisher); ok {
		err := bp.PublishBatch(ctx, evs)
		var partial *PartialPublishError
		switch {
		case err == nil:
			r.logPublished(ctx, evs)
		case errors.As(err, &partial):
			var out []Event
			for i, ev := range evs {
				if !slices.Contains(partial.Failed, i) {
					out = append(out, ev)
				}
			}
			r.logPublished(ctx, out)
		}
		return err
	}
	for i, ev := range evs {
		if err := r.Publisher.Publish(ctx, ev); err != nil {
			if i == 0 {
				return err
			}
			// The ones before went out.
			r.logPublished(ctx, evs[:i])
			return &PartialPublishError{Failed: seq(i, len(evs)), Err: err}
		}
	}
	r.logPublished(ctx, evs)
	return nil
}

// logPublished says, at debug level, which events went out (a consumer's
// "event handled" line is the other end).
func (r *Relay) logPublished(ctx context.Context, evs []Event) {
	if r.Log == nil || !r.Log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	for _, ev := range evs {
		r.Log.DebugContext(ctx, "event published", "type", ev.Type, "key", ev.Key(), "event", ev.ID)
	}
}

// seq is from, from+1, ..., to-1.
func seq(from, to int) []int {
	out := make([]int, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

// advance moves the cursor after a complete sweep: every record above it
// was read, so every record up to the grace horizon is done unless still
// pending. A failure is only logged: the events went out, and the cursor
// moves at the next sweep.
func (r *Relay) advance(ctx context.Context, w *shardRelay, now time.Time) {
	if !r.Clock.OK() {
		return
	}
	c := MinIDAt(now.Add(-r.grace())) - 1
	if len(w.pending) > 0 {
		c = min(c, w.pending[0].ID-1)
	}
	if c <= w.cursor {
		return
	}
	if err := r.Outbox.SetOutboxCursor(ctx, w.shard, c); err != nil {
		r.log().Warn("outbox cursor not moved", "shard", w.shard, "err", err)
		return
	}
	w.cursor = c
	w.mu.Lock()
	below := func(id ID, _ bool) bool { return id <= c }
	maps.DeleteFunc(w.published, below)
	maps.DeleteFunc(w.applied, below)
	w.mu.Unlock()
	r.forgetApplied(w.shard, c)
}
