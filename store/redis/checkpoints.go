package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/redis/rueidis"
)

// runIDLua sets run to the server's run ID, or "" when scripts cannot read
// INFO (miniredis).
const runIDLua = `
local run = ''
local info = redis.pcall('INFO', 'server')
if type(info) == 'string' then
  run = string.match(info, 'run_id:(%x+)') or ''
end
`

// saveScript raises checkpoints on one shard. ARGV[1] is the run ID of the
// server the writer last saved to or loaded from ("" if none); then come
// triples: field, the value the writer last knew there ("" if none) and
// the new value. If the shard holds less than the writer knew for any
// field (missing counts as less), it lost writes: the script changes
// nothing and returns those fields with what it holds ("-1" if missing).
// Otherwise each field is set to the new value unless it holds a higher
// one already, so a late write from a partition's previous owner never
// lowers a checkpoint. One script, so no loss can slip in between the
// check and the write.
//
// A server that restarted (from an AOF or RDB a moment old) or a replica
// promoted since may hold the checkpoint the writer knew and still have
// lost the writes made after it: its run ID (INFO) is not the one the
// writer knew. Every field the writer knew is then reported lost, with
// what the shard holds. The reply starts with the server's run ID ("" when
// scripts cannot read INFO, as on miniredis: no such check), which the
// writer keeps for its next call.
var saveScript = rueidis.NewLuaScript(runIDLua + `
local restarted = ARGV[1] ~= '' and run ~= '' and run ~= ARGV[1]
local out = {run}
for i = 2, #ARGV, 3 do
  if ARGV[i + 1] ~= '' then
    local cur = redis.call('HGET', KEYS[1], ARGV[i])
    if restarted or not cur or tonumber(cur) < tonumber(ARGV[i + 1]) then
      out[#out + 1] = ARGV[i]
      out[#out + 1] = cur or '-1'
    end
  end
end
if #out > 1 then
  return out
end
for i = 2, #ARGV, 3 do
  local cur = redis.call('HGET', KEYS[1], ARGV[i])
  if not cur or tonumber(cur) < tonumber(ARGV[i + 2]) then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 2])
  end
end
return out
`)

// loadScript reads checkpoint fields (ARGV) of one shard, after the
// server's run ID ("" when scripts cannot read INFO); a missing field is
// false (nil in the reply).
var loadScript = rueidis.NewLuaScript(runIDLua + `
local out = {run}
local vals = redis.call('HMGET', KEYS[1], unpack(ARGV))
for i = 1, #ARGV do
  out[i + 1] = vals[i]
end
return out
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

	// runs holds, per group and shard, the run ID of the server last
	// saved to or loaded from (see saveScript); only a reply changes it,
	// so a call whose reply was lost is checked again.
	mu   sync.Mutex
	runs map[string]string
}

// run returns the run ID last seen for group on shard s.
func (c *Checkpoints) run(group string, s shard) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.runs[group+"\x00"+s.name]
}

// sawRun records the run ID a reply gave for group on shard s; with
// ifNone, only when none was known (a Load must not hide a restart from
// the next Save).
func (c *Checkpoints) sawRun(group string, s shard, run string, ifNone bool) {
	if run == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	k := group + "\x00" + s.name
	if _, known := c.runs[k]; known && ifNone {
		return
	}
	c.runs[k] = run
}

// NewCheckpoints returns the checkpoints stored through client.
func NewCheckpoints(client rueidis.Client) *Checkpoints {
	return &Checkpoints{client: client, keys: KeysOf(client), shards: NewHealth(client), runs: map[string]string{}}
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
		execs[i] = rueidis.LuaExec{Keys: []string{c.keys.checkpoint(s, group)}, Args: append([]string{c.run(group, s)}, args...)}
	}
	var errs []error
	for i, resp := range saveScript.ExecMulti(ctx, c.client, execs...) {
		reply, err := resp.AsStrSlice()
		if err == nil && len(reply) == 0 {
			err = errors.New("empty reply")
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("redis checkpoints of %s on %s: %w", group, shards[i].name, err))
			continue
		}
		// A loss reported was on this run: the events are redone on it.
		c.sawRun(group, shards[i], reply[0], false)
		held := reply[1:]
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
	// A loss outweighs another shard's error: the caller redoes the
	// events either way, and a retry would not report it again.
	if err := errors.Join(errs...); err != nil && len(lost) == 0 {
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
	execs := make([]rueidis.LuaExec, len(shards))
	for i, s := range shards {
		execs[i] = rueidis.LuaExec{Keys: []string{c.keys.checkpoint(s, group)}, Args: fields}
	}
	lowest := make([]int64, len(fields))
	missing := make([]bool, len(fields))
	for i, resp := range loadScript.ExecMulti(ctx, c.client, execs...) {
		reply, err := resp.ToArray()
		if err != nil {
			return nil, fmt.Errorf("redis checkpoints of %s on %s: %w", group, shards[i].name, err)
		}
		if len(reply) != len(fields)+1 {
			return nil, fmt.Errorf("redis checkpoints of %s on %s: %d values for %d fields", group, shards[i].name, len(reply)-1, len(fields))
		}
		if run, err := reply[0].ToString(); err == nil {
			c.sawRun(group, shards[i], run, true)
		}
		vals := reply[1:]
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
