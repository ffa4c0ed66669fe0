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

var _ app.NodeLeases = (*Store)(nil)

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
	iter := s.session.Query(`SELECT node FROM node_leases`).WithContext(ctx).Iter()
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
		ok, err := s.tryLease(ctx, node, owner, ttl)
		if err != nil {
			return 0, err
		}
		if ok {
			return node, nil
		}
	}
	return 0, fmt.Errorf("cassandra: acquire node lease: %w", app.ErrNoFreeNode)
}

// tryLease leases node to owner if it is free.
func (s *Store) tryLease(ctx context.Context, node int, owner string, ttl time.Duration) (bool, error) {
	applied, err := leaseLWT(s.session.Query(`INSERT INTO node_leases (node, owner) VALUES (?, ?) IF NOT EXISTS USING TTL ?`,
		node, owner, leaseTTL(ttl))).WithContext(ctx).MapScanCAS(map[string]any{})
	if err == nil {
		return applied, nil
	}
	// A timed-out LWT may have been applied (under contention, for
	// example): a SERIAL read tells, and completes it if it is in flight.
	holder, rerr := s.leaseHolder(ctx, node)
	if rerr != nil {
		return false, fmt.Errorf("cassandra: acquire node lease %d: %w", node, err)
	}
	return holder == owner, nil
}

// leaseHolder reads node's owner at SERIAL ("" when free).
func (s *Store) leaseHolder(ctx context.Context, node int) (string, error) {
	var owner string
	err := s.session.Query(`SELECT owner FROM node_leases WHERE node = ?`, node).
		Consistency(gocql.Consistency(gocql.Serial)).WithContext(ctx).Scan(&owner) // same protocol code
	if errors.Is(err, gocql.ErrNotFound) {
		return "", nil
	}
	return owner, err
}

// Renew implements app.NodeLeases. Setting owner again with a TTL keeps the
// row alive: a row lives while any of its cells does.
func (s *Store) Renew(ctx context.Context, node int, owner string, ttl time.Duration) error {
	applied, err := leaseLWT(s.session.Query(`UPDATE node_leases USING TTL ? SET owner = ? WHERE node = ? IF owner = ?`,
		leaseTTL(ttl), owner, node, owner)).WithContext(ctx).MapScanCAS(map[string]any{})
	if err != nil {
		return fmt.Errorf("cassandra: renew node lease %d: %w", node, err)
	}
	if !applied {
		return fmt.Errorf("cassandra: renew node lease %d: %w", node, app.ErrLeaseLost)
	}
	return nil
}

// Release implements app.NodeLeases.
func (s *Store) Release(ctx context.Context, node int, owner string) error {
	_, err := leaseLWT(s.session.Query(`DELETE FROM node_leases WHERE node = ? IF owner = ?`, node, owner)).
		WithContext(ctx).MapScanCAS(map[string]any{})
	if err != nil {
		return fmt.Errorf("cassandra: release node lease %d: %w", node, err)
	}
	return nil
}
