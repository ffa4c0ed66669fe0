package app

import (
	"fmt"
	"sync"
	"time"
)

// Snowflake layout: 41 bits of milliseconds since epochMillis, 10 bits of
// node, 12 bits of sequence. IDs from different nodes never collide, and IDs
// sort by creation time, which is what feeds and timelines order by.
const (
	epochMillis = 1704067200000 // 2024-01-01T00:00:00Z
	nodeBits    = 10
	seqBits     = 12
	// MaxNodeID is the largest node number an IDGen accepts.
	MaxNodeID = 1<<nodeBits - 1
)

// IDGen makes unique, time-ordered IDs for one node. The node is either its
// own outright (NewIDGen) or leased (NewLeasedIDGen, kept by a NodeLease):
// a leased generator issues IDs only while its lease is known to be held.
type IDGen struct {
	mu     sync.Mutex
	node   int64
	lastMs int64
	seq    int64
	now    func() time.Time
	// leased generators issue only before until.
	leased bool
	until  time.Time
}

// NewIDGen returns a generator for node (0..MaxNodeID; taken modulo otherwise).
func NewIDGen(node int) *IDGen {
	return &IDGen{node: int64(node) & MaxNodeID, now: time.Now}
}

// NewLeasedIDGen returns a generator whose node is leased: it refuses to
// issue IDs until Lease names the node and how long it is held.
func NewLeasedIDGen() *IDGen {
	return &IDGen{leased: true, now: time.Now}
}

// Lease sets the node of a leased generator and the time until which it may
// issue IDs for it. A renewal moves until on; a new node keeps the IDs
// increasing.
func (g *IDGen) Lease(node int, until time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.node, g.until = int64(node)&MaxNodeID, until
}

// Floor makes every ID from now on later than any made up to t (on any
// clock): a node's new holder floors it at what its earlier holders may
// have issued. Until this clock passes t, IDs carry the millisecond after
// t's and count up in their sequence.
func (g *IDGen) Floor(t time.Time) {
	if t.IsZero() {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if ms := t.UnixMilli() - epochMillis + 1; ms > g.lastMs {
		g.lastMs, g.seq = ms, -1 // Next's seq++ makes it 0
	}
}

// Revoke stops a leased generator at once, until the next Lease.
func (g *IDGen) Revoke() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.until = time.Time{}
}

// Check returns why Next would refuse now (ErrUnavailable), or nil.
func (g *IDGen) Check() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.check(g.now())
}

func (g *IDGen) check(now time.Time) error {
	if g.leased && !now.Before(g.until) {
		// Another process may hold the node by now: an ID from here
		// could be one it issues too.
		return fmt.Errorf("%w: no ID node: its lease is not known to be held", ErrUnavailable)
	}
	return nil
}

// Next returns a fresh ID, greater than every ID this generator returned before,
// even if the wall clock steps back. A leased generator refuses
// (ErrUnavailable) while its lease is not known to be held.
func (g *IDGen) Next() (ID, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	if err := g.check(now); err != nil {
		return 0, err
	}
	ms := now.UnixMilli() - epochMillis
	if ms <= g.lastMs {
		ms = g.lastMs
		g.seq++
		if g.seq >= 1<<seqBits {
			// Sequence exhausted in this millisecond: borrow the next one.
			ms++
			g.seq = 0
		}
	} else {
		g.seq = 0
	}
	g.lastMs = ms
	return ID(ms<<(nodeBits+seqBits) | g.node<<seqBits | g.seq), nil
}

// MinIDAt returns the smallest ID that could be made at time t; useful as a
// lower bound when scanning by time.
func MinIDAt(t time.Time) ID {
	ms := t.UnixMilli() - epochMillis
	if ms < 0 {
		ms = 0
	}
	return ID(ms << (nodeBits + seqBits))
}
