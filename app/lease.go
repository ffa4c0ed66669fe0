package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Lease errors.
var (
	// ErrLeaseLost: the owner does not hold the lease (of an ID node or an
	// outbox shard): it expired, was released, or another owner holds it.
	ErrLeaseLost = errors.New("lease not held")
	// ErrNoFreeNode: every node number is leased.
	ErrNoFreeNode = errors.New("every node number is leased")
	// ErrNodeHeld: the node asked for (--node-id) is leased to another
	// process.
	ErrNodeHeld = errors.New("node number held by another process")
)

// NodeLeases lends Snowflake node numbers (0..MaxNodeID) to processes for a
// time, so that two live processes never hold the same one: IDs from
// different nodes never collide. The store adapters implement it.
type NodeLeases interface {
	// Acquire leases a free node (never leased, released or expired) to
	// owner for ttl; ErrNoFreeNode when every node is held.
	Acquire(ctx context.Context, owner string, ttl time.Duration) (node int, err error)
	// Claim leases node itself to owner for ttl if it is free, and reports
	// whether owner holds it (a node given by --node-id: recorded like a
	// leased one, so that no other process leases it meanwhile).
	Claim(ctx context.Context, node int, owner string, ttl time.Duration) (bool, error)
	// Renew extends owner's lease of node to ttl from now; ErrLeaseLost
	// when owner does not hold it.
	Renew(ctx context.Context, node int, owner string, ttl time.Duration) error
	// Release frees node if owner holds it; otherwise it frees nothing and
	// is not an error.
	Release(ctx context.Context, node int, owner string) error
	// IssuedUntil is the time until which node's holders so far may have
	// issued IDs (zero: none recorded). It outlives the leases.
	IssuedUntil(ctx context.Context, node int) (time.Time, error)
	// RaiseIssuedUntil records that node's holder may issue IDs until
	// until; a time before the one recorded changes nothing.
	RaiseIssuedUntil(ctx context.Context, node int, until time.Time) error
}

// DefaultLeaseTTL is how long a node lease lasts unless renewed. While a
// Cassandra node restarts cold, the others' Paxos rounds can time out for
// half a minute at a time (seen in the fault suite on 2 cores): at 30 s the
// lease lapsed and posting answered 503 for 25 s. At 60 s the renewals have
// 34 s to get one through (from the first, 20 s after the last success, to
// the 54 s IDs stay valid), where they had 17: four attempts of up to 5 s
// (the store's request timeout), 4 s apart. The cost is that a process
// restarted with the --node-id of one that was killed waits up to 66 s.
const DefaultLeaseTTL = 60 * time.Second

// NodeLease keeps one process's ID node leased: it acquires a node, renews
// the lease every TTL/3 (retrying sooner after a failure), and lets IDs
// (a NewLeasedIDGen) issue only while the lease is known to be held. If
// renewals fail until that is no longer known, IDs refuse, Ready fails, and
// the renewals go on; a lease found lost is replaced by a new one.
type NodeLease struct {
	Leases NodeLeases
	// Owner names this process, uniquely (host, pid and a random part).
	Owner string
	// TTL is the lease's time to live (DefaultLeaseTTL when 0).
	TTL time.Duration
	// Fixed makes the lease claim FixedNode (--node-id) instead of any
	// free node; if another process holds it past the TTL (a killed one's
	// lease expires by then), Acquire fails with ErrNodeHeld.
	Fixed     bool
	FixedNode int
	IDs       *IDGen
	Log       *slog.Logger
	// Clock, if set, holds this process's clock to the store's: IDs stop
	// while they are too far apart, the lease is kept meanwhile.
	Clock *ClockGuard

	mu   sync.Mutex
	node int
}

func (l *NodeLease) ttl() time.Duration {
	if l.TTL > 0 {
		return l.TTL
	}
	return DefaultLeaseTTL
}

// until is how long a lease taken at start lets IDs issue (start is taken
// before the store was asked, so the store's TTL, counted from when it
// wrote, ends later). A tenth of the TTL is kept back for clocks that run
// at different rates.
func (l *NodeLease) until(start time.Time) time.Time { return start.Add(l.ttl() - l.ttl()/10) }

