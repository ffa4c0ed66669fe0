package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/rueidis"
)

// healthTTL is how long a key the health check writes lives.
const healthTTL = time.Minute

// Health is the Redis readiness check. A PING is answered by a Redis at
// maxmemory under noeviction (which refuses writes) and by a Cluster with a
// shard down, while handlers write: so the check writes, on every shard.
type Health struct {
	client   rueidis.Client
	keys     Keys
	tagsOnce sync.Once
	tags     []string
}

// NewHealth returns the check of client.
func NewHealth(client rueidis.Client) *Health { return &Health{client: client, keys: KeysOf(client)} }

// Ping sets one short-lived key in a slot of each Cluster master (found
// with CLUSTER SLOTS), or one key on a single Redis, and fails if any shard
// refuses.
func (h *Health) Ping(ctx context.Context) error {
	shards, err := h.shards(ctx)
	if err != nil {
		return fmt.Errorf("redis health: %w", err)
	}
	keys, names := make([]string, len(shards)), make([]string, len(shards))
	for i, s := range shards {
		keys[i], names[i] = h.keys.health(s), s.name
	}
	return healthWrite(ctx, h.client, keys, names)
}

// shard is one Redis that holds part of the keys: the single Redis, or a
// Cluster master.
type shard struct {
	// tag is a hash tag whose keys land on the shard ("" on a single Redis).
	tag  string
	name string
}

// key is prefix with the shard's hash tag: a key stored on that shard.
func (s shard) key(prefix string) string {
	if s.tag == "" {
		return prefix
	}
	return prefix + ":{" + s.tag + "}"
}

// shards lists the masters of a Cluster (found with CLUSTER SLOTS), each
// with a hash tag of the first slot of one of its ranges, or the single
// Redis. A failover keeps the slots, so a tag keeps naming the same shard.
func (h *Health) shards(ctx context.Context) ([]shard, error) {
	client := h.client
	if client.Mode() != rueidis.ClientModeCluster {
		return []shard{{name: "redis"}}, nil
	}
	slots, err := client.Do(ctx, client.B().ClusterSlots().Build()).ToArray()
	if err != nil {
		return nil, fmt.Errorf("cluster slots: %w", err)
	}
	tags := h.slotTags()
	seen := map[string]bool{}
	var out []shard
	for _, r := range slots {
		f, err := r.ToArray()
		if err != nil || len(f) < 3 {
			return nil, fmt.Errorf("unexpected CLUSTER SLOTS entry %v (%w)", r, err)
		}
		start, err := f[0].AsInt64()
		if err != nil || start < 0 || start >= int64(len(tags)) {
			return nil, fmt.Errorf("bad slot in CLUSTER SLOTS entry %v (%w)", r, err)
		}
		master := shardName(f[2])
		if seen[master] {
			continue
		}
		seen[master] = true
		out = append(out, shard{tag: tags[start], name: fmt.Sprintf("shard %s (slot %d)", master, start)})
	}
	if len(out) == 0 {
		return nil, errors.New("the cluster serves no slots")
	}
	return out, nil
}

// healthWrite sets every key at once (a Cluster client routes each to its
// shard) and reports each shard that refused.
func healthWrite(ctx context.Context, client rueidis.Client, keys, shards []string) error {
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	cmds := make(rueidis.Commands, len(keys))
	for i, k := range keys {
		cmds[i] = client.B().Set().Key(k).Value(now).Px(healthTTL).Build()
	}
	var errs []error
	for i, resp := range client.DoMulti(ctx, cmds...) {
		if err := resp.Error(); err != nil {
			errs = append(errs, fmt.Errorf("redis health: write to %s: %w", shards[i], err))
		}
	}
	return errors.Join(errs...)
}

// shardName is "host:port" of a CLUSTER SLOTS node entry.
func shardName(node rueidis.RedisMessage) string {
	f, err := node.ToArray()
	if err != nil || len(f) < 2 {
		return node.String()
	}
	host, _ := f[0].ToString()
	port, _ := f[1].AsInt64()
	return host + ":" + strconv.FormatInt(port, 10)
}

// slotTags returns, for every Cluster slot, a hash tag whose key lands in
// that slot. The slots come from the client's own key hashing; the table is
// computed once (about 160,000 short tags to cover 16,384 slots).
func (h *Health) slotTags() []string {
	h.tagsOnce.Do(func() {
		const slots = 16384
		h.tags = make([]string, slots)
		for i, filled := 0, 0; filled < slots; i++ {
			tag := strconv.FormatInt(int64(i), 36)
			cmd := h.client.B().Exists().Key("{" + tag + "}").Build()
			if s := cmd.Slot(); h.tags[s] == "" {
				h.tags[s] = tag
				filled++
			}
		}
	})
	return h.tags
}
