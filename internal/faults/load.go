package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Rates of the load, per second.
type Rates struct {
	Posts, Follows, Unfollows, Deletes, FeedReads float64
	Blocks, Unblocks                              float64
}

// DefaultRates: 50 posts/s with follows, unfollows, blocks, unblocks,
// deletes and feed reads mixed in.
var DefaultRates = Rates{Posts: 50, Follows: 2, Unfollows: 1, Blocks: 0.5, Unblocks: 0.3, Deletes: 3, FeedReads: 10}

// Load drives open-loop traffic through the API (a slow answer never slows
// the offered rate) and records every request in Ledger.
type Load struct {
	Users  map[string]*Client // the writers, by name
	Names  []string
	Tags   []string // run-unique hashtags (folded, without '#')
	Prefix string   // makes every post's unique word unique to the run
	Rates  Rates
	Ledger *Ledger
	// Timeout is the client's patience: past it a request has no answer.
	Timeout time.Duration

	phase   atomic.Value // string
	abort   atomic.Bool  // clients hang up mid-request (client-disconnect fault)
	seq     atomic.Int64
	mu      sync.Mutex
	follows map[[2]string]bool // acknowledged follow state, to pick follows and unfollows
	blocks  map[[2]string]bool // acknowledged block state (blocker, blocked)
	// busy: a block or unblock of the pair is in flight. One at a time per
	// pair, so the ledger's order of a pair's answers is their order.
	busy  map[[2]string]bool
	acked map[string][]*PostRec
	wg    sync.WaitGroup
}

// SetPhase labels the requests offered from now on.
func (l *Load) SetPhase(p string) { l.phase.Store(p) }

// SetAbort makes posts offered from now on hang up a few ms into the request.
func (l *Load) SetAbort(on bool) { l.abort.Store(on) }

// Followed records a follow made before the load.
func (l *Load) Followed(from, to string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.follows == nil {
		l.follows = map[[2]string]bool{}
	}
	l.follows[[2]string{from, to}] = true
}

// Run offers load until ctx ends, then waits for every request in flight.
func (l *Load) Run(ctx context.Context) {
	if l.phase.Load() == nil {
		l.SetPhase(PhaseBefore)
	}
	l.mu.Lock()
	if l.follows == nil {
		l.follows = map[[2]string]bool{}
	}
	l.acked = map[string][]*PostRec{}
	l.blocks, l.busy = map[[2]string]bool{}, map[[2]string]bool{}
	l.mu.Unlock()
	var tickers sync.WaitGroup
	every := func(rate float64, f func()) {
		if rate <= 0 {
			return
		}
		tickers.Add(1)
		go func() {
			defer tickers.Done()
			t := time.NewTicker(time.Duration(float64(time.Second) / rate))
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					l.wg.Add(1)
					go func() { defer l.wg.Done(); f() }()
				}
			}
		}()
	}
	every(l.Rates.Posts, l.post)
	every(l.Rates.Follows, func() { l.follow(true) })
	every(l.Rates.Unfollows, func() { l.follow(false) })
	every(l.Rates.Blocks, func() { l.block(true) })
	every(l.Rates.Unblocks, func() { l.block(false) })
	every(l.Rates.Deletes, l.delete)
	every(l.Rates.FeedReads, l.readFeed)
	tickers.Wait()
	l.wg.Wait()
}

func (l *Load) pick() string { return l.Names[rand.IntN(len(l.Names))] }

func (l *Load) post() {
	author := l.pick()
	n := l.seq.Add(1)
	p := &PostRec{Author: author, Word: fmt.Sprintf("%sn%d", l.Prefix, n), Phase: l.phase.Load().(string)}
	words := []string{p.Word, "load"}
	if rand.IntN(3) == 0 {
		tag := l.Tags[rand.IntN(len(l.Tags))]
		p.Tags = []string{tag}
		words = append(words, "#"+tag)
	}
	if rand.IntN(5) == 0 {
		m := l.pick()
		if m != author {
			p.Mentions = []string{m}
			words = append(words, "@"+m)
		}
	}
	if rand.IntN(20) == 0 {
		p.Blocked = true
		words = append(words, BlockedTerm)
	}
	p.Text = strings.Join(words, " ")
	ctx, cancel := context.WithTimeout(context.Background(), l.Timeout)
	defer cancel()
	if l.abort.Load() && rand.IntN(2) == 0 {
		p.Aborted = true
		var c2 context.CancelFunc
		ctx, c2 = context.WithTimeout(ctx, time.Duration(1+rand.IntN(15))*time.Millisecond)
		defer c2()
	}
	a := l.Users[author].Do(ctx, http.MethodPost, "/v1/posts", map[string]string{"text": p.Text})
	// A request with no answer counts with the time it took to fail: the
	// timeout when it hung, less when the connection was refused.
	p.Status, p.Latency = a.Status, a.Latency
	if a.Status == 201 {
		var got Post
		if err := json.Unmarshal(a.Body, &got); err == nil {
			p.ID = got.ID
		}
		if !p.Blocked {
			l.mu.Lock()
			l.acked[author] = append(l.acked[author], p)
			l.mu.Unlock()
		}
	}
	l.Ledger.addPost(p)
}

