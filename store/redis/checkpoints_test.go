package redis_test

import (
	"context"
	"maps"
	"strings"
	"testing"

	"github.com/redis/rueidis"

	redisstore "github.com/feedsvc/feedsvc/store/redis"
)

type offsets = map[string]map[int32]int64

// checkpointShards returns, per shard (each Cluster master, or the single
// Redis), a client of that shard and the key holding group's checkpoints
// there.
func checkpointShards(t *testing.T, client rueidis.Client, group string) map[string]rueidis.Client {
	t.Helper()
	ctx := context.Background()
	nodes := map[string]rueidis.Client{"redis": client}
	if client.Mode() == rueidis.ClientModeCluster {
		nodes = map[string]rueidis.Client{}
		for addr, node := range client.Nodes() {
			role, err := node.Do(ctx, node.B().Role().Build()).ToArray()
			if err != nil || len(role) == 0 {
				t.Fatalf("ROLE of %s: %v", addr, err)
			}
			if r, _ := role[0].ToString(); r == "master" {
				nodes[addr] = node
			}
		}
		if len(nodes) < 2 {
			t.Fatalf("found %d masters; the test needs a Cluster of several", len(nodes))
		}
	}
	return nodes
}

// checkpointKeys lists the keys of group's checkpoints on node, under the
// prefix of keys (a node's own client does not carry it).
func checkpointKeys(t *testing.T, node rueidis.Client, keys redisstore.Keys, group string) []string {
	t.Helper()
	var found []string
	var cursor uint64
	for {
		e, err := node.Do(context.Background(), node.B().Scan().Cursor(cursor).Match(keys.Prefixed("feedsvc:applied*:"+group)).Count(1000).Build()).AsScanEntry()
		if err != nil {
			t.Fatal(err)
		}
		found = append(found, e.Elements...)
		if cursor = e.Cursor; cursor == 0 {
			return found
		}
	}
}

func TestCheckpoints(t *testing.T) {
	ctx := context.Background()
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			client := open(t)
			cps := redisstore.NewCheckpoints(client)
			group := uniqueUser(t)
			parts := map[string][]int32{"posts": {0, 1, 2}, "follows": {0}}

			if got, err := cps.Load(ctx, group, parts); err != nil || len(got) != 0 {
				t.Fatalf("Load before any Save = %v, %v; want nothing", got, err)
			}
			first := offsets{"posts": {0: 10, 1: 20}, "follows": {0: 5}}
			if lost, err := cps.Save(ctx, group, nil, first); err != nil || len(lost) != 0 {
				t.Fatalf("first Save: lost %v, %v", lost, err)
			}
			load := func(want offsets) {
				t.Helper()
				got, err := cps.Load(ctx, group, parts)
				if err != nil {
					t.Fatal(err)
				}
				if !maps.EqualFunc(got, want, func(a, b map[int32]int64) bool { return maps.Equal(a, b) }) {
					t.Fatalf("Load = %v, want %v", got, want)
				}
			}
			load(first)

			// Every shard holds the checkpoints.
			shards := checkpointShards(t, client, group)
			for addr, node := range shards {
				if keys := checkpointKeys(t, node, redisstore.KeysOf(client), group); len(keys) != 1 {
					t.Fatalf("shard %s holds checkpoint keys %v, want one", addr, keys)
				}
			}

			// A lower offset (a late write of a previous owner) lowers nothing.
			if lost, err := cps.Save(ctx, group, first, offsets{"posts": {0: 7, 1: 25}}); err != nil || len(lost) != 0 {
				t.Fatalf("Save: lost %v, %v", lost, err)
			}
			second := offsets{"posts": {0: 10, 1: 25}, "follows": {0: 5}}
			load(second)

			// One shard goes back in time (restored from a snapshot, or
			// a lagging replica promoted): it holds less for posts/1 and
			// nothing for posts/0.
			var addr string
			var node rueidis.Client
			for a, n := range shards {
				addr, node = a, n
				break
			}
			key := checkpointKeys(t, node, redisstore.KeysOf(client), group)[0]
			if err := node.Do(ctx, node.B().Hset().Key(key).FieldValue().FieldValue("posts/1", "21").Build()).Error(); err != nil {
				t.Fatal(err)
			}
			if err := node.Do(ctx, node.B().Hdel().Key(key).Field("posts/0").Build()).Error(); err != nil {
				t.Fatal(err)
			}
			load(offsets{"posts": {1: 21}, "follows": {0: 5}})
			lost, err := cps.Save(ctx, group, second, offsets{"posts": {0: 12, 1: 30}, "follows": {0: 6}})
			if err != nil {
				t.Fatal(err)
			}
			if want := (offsets{"posts": {0: -1, 1: 21}}); !maps.EqualFunc(lost, want, func(a, b map[int32]int64) bool { return maps.Equal(a, b) }) {
				t.Fatalf("Save over shard %s that lost writes: lost = %v, want %v", addr, lost, want)
			}
			// Nothing changed on the shard that lost writes, so the loss
			// stays visible.
			load(offsets{"posts": {1: 21}, "follows": {0: 5}})

			// FLUSHALL, played by deleting the keys: nothing is held.
			for _, node := range shards {
				for _, k := range checkpointKeys(t, node, redisstore.KeysOf(client), group) {
					if err := node.Do(ctx, node.B().Del().Key(k).Build()).Error(); err != nil {
						t.Fatal(err)
					}
				}
			}
			load(offsets{})
			lost, err = cps.Save(ctx, group, offsets{"follows": {0: 5}}, offsets{"follows": {0: 6}})
			if err != nil || lost["follows"][0] != -1 {
				t.Fatalf("Save after the flush: lost %v, %v; want follows/0 held -1", lost, err)
			}
		})
	}
}

