package redis_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/alicebob/miniredis/v2/server"
	"github.com/redis/rueidis"

	redisstore "github.com/feedsvc/feedsvc/store/redis"
)

// TestHealthWritesEveryShard: Ping succeeds on every backend, and on a
// Cluster it left a fresh key on every master, so a shard that refuses
// writes (or is down) would have failed it.
func TestHealthWritesEveryShard(t *testing.T) {
	ctx := context.Background()
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			client := open(t)
			// A key the check wrote before (it lives a minute) must not count.
			since := time.Now().UnixMilli()
			if err := redisstore.NewHealth(client).Ping(ctx); err != nil {
				t.Fatalf("Ping: %v", err)
			}
			if client.Mode() != rueidis.ClientModeCluster {
				return
			}
			masters := 0
			for addr, node := range client.Nodes() {
				role, err := node.Do(ctx, node.B().Role().Build()).ToArray()
				if err != nil || len(role) == 0 {
					t.Fatalf("ROLE of %s: %v", addr, err)
				}
				if r, _ := role[0].ToString(); r != "master" {
					continue
				}
				masters++
				if !hasHealthKey(t, node, redisstore.KeysOf(client), since) {
					t.Errorf("master %s holds no health key after Ping", addr)
				}
			}
			if masters < 2 {
				t.Fatalf("found %d masters; the test needs a Cluster of several", masters)
			}
		})
	}
}

// hasHealthKey scans node for a key the health check wrote at or after
// since (its value is the time of writing, in Unix milliseconds), under the
// prefix of keys.
func hasHealthKey(t *testing.T, node rueidis.Client, keys redisstore.Keys, since int64) bool {
	ctx := context.Background()
	var cursor uint64
	for {
		e, err := node.Do(ctx, node.B().Scan().Cursor(cursor).Match(keys.Prefixed("feedsvc:health:*")).Count(1000).Build()).AsScanEntry()
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range e.Elements {
			at, err := node.Do(ctx, node.B().Get().Key(k).Build()).AsInt64()
			if err != nil && !rueidis.IsRedisNil(err) {
				t.Fatal(err)
			}
			if at >= since {
				return true
			}
		}
		if cursor = e.Cursor; cursor == 0 {
			return false
		}
	}
}

// TestHealthRefusedWrite: a Redis that answers PING but refuses writes (at
// maxmemory under noeviction) is unhealthy. The shared real servers must
// not be put at maxmemory, so miniredis plays it, refusing SET as Redis does.
func TestHealthRefusedWrite(t *testing.T) {
	ctx := context.Background()
	m := miniredis.RunT(t)
	const oom = "OOM command not allowed when used memory > 'maxmemory'."
	m.Server().SetPreHook(func(c *server.Peer, cmd string, args ...string) bool {
		if strings.EqualFold(cmd, "SET") {
			c.WriteError(oom)
			return true
		}
		return false
	})
	client := dial(t, m.Addr(), true)
	if err := client.Do(ctx, client.B().Ping().Build()).Error(); err != nil {
		t.Fatalf("PING: %v (the server should still answer it)", err)
	}
	err := redisstore.NewHealth(client).Ping(ctx)
	if err == nil || !strings.Contains(err.Error(), "OOM command not allowed") {
		t.Fatalf("Ping of a Redis refusing writes = %v, want the OOM error", err)
	}
	if err := redisstore.NewFeeds(client, testCap, 0).Ping(ctx); err == nil {
		t.Fatal("Feeds.Ping (the readiness check) passed on a Redis refusing writes")
	}
}