func (l *Load) follow(on bool) {
	var from, to string
	l.mu.Lock()
	for range 20 {
		a, b := l.pick(), l.pick()
		if a != b && l.follows[[2]string{a, b}] != on {
			from, to = a, b
			break
		}
	}
	l.mu.Unlock()
	if from == "" {
		return
	}
	method, op := http.MethodPut, "follow"
	if !on {
		method, op = http.MethodDelete, "unfollow"
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.Timeout)
	defer cancel()
	a := l.Users[from].Do(ctx, method, "/v1/following/"+to, nil)
	o := OpRec{Op: op, User: from, Target: to, Phase: l.phase.Load().(string), Outcome: outcomeOf(a), Status: a.Status}
	if o.Outcome == OK {
		l.mu.Lock()
		l.follows[[2]string{from, to}] = on
		l.mu.Unlock()
	}
	l.Ledger.addOp(o)
}

// block blocks (on) or unblocks a pair, never one with a block or unblock
// in flight. An acknowledged block ends the follows both ways.
func (l *Load) block(on bool) {
	var pair [2]string
	l.mu.Lock()
	for range 20 {
		a, b := l.pick(), l.pick()
		if p := [2]string{a, b}; a != b && l.blocks[p] != on && !l.busy[p] {
			pair = p
			break
		}
	}
	if pair[0] == "" {
		l.mu.Unlock()
		return
	}
	l.busy[pair] = true
	l.mu.Unlock()
	method, op := http.MethodPut, "block"
	if !on {
		method, op = http.MethodDelete, "unblock"
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.Timeout)
	defer cancel()
	a := l.Users[pair[0]].Do(ctx, method, "/v1/blocks/"+pair[1], nil)
	o := OpRec{Op: op, User: pair[0], Target: pair[1], Phase: l.phase.Load().(string), Outcome: outcomeOf(a), Status: a.Status}
	// In the ledger before the pair is free: its order is the pair's.
	l.Ledger.addOp(o)
	l.mu.Lock()
	if o.Outcome == OK {
		l.blocks[pair] = on
		if on {
			delete(l.follows, pair)
			delete(l.follows, [2]string{pair[1], pair[0]})
		}
	}
	delete(l.busy, pair)
	l.mu.Unlock()
}

// delete deletes one of an author's acknowledged, unmoderated posts.
func (l *Load) delete() {
	author := l.pick()
	l.mu.Lock()
	ps := l.acked[author]
	if len(ps) == 0 {
		l.mu.Unlock()
		return
	}
	i := rand.IntN(len(ps))
	p := ps[i]
	l.acked[author] = append(ps[:i:i], ps[i+1:]...)
	l.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), l.Timeout)
	defer cancel()
	a := l.Users[author].Do(ctx, http.MethodDelete, "/v1/posts/"+p.ID, nil)
	l.Ledger.addOp(OpRec{Op: "delete", User: author, Target: p.ID, Phase: l.phase.Load().(string), Outcome: outcomeOf(a), Status: a.Status})
}

func (l *Load) readFeed() {
	u := l.pick()
	ctx, cancel := context.WithTimeout(context.Background(), l.Timeout)
	defer cancel()
	a := l.Users[u].Do(ctx, http.MethodGet, "/v1/feed?limit=50", nil)
	l.Ledger.addOp(OpRec{Op: "feed", User: u, Phase: l.phase.Load().(string), Outcome: outcomeOf(a), Status: a.Status})
	if a.Status != 200 {
		return
	}
	var p page[Post]
	if json.Unmarshal(a.Body, &p) != nil {
		return
	}
	seen := map[string]bool{}
	for _, it := range p.Items {
		if seen[it.ID] {
			l.Ledger.mu.Lock()
			l.Ledger.PageDups++
			l.Ledger.mu.Unlock()
		}
		seen[it.ID] = true
	}
}
