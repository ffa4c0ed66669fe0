package wiring

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/configs"
	"github.com/feedsvc/feedsvc/roles"
)

// releaseTimeout bounds releasing the node lease at shutdown; a lease not
// released expires after its TTL anyway.
const releaseTimeout = 2 * time.Second

// nodeIDs is the node lease of a process whose roles issue IDs (the api),
// a hidden row of its lifecycle: the ID generator works on a node leased
// from the store (the one --node-id gives, or any free one). The lease is
// acquired when the row starts, before the roles; renewed while it runs;
// and released when it stops, after HTTP, so no request takes an ID any
// more.
type nodeIDs struct {
	gen   *app.IDGen
	lease *app.NodeLease
	log   *slog.Logger
}

var _ roles.Starter = (*nodeIDs)(nil)

// newNodeIDs builds the node lease on leases; nothing is leased before
// Start.
func newNodeIDs(cfg *configs.Config, log *slog.Logger, leases app.NodeLeases) (*nodeIDs, error) {
	if leases == nil {
		return nil, errors.New("no store to lease a node from")
	}
	owner, err := leaseOwner()
	if err != nil {
		return nil, err
	}
	n := &nodeIDs{gen: app.NewLeasedIDGen(), log: log}
	n.lease = &app.NodeLease{Leases: leases, Owner: owner, IDs: n.gen, Log: log}
	if sc, ok := leases.(app.StoreClock); ok {
		n.lease.Clock = &app.ClockGuard{Store: sc, Log: log}
	}
	if cfg.Feeds.NodeID >= 0 {
		// --node-id is leased too, so that no process leases it meanwhile,
		// and a second process given the same number refuses to start.
		n.lease.Fixed, n.lease.FixedNode = true, cfg.Feeds.NodeID
	}
	return n, nil
}

// Start leases the node: a process that gets none does not start.
func (n *nodeIDs) Start(ctx context.Context) error {
	_, err := n.lease.Acquire(ctx)
	return err
}

// Run renews the lease until ctx ends, then releases it. After a shutdown
// timeout (ctx's cause), requests may still run and the store may hang:
// IDs stop and the lease is left to expire.
func (n *nodeIDs) Run(ctx context.Context) error {
	_ = n.lease.Run(ctx)
	if errors.Is(context.Cause(ctx), roles.ErrShutdownTimeout) {
		n.gen.Revoke()
		n.log.Warn("node lease left to expire", "node", n.lease.Node())
		return nil
	}
	rctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
	defer cancel()
	if err := n.lease.Release(rctx); err != nil {
		n.log.Warn("node lease not released; it expires by itself", "err", err)
	}
	return nil
}

// Ready reports whether IDs are issued: a process that may not issue IDs
// is not ready.
func (n *nodeIDs) Ready(ctx context.Context) error {
	if err := n.lease.Ready(ctx); err != nil {
		return fmt.Errorf("node lease: %w", err)
	}
	return nil
}

// leaseOwner names this process among the lease holders: host and pid for
// people, and a random part, because containers all run as pid 1.
func leaseOwner() (string, error) {
	host, _ := os.Hostname()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("ids: lease owner: %w", err)
	}
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b)), nil
}
