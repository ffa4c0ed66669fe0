package e2e_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/feedsvc/feedsvc/internal/testenv"
)

// TestSIGTERMDrains: on SIGTERM /readyz answers 503 while HTTP still
// serves, a request in flight since before the signal completes after the
// listener closed, the process exits 0, and the post it acknowledged is
// there after a restart.
func TestSIGTERMDrains(t *testing.T) {
	forDeployments(t, deployments[:1], func(t *testing.T, s *system) {
		// A drain longer than a loaded machine takes to see readyz answer
		// 503 (at 2 s a stall could let it end first).
		p := s.start("all", "--shutdown-drain", "10s")
		s.api = p
		a := s.user("a")
		a.must(s, "GET", "/v1/feed", nil, 200)

		// A POST whose body is still being sent when the signal arrives.
		body, bodyW := io.Pipe()
		req, err := http.NewRequest("POST", p.url+"/v1/posts", body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+a.token)
		req.Header.Set("Content-Type", "application/json")
		type result struct {
			status int
			body   []byte
			err    error
		}
		answered := make(chan result, 1)
		go func() {
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				answered <- result{err: err}
				return
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			answered <- result{status: resp.StatusCode, body: b, err: err}
		}()
		if _, err := io.WriteString(bodyW, `{"text":"in flight`); err != nil {
			t.Fatal(err)
		}

		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		// Not ready at once, while still serving...
		testenv.Eventually(t, "readyz 503 after SIGTERM", func() error {
			if c := statusOf(p.url + "/readyz"); c != http.StatusServiceUnavailable {
				return fmt.Errorf("readyz %d", c)
			}
			return nil
		})
		// ...until the drain ends and the listener closes.
		testenv.Eventually(t, "listener closed after the drain", func() error {
			if c := statusOf(p.url + "/healthz"); c != 0 {
				return fmt.Errorf("healthz still answers %d", c)
			}
			return nil
		})
		select {
		case <-p.exited:
			t.Fatal("process exited with a request in flight")
		default:
		}
		if _, err := io.WriteString(bodyW, ` request"}`); err != nil {
			t.Fatal(err)
		}
		bodyW.Close()
		r := <-answered
		if r.err != nil || r.status != http.StatusCreated {
			t.Fatalf("in-flight POST: %d %s %v, want 201", r.status, r.body, r.err)
		}
		var created post
		response{body: r.body}.decode(t, &created)

		select {
		case <-p.exited:
		case <-time.After(60 * time.Second):
			t.Fatalf("no exit after SIGTERM:\n%s", p.logs())
		}
		p.killed = true // exited by itself; nothing to stop at cleanup
		if code := p.cmd.ProcessState.ExitCode(); code != 0 {
			t.Fatalf("exit code %d after SIGTERM:\n%s", code, p.logs())
		}
		for _, want := range []string{`"msg":"draining`, `"msg":"feedsvc stopped"`} {
			if !strings.Contains(p.logs(), want) {
				t.Fatalf("log lacks %s:\n%s", want, p.logs())
			}
		}

		// The acknowledged post survived the shutdown.
		s.procs = nil
		s.up()
		var got post
		a.must(s, "GET", "/v1/posts/"+created.ID, nil, 200).decode(t, &got)
		if got.Text != "in flight request" {
			t.Fatalf("post after restart = %+v", got)
		}
		s.down()
	})
}

// TestAnalyticsOpensNoStore: a process running only the analytics role
// needs Redis and Kafka, never Cassandra, so it starts and is ready with
// FEEDSVC_CASSANDRA_HOSTS pointing at a listener that counts connections,
// and that listener sees none. A role that needs the store does connect
// there, which shows the listener would have noticed.
func TestAnalyticsOpensNoStore(t *testing.T) {
	cassandra := newCountingListener(t)
	forDeployments(t, deployments[:1], func(t *testing.T, s *system) {
		s.env = append(s.env, "FEEDSVC_CASSANDRA_HOSTS="+cassandra.addr())
		p := s.start("analytics")
		if c := statusOf(p.url + "/readyz"); c != http.StatusOK {
			t.Fatalf("analytics readyz %d", c)
		}
		s.down()
		// A connection the process made may wait in the listener's queue
		// after the process is gone: count once the queue is through.
		if n := cassandra.accepted(t); n != 0 {
			t.Fatalf("the analytics process opened %d connections to Cassandra", n)
		}

		cmd := exec.Command(binary, "serve", "--role=notifications", "--data-dir", s.dir, "--http-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0")
		cmd.Env = childEnv(s.env)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err == nil {
			t.Fatal("notifications started without a Cassandra")
		}
		if cassandra.accepted(t) == 0 {
			t.Fatalf("notifications never tried the store's address:\n%s", firstLines(stderr.String(), 20))
		}
	})
}

// countingListener listens on a loopback port until the test ends and
// closes every connection it accepts (no server answers there), counting
// them.
type countingListener struct {
	ln      net.Listener
	mu      sync.Mutex
	from    []string      // remote addresses of the accepted connections, in order
	own     int           // how many of them are accepted's
	changed chan struct{} // closed and replaced on each accept
}

func newCountingListener(t *testing.T) *countingListener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &countingListener{ln: ln, changed: make(chan struct{})}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			l.mu.Lock()
			l.from = append(l.from, c.RemoteAddr().String())
			close(l.changed)
			l.changed = make(chan struct{})
			l.mu.Unlock()
			c.Close()
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return l
}

func (l *countingListener) addr() string { return l.ln.Addr().String() }

// accepted is how many connections were made to l before the call (its
// own left out): it connects itself and counts once that connection is
// accepted, which a listener does in the order connections arrived.
func (l *countingListener) accepted(t *testing.T) int {
	t.Helper()
	l.mu.Lock()
	from := len(l.from) // accepted before: not this call's connection
	l.mu.Unlock()
	c, err := net.Dial("tcp", l.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	me := c.LocalAddr().String()
	for {
		l.mu.Lock()
		if i := slices.Index(l.from[from:], me); i >= 0 {
			n := from + i - l.own
			l.own++
			l.mu.Unlock()
			return n
		}
		changed := l.changed
		l.mu.Unlock()
		select {
		case <-changed:
		case <-time.After(2 * time.Minute):
			t.Fatal("the listener did not accept a connection within 2 minutes")
		}
	}
}

// statusOf is the status of a GET, or 0 if nothing answered.
func statusOf(url string) int {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func firstLines(s string, n int) string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() && len(out) < n {
		out = append(out, sc.Text())
	}
	return strings.Join(out, "\n")
}