// hold lets IDs issue on node until the lease taken at start ends. The
// store first records that end (RaiseIssuedUntil): the next holder of the
// node issues above every ID this one can, whatever its clock says (one
// 2 h behind would otherwise make this one's IDs again).
func (l *NodeLease) hold(ctx context.Context, node int, start time.Time) error {
	until := l.until(start)
	if l.Clock != nil {
		// A clock read that fails (a slow store) is no verdict: the
		// lease just renewed, and the last verdict stands, once there is
		// one (the mark below would keep a clock far ahead for good).
		cctx, cancel := context.WithTimeout(ctx, clockCheckTimeout)
		err := l.Clock.Check(cctx)
		cancel()
		if err != nil && !errors.Is(err, ErrClockSkew) && !l.Clock.Checked() {
			return fmt.Errorf("node %d: %w", node, err)
		}
		if errors.Is(err, ErrClockSkew) {
			// IDs timed by this clock could go below the outbox cursors
			// (behind) or above other nodes' (ahead).
			l.IDs.Revoke()
			l.mu.Lock()
			l.node = node // held, and renewed: IDs resume with the clock
			l.mu.Unlock()
			return fmt.Errorf("node %d: %w", node, err)
		}
	}
	// Past until, a sequence run out borrows the next milliseconds: a
	// second more covers 4 million IDs.
	if err := l.Leases.RaiseIssuedUntil(ctx, node, until.Add(time.Second)); err != nil {
		return fmt.Errorf("record node %d's IDs: %w", node, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.node = node
	l.IDs.Lease(node, until)
	return nil
}

// Node is the node last leased.
func (l *NodeLease) Node() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.node
}

// Acquire leases a node and lets IDs issue on it, above every ID its
// earlier holders may have issued.
func (l *NodeLease) Acquire(ctx context.Context) (int, error) {
	start := time.Now()
	node, floor, err := l.acquire(ctx, start)
	if err == nil {
		l.IDs.Floor(floor)
		err = l.hold(ctx, node, start)
	}
	if errors.Is(err, ErrClockSkew) {
		// Started, not ready: the renewals check the clock again.
		l.Log.Error("node lease acquired, but no IDs until the clock is back within the store's", "node", node, "err", err)
		return node, nil
	}
	if err != nil && node >= 0 {
		// Leased but not held (its mark or the clock could not be
		// read): given back, not left to expire (a renewal that finds
		// its lease lost retries Acquire every few seconds).
		if rerr := l.Leases.Release(ctx, node, l.Owner); rerr != nil {
			l.Log.Warn("node lease not given back after a failed acquire; it expires by itself", "node", node, "err", rerr)
		}
	}
	if err != nil {
		return 0, fmt.Errorf("acquire node lease: %w", err)
	}
	l.Log.Info("node lease acquired", "node", node, "owner", l.Owner, "ttl", l.ttl())
	return node, nil
}

// clockCheckTimeout bounds the clock read of a lease or renewal, so that
// a slow one leaves the renewal's time to record the mark.
const clockCheckTimeout = 2 * time.Second

// aheadTries bounds how many nodes Acquire gives back because an earlier
// holder's clock ran ahead of this process's (see acquire).
const aheadTries = 8

// acquire leases a node and returns it with the time its earlier holders
// may have issued IDs until. A node marked ahead of our clock (its holder
// stopped less than a lease ago, or its clock ran ahead) would have us
// issue IDs timed in the future: another free node is taken instead, a few
// times, before such a node is kept.
func (l *NodeLease) acquire(ctx context.Context, start time.Time) (node int, floor time.Time, err error) {
	if l.Fixed {
		if node, err = l.claim(ctx); err != nil {
			return -1, time.Time{}, err
		}
		floor, err = l.Leases.IssuedUntil(ctx, node)
		return node, floor, err
	}
	var ahead []int // leased and given back only after the loop
	defer func() {
		for _, n := range ahead {
			if n != node || err != nil {
				_ = l.Leases.Release(ctx, n, l.Owner)
			}
		}
	}()
	for try := 0; ; try++ {
		if node, err = l.Leases.Acquire(ctx, l.Owner, l.ttl()); err != nil {
			return -1, time.Time{}, err
		}
		if floor, err = l.Leases.IssuedUntil(ctx, node); err != nil {
			ahead = append(ahead, node)
			return -1, time.Time{}, err
		}
		if !floor.After(start) || try == aheadTries {
			return node, floor, nil
		}
		ahead = append(ahead, node)
	}
}

// claim leases FixedNode (--node-id).
func (l *NodeLease) claim(ctx context.Context) (int, error) {
	// A process killed without releasing its node (this one's previous
	// run, often) holds it until its lease expires: wait that long before
	// calling the node taken, or until ctx ends.
	giveUp := time.Now().Add(l.ttl() + l.ttl()/10)
	for logged := false; ; logged = true {
		ok, err := l.Leases.Claim(ctx, l.FixedNode, l.Owner, l.ttl())
		switch {
		case err != nil:
			return 0, err
		case ok:
			return l.FixedNode, nil
		case time.Now().After(giveUp):
			return 0, fmt.Errorf("node %d: %w", l.FixedNode, ErrNodeHeld)
		case !logged:
			l.Log.Warn("node held by another process; waiting for its lease to expire", "node", l.FixedNode, "until", giveUp)
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("node %d: %w", l.FixedNode, ErrNodeHeld)
		case <-time.After(time.Second):
		}
	}
}

// Run renews the lease until ctx ends. It stops only with ctx.
func (l *NodeLease) Run(ctx context.Context) error {
	every, retry := l.ttl()/3, l.ttl()/15
	timer := time.NewTimer(every)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
		if err := l.renew(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, ErrClockSkew) {
				// Renewed; the guard said why no IDs are made.
				timer.Reset(every)
				continue
			}
			if cerr := l.IDs.Check(); cerr != nil {
				l.Log.Error("node lease not renewed: no IDs are issued until it is", "node", l.Node(), "err", err)
			} else {
				l.Log.Warn("node lease not renewed; retrying", "node", l.Node(), "err", err, "retry_in", retry)
			}
			timer.Reset(retry)
			continue
		}
		timer.Reset(every)
	}
}

