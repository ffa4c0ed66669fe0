package cassandra

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/gocql/gocql"

	"github.com/feedsvc/feedsvc/app"
)

var (
	_ app.NodeLeases  = (*Store)(nil)
	_ app.ShardLeases = (*Store)(nil)
	_ app.StoreClock  = (*Store)(nil)
)

// leaseTable is a table of leases: a row per leased thing, written only
// through LWTs at SERIAL, with a TTL the holder renews.
type leaseTable struct{ name, key, what string }

var (
	nodeLeases  = leaseTable{"node_leases", "node", "node lease"}
	shardLeases = leaseTable{"outbox_leases", "shard", "outbox shard lease"}
)

// leaseTTL is ttl in whole seconds (CQL's unit), rounded up.
func leaseTTL(ttl time.Duration) int { return max(1, int(math.Ceil(ttl.Seconds()))) }

// leaseLWT prepares a lease LWT: not retried (see lwt), and at SERIAL even
// when the store runs LOCAL_SERIAL, because node numbers must be unique
// across data centres: LOCAL_SERIAL would let each one lend the same node.
func leaseLWT(q *gocql.Query) *gocql.Query { return lwt(q).SerialConsistency(gocql.Serial) }

// Acquire implements app.NodeLeases. It reads which nodes are held (one
// scan of at most MaxNodeID+1 rows), then tries the free ones in random
// order, so that processes starting together do not all race for the same
// node, with INSERT ... IF NOT EXISTS USING TTL.
func (s *Store) Acquire(ctx context.Context, owner string, ttl time.Duration) (int, error) {
	held := make([]bool, app.MaxNodeID+1)
	iter := s.query(`SELECT node FROM node_leases`).WithContext(ctx).Iter()
	for node := 0; iter.Scan(&node); {
		if node >= 0 && node <= app.MaxNodeID {
			held[node] = true
		}
	}
	if err := iter.Close(); err != nil {
		return 0, fmt.Errorf("cassandra: acquire node lease: %w", err)
	}
	for _, node := range rand.Perm(app.MaxNodeID + 1) {
		if held[node] {
			continue
		}
		ok, err := s.tryLease(ctx, nodeLeases, node, owner, ttl)
		if err != nil {
			return 0, err
		}
		if ok {
			return node, nil
		}
	}
	return 0, fmt.Errorf("cassandra: acquire node lease: %w", app.ErrNoFreeNode)
}

// tryLease leases key of t to owner if it is free, and reports whether
// owner holds it.
func (s *Store) tryLease(ctx context.Context, t leaseTable, key int, owner string, ttl time.Duration) (bool, error) {
	prev := map[string]any{}
	applied, err := leaseLWT(s.query(`INSERT INTO `+t.name+` (`+t.key+`, owner) VALUES (?, ?) IF NOT EXISTS USING TTL ?`,
		key, owner, leaseTTL(ttl))).WithContext(ctx).MapScanCAS(prev)
	if err == nil {
		// Not applied: held, perhaps by owner itself.
		return applied || prev["owner"] == owner, nil
	}
	// A timed-out LWT may have been applied (under contention, for
	// example): a SERIAL read tells, and completes it if it is in flight.
	holder, rerr := s.leaseHolder(ctx, t, key)
	if rerr != nil {
		return false, failf("cassandra: acquire %s %d: %w", t.what, key, err)
	}
	return holder == owner, nil
}

// leaseHolder reads key's owner at SERIAL ("" when free).
func (s *Store) leaseHolder(ctx context.Context, t leaseTable, key int) (string, error) {
	var owner string
	// A SERIAL read is a Paxos round: retried, but not run twice at once
	// (two rounds on one partition only contend), so not through s.query.
	err := s.session.Query(`SELECT owner FROM `+t.name+` WHERE `+t.key+` = ?`, key).
		Consistency(gocql.Consistency(gocql.Serial)).WithContext(ctx).Scan(&owner) // same protocol code
	if errors.Is(err, gocql.ErrNotFound) {
		return "", nil
	}
	return owner, err
}

// renewLease extends owner's lease of key. Setting owner again with a TTL
// keeps the row alive: a row lives while any of its cells does.
func (s *Store) renewLease(ctx context.Context, t leaseTable, key int, owner string, ttl time.Duration) error {
	applied, err := leaseLWT(s.query(`UPDATE `+t.name+` USING TTL ? SET owner = ? WHERE `+t.key+` = ? IF owner = ?`,
		leaseTTL(ttl), owner, key, owner)).WithContext(ctx).MapScanCAS(map[string]any{})
	if err != nil {
		return failf("cassandra: renew %s %d: %w", t.what, key, err)
	}
	if !applied {
		return fmt.Errorf("cassandra: renew %s %d: %w", t.what, key, app.ErrLeaseLost)
	}
	return nil
}

