package cassandra

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/gocql/gocql"

	"github.com/feedsvc/feedsvc/app"
)

// quorumGuard is the session's host selection policy: token-aware round
// robin, which also keeps count of the nodes the driver can reach. A
// request at a quorum consistency while fewer nodes are up than the
// keyspace's quorum needs fails at once (gocql.ErrNoConnections, which
// failf reports as unavailable: a 503) instead of waiting for a
// coordinator's timeout. A killed node's connections drop at once and
// the driver marks it down within a reconnect attempt, while Cassandra's
// failure detector takes seconds to convict it; until then coordinators
// wait write_request_timeout (2 s) or read_request_timeout (5 s) for it.
//
// The count is the whole cluster's, so the guard is on only for a
// keyspace in one data center (SimpleStrategy, or NetworkTopologyStrategy
// with one DC): there, fewer nodes up than a quorum means no token range
// can reach one. A frozen node keeps its connections and is not seen down.
type quorumGuard struct {
	gocql.HostSelectionPolicy

	mu  sync.Mutex
	up  map[string]bool // by host ID (address when it has none)
	upN atomic.Int32    // the hosts of up that are up, read on every request
	// need is how many replicas a quorum of the keyspace needs (0: the
	// guard is off), rf the keyspace's replication factor.
	need, rf atomic.Int32
	// lost is canceled when the count falls below need, and replaced by a
	// fresh one at once (requests started after that find no host).
	lost atomic.Pointer[lossSignal]
}

type lossSignal struct {
	ctx    context.Context
	cancel context.CancelFunc
}

func newLossSignal() *lossSignal {
	ctx, cancel := context.WithCancel(context.Background())
	return &lossSignal{ctx, cancel}
}

func newQuorumGuard(p gocql.HostSelectionPolicy) *quorumGuard {
	g := &quorumGuard{HostSelectionPolicy: p, up: map[string]bool{}}
	g.lost.Store(newLossSignal())
	return g
}

// errQuorumLost is why a request in flight was cut short.
var errQuorumLost = fmt.Errorf("cassandra: fewer nodes up than a quorum needs: %w", app.ErrUnavailable)

// bound returns ctx, canceled if the nodes up fall below a quorum before
// end is called. end releases it and returns err, marked unavailable when
// the cut caused it (the driver reports only "context canceled").
func (g *quorumGuard) bound(ctx context.Context) (context.Context, func(err error) error) {
	ctx, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(g.lost.Load().ctx, func() { cancel(errQuorumLost) })
	return ctx, func(err error) error {
		stop()
		cut := errors.Is(context.Cause(ctx), errQuorumLost)
		cancel(nil)
		if err != nil && cut && !errors.Is(err, app.ErrUnavailable) {
			return fmt.Errorf("%w (%w)", err, errQuorumLost)
		}
		return err
	}
}

func hostKey(h *gocql.HostInfo) string {
	if id := h.HostID(); id != "" {
		return id
	}
	return h.ConnectAddress().String()
}

func (g *quorumGuard) set(h *gocql.HostInfo, up, known bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if known {
		g.up[hostKey(h)] = up
	} else {
		delete(g.up, hostKey(h))
	}
	n := 0
	for _, u := range g.up {
		if u {
			n++
		}
	}
	prev := g.upN.Swap(int32(n))
	if need := g.need.Load(); need > 0 && prev >= need && int32(n) < need {
		g.lost.Swap(newLossSignal()).cancel()
	}
}

// AddHost implements gocql.HostStateNotifier.
func (g *quorumGuard) AddHost(h *gocql.HostInfo) {
	g.set(h, h.IsUp(), true)
	g.HostSelectionPolicy.AddHost(h)
}

// RemoveHost implements gocql.HostStateNotifier.
func (g *quorumGuard) RemoveHost(h *gocql.HostInfo) {
	g.set(h, false, false)
	g.HostSelectionPolicy.RemoveHost(h)
}

// HostUp implements gocql.HostStateNotifier.
func (g *quorumGuard) HostUp(h *gocql.HostInfo) {
	g.set(h, true, true)
	g.HostSelectionPolicy.HostUp(h)
}

// HostDown implements gocql.HostStateNotifier.
func (g *quorumGuard) HostDown(h *gocql.HostInfo) {
	g.set(h, false, true)
	g.HostSelectionPolicy.HostDown(h)
}

// upCount is how many known nodes are up.
func (g *quorumGuard) upCount() int { return int(g.upN.Load()) }

// Pick implements gocql.HostSelectionPolicy: no host at all when q cannot
// reach its consistency.
func (g *quorumGuard) Pick(q gocql.ExecutableQuery) gocql.NextHost {
	if q != nil && g.hopeless(q.GetConsistency()) {
		return func() gocql.SelectedHost { return nil }
	}
	return g.HostSelectionPolicy.Pick(q)
}

// hopeless reports whether too few nodes are up for consistency c.
func (g *quorumGuard) hopeless(c gocql.Consistency) bool {
	need := int(g.need.Load())
	switch c {
	case gocql.Quorum, gocql.LocalQuorum, gocql.EachQuorum:
	case gocql.All:
		need = int(g.rf.Load())
	default:
		return false
	}
	return need > 0 && g.upCount() < need
}

// watch turns the guard on for keyspace when its replication is in one
// data center.
func (g *quorumGuard) watch(ctx context.Context, session *gocql.Session, keyspace string) error {
	var repl map[string]string
	err := session.Query(`SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?`, keyspace).
		WithContext(ctx).Consistency(gocql.One).Scan(&repl)
	if err != nil {
		return err
	}
	rf := singleDCReplication(repl)
	g.rf.Store(int32(rf))
	if rf > 0 {
		g.need.Store(int32(rf/2 + 1))
	}
	return nil
}

// singleDCReplication is the replication factor of a replication map that
// places every replica in one data center, else 0.
func singleDCReplication(repl map[string]string) int {
	class := repl["class"]
	var factors []string
	switch {
	case strings.HasSuffix(class, "SimpleStrategy"):
		factors = []string{repl["replication_factor"]}
	case strings.HasSuffix(class, "NetworkTopologyStrategy"):
		for k, v := range repl {
			if k != "class" {
				factors = append(factors, v)
			}
		}
	}
	if len(factors) != 1 {
		return 0
	}
	rf, err := strconv.Atoi(factors[0])
	if err != nil || rf < 1 {
		return 0
	}
	return rf
}