// renew extends the lease, or, when it was lost, stops IDs and leases a
// node anew.
func (l *NodeLease) renew(ctx context.Context) error {
	// A renewal that outlives the retry interval is no better than a retry.
	ctx, cancel := context.WithTimeout(ctx, l.ttl()/6)
	defer cancel()
	node := l.Node()
	start := time.Now()
	err := l.Leases.Renew(ctx, node, l.Owner, l.ttl())
	if err == nil {
		return l.hold(ctx, node, start)
	}
	if !errors.Is(err, ErrLeaseLost) {
		return fmt.Errorf("renew node lease: %w", err)
	}
	// Another process may hold the node by now (the lease expired during
	// an outage): stop at once, and carry on with a node of our own.
	l.IDs.Revoke()
	l.Log.Error("node lease lost: no IDs until another node is leased", "node", node, "owner", l.Owner)
	if _, err := l.Acquire(ctx); err != nil {
		return err
	}
	return nil
}

// Ready reports whether IDs are being issued (ErrUnavailable when not;
// ErrClockSkew when the clock stopped them).
func (l *NodeLease) Ready(context.Context) error {
	err := l.IDs.Check()
	if err != nil && !l.Clock.OK() {
		return fmt.Errorf("%w (%s off)", ErrClockSkew, l.Clock.Skew().Round(time.Millisecond))
	}
	return err
}

// Release stops IDs and frees the node for other processes.
func (l *NodeLease) Release(ctx context.Context) error {
	l.IDs.Revoke()
	node := l.Node()
	if err := l.Leases.Release(ctx, node, l.Owner); err != nil {
		return fmt.Errorf("release node lease %d: %w", node, err)
	}
	l.Log.Info("node lease released", "node", node, "owner", l.Owner)
	return nil
}
