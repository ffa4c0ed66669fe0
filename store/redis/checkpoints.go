package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/rueidis"
)

// saveScript raises checkpoints on one shard. ARGV holds triples: field,
// the value the writer last knew there ("" if none) and the new value. If
// the shard holds less than the writer knew for any field (missing counts
// as less), it lost writes: the script changes nothing and returns those
// fields with what it holds ("-1" if missing). Otherwise each field is set
// to the new value unless it holds a higher one already, so a late write
// from a partition's previous owner never lowers a checkpoint. One script,
// so no loss can slip in between the check and the write.
//
// Each field also keeps the run ID of the server that last wrote it
// (field..'~run', from INFO). A server that restarted (from an AOF or RDB
// a moment old) or a replica promoted since may hold the checkpoint the
// writer knew and still have lost the writes made after it: the run ID
// differs. Such fields are reported lost too (with what the shard holds).
// Every field reported lost takes the server's run ID, so the writer, who
// redoes its events from what the shard holds, is told once. A server
// whose INFO scripts cannot read skips this check.
var saveScript = rueidis.NewLuaScript(`
local run = ''
local info = redis.pcall('INFO', 'server')
if type(info) == 'string' then
  run = string.match(info, 'run_id:(%x+)') or ''
end
local lost = {}
for i = 1, #ARGV, 3 do
  if ARGV[i + 1] ~= '' then
    local cur = redis.call('HGET', KEYS[1], ARGV[i])
    local was = redis.call('HGET', KEYS[1], ARGV[i] .. '~run')
    if not cur or tonumber(cur) < tonumber(ARGV[i + 1]) or (run ~= '' and was and was ~= run) then
      lost[#lost + 1] = ARGV[i]
      lost[#lost + 1] = cur or '-1'
    end
  end
end
if #lost > 0 then
  -- The writer redoes these from what this server holds.
  if run ~= '' then
    for i = 1, #lost, 2 do
      redis.call('HSET', KEYS[1], lost[i] .. '~run', run)
    end
  end
  return lost
end
for i = 1, #ARGV, 3 do
  local cur = redis.call('HGET', KEYS[1], ARGV[i])
  if not cur or tonumber(cur) < tonumber(ARGV[i + 2]) then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 2])
  end
  if run ~= '' then
    redis.call('HSET', KEYS[1], ARGV[i] .. '~run', run)
  end
end
return lost
`)

// Checkpoints records, in Redis itself, how far each consumer group's
// writes to Redis go: per topic and partition, the next offset whose
// effects Redis holds. It is written on every shard, next to the data it
// vouches for, so that a Redis (or a Cluster master) that comes back with
// older data also comes back with the older checkpoint, and the consumer
// sees it. No TTL: it is a few fields per group, rewritten every second
// while the group works.
type Checkpoints struct {
	client rueidis.Client
	keys   Keys
	shards *Health
}

// NewCheckpoints returns the checkpoints stored through client.
func NewCheckpoints(client rueidis.Client) *Checkpoints {
	return &Checkpoints{client: client, keys: KeysOf(client), shards: NewHealth(client)}
}

func checkpointField(topic string, partition int32) string {
	return topic + "/" + strconv.FormatInt(int64(partition), 10)
}