// releaseLease frees key if owner holds it.
func (s *Store) releaseLease(ctx context.Context, t leaseTable, key int, owner string) error {
	_, err := leaseLWT(s.query(`DELETE FROM `+t.name+` WHERE `+t.key+` = ? IF owner = ?`, key, owner)).
		WithContext(ctx).MapScanCAS(map[string]any{})
	if err != nil {
		return failf("cassandra: release %s %d: %w", t.what, key, err)
	}
	return nil
}

// Claim implements app.NodeLeases.
func (s *Store) Claim(ctx context.Context, node int, owner string, ttl time.Duration) (bool, error) {
	return s.tryLease(ctx, nodeLeases, node, owner, ttl)
}

// Renew implements app.NodeLeases.
func (s *Store) Renew(ctx context.Context, node int, owner string, ttl time.Duration) error {
	return s.renewLease(ctx, nodeLeases, node, owner, ttl)
}

// Release implements app.NodeLeases.
func (s *Store) Release(ctx context.Context, node int, owner string) error {
	return s.releaseLease(ctx, nodeLeases, node, owner)
}

// StoreNow implements app.StoreClock: the clock of the node that
// coordinates the read, the one Cassandra orders writes by where the
// client gives no timestamp.
func (s *Store) StoreNow(ctx context.Context) (time.Time, error) {
	var ms int64
	if err := s.query(`SELECT toUnixTimestamp(now()) FROM system.local`).WithContext(ctx).Scan(&ms); err != nil {
		return time.Time{}, failf("cassandra: read the clock: %w", err)
	}
	return time.UnixMilli(ms), nil
}

// IssuedUntil implements app.NodeLeases.
func (s *Store) IssuedUntil(ctx context.Context, node int) (time.Time, error) {
	var until time.Time
	err := s.query(`SELECT issued_until FROM node_ids WHERE node = ?`, node).Consistency(gocql.Quorum).WithContext(ctx).Scan(&until)
	if err != nil && !errors.Is(err, gocql.ErrNotFound) {
		return time.Time{}, failf("cassandra: node %d's IDs: %w", node, err)
	}
	return until, nil
}

// RaiseIssuedUntil implements app.NodeLeases: a plain write (at QUORUM,
// as node numbers are unique across data centres) whose
// timestamp is until itself, so that of two writes the later time wins
// (last write wins), whatever order they come in and whatever the clocks
// of their writers say (a client timestamp would let a writer whose clock
// is behind lose its raise).
func (s *Store) RaiseIssuedUntil(ctx context.Context, node int, until time.Time) error {
	err := s.query(`UPDATE node_ids USING TIMESTAMP ? SET issued_until = ? WHERE node = ?`, until.UnixMicro(), until, node).
		Consistency(gocql.Quorum).WithContext(ctx).Exec()
	if err != nil {
		return failf("cassandra: node %d's IDs: %w", node, err)
	}
	return nil
}

// LeaseShard implements app.ShardLeases. Every relay asks for every shard
// it does not hold, every few seconds: a plain read first keeps a shard
// that another process holds from costing a Paxos round each time. A stale
// read only means one LWT more (it finds the shard free) or one round
// later (the lease it saw has just expired).
func (s *Store) LeaseShard(ctx context.Context, shard int, owner string, ttl time.Duration) (bool, error) {
	var holder string
	err := s.query(`SELECT owner FROM `+shardLeases.name+` WHERE `+shardLeases.key+` = ?`, shard).
		WithContext(ctx).Scan(&holder)
	switch {
	case err == nil && holder != owner:
		return false, nil
	case err != nil && !errors.Is(err, gocql.ErrNotFound):
		return false, failf("cassandra: acquire %s %d: %w", shardLeases.what, shard, err)
	}
	return s.tryLease(ctx, shardLeases, shard, owner, ttl)
}

// RenewShard implements app.ShardLeases.
func (s *Store) RenewShard(ctx context.Context, shard int, owner string, ttl time.Duration) error {
	return s.renewLease(ctx, shardLeases, shard, owner, ttl)
}

// ReleaseShard implements app.ShardLeases.
func (s *Store) ReleaseShard(ctx context.Context, shard int, owner string) error {
	return s.releaseLease(ctx, shardLeases, shard, owner)
}
