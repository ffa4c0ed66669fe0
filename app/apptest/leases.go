package apptest

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/feedsvc/feedsvc/app"
)

// NodeLeases is an in-memory app.NodeLeases. Acquire takes the lowest free
// node, so tests know which one; SetErr fails every call, as a store outage
// would; Steal hands a node to another owner, as when a lease expired and
// another process took the node.
type NodeLeases struct {
	mu     sync.Mutex
	owner  map[int]string
	expiry map[int]time.Time
	issued map[int]time.Time
	err    error
	// clockOff is how far the store's clock is from this process's.
	clockOff time.Duration
}

var _ app.StoreClock = (*NodeLeases)(nil)

// SetClock puts the store's clock off from this process's by off.
func (l *NodeLeases) SetClock(off time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.clockOff = off
}

// StoreNow implements app.StoreClock.
func (l *NodeLeases) StoreNow(context.Context) (time.Time, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return time.Time{}, l.err
	}
	return time.Now().Add(l.clockOff), nil
}

var _ app.NodeLeases = (*NodeLeases)(nil)

// NewNodeLeases returns NodeLeases with every node free.
func NewNodeLeases() *NodeLeases {
	return &NodeLeases{owner: map[int]string{}, expiry: map[int]time.Time{}, issued: map[int]time.Time{}}
}

// SetErr makes every call fail with err (nil: work again).
func (l *NodeLeases) SetErr(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.err = err
}

// Steal gives node to owner for an hour.
func (l *NodeLeases) Steal(node int, owner string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.owner[node], l.expiry[node] = owner, time.Now().Add(time.Hour)
}

// Hold gives node to owner for ttl, as a lease its owner then stops
// renewing (a killed process's): it expires by itself.
func (l *NodeLeases) Hold(node int, owner string, ttl time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.owner[node], l.expiry[node] = owner, time.Now().Add(ttl)
}

// Holder returns node's unexpired owner, or "".
func (l *NodeLeases) Holder(node int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.holder(node)
}

func (l *NodeLeases) holder(node int) string {
	if time.Now().Before(l.expiry[node]) {
		return l.owner[node]
	}
	return ""
}

// Acquire implements app.NodeLeases.
func (l *NodeLeases) Acquire(_ context.Context, owner string, ttl time.Duration) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return 0, l.err
	}
	for node := range app.MaxNodeID + 1 {
		if l.holder(node) == "" {
			l.owner[node], l.expiry[node] = owner, time.Now().Add(ttl)
			return node, nil
		}
	}
	return 0, app.ErrNoFreeNode
}

// Claim implements app.NodeLeases.
func (l *NodeLeases) Claim(_ context.Context, node int, owner string, ttl time.Duration) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return false, l.err
	}
	if h := l.holder(node); h != "" {
		return h == owner, nil
	}
	l.owner[node], l.expiry[node] = owner, time.Now().Add(ttl)
	return true, nil
}

// Renew implements app.NodeLeases.
func (l *NodeLeases) Renew(_ context.Context, node int, owner string, ttl time.Duration) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return l.err
	}
	if l.holder(node) != owner {
		return fmt.Errorf("renew %d: %w", node, app.ErrLeaseLost)
	}
	l.expiry[node] = time.Now().Add(ttl)
	return nil
}

// Release implements app.NodeLeases.
func (l *NodeLeases) Release(_ context.Context, node int, owner string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return l.err
	}
	if l.holder(node) == owner {
		delete(l.owner, node)
		delete(l.expiry, node)
	}
	return nil
}

// IssuedUntil implements app.NodeLeases.
func (l *NodeLeases) IssuedUntil(_ context.Context, node int) (time.Time, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return time.Time{}, l.err
	}
	return l.issued[node], nil
}

// RaiseIssuedUntil implements app.NodeLeases.
func (l *NodeLeases) RaiseIssuedUntil(_ context.Context, node int, until time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return l.err
	}
	if until.After(l.issued[node]) {
		l.issued[node] = until
	}
	return nil
}

// shardBase keeps shard leases apart from node leases in the same maps:
// Acquire only looks at nodes 0..MaxNodeID.
const shardBase = app.MaxNodeID + 1

var _ app.ShardLeases = (*NodeLeases)(nil)

// LeaseShard implements app.ShardLeases.
func (l *NodeLeases) LeaseShard(ctx context.Context, shard int, owner string, ttl time.Duration) (bool, error) {
	return l.Claim(ctx, shardBase+shard, owner, ttl)
}

// RenewShard implements app.ShardLeases.
func (l *NodeLeases) RenewShard(ctx context.Context, shard int, owner string, ttl time.Duration) error {
	return l.Renew(ctx, shardBase+shard, owner, ttl)
}

// ReleaseShard implements app.ShardLeases.
func (l *NodeLeases) ReleaseShard(ctx context.Context, shard int, owner string) error {
	return l.Release(ctx, shardBase+shard, owner)
}

// ShardHolder returns shard's unexpired owner, or "".
func (l *NodeLeases) ShardHolder(shard int) string { return l.Holder(shardBase + shard) }