// Save raises the checkpoints of group to next (topic, partition, next
// offset) on every shard; a checkpoint already higher is kept. prev is what
// the caller last knew each checkpoint to be: a shard holding less for a
// partition lost writes, and is left unchanged; such partitions are
// returned in lost, with the lowest value a shard holds (-1: none).
func (c *Checkpoints) Save(ctx context.Context, group string, prev, next map[string]map[int32]int64) (lost map[string]map[int32]int64, err error) {
	var args []string
	for topic, parts := range next {
		for p, off := range parts {
			known := ""
			if v, ok := prev[topic][p]; ok {
				known = strconv.FormatInt(v, 10)
			}
			args = append(args, checkpointField(topic, p), known, strconv.FormatInt(off, 10))
		}
	}
	lost = map[string]map[int32]int64{}
	if len(args) == 0 {
		return lost, nil
	}
	shards, err := c.shards.shards(ctx)
	if err != nil {
		return nil, fmt.Errorf("redis checkpoints of %s: %w", group, err)
	}
	execs := make([]rueidis.LuaExec, len(shards))
	for i, s := range shards {
		execs[i] = rueidis.LuaExec{Keys: []string{c.keys.checkpoint(s, group)}, Args: args}
	}
	var errs []error
	for i, resp := range saveScript.ExecMulti(ctx, c.client, execs...) {
		held, err := resp.AsStrSlice()
		if err != nil {
			errs = append(errs, fmt.Errorf("redis checkpoints of %s on %s: %w", group, shards[i].name, err))
			continue
		}
		for j := 0; j+1 < len(held); j += 2 {
			topic, p, err := parseField(held[j])
			if err != nil {
				return nil, fmt.Errorf("redis checkpoints of %s on %s: %w", group, shards[i].name, err)
			}
			off, err := strconv.ParseInt(held[j+1], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("redis checkpoints of %s on %s: field %s: %w", group, shards[i].name, held[j], err)
			}
			if lost[topic] == nil {
				lost[topic] = map[int32]int64{}
			}
			if cur, ok := lost[topic][p]; !ok || off < cur {
				lost[topic][p] = off
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return lost, nil
}

// parseField splits a checkpoint field into topic and partition.
func parseField(f string) (string, int32, error) {
	i := strings.LastIndexByte(f, '/')
	if i < 0 {
		return "", 0, fmt.Errorf("bad checkpoint field %q", f)
	}
	p, err := strconv.ParseInt(f[i+1:], 10, 32)
	if err != nil {
		return "", 0, fmt.Errorf("bad checkpoint field %q: %w", f, err)
	}
	return f[:i], int32(p), nil
}

// Load returns group's checkpoints of parts (topic: partitions): for each,
// the lowest across shards, since a shard that lost writes lost that
// shard's part of them. A partition that some shard has no checkpoint of is
// absent from the result.
func (c *Checkpoints) Load(ctx context.Context, group string, parts map[string][]int32) (map[string]map[int32]int64, error) {
	var fields []string
	type tp struct {
		topic string
		p     int32
	}
	var order []tp
	for topic, ps := range parts {
		for _, p := range ps {
			fields = append(fields, checkpointField(topic, p))
			order = append(order, tp{topic, p})
		}
	}
	out := map[string]map[int32]int64{}
	if len(fields) == 0 {
		return out, nil
	}
	shards, err := c.shards.shards(ctx)
	if err != nil {
		return nil, fmt.Errorf("redis checkpoints of %s: %w", group, err)
	}
	cmds := make(rueidis.Commands, len(shards))
	for i, s := range shards {
		cmds[i] = c.client.B().Hmget().Key(c.keys.checkpoint(s, group)).Field(fields...).Build()
	}
	lowest := make([]int64, len(fields))
	missing := make([]bool, len(fields))
	for i, resp := range c.client.DoMulti(ctx, cmds...) {
		vals, err := resp.ToArray()
		if err != nil {
			return nil, fmt.Errorf("redis checkpoints of %s on %s: %w", group, shards[i].name, err)
		}
		if len(vals) != len(fields) {
			return nil, fmt.Errorf("redis checkpoints of %s on %s: %d values for %d fields", group, shards[i].name, len(vals), len(fields))
		}
		for j, v := range vals {
			if v.IsNil() {
				missing[j] = true
				continue
			}
			s, err := v.ToString()
			if err != nil {
				return nil, fmt.Errorf("redis checkpoints of %s on %s: %w", group, shards[i].name, err)
			}
			off, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("redis checkpoints of %s on %s: field %s: %w", group, shards[i].name, fields[j], err)
			}
			if i == 0 || off < lowest[j] {
				lowest[j] = off
			}
		}
	}
	for j, at := range order {
		if missing[j] {
			continue
		}
		if out[at.topic] == nil {
			out[at.topic] = map[int32]int64{}
		}
		out[at.topic][at.p] = lowest[j]
	}
	return out, nil
}
