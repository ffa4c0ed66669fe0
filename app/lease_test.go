package app_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/app/apptest"
	"github.com/feedsvc/feedsvc/internal/testenv"
)

func TestLeasedIDGen(t *testing.T) {
	g := app.NewLeasedIDGen()
	if _, err := g.Next(); !errors.Is(err, app.ErrUnavailable) {
		t.Fatalf("Next before any lease: err = %v, want ErrUnavailable", err)
	}
	g.Lease(5, time.Now().Add(time.Hour))
	first, err := g.Next()
	must(t, err)
	if first.Node() != 5 {
		t.Fatalf("ID %d has node %d, want 5", first, first.Node())
	}
	g.Lease(6, time.Now().Add(time.Hour)) // a new node: IDs go on increasing
	second, err := g.Next()
	must(t, err)
	if second.Node() != 6 || second <= first {
		t.Fatalf("after a new lease: ID %d (node %d) after %d", second, second.Node(), first)
	}
	g.Revoke()
	if _, err := g.Next(); !errors.Is(err, app.ErrUnavailable) {
		t.Fatalf("Next after Revoke: err = %v, want ErrUnavailable", err)
	}
	g.Lease(6, time.Now().Add(-time.Millisecond))
	if err := g.Check(); !errors.Is(err, app.ErrUnavailable) {
		t.Fatalf("Check past the lease: err = %v, want ErrUnavailable", err)
	}
	if _, err := g.Next(); !errors.Is(err, app.ErrUnavailable) {
		t.Fatalf("Next past the lease: err = %v, want ErrUnavailable", err)
	}
	if err := app.NewIDGen(7).Check(); err != nil {
		t.Fatalf("a generator with a node of its own refuses: %v", err)
	}
}

func newLease(leases app.NodeLeases, owner string, ttl time.Duration) *app.NodeLease {
	return &app.NodeLease{Leases: leases, Owner: owner, TTL: ttl, IDs: app.NewLeasedIDGen(), Log: slog.New(slog.DiscardHandler)}
}

func TestNodeLeaseAcquireRelease(t *testing.T) {
	ctx := context.Background()
	leases := apptest.NewNodeLeases()
	leases.Steal(0, "another process")
	l := newLease(leases, "me", time.Hour)
	node, err := l.Acquire(ctx)
	must(t, err)
	if node != 1 || leases.Holder(1) != "me" {
		t.Fatalf("acquired node %d (holder %q), want 1 held by me", node, leases.Holder(1))
	}
	id, err := l.IDs.Next()
	must(t, err)
	if id.Node() != 1 {
		t.Fatalf("ID on node %d, want 1", id.Node())
	}
	must(t, l.Ready(ctx))
	must(t, l.Release(ctx))
	if h := leases.Holder(1); h != "" {
		t.Fatalf("node 1 still held by %q after Release", h)
	}
	if _, err := l.IDs.Next(); !errors.Is(err, app.ErrUnavailable) {
		t.Fatalf("Next after Release: err = %v, want ErrUnavailable", err)
	}
	if err := l.Ready(ctx); err == nil {
		t.Fatal("ready after Release")
	}
}

// TestNodeLeaseOutage: renewals that fail past the lease's validity stop
// IDs and readiness; once the store answers again, IDs resume.
func TestNodeLeaseOutage(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	leases := apptest.NewNodeLeases()
	l := newLease(leases, "me", 600*time.Millisecond)
	_, err := l.Acquire(ctx)
	must(t, err)
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()

	leases.SetErr(errors.New("store down"))
	testenv.Until(t, "IDs refuse", func() bool {
		_, err := l.IDs.Next()
		return errors.Is(err, app.ErrUnavailable)
	})
	if err := l.Ready(ctx); !errors.Is(err, app.ErrUnavailable) {
		t.Fatalf("Ready with the lease unknown: %v, want ErrUnavailable", err)
	}
	leases.SetErr(nil)
	testenv.Until(t, "IDs issue again", func() bool { return l.Ready(ctx) == nil })
	id, err := l.IDs.Next()
	must(t, err)
	if leases.Holder(id.Node()) != "me" {
		t.Fatalf("ID on node %d, held by %q", id.Node(), leases.Holder(id.Node()))
	}
	cancel()
	must(t, <-done)
}

// TestNodeLeaseLost: a lease found held by another owner is replaced by a
// new one, and IDs move to the new node.
func TestNodeLeaseLost(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	leases := apptest.NewNodeLeases()
	l := newLease(leases, "me", 600*time.Millisecond)
	first, err := l.Acquire(ctx)
	must(t, err)
	go func() { _ = l.Run(ctx) }()
	leases.Steal(first, "another process")
	testenv.Until(t, "a new node is leased", func() bool { return l.Node() != first && l.Ready(ctx) == nil })
	id, err := l.IDs.Next()
	must(t, err)
	if id.Node() == first || leases.Holder(id.Node()) != "me" {
		t.Fatalf("ID on node %d (held by %q) after node %d was taken", id.Node(), leases.Holder(id.Node()), first)
	}
}

func TestCreatePostRefusedWithoutLease(t *testing.T) {
	w := newWorld("a")
	w.svc.IDs = app.NewLeasedIDGen()
	if _, err := w.svc.CreatePost(context.Background(), "a", "hello", ""); !errors.Is(err, app.ErrUnavailable) {
		t.Fatalf("CreatePost without a lease: err = %v, want ErrUnavailable", err)
	}
}

