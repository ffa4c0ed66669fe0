package pebble

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/feedsvc/feedsvc/app"
)

var (
	_ app.NodeLeases = (*Store)(nil)
	_ app.StoreClock = (*Store)(nil)
)

// StoreNow implements app.StoreClock: the embedded store runs in this
// process, on its clock.
func (s *Store) StoreNow(context.Context) (time.Time, error) { return time.Now(), nil }

// The embedded store belongs to one process (the data dir is locked), so
// its leases matter only across that process's restarts; they keep the
// same rules as Cassandra's all the same, so that one conformance suite
// holds both.

// lease is a stored node lease.
type lease struct {
	Owner   string    `json:"owner"`
	Expires time.Time `json:"expires"`
}

func leaseKey(node int) []byte {
	return binary.BigEndian.AppendUint16([]byte(prefixLease), uint16(node))
}

// holder returns node's unexpired lease, if any.
func (s *Store) holder(node int, now time.Time) (lease, bool, error) {
	v, closer, err := s.db.Get(leaseKey(node))
	if errors.Is(err, pebble.ErrNotFound) {
		return lease{}, false, nil
	}
	if err != nil {
		return lease{}, false, fmt.Errorf("pebble: node lease %d: %w", node, err)
	}
	defer closer.Close()
	var l lease
	if err := json.Unmarshal(v, &l); err != nil {
		return lease{}, false, fmt.Errorf("pebble: decode node lease %d: %w", node, err)
	}
	return l, now.Before(l.Expires), nil
}

func (s *Store) putLease(node int, owner string, expires time.Time) error {
	v, err := json.Marshal(lease{Owner: owner, Expires: expires})
	if err != nil {
		return fmt.Errorf("pebble: encode node lease: %w", err)
	}
	if err := s.db.Set(leaseKey(node), v, pebble.Sync); err != nil {
		return fmt.Errorf("pebble: node lease %d: %w", node, err)
	}
	return nil
}

// Acquire implements app.NodeLeases, trying the nodes in random order.
func (s *Store) Acquire(_ context.Context, owner string, ttl time.Duration) (int, error) {
	s.leaseMu.Lock()
	defer s.leaseMu.Unlock()
	now := time.Now()
	for _, node := range rand.Perm(app.MaxNodeID + 1) {
		_, held, err := s.holder(node, now)
		if err != nil {
			return 0, err
		}
		if !held {
			return node, s.putLease(node, owner, now.Add(ttl))
		}
	}
	return 0, fmt.Errorf("pebble: acquire node lease: %w", app.ErrNoFreeNode)
}

// Claim implements app.NodeLeases.
func (s *Store) Claim(_ context.Context, node int, owner string, ttl time.Duration) (bool, error) {
	s.leaseMu.Lock()
	defer s.leaseMu.Unlock()
	now := time.Now()
	l, held, err := s.holder(node, now)
	if err != nil {
		return false, err
	}
	if held && l.Owner != owner {
		return false, nil
	}
	return true, s.putLease(node, owner, now.Add(ttl))
}

// Renew implements app.NodeLeases.
func (s *Store) Renew(_ context.Context, node int, owner string, ttl time.Duration) error {
	s.leaseMu.Lock()
	defer s.leaseMu.Unlock()
	now := time.Now()
	l, held, err := s.holder(node, now)
	if err != nil {
		return err
	}
	if !held || l.Owner != owner {
		return fmt.Errorf("pebble: renew node lease %d: %w", node, app.ErrLeaseLost)
	}
	return s.putLease(node, owner, now.Add(ttl))
}

// Release implements app.NodeLeases.
func (s *Store) Release(_ context.Context, node int, owner string) error {
	s.leaseMu.Lock()
	defer s.leaseMu.Unlock()
	l, held, err := s.holder(node, time.Now())
	if err != nil || !held || l.Owner != owner {
		return err
	}
	if err := s.db.Delete(leaseKey(node), pebble.Sync); err != nil {
		return fmt.Errorf("pebble: release node lease %d: %w", node, err)
	}
	return nil
}

func issuedKey(node int) []byte {
	return binary.BigEndian.AppendUint16([]byte(prefixIssued), uint16(node))
}

// IssuedUntil implements app.NodeLeases.
func (s *Store) IssuedUntil(_ context.Context, node int) (time.Time, error) {
	s.leaseMu.Lock()
	defer s.leaseMu.Unlock()
	return s.issuedUntil(node)
}

func (s *Store) issuedUntil(node int) (time.Time, error) {
	v, closer, err := s.db.Get(issuedKey(node))
	if errors.Is(err, pebble.ErrNotFound) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("pebble: node %d's IDs: %w", node, err)
	}
	defer closer.Close()
	if len(v) != 8 {
		return time.Time{}, fmt.Errorf("pebble: node %d's IDs: a value of %d bytes", node, len(v))
	}
	return time.UnixMicro(int64(binary.BigEndian.Uint64(v))), nil
}

// RaiseIssuedUntil implements app.NodeLeases.
func (s *Store) RaiseIssuedUntil(_ context.Context, node int, until time.Time) error {
	s.leaseMu.Lock()
	defer s.leaseMu.Unlock()
	cur, err := s.issuedUntil(node)
	if err != nil || !until.After(cur) {
		return err
	}
	if err := s.db.Set(issuedKey(node), binary.BigEndian.AppendUint64(nil, uint64(until.UnixMicro())), pebble.Sync); err != nil {
		return fmt.Errorf("pebble: node %d's IDs: %w", node, err)
	}
	return nil
}
