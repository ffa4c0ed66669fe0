// Package streambench measures how many idle feed streams (GET
// /v1/feed/stream, Server-Sent Events) one api process holds and what
// each costs: it builds feedsvc, runs `serve --role=all` as a child
// process (the embedded default, or with FEEDSVC_REDIS_ADDR set, a real
// Redis), opens the streams over loopback, and reads the server's RSS,
// goroutines and CPU from /proc and its /metrics. Run it with
//
//	go test -run '^$' -bench IdleStreams -benchtime 1x ./internal/streambench/
//
// FEEDSVC_STREAMS sets how many streams (10,000 by default), and
// FEEDSVC_STREAMBENCH_BIN a feedsvc binary to measure instead of building
// this tree's (an older commit's, for a before-and-after). Every user reads
// its feed once before the baseline RSS is taken, so the figures are the
// streams' cost, not that of 10,000 new users. Figures are reported,
// never asserted; docs/performance.md has them.
package streambench_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/feedsvc/feedsvc/internal/testenv"
	"github.com/feedsvc/feedsvc/roles/api"
)

const (
	secret = "streambench-secret-0123456789abcdef0123456789"
	issuer = "streambench"
	// sources are the loopback addresses the clients dial from, so that
	// many connections to one port do not run out of ephemeral ports.
	sources = 8
	// settle is how long the open streams sit idle before the figures.
	settle = 10 * time.Second
	// window is how long CPU and Redis commands are counted while idle.
	window = 30 * time.Second
	// posts is how many posts time the way to an open stream.
	posts = 5
)

func BenchmarkIdleStreams(b *testing.B) {
	n := 10_000
	if v := os.Getenv("FEEDSVC_STREAMS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			b.Fatalf("FEEDSVC_STREAMS=%q is not a positive number", v)
		}
	}
	raiseFDLimit(b)
	srv := start(b, n)
	ctx := context.Background()

	// The reader follows the author before the idle streams open: the
	// post's way to an open stream is timed with all of them open.
	author, reader := "sb_author", "sb_reader"
	srv.call(b, "GET", "/v1/feed", author, http.StatusOK)
	srv.call(b, "PUT", "/v1/following/"+author, reader, http.StatusNoContent)
	events := srv.openReader(b, reader)
	warm := time.Now()
	srv.warm(b, n)
	b.Logf("%d users read their feeds once in %s", n, time.Since(warm).Round(time.Millisecond))
	time.Sleep(5 * time.Second)
	rss0, gr0 := srv.rss(b), srv.goroutines(b)

	began := time.Now()
	var closed atomic.Int64
	conns := make([]net.Conn, n)
	var wg sync.WaitGroup
	next := make(chan int)
	var failed atomic.Int64
	var firstErr atomic.Value
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				c, err := srv.openIdle(ctx, i)
				if err != nil {
					if failed.Add(1) == 1 {
						firstErr.Store(err)
					}
					continue
				}
				conns[i] = c
				go func() {
					_, err := io.Copy(io.Discard, c)
					if closed.Add(1) == 1 {
						b.Logf("the first stream ended at %s: %v", time.Since(began).Round(time.Millisecond), err)
					}
				}()
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	opened := n - int(failed.Load())
	b.Logf("opened %d of %d streams in %s", opened, n, time.Since(began).Round(time.Millisecond))
	if f := failed.Load(); f > 0 {
		b.Logf("%d streams failed to open; the first: %v", f, firstErr.Load())
	}
	time.Sleep(settle)
	rss1, gr1 := srv.rss(b), srv.goroutines(b)
	b.Logf("%d streams ended before the figures", closed.Load())
	cpu0, cmds0 := srv.cpu(b), srv.redisCommands(b)
	time.Sleep(window)
	cpu1, cmds1 := srv.cpu(b), srv.redisCommands(b)
	cpuShare := (cpu1 - cpu0).Seconds() / window.Seconds()

	var lat []time.Duration
	for i := range posts {
		id := srv.post(b, author, fmt.Sprintf("post %d", i))
		d, ok := waitFor(events, id, 10*time.Second)
		if !ok {
			b.Logf("post %s did not reach the open stream within 10 s", id)
			continue
		}
		lat = append(lat, d)
		time.Sleep(time.Second)
	}
	held := opened - int(closed.Load())
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}

	perStream := float64(rss1-rss0) / float64(max(held, 1))
	slices.Sort(lat)
	b.ReportMetric(float64(held), "streams")
	b.ReportMetric(perStream/1024, "KiB/stream")
	b.ReportMetric(cpuShare*100, "%cpu-idle")
	if cmds0 >= 0 {
		b.ReportMetric(float64(cmds1-cmds0)/window.Seconds(), "redis-cmds/s")
	}
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)/2].Milliseconds()), "ms-post-to-stream-p50")
		b.ReportMetric(float64(lat[len(lat)-1].Milliseconds()), "ms-post-to-stream-max")
	}
	b.Logf("streams held %d (of %d opened); server RSS %.1f -> %.1f MiB (%.1f KiB per stream); goroutines %d -> %d; "+
		"server CPU while idle %.1f%% of one core over %s; Redis commands/s while idle %s; post to open stream %v",
		held, opened, mib(rss0), mib(rss1), perStream/1024, gr0, gr1, cpuShare*100, window,
		redisRate(cmds0, cmds1), lat)
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func redisRate(c0, c1 int64) string {
	if c0 < 0 {
		return "n/a (embedded Redis)"
	}
	return fmt.Sprintf("%.0f (the whole Redis server's, shared)", float64(c1-c0)/window.Seconds())
}

