package app

import (
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

// IDGen makes unique, time-ordered IDs for one node.
type IDGen struct {
	mu     sync.Mutex
	node   int64
	lastMs int64
	seq    int64
	now    func() time.Time
}

// NewIDGen returns a generator for node (0..MaxNodeID; taken modulo otherwise).
func NewIDGen(node int) *IDGen {
	return &IDGen{node: int64(node) & MaxNodeID, now: time.Now}
}

// Next returns a fresh ID, greater than every ID this generator returned before,
// even if the wall clock steps back.
func (g *IDGen) Next() ID {
	g.mu.Lock()
	defer g.mu.Unlock()
	ms := g.now().UnixMilli() - epochMillis
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
	return ID(ms<<(nodeBits+seqBits) | g.node<<seqBits | g.seq)
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
