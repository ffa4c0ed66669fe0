package faults

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/feedsvc/feedsvc/internal/testenv"
	"github.com/redis/rueidis"
)

// Redis is a private redis-server the suite starts on its own port and dir,
// so Redis faults never touch the shared server. It saves nothing on its
// own: snapshots are taken only when a fault asks.
type Redis struct {
	Addr string
	bin  string
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
}

// StartRedis starts redis-server on a free port in dir (or ends the test
// when there is no redis-server on PATH).
func StartRedis(t testing.TB, dir string) *Redis {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("the fault suite needs redis-server on PATH for its private Redis: %v", err)
	}
	r := &Redis{bin: bin, dir: dir}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// A port found free may be taken before redis-server binds it (a
	// feedsvc process binding port 0): it then exits, and starts again on
	// another; nothing has its address yet.
	for attempt := 1; ; attempt++ {
		r.Addr = testenv.FreeAddr(t)
		err := r.start()
		if err == nil {
			break
		}
		if attempt == 3 {
			t.Fatal(err)
		}
		t.Logf("private redis-server on %s: %v; again on another port", r.Addr, err)
	}
	t.Cleanup(r.kill)
	return r
}

func (r *Redis) start() error {
	_, port, _ := net.SplitHostPort(r.Addr)
	r.cmd = exec.Command(r.bin, "--bind", "127.0.0.1", "--port", port, "--dir", r.dir,
		"--save", "", "--appendonly", "no", "--protected-mode", "no",
		"--logfile", filepath.Join(r.dir, "redis.log"))
	r.done = make(chan struct{})
	if err := r.cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(r.cmd, r.done)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := r.Do(context.Background(), "PING"); err == nil {
			return nil
		}
		select {
		case <-r.done:
			return fmt.Errorf("redis-server exited at start; see %s", filepath.Join(r.dir, "redis.log"))
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redis-server on %s not answering", r.Addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (r *Redis) kill() {
	_ = r.cmd.Process.Kill()
	<-r.done
}

// Do runs one command on a short-lived connection and returns the reply as
// a string (empty for non-string replies).
func (r *Redis) Do(ctx context.Context, args ...string) (string, error) {
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{r.Addr}, DisableCache: true,
		ForceSingleClient: true, Dialer: net.Dialer{Timeout: 2 * time.Second}})
	if err != nil {
		return "", err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	res := c.Do(ctx, c.B().Arbitrary(args...).Build())
	if err := res.Error(); err != nil {
		return "", err
	}
	s, err := res.ToString()
	if err != nil {
		return "", nil //nolint:nilerr // a status or array reply: success is all callers need
	}
	return s, nil
}

// Snapshot writes the dataset to dump.rdb (SAVE) and keeps a copy.
func (r *Redis) Snapshot(ctx context.Context) error {
	if _, err := r.Do(ctx, "SAVE"); err != nil {
		return fmt.Errorf("redis SAVE: %w", err)
	}
	b, err := os.ReadFile(filepath.Join(r.dir, "dump.rdb"))
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(r.dir, "snapshot.rdb"), b, 0o644)
}

// RestartFromSnapshot kills the server (no save), puts the snapshot back as
// dump.rdb and starts it again on the same port: a Redis restarted from an
// old RDB.
func (r *Redis) RestartFromSnapshot() error {
	r.kill()
	b, err := os.ReadFile(filepath.Join(r.dir, "snapshot.rdb"))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(r.dir, "dump.rdb"), b, 0o644); err != nil {
		return err
	}
	return r.start()
}

// UsedMemory is INFO memory's used_memory.
func (r *Redis) UsedMemory(ctx context.Context) (int64, error) {
	info, err := r.Do(ctx, "INFO", "memory")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, fmt.Errorf("no used_memory in INFO memory")
}
