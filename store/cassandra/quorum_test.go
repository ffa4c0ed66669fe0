package cassandra

import (
	"net"
	"testing"

	"github.com/gocql/gocql"
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