// raiseFDLimit lifts the soft limit on open files to the hard one; the
// server, a child, inherits it.
func raiseFDLimit(b *testing.B) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		b.Fatal(err)
	}
	l.Cur = l.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		b.Fatal(err)
	}
	b.Logf("open files limit %d", l.Cur)
}

// server is the feedsvc process under measurement.
type server struct {
	addr, admin string
	pid         int
	tokens      *api.Tokens
	redis       string // the real Redis's address, "" for the embedded one
}

func start(b *testing.B, n int) *server {
	b.Helper()
	dir := b.TempDir()
	bin := os.Getenv("FEEDSVC_STREAMBENCH_BIN")
	if bin == "" {
		var err error
		if bin, err = testenv.Build(dir, false, ""); err != nil {
			b.Fatal(err)
		}
	}
	s := &server{addr: testenv.FreeAddr(b), admin: testenv.FreeAddr(b), redis: os.Getenv("FEEDSVC_REDIS_ADDR")}
	vars := []string{"FEEDSVC_JWT_SECRET=" + secret, "FEEDSVC_JWT_ISSUER=" + issuer, "FEEDSVC_JWT_AUDIENCE=" + issuer}
	if s.redis != "" {
		prefix := "streambench" + strconv.Itoa(os.Getpid()) + ":"
		vars = append(vars, "FEEDSVC_REDIS_ADDR="+s.redis, "FEEDSVC_REDIS_KEY_PREFIX="+prefix)
		vars = append(vars, testenv.SecurityEnv("redis")...)
		// Registered first, so it runs after the server stopped: the
		// shared Redis keeps none of the run's keys.
		b.Cleanup(func() { s.dropKeys(b, prefix) })
	}
	cmd := exec.Command(bin, "serve", "--role=all", "--data-dir", filepath.Join(dir, "data"),
		"--http-addr", s.addr, "--admin-addr", s.admin, "--max-feed-streams", strconv.Itoa(n+100),
		"--shutdown-drain", "0", "--log-level", "warn")
	cmd.Env = testenv.ChildEnv(vars...)
	var logs bytes.Buffer
	var mu sync.Mutex
	cmd.Stdout = writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return logs.Write(p) })
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	s.pid = cmd.Process.Pid
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	b.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		mu.Lock()
		defer mu.Unlock()
		if logs.Len() > 0 {
			b.Logf("feedsvc log (warnings and errors):\n%.4000s", logs.String())
		}
	})
	tokens, err := api.NewTokens(context.Background(), api.TokenConfig{Secret: secret, Issuer: issuer, Audience: issuer, MaxLifetime: 24 * time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	s.tokens = tokens
	end := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + s.addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		select {
		case <-exited:
			b.Fatalf("feedsvc exited during startup:\n%s", logs.String())
		default:
		}
		if time.Now().After(end) {
			b.Fatal("feedsvc not ready within 60 s")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func (s *server) token(b testing.TB, user string) string {
	tok, err := s.tokens.Issue(user, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	return tok
}

// call makes one API request as user and fails b unless the status is want.
func (s *server) call(b *testing.B, method, path, user string, want int) {
	b.Helper()
	req, _ := http.NewRequest(method, "http://"+s.addr+path, nil)
	req.Header.Set("Authorization", "Bearer "+s.token(b, user))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		b.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, body)
	}
}

// warm has each of the n idle users read its feed once: the user is
// recorded and its (empty) feed built.
func (s *server) warm(b *testing.B, n int) {
	next := make(chan int)
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				req, _ := http.NewRequest("GET", "http://"+s.addr+"/v1/feed", nil)
				req.Header.Set("Authorization", "Bearer "+s.token(b, idleUser(i)))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Error(err)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

func idleUser(i int) string { return fmt.Sprintf("sb_idle_%d", i) }

// post creates a post and returns its ID once acknowledged.
func (s *server) post(b *testing.B, user, text string) string {
	req, _ := http.NewRequest("POST", "http://"+s.addr+"/v1/posts", strings.NewReader(`{"text":"`+text+`"}`))
	req.Header.Set("Authorization", "Bearer "+s.token(b, user))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		b.Fatalf("post: %d %s", resp.StatusCode, body)
	}
	i := bytes.Index(body, []byte(`"id":"`))
	if i < 0 {
		b.Fatalf("post answer without an id: %s", body)
	}
	rest := body[i+6:]
	return string(rest[:bytes.IndexByte(rest, '"')])
}

// feedEvent is a feed event's data and when it arrived.
type feedEvent struct {
	data string
	at   time.Time
}

// openReader opens user's stream and hands on its feed events.
func (s *server) openReader(b *testing.B, user string) <-chan feedEvent {
	req, _ := http.NewRequest("GET", "http://"+s.addr+api.StreamPath, nil)
	req.Header.Set("Authorization", "Bearer "+s.token(b, user))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("reader's stream: %v %v", resp, err)
	}
	b.Cleanup(func() { resp.Body.Close() })
	out := make(chan feedEvent, 100)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<16), 1<<20)
		feed := false
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "event: feed":
				feed = true
			case strings.HasPrefix(line, "data: ") && feed:
				out <- feedEvent{data: line, at: time.Now()}
				feed = false
			}
		}
	}()
	return out
}

