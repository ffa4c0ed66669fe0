package redis

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/feedsvc/feedsvc/app"
)

// Search layout:
//
//	sx:{TERM}  sorted set of the posts having TERM: score 0, member the post
//	           ID as 8 big-endian bytes (as in feeds), so lexical order is
//	           ID order; capped to the newest capPerTerm posts
//	sd:{ID}    set of the terms post ID (decimal) was indexed under, so
//	           Unindex works from the ID alone
//
// Every command touches one key, so nothing crosses cluster slots.
//
// With a retention R (--search-retention) the index is bounded in time as
// well as per term: a post older than R is not indexed; each write to a
// term set also drops its members older than R, and the set expires R
// after its last write; a post's term list expires when the post turns R
// old; and Search never reads below R. An Unindex after the term list
// expired finds nothing to remove, and needs not: what it would remove is
// older than R.

// indexScript adds a member to a term set, drops the members below the
// floor, trims the set to its cap and sets its expiry. ARGV[1] = cap,
// ARGV[2] = member, ARGV[3] = floor member ("": none), ARGV[4] = expiry
// in milliseconds ("0": none).
var indexScript = rueidis.NewLuaScript(`
redis.call('ZADD', KEYS[1], 0, ARGV[2])
if ARGV[3] ~= '' then redis.call('ZREMRANGEBYLEX', KEYS[1], '-', '(' .. ARGV[3]) end
local keep = tonumber(ARGV[1])
local n = redis.call('ZCARD', KEYS[1])
if n > keep then redis.call('ZREMRANGEBYRANK', KEYS[1], 0, n - keep - 1) end
if ARGV[4] ~= '0' then redis.call('PEXPIRE', KEYS[1], ARGV[4]) end
return n
`)

// minSearchChunk is the fewest candidates Search reads from the driving
// term per round trip.
const minSearchChunk = 128

// Search implements app.SearchIndex on Redis.
type Search struct {
	client    rueidis.Client
	keys      Keys
	cap       string
	capN      int
	retention time.Duration // 0: none
	now       func() time.Time
}

var _ app.SearchIndex = (*Search)(nil)

// NewSearch returns a search index on client keeping the newest capPerTerm
// posts of each term, and only posts made within retention (0: all).
func NewSearch(client rueidis.Client, capPerTerm int, retention time.Duration) *Search {
	return &Search{client: client, keys: KeysOf(client), cap: strconv.Itoa(capPerTerm), capN: capPerTerm,
		retention: max(retention, 0), now: time.Now}
}

// floor is the oldest post ID the index keeps (0: any).
func (s *Search) floor() app.ID {
	if s.retention == 0 {
		return 0
	}
	return app.MinIDAt(s.now().Add(-s.retention))
}

// Index implements app.SearchIndex. The post's term list is written first,
// so a crash half-way still leaves Unindex everything it needs.
func (s *Search) Index(ctx context.Context, id app.ID, terms []string) error {
	terms = distinct(terms)
	floor := s.floor()
	if len(terms) == 0 || id < floor {
		return nil
	}
	doc := s.keys.Doc(id)
	cmds := rueidis.Commands{s.client.B().Sadd().Key(doc).Member(terms...).Build()}
	floorMember, ttl := "", "0"
	if s.retention > 0 {
		cmds = append(cmds, s.client.B().Pexpireat().Key(doc).MillisecondsTimestamp(id.Time().Add(s.retention).UnixMilli()).Build())
		floorMember, ttl = member(floor), strconv.FormatInt(s.retention.Milliseconds(), 10)
	}
	for _, r := range s.client.DoMulti(ctx, cmds...) {
		if err := r.Error(); err != nil {
			return fmt.Errorf("record terms of post %s: %w", id, err)
		}
	}
	m := member(id)
	execs := make([]rueidis.LuaExec, len(terms))
	for i, t := range terms {
		execs[i] = rueidis.LuaExec{Keys: []string{s.keys.Term(t)}, Args: []string{s.cap, m, floorMember, ttl}}
	}
	for _, r := range indexScript.ExecMulti(ctx, s.client, execs...) {
		if err := r.Error(); err != nil {
			return fmt.Errorf("index post %s: %w", id, err)
		}
	}
	return nil
}

