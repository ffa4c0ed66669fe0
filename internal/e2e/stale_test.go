package e2e_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/feedsvc/feedsvc/internal/testenv"
)

// privateRedis is a redis-server of the test's own, on its own port and
// directory, so it can be stopped, restored and restarted (the shared
// servers must not be).
type privateRedis struct {
	t    *testing.T
	addr string
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
}

func startPrivateRedis(t *testing.T) *privateRedis {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("redis-server is required in CI: %v", err)
		}
		t.Skipf("redis-server not installed: %v", err)
	}
	r := &privateRedis{t: t, dir: t.TempDir()}
	t.Cleanup(r.kill)
	// redis-server takes a port, not port 0: one picked free may be taken
	// by another process before the server binds it (tests of other
	// packages run at the same time). It then exits, and starts again on
	// another port; nothing has its address yet.
	for attempt := 1; ; attempt++ {
		r.addr = testenv.FreeAddr(t)
		if r.start(attempt < 3) {
			return r
		}
		t.Logf("redis-server lost port %s to another process at startup; starting it again", r.addr)
	}
}

// start runs redis-server on r's port and dir (loading dump.rdb if there);
// snapshots are taken only by SAVE. It waits until the server answers
// there as this process (its INFO's process_id), not another that took the
// port. It returns false if the server exited on a port already in use
// and portTaken allows that; it fails t on any other exit.
func (r *privateRedis) start(portTaken bool) bool {
	r.t.Helper()
	_, port, _ := net.SplitHostPort(r.addr)
	logPath := filepath.Join(r.dir, "redis.log")
	_ = os.Remove(logPath) // the previous run's
	r.cmd = exec.Command("redis-server", "--bind", "127.0.0.1", "--port", port, "--dir", r.dir,
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", logPath)
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	r.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(r.cmd, r.done)
	taken := false
	testenv.Eventually(r.t, "private redis up", func() error {
		select {
		case <-r.done:
			log, _ := os.ReadFile(logPath)
			if portTaken && strings.Contains(string(log), "already in use") {
				taken = true
				return nil
			}
			r.t.Fatalf("redis-server on %s exited during startup:\n%s", r.addr, log)
		default:
		}
		pid, err := r.pid()
		if err != nil {
			return err
		}
		if pid != r.cmd.Process.Pid {
			return fmt.Errorf("%s answers as process %d, not redis-server %d", r.addr, pid, r.cmd.Process.Pid)
		}
		return nil
	})
	if taken {
		r.cmd = nil
		return false
	}
	return true
}

// pid is the process ID of the Redis answering at r's address.
func (r *privateRedis) pid() (int, error) {
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{r.addr}, DisableCache: true,
		Dialer: net.Dialer{Timeout: 2 * time.Second}})
	if err != nil {
		return 0, err
	}
	defer c.Close()
	info, err := c.Do(context.Background(), c.B().Info().Section("server").Build()).ToString()
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "process_id:"); ok {
			return strconv.Atoi(v)
		}
	}
	return 0, fmt.Errorf("no process_id in INFO server:\n%s", info)
}

// kill stops the server at once, by its PID, without saving.
func (r *privateRedis) kill() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	<-r.done
	r.cmd = nil
}

func (r *privateRedis) do(cmd func(c rueidis.Client) rueidis.Completed) error {
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{r.addr}, DisableCache: true,
		Dialer: net.Dialer{Timeout: 2 * time.Second}})
	if err != nil {
		return err
	}
	defer c.Close()
	return c.Do(context.Background(), cmd(c)).Error()
}

func (r *privateRedis) must(cmd func(c rueidis.Client) rueidis.Completed) {
	r.t.Helper()
	if err := r.do(cmd); err != nil {
		r.t.Fatal(err)
	}
}

// snapshot saves the data now and returns a copy of the dump.
func (r *privateRedis) snapshot() []byte {
	r.t.Helper()
	r.must(func(c rueidis.Client) rueidis.Completed { return c.B().Save().Build() })
	b, err := os.ReadFile(filepath.Join(r.dir, "dump.rdb"))
	if err != nil {
		r.t.Fatal(err)
	}
	return b
}

