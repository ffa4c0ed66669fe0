package cassandra

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/feedsvc/feedsvc/app"
)

func TestSingleDCReplication(t *testing.T) {
	for _, c := range []struct {
		repl map[string]string
		want int
	}{
		{map[string]string{"class": "org.apache.cassandra.locator.SimpleStrategy", "replication_factor": "3"}, 3},
		{map[string]string{"class": "org.apache.cassandra.locator.NetworkTopologyStrategy", "dc1": "3"}, 3},
		{map[string]string{"class": "org.apache.cassandra.locator.NetworkTopologyStrategy", "dc1": "3", "dc2": "3"}, 0},
		{map[string]string{"class": "org.apache.cassandra.locator.SimpleStrategy", "replication_factor": "x"}, 0},
		{map[string]string{"class": "org.apache.cassandra.locator.LocalStrategy"}, 0},
		{nil, 0},
	} {
		if got := singleDCReplication(c.repl); got != c.want {
			t.Errorf("singleDCReplication(%v) = %d, want %d", c.repl, got, c.want)
		}
	}
}

// TestQuorumGuard: with replication 3, quorum requests find no host once
// two of three nodes are down, and find them again when one is back;
// requests at ONE are never held back, nor is anything while the guard is
// off.
func TestQuorumGuard(t *testing.T) {
	g := newQuorumGuard(gocql.RoundRobinHostPolicy())
	hosts := make([]*gocql.HostInfo, 3)
	for i := range hosts {
		hosts[i] = (&gocql.HostInfo{}).SetConnectAddress(net.IPv4(127, 0, 0, byte(i+1)))
		g.AddHost(hosts[i])
	}
	g.HostDown(hosts[1])
	g.HostDown(hosts[2])
	if g.hopeless(gocql.Quorum) {
		t.Fatal("the guard is on before it knows the replication")
	}
	g.rf.Store(3)
	g.need.Store(2)
	for _, c := range []struct {
		cl   gocql.Consistency
		want bool
	}{{gocql.Quorum, true}, {gocql.LocalQuorum, true}, {gocql.All, true}, {gocql.One, false}, {gocql.LocalOne, false}} {
		if got := g.hopeless(c.cl); got != c.want {
			t.Errorf("two of three down, %s: hopeless = %v, want %v", c.cl, got, c.want)
		}
	}
	g.HostUp(hosts[2])
	if g.hopeless(gocql.LocalQuorum) || !g.hopeless(gocql.All) {
		t.Error("one of three down: LOCAL_QUORUM must go through, ALL not")
	}
	g.RemoveHost(hosts[1]) // decommissioned: no longer counted at all
	if g.upCount() != 2 || g.hopeless(gocql.Quorum) {
		t.Errorf("after removing the down node: %d up", g.upCount())
	}
}

// TestQuorumGuardCutsRequestsInFlight: a request running when the nodes up
// fall below a quorum is canceled and its error reads as unavailable; one
// that ends before, or starts after, is left alone, and so is every
// request when a node goes down with a quorum still up.
func TestQuorumGuardCutsRequestsInFlight(t *testing.T) {
	g := newQuorumGuard(gocql.RoundRobinHostPolicy())
	hosts := make([]*gocql.HostInfo, 3)
	for i := range hosts {
		hosts[i] = (&gocql.HostInfo{}).SetConnectAddress(net.IPv4(127, 0, 0, byte(i+1)))
		g.AddHost(hosts[i])
	}
	g.rf.Store(3)
	g.need.Store(2)
	boom := errors.New("driver: context canceled")
	// The cut runs in a goroutine of its own (context.AfterFunc).
	cut := func(ctx context.Context) bool {
		select {
		case <-ctx.Done():
			return true
		case <-time.After(10 * time.Second):
			return false
		}
	}

	done, endDone := g.bound(context.Background())
	if err := endDone(nil); err != nil || done.Err() == nil {
		t.Fatalf("a finished request: end = %v, ctx err = %v (want nil, canceled)", err, done.Err())
	}
	inFlight, end := g.bound(context.Background())
	g.HostDown(hosts[1])
	if inFlight.Err() != nil {
		t.Fatal("one of three down cut a request short")
	}
	g.HostDown(hosts[2])
	if !cut(inFlight) {
		t.Fatal("two of three down: the request in flight was not cut short")
	}
	if err := end(boom); !errors.Is(err, app.ErrUnavailable) || !errors.Is(err, boom) {
		t.Errorf("the cut request's error = %v, want it unavailable and wrapping the driver's", err)
	}
	after, endAfter := g.bound(context.Background())
	if after.Err() != nil {
		t.Error("a request started after the loss was canceled (Pick refuses it, not the cut)")
	}
	if err := endAfter(boom); errors.Is(err, app.ErrUnavailable) {
		t.Errorf("an error of a request not cut reads as unavailable: %v", err)
	}
	g.HostUp(hosts[1])
	again, endAgain := g.bound(context.Background())
	g.HostDown(hosts[1])
	if !cut(again) {
		t.Error("the second loss of a quorum did not cut the request in flight")
	}
	endAgain(nil)
}