// Unindex implements app.SearchIndex. The term list goes last, so a failed
// call can be retried.
func (s *Search) Unindex(ctx context.Context, id app.ID) error {
	terms, err := s.client.Do(ctx, s.client.B().Smembers().Key(s.keys.Doc(id)).Build()).AsStrSlice()
	if err != nil {
		return fmt.Errorf("read terms of post %s: %w", id, err)
	}
	m := member(id)
	cmds := make(rueidis.Commands, 0, len(terms)+1)
	for _, t := range terms {
		cmds = append(cmds, s.client.B().Zrem().Key(s.keys.Term(t)).Member(m).Build())
	}
	for _, r := range s.client.DoMulti(ctx, cmds...) {
		if err := r.Error(); err != nil {
			return fmt.Errorf("unindex post %s: %w", id, err)
		}
	}
	if err := s.client.Do(ctx, s.client.B().Del().Key(s.keys.Doc(id)).Build()).Error(); err != nil {
		return fmt.Errorf("drop terms of post %s: %w", id, err)
	}
	return nil
}

// Search implements app.SearchIndex. It walks the smallest term set newest
// first, a chunk at a time, and keeps the posts every other term set holds
// (ZMSCORE, pipelined: one command per term, so each stays on its slot).
func (s *Search) Search(ctx context.Context, terms []string, before app.ID, limit int) ([]app.ID, error) {
	terms = distinct(terms)
	if len(terms) == 0 || limit < 1 {
		return nil, nil
	}
	cards := make(rueidis.Commands, len(terms))
	for i, t := range terms {
		cards[i] = s.client.B().Zcard().Key(s.keys.Term(t)).Build()
	}
	driver, size := 0, int64(-1)
	for i, r := range s.client.DoMulti(ctx, cards...) {
		n, err := r.AsInt64()
		if err != nil {
			return nil, fmt.Errorf("search %v: count %q: %w", terms, terms[i], err)
		}
		if n == 0 {
			return nil, nil
		}
		if size < 0 || n < size {
			driver, size = i, n
		}
	}
	others := make([]string, 0, len(terms)-1)
	for i, t := range terms {
		if i != driver {
			others = append(others, s.keys.Term(t))
		}
	}
	chunk := max(limit, minSearchChunk)
	if len(others) == 0 {
		chunk = limit
	}
	top := "+"
	if before > 0 {
		top = "(" + member(before)
	}
	bottom := "-"
	if floor := s.floor(); floor > 0 {
		bottom = "[" + member(floor)
	}
	var out []app.ID
	for {
		raw, err := s.client.Do(ctx, s.client.B().Zrevrangebylex().Key(s.keys.Term(terms[driver])).
			Max(top).Min(bottom).Limit(0, int64(chunk)).Build()).AsStrSlice()
		if err != nil {
			return nil, fmt.Errorf("search %v: read %q: %w", terms, terms[driver], err)
		}
		keep, err := s.inAll(ctx, others, raw)
		if err != nil {
			return nil, fmt.Errorf("search %v: %w", terms, err)
		}
		for i, m := range raw {
			if !keep[i] {
				continue
			}
			if id, ok := decode(m); ok {
				out = append(out, id)
				if len(out) == limit {
					return out, nil
				}
			}
		}
		if len(raw) < chunk {
			return out, nil
		}
		top = "(" + raw[len(raw)-1]
	}
}

// inAll reports, for each member, whether every key holds it.
func (s *Search) inAll(ctx context.Context, keys, members []string) ([]bool, error) {
	keep := make([]bool, len(members))
	for i := range keep {
		keep[i] = true
	}
	if len(keys) == 0 || len(members) == 0 {
		return keep, nil
	}
	cmds := make(rueidis.Commands, len(keys))
	for i, k := range keys {
		cmds[i] = s.client.B().Zmscore().Key(k).Member(members...).Build()
	}
	for i, r := range s.client.DoMulti(ctx, cmds...) {
		scores, err := r.ToArray()
		if err != nil {
			return nil, fmt.Errorf("check %s: %w", keys[i], err)
		}
		for j := range scores {
			if j < len(keep) && scores[j].IsNil() {
				keep[j] = false
			}
		}
	}
	return keep, nil
}

func distinct(ss []string) []string {
	out := make([]string, 0, len(ss))
	seen := make(map[string]bool, len(ss))
	for _, s := range ss {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
