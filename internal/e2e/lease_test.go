package e2e_test

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestNodeLeases: api processes started without --node-id hold different
// node numbers, leased from the store, and their posts never collide.
//
//   - real: two `serve --role=api` processes on one Cassandra at once.
//   - embedded: the data dir admits one process at a time, so the second
//     starts on it after the first was killed with SIGKILL, while the dead
//     process's lease (app.DefaultLeaseTTL) still holds its node; a graceful stop releases it.
func TestNodeLeases(t *testing.T) {
	forEach(t, func(t *testing.T, s *system) {
		ann, bob := s.user("ann"), s.user("bob")
		first := s.start("api")
		var second *proc
		var posts []post
		if s.dep.real {
			second = s.start("api")
		} else {
			posts = append(posts, postVia(t, first, ann, "before the crash"))
			first.kill()
			second = s.start("api")
		}
		n1, n2 := first.leasedNode(), second.leasedNode()
		if n1 == n2 {
			t.Fatalf("both api processes hold node %d", n1)
		}

		// Alternately through each process; each post's ID carries its
		// process's node.
		procs := []*proc{first, second}
		if !s.dep.real {
			procs = []*proc{second}
		}
		byProc := map[string]int{}
		for i := range 300 {
			for j, p := range procs {
				u := []*user{ann, bob}[j]
				pt := postVia(t, p, u, fmt.Sprintf("post %d by %s", i, u.name))
				byProc[pt.ID] = p.leasedNode()
				posts = append(posts, pt)
			}
		}
		seen := map[string]bool{}
		for _, p := range posts {
			if seen[p.ID] {
				t.Fatalf("ID %s issued twice", p.ID)
			}
			seen[p.ID] = true
			if want, ok := byProc[p.ID]; ok && idNode(t, p.ID) != want {
				t.Fatalf("post %s is on node %d, not on its process's node %d", p.ID, idNode(t, p.ID), want)
			}
			var got post
			r := doRaw(t, second.url, "GET", "/v1/posts/"+p.ID, "Bearer "+ann.token, "", nil)
			if r.status != 200 {
				t.Fatalf("GET post %s: %d %s", p.ID, r.status, r.body)
			}
			r.decode(t, &got)
			if got.Author != p.Author || got.Text != p.Text {
				t.Fatalf("post %s reads as %+v, was created as %+v", p.ID, got, p)
			}
		}

		second.stop()
		if !strings.Contains(second.logs(), `"msg":"node lease released"`) {
			t.Fatalf("a graceful stop did not release the lease:\n%s", second.logs())
		}
	})
}

// postVia posts text as u through process p.
func postVia(t *testing.T, p *proc, u *user, text string) post {
	t.Helper()
	r := doRaw(t, p.url, "POST", "/v1/posts", "Bearer "+u.token, "application/json", map[string]string{"text": text})
	if r.status != 201 {
		t.Fatalf("%s POST /v1/posts via %s: %d %s", u.name, p.url, r.status, r.body)
	}
	var out post
	r.decode(t, &out)
	return out
}

var leaseLog = regexp.MustCompile(`"msg":"node lease acquired","node":(\d+)`)

// leasedNode is the node the process leased at startup, from its log.
func (p *proc) leasedNode() int {
	p.t.Helper()
	m := leaseLog.FindStringSubmatch(p.logs())
	if m == nil {
		p.t.Fatalf("no node lease in the log of %s:\n%s", p.role, p.logs())
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// idNode is the Snowflake node of a post ID (bits 12-21).
func idNode(t *testing.T, id string) int {
	t.Helper()
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return int(n>>12) & 1023
}