// TestNodeLeaseFixed: a node given by --node-id is leased like any other,
// so a second process given the same node cannot take it, and a process
// leasing any node does not get it.
func TestNodeLeaseFixed(t *testing.T) {
	ctx := context.Background()
	leases := apptest.NewNodeLeases()
	fixed := func(owner string) *app.NodeLease {
		l := newLease(leases, owner, time.Hour)
		l.Fixed, l.FixedNode = true, 0
		return l
	}
	first := fixed("first")
	node, err := first.Acquire(ctx)
	must(t, err)
	if node != 0 || leases.Holder(0) != "first" {
		t.Fatalf("fixed lease got node %d (holder %q), want 0 held by first", node, leases.Holder(0))
	}
	id, err := first.IDs.Next()
	must(t, err)
	if id.Node() != 0 {
		t.Fatalf("ID on node %d, want 0", id.Node())
	}
	// The second waits for the first's lease to expire (an hour here), or
	// until its ctx ends.
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := fixed("second").Acquire(short); !errors.Is(err, app.ErrNodeHeld) {
		t.Fatalf("a second process on the same node: err = %v, want ErrNodeHeld", err)
	}
	if n, err := newLease(leases, "any", time.Hour).Acquire(ctx); err != nil || n == 0 {
		t.Fatalf("a process leasing any node got %d, %v; want another node", n, err)
	}
	must(t, first.Release(ctx))
	if _, err := fixed("second").Acquire(ctx); err != nil {
		t.Fatalf("the node once released: %v", err)
	}

	// A node left held by a killed process is taken once its lease
	// expires: it had the same TTL, and Acquire waits that long.
	leases.Hold(1, "a killed process", 300*time.Millisecond)
	stale := newLease(leases, "restarted", 300*time.Millisecond)
	stale.Fixed, stale.FixedNode = true, 1
	if n, err := stale.Acquire(ctx); err != nil || n != 1 {
		t.Fatalf("a node whose holder's lease expired = %d, %v; want 1", n, err)
	}
}

// TestNodeLeaseIssuesAboveEarlierHolders: a node's new holder whose clock
// is 2 h behind its earlier holder's issues no ID that one may have
// issued. The earlier holder stands as the mark it left (until when it may
// have issued IDs, on its clock).
func TestNodeLeaseIssuesAboveEarlierHolders(t *testing.T) {
	ctx := context.Background()
	leases := apptest.NewNodeLeases()
	ahead := time.Now().Add(2 * time.Hour)
	must(t, leases.RaiseIssuedUntil(ctx, 0, ahead))

	// --node-id 0 has no other node to take: its IDs go above the mark.
	fixed := newLease(leases, "fixed", time.Hour)
	fixed.Fixed, fixed.FixedNode = true, 0
	_, err := fixed.Acquire(ctx)
	must(t, err)
	var last app.ID
	for i := range 5000 { // more than a millisecond's sequence
		id, err := fixed.IDs.Next()
		must(t, err)
		if id.Time().Before(ahead) || id <= last {
			t.Fatalf("ID %d (#%d) made at %v, before node 0's earlier holder's %v (or not after %d)", id, i, id.Time(), ahead, last)
		}
		last = id
	}
	must(t, fixed.Release(ctx))

	// A lease of any node passes over a node marked ahead of its clock and
	// gives it back; the node it keeps is marked past its own lease.
	any := newLease(leases, "any", time.Hour)
	node, err := any.Acquire(ctx)
	must(t, err)
	if node != 1 || leases.Holder(0) != "" {
		t.Fatalf("leased node %d (node 0 held by %q); want node 1 and node 0 given back", node, leases.Holder(0))
	}
	mark, err := leases.IssuedUntil(ctx, 1)
	must(t, err)
	if id, err := any.IDs.Next(); err != nil || !mark.After(id.Time().Add(50*time.Minute)) {
		t.Fatalf("node 1 marked until %v, its lease's IDs are of %v (%v); want the mark past the hour's lease", mark, id.Time(), err)
	}
}

// TestNodeLeaseStopsIDsWhileTheClockIsOff: a process whose clock is 2 h
// behind the store's (or ahead) keeps its node but makes no ID, and is
// not ready, until its clock is back; then IDs resume on their own.
func TestNodeLeaseStopsIDsWhileTheClockIsOff(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	leases := apptest.NewNodeLeases()
	leases.SetClock(2 * time.Hour) // the store's clock is 2 h ahead of ours
	l := newLease(leases, "me", 300*time.Millisecond)
	l.Clock = &app.ClockGuard{Store: leases}
	node, err := l.Acquire(ctx)
	must(t, err)
	if leases.Holder(node) != "me" {
		t.Fatalf("node %d held by %q, want me: the lease is kept", node, leases.Holder(node))
	}
	if _, err := l.IDs.Next(); !errors.Is(err, app.ErrUnavailable) {
		t.Fatalf("Next 2 h behind the store: err = %v, want ErrUnavailable", err)
	}
	if err := l.Ready(ctx); !errors.Is(err, app.ErrClockSkew) {
		t.Fatalf("Ready 2 h behind the store: %v, want ErrClockSkew", err)
	}
	go func() { _ = l.Run(ctx) }()
	leases.SetClock(0)
	testenv.Eventually(t, "IDs once the clock is back", func() error { _, err := l.IDs.Next(); return err })
	leases.SetClock(-2 * time.Hour) // ours runs 2 h ahead
	testenv.Eventually(t, "IDs stop with a clock ahead", func() error {
		if err := l.Ready(ctx); !errors.Is(err, app.ErrClockSkew) {
			return fmt.Errorf("Ready = %v, want ErrClockSkew", err)
		}
		return nil
	})
	if _, err := l.IDs.Next(); !errors.Is(err, app.ErrUnavailable) {
		t.Fatalf("Next 2 h ahead of the store: err = %v, want ErrUnavailable", err)
	}
}
