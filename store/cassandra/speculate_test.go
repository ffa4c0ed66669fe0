package cassandra

import (
	"net"
	"testing"

	"github.com/gocql/gocql"
)

// TestSpeculation: a plain statement is sent to a second coordinator when
// the first one is slow, but only while another node is up to take it
// (gocql would otherwise end it at once with ErrNoConnections), and never
// an LWT (issue #28: posts refused while a restarted node held them).
func TestSpeculation(t *testing.T) {
	if got := (speculation{}).Attempts(); got != 0 {
		t.Errorf("no guard: %d speculative attempts, want 0", got)
	}
	g := newQuorumGuard(gocql.RoundRobinHostPolicy())
	hosts := make([]*gocql.HostInfo, 3)
	for i := range hosts {
		hosts[i] = (&gocql.HostInfo{}).SetConnectAddress(net.IPv4(127, 0, 0, byte(i+1)))
		g.AddHost(hosts[i])
		g.HostUp(hosts[i])
	}
	p := speculation{g}
	for _, c := range []struct {
		down []int
		want int
	}{{nil, 1}, {[]int{1}, 1}, {[]int{1, 2}, 0}} {
		for _, h := range hosts {
			g.HostUp(h)
		}
		for _, i := range c.down {
			g.HostDown(hosts[i])
		}
		if got := p.Attempts(); got != c.want {
			t.Errorf("%d of 3 down: %d speculative attempts, want %d", len(c.down), got, c.want)
		}
	}
	if d := p.Delay(); d <= 0 || 3*d >= DefaultTimeout {
		t.Errorf("speculation after %s: a post's three statements must fit in %s", d, DefaultTimeout)
	}

	// gocql speculates only with idempotent statements.
	s := &Store{session: &gocql.Session{}, guard: g}
	if q := s.query(`SELECT author FROM posts WHERE id = ?`, 1); !q.IsIdempotent() {
		t.Error("a plain statement is not idempotent: gocql never speculates with it")
	}
	if q := lwt(s.query(`INSERT INTO users (id) VALUES (?) IF NOT EXISTS`, "u")); q.IsIdempotent() {
		t.Error("an LWT is idempotent: gocql would send it to two coordinators")
	}
	b := s.unloggedBatch()
	b.Query(`INSERT INTO posts (id) VALUES (?)`, 1)
	b.Query(`INSERT INTO user_post_months (author, month) VALUES (?, ?)`, "a", "2026-12")
	if !idempotent(b).IsIdempotent() {
		t.Error("a batch of plain statements is not idempotent: gocql never speculates with it")
	}
}