// TestCheckpointsSeeARestart: a server that restarted from a snapshot
// taken at the checkpoint (or a replica promoted with it) holds exactly
// what the writer knew, yet lost the writes made after it. Save sees the
// server's run ID is not the one it last saved to, reports the partitions
// lost at what the shard holds, and passes once it was told; a reply lost
// on the way would have it told again, since only a reply moves the run
// ID it knows.
func TestCheckpointsSeeARestart(t *testing.T) {
	ctx := context.Background()
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			client := open(t)
			cps := redisstore.NewCheckpoints(client)
			group := uniqueUser(t)
			first := offsets{"posts": {0: 10, 1: 20}}
			if lost, err := cps.Save(ctx, group, nil, first); err != nil || len(lost) != 0 {
				t.Fatalf("first Save: lost %v, %v", lost, err)
			}
			// The last save was on another run of the server.
			if err := cps.ForgetRunsAs(ctx, group, "0123456789abcdef"); err != nil {
				t.Fatal(err)
			}
			lost, err := cps.Save(ctx, group, first, offsets{"posts": {0: 12, 1: 25}})
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(name, "miniredis") {
				// Its scripts cannot read INFO: no run IDs, and Save
				// works on the offsets alone (TestCheckpoints).
				if len(lost) != 0 {
					t.Fatalf("Save on miniredis = lost %v, want none", lost)
				}
				return
			}
			if want := (offsets{"posts": {0: 10, 1: 20}}); !maps.EqualFunc(lost, want, func(a, b map[int32]int64) bool { return maps.Equal(a, b) }) {
				t.Fatalf("Save after a restart = lost %v, want %v", lost, want)
			}
			if got, err := cps.Load(ctx, group, map[string][]int32{"posts": {0, 1}}); err != nil || got["posts"][0] != 10 || got["posts"][1] != 20 {
				t.Fatalf("Load after the reported loss = %v, %v; want the checkpoints unchanged", got, err)
			}
			// Told once: the redo's checkpoints pass.
			if lost, err := cps.Save(ctx, group, first, offsets{"posts": {0: 12, 1: 25}}); err != nil || len(lost) != 0 {
				t.Fatalf("Save after the loss was reported: lost %v, %v", lost, err)
			}
			// A process that starts on the server (Load first) knows its
			// run: its next Save passes.
			fresh := redisstore.NewCheckpoints(client)
			if _, err := fresh.Load(ctx, group, map[string][]int32{"posts": {0, 1}}); err != nil {
				t.Fatal(err)
			}
			if lost, err := fresh.Save(ctx, group, offsets{"posts": {0: 12, 1: 25}}, offsets{"posts": {0: 13}}); err != nil || len(lost) != 0 {
				t.Fatalf("Save of a process that loaded first: lost %v, %v", lost, err)
			}
		})
	}
}