// restore kills the server and starts it again on the same port from dump.
func (r *privateRedis) restore(dump []byte) {
	r.t.Helper()
	r.kill()
	if err := os.WriteFile(filepath.Join(r.dir, "dump.rdb"), dump, 0o600); err != nil {
		r.t.Fatal(err)
	}
	// The processes under test have this address: no other port will do.
	r.start(false)
}

// TestStaleRedis runs api, fanout, search and analytics on real Kafka and
// Cassandra and a Redis of the test's own. Redis is restarted from a
// snapshot taken before the newest posts: the consumers see that Redis holds
// less than they committed and redo the lost events, so every follower's
// stored feed, search and trends hold every post again. Then Redis is
// flushed: search and trends come back complete, feeds are rebuilt on read.
func TestStaleRedis(t *testing.T) {
	const followers, before, after = 3, 5, 20
	redis := startPrivateRedis(t)
	s := &system{t: t, dep: deployment{name: "stale", real: true}, dir: t.TempDir(), suffix: randHex(3), roles: map[string]*proc{}}
	testenv.Require(t, "FEEDSVC_REDIS_ADDR") // the real deployment's profile; this test uses its own Redis
	s.redis = redis.addr
	s.env = append(slices.Clip(setupReal(t, depReal.name)), "FEEDSVC_REDIS_ADDR="+s.redis, "FEEDSVC_MODERATION_BLOCKLIST="+blockedTerm)
	s.env = append(s.env, harnessLimits...)
	s.startAPI()
	fanout := s.startFanout()
	for _, r := range []string{"search", "analytics"} {
		s.roles[r] = s.start(r)
	}

	author := s.user("author")
	author.must(s, "GET", "/v1/feed", nil, 200) // known to the store before anyone follows
	var fans []*user
	for i := range followers {
		u := s.user(fmt.Sprint("fan", i))
		u.must(s, "GET", "/v1/feed", nil, 200) // an active user: a cached feed to fan out to
		u.follow(s, author)
		fans = append(fans, u)
	}
	tag := "stale" + s.suffix
	var want []string
	postAll := func(n int, what string) {
		for i := range n {
			want = append(want, author.post(s, fmt.Sprintf("%s %d #%s", what, i, tag)).ID)
		}
	}
	complete := func(what string, feeds func(u *user) []string) {
		t.Helper()
		for _, u := range fans {
			testenv.Eventually(t, what+": every post in "+u.name+"'s feed", func() error { return sameSet(feeds(u), want) })
		}
		testenv.Eventually(t, what+": search finds every post", func() error { return sameSet(author.search(s, tag), want) })
		testenv.Eventually(t, what+": the tag trends with every post", func() error { return equalf(author.tagCount(s, tag), int64(len(want))) })
	}
	inspect := func(u *user) []string { return s.inspect(u) }

	postAll(before, "before")
	complete("before the snapshot", inspect)
	dump := redis.snapshot()
	postAll(after, "after")
	complete("after the snapshot", inspect)

	redis.restore(dump)
	t.Logf("%s's feed right after the restore: %d of %d posts", fans[0].name, len(s.inspect(fans[0])), len(want))
	complete("after the restore", inspect)
	// The loss was seen (the views could not be complete otherwise, but
	// this says why).
	if n := fanout.metric("feedsvc_consumer_redis_rewinds_total", map[string]string{"group": fanout.group("fanout")}); n == 0 {
		t.Fatal("fanout counted no rewind")
	}

	redis.must(func(c rueidis.Client) rueidis.Completed { return c.B().Flushall().Build() })
	// Feeds are gone, so reads rebuild them from the store; search and
	// trends are redone from the log.
	complete("after FLUSHALL", func(u *user) []string { return u.feed(s) })
	for _, r := range []string{"search", "analytics"} {
		if n := s.roles[r].metric("feedsvc_consumer_redis_rewinds_total", map[string]string{"group": s.roles[r].group(r)}); n == 0 {
			t.Fatalf("%s counted no rewind", r)
		}
	}
	s.down()
}