// waitFor waits for a feed event holding id and says how long after now
// it came.
func waitFor(events <-chan feedEvent, id string, limit time.Duration) (time.Duration, bool) {
	start := time.Now()
	deadline := time.After(limit)
	for {
		select {
		case ev := <-events:
			if strings.Contains(ev.data, `"id":"`+id+`"`) {
				return ev.at.Sub(start), true
			}
		case <-deadline:
			return 0, false
		}
	}
}

// openIdle opens the stream of user i from one of the loopback sources,
// reads its answer's header, and leaves it open.
func (s *server) openIdle(ctx context.Context, i int) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(1+i%sources))}, Timeout: 10 * time.Second}
	c, err := d.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return nil, err
	}
	tok, err := s.tokens.Issue(idleUser(i), time.Hour)
	if err != nil {
		c.Close()
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nAccept: text/event-stream\r\n\r\n", api.StreamPath, s.addr, tok); err != nil {
		c.Close()
		return nil, err
	}
	r := bufio.NewReader(c)
	status, err := r.ReadString('\n')
	if err != nil || !strings.Contains(status, " 200 ") {
		c.Close()
		return nil, fmt.Errorf("stream %d: %q %v", i, status, err)
	}
	_ = c.SetDeadline(time.Time{})
	return bufConn{c, r}, nil
}

// bufConn reads through the reader that read the answer's status line.
type bufConn struct {
	net.Conn
	r *bufio.Reader
}

func (c bufConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// rss is the server's resident set size in bytes.
func (s *server) rss(b *testing.B) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb * 1024
		}
	}
	b.Fatal("no VmRSS")
	return 0
}

// cpu is the server's user and system CPU time so far.
func (s *server) cpu(b *testing.B) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.pid))
	if err != nil {
		b.Fatal(err)
	}
	// The fields after the command name, which is in parentheses.
	f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * (time.Second / 100) // USER_HZ
}

// goroutines reads go_goroutines from the server's /metrics.
func (s *server) goroutines(b *testing.B) int {
	return int(testenv.ScrapedMetric(b, "http://"+s.admin+"/metrics", "go_goroutines", nil))
}

// redisCommands is the real Redis's total_commands_processed (-1 on the
// embedded one).
func (s *server) redisCommands(b *testing.B) int64 {
	if s.redis == "" {
		return -1
	}
	out, err := exec.Command("redis-cli", "-h", strings.Split(s.redis, ":")[0], "-p", strings.Split(s.redis, ":")[1], "INFO", "stats").Output()
	if err != nil {
		b.Logf("redis-cli INFO: %v (Redis commands not counted)", err)
		return -1
	}
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "total_commands_processed:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return -1
}

// dropKeys deletes the real Redis's keys under prefix (the run's own).
func (s *server) dropKeys(b *testing.B, prefix string) {
	host, port, _ := strings.Cut(s.redis, ":")
	keys, err := exec.Command("redis-cli", "-h", host, "-p", port, "--scan", "--pattern", prefix+"*").Output()
	if err != nil {
		b.Logf("redis-cli --scan: %v (the run's keys under %s stay)", err, prefix)
		return
	}
	names := strings.Fields(string(keys))
	for len(names) > 0 {
		n := min(len(names), 500)
		if out, err := exec.Command("redis-cli", append([]string{"-h", host, "-p", port, "DEL"}, names[:n]...)...).CombinedOutput(); err != nil {
			b.Logf("redis-cli DEL: %v %s", err, out)
			return
		}
		names = names[n:]
	}
}
