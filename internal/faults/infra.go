package faults

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/redis/rueidis"
)

// Infra controls the servers of the 3-node test profile through
// scripts/testinfra --nodes 3 (kill, start, pause, resume, status), which
// signals only the PIDs it recorded when it spawned them.
type Infra struct {
	Root string // the repository root: the script's working directory
}

// FindRoot is the repository root above dir (the directory holding go.mod
// and scripts/testinfra).
func FindRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "scripts", "testinfra")); err == nil {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				return dir, nil
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no repository root (with scripts/testinfra) above the test's directory")
		}
		dir = parent
	}
}

// Run runs `scripts/testinfra --nodes 3 args...` and returns its stdout;
// the error carries its stderr (the script logs there).
func (in *Infra) Run(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(in.Root, "scripts", "testinfra"), append([]string{"--nodes", "3"}, args...)...)
	cmd.Dir = in.Root
	// The flag chooses the profile; the other FEEDSVC_TESTINFRA_* settings
	// (state dir, cache) must stay those the profile was started with.
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "FEEDSVC_TESTINFRA_NODES=") })
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("scripts/testinfra --nodes 3 %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out), nil
}

// Do is Run for the commands whose output does not matter, with a bound
// long enough for Cassandra nodes started one after another on busy cores.
func (in *Infra) Do(args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	_, err := in.Run(ctx, args...)
	return err
}

// Healthy is `status`: nil when every server runs and answers and every
// Redis Cluster master has a replica in sync; otherwise the error says what.
func (in *Infra) Healthy(ctx context.Context) error {
	out, err := in.Run(ctx, "status")
	if err != nil {
		return fmt.Errorf("%w\n%s", err, out)
	}
	return nil
}

// Heal starts whatever of the profile is not running (a no-op for running
// servers, which are resumed first in case a fault froze them) and waits
// until `status` is clean, up to timeout.
func (in *Infra) Heal(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if in.Healthy(ctx) == nil {
		return nil
	}
	// A fault may have frozen a server: resume each running one (resume
	// refuses a server that is not running; start is for those).
	ss, err := in.Servers(ctx)
	if err != nil {
		return err
	}
	for _, s := range ss {
		if s.Running {
			_, _ = in.Run(ctx, "resume", s.Name)
		}
	}
	if _, err := in.Run(ctx, "start", "kafka", "cassandra", "redis"); err != nil {
		return err
	}
	return in.WaitHealthy(ctx)
}

// WaitHealthy polls `status` until it is clean or ctx ends. The error is
// that of the last `status` that ran to its end: it names the unhealthy
// server, where the one cut short by ctx says only that it was killed.
func (in *Infra) WaitHealthy(ctx context.Context) error {
	var last error
	for {
		err := in.Healthy(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() == nil || last == nil {
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the 3-node profile is not healthy: %w", last)
		case <-time.After(time.Second):
		}
	}
}

// Server is one line of `servers`.
type Server struct {
	Name, Kind, Addr string
	Running          bool
}

// Servers lists the profile's servers.
func (in *Infra) Servers(ctx context.Context) ([]Server, error) {
	out, err := in.Run(ctx, "servers")
	if err != nil {
		return nil, err
	}
	var ss []Server
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) >= 3 {
			ss = append(ss, Server{Name: f[0], Kind: f[1], Addr: f[2], Running: len(f) > 3 && f[3] != "-"})
		}
	}
	return ss, sc.Err()
}

// RedisMaster is the name of a Redis Cluster node that is a master holding
// slots, as the cluster sees it.
func (in *Infra) RedisMaster(ctx context.Context, addrs []string) (string, error) {
	ss, err := in.Servers(ctx)
	if err != nil {
		return "", err
	}
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: addrs, DisableCache: true})
	if err != nil {
		return "", fmt.Errorf("redis cluster %v: %w", addrs, err)
	}
	defer c.Close()
	nodes, err := c.Do(ctx, c.B().ClusterNodes().Build()).ToString()
	if err != nil {
		return "", fmt.Errorf("CLUSTER NODES: %w", err)
	}
	// Fields: id addr@bus flags master-id ping pong epoch link slot...
	for _, line := range strings.Split(nodes, "\n") {
		f := strings.Fields(line)
		if len(f) < 9 || !strings.Contains(f[2], "master") || strings.Contains(f[2], "fail") {
			continue
		}
		addr, _, _ := strings.Cut(f[1], "@")
		for _, s := range ss {
			if s.Kind == "cluster" && s.Addr == addr {
				return s.Name, nil
			}
		}
	}
	return "", fmt.Errorf("no master with slots among the profile's Redis nodes in CLUSTER NODES:\n%s", nodes)
}
