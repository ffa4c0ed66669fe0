package bench

// Ceilings of a Redis server for feed inserts: a bare Go loop of pipelined
// ZADDs through rueidis, and redis-benchmark. Both write to their own key
// space and never touch the service's keys.

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/csv"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
	"golang.org/x/sync/errgroup"
)

// Rate is a number of operations done in a measured time.
type Rate struct {
	Ops     int     `json:"ops"`
	Seconds float64 `json:"seconds"`
	PerSec  float64 `json:"per_sec"`
}

func newRate(ops int, d time.Duration) Rate {
	r := Rate{Ops: ops, Seconds: d.Seconds()}
	if d > 0 {
		r.PerSec = float64(ops) / d.Seconds()
	}
	return r
}

// ZAddLoop is the bare-loop ceiling: it adds perKey members to every key,
// round by round (round j adds member j to each key, as fan-out adds post j
// to each follower's feed), with workers goroutines each sending batches of
// batch ZADDs in one pipelined round trip, and returns the insert rate. It
// does nothing else, so it is the most a client can get out of the server
// for the same number of inserts on the same keys.
func ZAddLoop(ctx context.Context, c rueidis.Client, keys []string, perKey, workers, batch int) (Rate, error) {
	if len(keys) == 0 || perKey <= 0 {
		return Rate{}, nil
	}
	workers, batch = max(1, workers), max(1, batch)
	chunks := (len(keys) + batch - 1) / batch
	units := int64(perKey * chunks)
	var next atomic.Int64
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	for range workers {
		g.Go(func() error {
			cmds := make(rueidis.Commands, 0, batch)
			member := make([]byte, 8)
			for {
				u := next.Add(1) - 1
				if u >= units {
					return nil
				}
				round, chunk := int(u)/chunks, int(u)%chunks
				binary.BigEndian.PutUint64(member, uint64(round+1))
				cmds = cmds[:0]
				for _, k := range keys[chunk*batch : min(len(keys), (chunk+1)*batch)] {
					cmds = append(cmds, c.B().Zadd().Key(k).ScoreMember().ScoreMember(float64(round+1), string(member)).Build())
				}
				for _, r := range c.DoMulti(gctx, cmds...) {
					if err := r.Error(); err != nil {
						return fmt.Errorf("zadd: %w", err)
					}
				}
			}
		})
	}
	if err := g.Wait(); err != nil {
		return Rate{}, err
	}
	return newRate(len(keys)*perKey, time.Since(start)), nil
}

// DeleteKeys deletes keys, batch of them per pipelined round trip.
func DeleteKeys(ctx context.Context, c rueidis.Client, keys []string, batch int) error {
	batch = max(1, batch)
	for len(keys) > 0 {
		n := min(batch, len(keys))
		cmds := make(rueidis.Commands, n)
		for i, k := range keys[:n] {
			cmds[i] = c.B().Del().Key(k).Build()
		}
		for _, r := range c.DoMulti(ctx, cmds...) {
			if err := r.Error(); err != nil {
				return fmt.Errorf("delete: %w", err)
			}
		}
		keys = keys[n:]
	}
	return nil
}

// DeleteMatching deletes every key matching the glob pattern on every node
// (SCAN per node, then DEL through c, which routes each key to its slot),
// and returns how many it deleted.
func DeleteMatching(ctx context.Context, c rueidis.Client, pattern string) (int, error) {
	deleted := 0
	for addr, node := range c.Nodes() {
		var cursor uint64
		for {
			e, err := node.Do(ctx, node.B().Scan().Cursor(cursor).Match(pattern).Count(1000).Build()).AsScanEntry()
			if err != nil {
				return deleted, fmt.Errorf("scan %s: %w", addr, err)
			}
			if err := DeleteKeys(ctx, c, e.Elements, 1000); err != nil {
				return deleted, err
			}
			deleted += len(e.Elements)
			if cursor = e.Cursor; cursor == 0 {
				break
			}
		}
	}
	return deleted, nil
}

// ErrNoRedisBenchmark is returned when redis-benchmark is not installed.
var ErrNoRedisBenchmark = errors.New("redis-benchmark not found in PATH")

// RandInt is what redis-benchmark -r replaces, in every argument, with a
// 12-digit random number below the keyspace.
const RandInt = "__rand_int__"

// RedisBenchmarkKeys lists every key RedisBenchmark may have written with
// key (a pattern holding RandInt) and keyspace, for cleaning up.
func RedisBenchmarkKeys(key string, keyspace int) []string {
	keys := make([]string, keyspace)
	for i := range keys {
		keys[i] = strings.ReplaceAll(key, RandInt, fmt.Sprintf("%012d", i))
	}
	return keys
}

// RedisBenchmark runs `redis-benchmark -h HOST -p PORT -P 16 -n requests -r
// keyspace --csv ZADD KEY __rand_int__ __rand_int__` (50 connections, 16
// commands pipelined on each), where key holds RandInt, and returns its
// requests per second.
func RedisBenchmark(ctx context.Context, addr, key string, requests, keyspace int) (Rate, error) {
	if !strings.Contains(key, RandInt) {
		return Rate{}, fmt.Errorf("redis-benchmark: key %q does not vary (no %s)", key, RandInt)
	}
	path, err := exec.LookPath("redis-benchmark")
	if err != nil {
		return Rate{}, ErrNoRedisBenchmark
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return Rate{}, fmt.Errorf("redis-benchmark: address %q: %w", addr, err)
	}
	cmd := exec.CommandContext(ctx, path, "-h", host, "-p", port, "-P", "16",
		"-n", strconv.Itoa(requests), "-r", strconv.Itoa(keyspace), "--csv",
		"ZADD", key, RandInt, RandInt)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	out, err := cmd.Output()
	elapsed := time.Since(start)
	if err != nil {
		return Rate{}, fmt.Errorf("redis-benchmark: %w: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	rps, err := ParseRedisBenchmarkCSV(out)
	if err != nil {
		return Rate{}, err
	}
	return Rate{Ops: requests, Seconds: elapsed.Seconds(), PerSec: rps}, nil
}

// ParseRedisBenchmarkCSV returns the requests per second of the first test
// in redis-benchmark --csv output: a header row naming an "rps" column (Redis
// 7), or, from older versions, rows of "test","rps" without a header.
func ParseRedisBenchmarkCSV(out []byte) (float64, error) {
	rd := csv.NewReader(bytes.NewReader(out))
	rd.FieldsPerRecord = -1
	rows, err := rd.ReadAll()
	if err != nil {
		return 0, fmt.Errorf("redis-benchmark output: %w", err)
	}
	col := 1
	if len(rows) > 0 && len(rows[0]) > 0 && rows[0][0] == "test" {
		col = -1
		for i, name := range rows[0] {
			if name == "rps" {
				col = i
			}
		}
		if col < 0 {
			return 0, fmt.Errorf("redis-benchmark output: no rps column in %q", rows[0])
		}
		rows = rows[1:]
	}
	if len(rows) == 0 || len(rows[0]) <= col {
		return 0, fmt.Errorf("redis-benchmark output: no result in %q", out)
	}
	rps, err := strconv.ParseFloat(rows[0][col], 64)
	if err != nil {
		return 0, fmt.Errorf("redis-benchmark output: requests per second: %w", err)
	}
	return rps, nil
}
