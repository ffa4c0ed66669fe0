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

// nodeIDs is the ID generator of a process whose roles issue IDs (the api),
// on a node leased from the store (the one --node-id gives, or any free
// one) and kept by a renewer that runs as long as the process serves
// requests.
type nodeIDs struct {
	gen   *app.IDGen
	lease *app.NodeLease // nil: no role issues IDs
	log   *slog.Logger

	stopRenewing context.CancelFunc
	renewing     chan struct{}
}

// startIDs gives the process its node: the configured one, or a lease
// from leases, renewed until stop.
func startIDs(ctx context.Context, cfg *configs.Config, log *slog.Logger, leases app.NodeLeases, needs roles.Needs) (*nodeIDs, error) {
	n := &nodeIDs{log: log}
	switch {
	case !needs.IDs:
		return n, nil
	case leases == nil:
		return nil, errors.New("ids: no store to lease a node from")
	}
	owner, err := leaseOwner()
	if err != nil {
		return nil, err
	}
	n.gen = app.NewLeasedIDGen()
	n.lease = &app.NodeLease{Leases: leases, Owner: owner, IDs: n.gen, Log: log}
	if cfg.Feeds.NodeID >= 0 {
		// --node-id is leased too, so that no process leases it meanwhile,
		// and a second process given the same number refuses to start.
		n.lease.Fixed, n.lease.FixedNode = true, cfg.Feeds.NodeID
	}
	if _, err := n.lease.Acquire(ctx); err != nil {
		return nil, err
	}
	// Renewals outlive ctx (the signal): requests are served, and IDs
	// issued, until the lifecycle has stopped HTTP.
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	n.stopRenewing, n.renewing = cancel, make(chan struct{})
	go func() {
		defer close(n.renewing)
		_ = n.lease.Run(rctx)
	}()
	return n, nil
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

// ready adds the lease to a readiness check: a process that may not issue
// IDs is not ready.
func (n *nodeIDs) ready(check func(context.Context) error) func(context.Context) error {
	if n.lease == nil {
		return check
	}
	return func(ctx context.Context) error {
		err := check(ctx)
		if lerr := n.lease.Ready(ctx); lerr != nil {
			err = errors.Join(err, fmt.Errorf("node lease: %w", lerr))
		}
		return err
	}
}

// stop ends the renewals and releases the lease; call it once the
// lifecycle returned runErr, so no request can take an ID any more. After
// a shutdown timeout, requests may still run and the store may hang: IDs
// stop and the lease is left to expire.
func (n *nodeIDs) stop(runErr error) {
	if n.lease == nil {
		return
	}
	n.stopRenewing()
	<-n.renewing
	if errors.Is(runErr, roles.ErrShutdownTimeout) {
		n.gen.Revoke()
		n.log.Warn("node lease left to expire", "node", n.lease.Node())
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
	defer cancel()
	if err := n.lease.Release(ctx); err != nil {
		n.log.Warn("node lease not released; it expires by itself", "err", err)
	}
}
