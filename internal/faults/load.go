package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Rates of the load, per second.
type Rates struct {
	Posts, Replies, Follows, Unfollows, Deletes, FeedReads float64
	Blocks, Unblocks, Mutes, Unmutes, Likes, Unlikes       float64
	Reposts, Unreposts                                     float64
	// ListAdds and ListRemoves add a user to, and remove one from, a
	// writer's list (Load.Lists).
	ListAdds, ListRemoves float64
}

// DefaultRates: 20 posts/s (17 new, 3 replies to another's post) with
// follows, unfollows, blocks, mutes, likes, reposts, list members (and their
// undoing), deletes and feed reads mixed in. At 30 posts/s a Cassandra node restarting on
// the 2 cores it shares with 12 other servers took 5 minutes to start,
// starved by its peers' load, and the outbox fell minutes behind: the rows
// measured the machine, not the fault.
var DefaultRates = Rates{Posts: 17, Replies: 3, Follows: 2, Unfollows: 1, Blocks: 0.5, Unblocks: 0.3, Mutes: 0.5, Unmutes: 0.3,
	Likes: 3, Unlikes: 1, Reposts: 1.5, Unreposts: 0.5, ListAdds: 0.5, ListRemoves: 0.3, Deletes: 2, FeedReads: 5}

// Load drives open-loop traffic through the API (a slow answer never slows
// the offered rate) and records every request in Ledger.
type Load struct {
	Users  map[string]*Client // the writers, by name
	Names  []string
	Tags   []string // run-unique hashtags (folded, without '#')
	Prefix string   // makes every post's unique word unique to the run; every post also carries it as a word
	Rates  Rates
	// Lists holds each writer's list ID: the list the load adds users to
	// and removes them from (none: no list ops for that writer).
	Lists  map[string]string
	Ledger *Ledger
	// Timeout is the client's patience: past it a request has no answer.
	Timeout time.Duration

	phase   atomic.Value // string
	abort   atomic.Bool  // clients hang up mid-request (client-disconnect fault)
	scale   atomic.Value // float64: the share of Rates offered (unset: all)
	seq     atomic.Int64
	mu      sync.Mutex
	follows map[[2]string]bool // acknowledged follow state, to pick follows and unfollows
	listed  map[[3]string]bool // list members added before the load (toggled's keys)
	// toggled is the acknowledged state of each toggle {on op, user,
	// target}; busy marks those with a request in flight (see flip).
	toggled, busy map[[3]string]bool
	acked         map[string][]*PostRec
	wg            sync.WaitGroup
}

// SetPhase labels the requests offered from now on.
func (l *Load) SetPhase(p string) { l.phase.Store(p) }

// SetScale offers share (0 to 1) of every rate from now on: each tick of a
// rate is offered with that probability.
func (l *Load) SetScale(share float64) { l.scale.Store(share) }

// offered draws whether this tick is offered (see SetScale).
func (l *Load) offered() bool {
	share, ok := l.scale.Load().(float64)
	return !ok || share >= 1 || rand.Float64() < share
}

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

// Listed records a member of owner's list added before the load.
func (l *Load) Listed(owner, member string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.listed == nil {
		l.listed = map[[3]string]bool{}
	}
	l.listed[[3]string{listToggle.on, owner, member}] = true
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
	l.toggled, l.busy = maps.Clone(l.listed), map[[3]string]bool{}
	if l.toggled == nil {
		l.toggled = map[[3]string]bool{}
	}
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
					if !l.offered() {
						continue
					}
					l.wg.Add(1)
					go func() { defer l.wg.Done(); f() }()
				}
			}
		}()
	}
	every(l.Rates.Posts, func() { l.post(false) })
	every(l.Rates.Replies, func() { l.post(true) })
	every(l.Rates.Follows, func() { l.follow(true) })
	every(l.Rates.Unfollows, func() { l.follow(false) })
	every(l.Rates.Blocks, func() { l.flip(blockToggle, true, l.other) })
	every(l.Rates.Unblocks, func() { l.flip(blockToggle, false, l.other) })
	every(l.Rates.Mutes, func() { l.flip(muteToggle, true, l.other) })
	every(l.Rates.Unmutes, func() { l.flip(muteToggle, false, l.other) })
	every(l.Rates.Likes, func() { l.flip(likeToggle, true, l.likable) })
	every(l.Rates.Unlikes, func() { l.flip(likeToggle, false, l.likable) })
	every(l.Rates.Reposts, func() { l.flip(repostToggle, true, l.likable) })
	every(l.Rates.Unreposts, func() { l.flip(repostToggle, false, l.likable) })
	every(l.Rates.ListAdds, func() { l.flip(listToggle, true, l.listable) })
	every(l.Rates.ListRemoves, func() { l.flip(listToggle, false, l.listable) })
	every(l.Rates.Deletes, l.delete)
	every(l.Rates.FeedReads, l.readFeed)
	tickers.Wait()
	l.wg.Wait()
}

func (l *Load) pick() string { return l.Names[rand.IntN(len(l.Names))] }

// post offers a post, or with reply a reply to an acknowledged post of
// another user, not deleted by the load. A reply the API refuses (its
// parent deleted meanwhile: 404; a block between the two: 403) is an op,
// not an offered post: the rows' promises on posts are about posts the
// API must take.
func (l *Load) post(reply bool) {
	author := l.pick()
	var parent *PostRec
	if reply {
		l.mu.Lock()
		if to := l.pick(); to != author && len(l.acked[to]) > 0 {
			parent = l.acked[to][rand.IntN(len(l.acked[to]))]
		}
		l.mu.Unlock()
		if parent == nil {
			return
		}
	}
	n := l.seq.Add(1)
	p := &PostRec{Author: author, Word: fmt.Sprintf("%sn%d", l.Prefix, n), Phase: l.phase.Load().(string)}
	words := []string{p.Word, l.Prefix}
	if rand.IntN(3) == 0 {
		tag := l.Tags[rand.IntN(len(l.Tags))]
		p.Tags = []string{tag}
		words = append(words, "#"+tag)
	}
	// A reply mentions nobody: the parent's author is notified of the
	// reply, not of a mention in it.
	if parent == nil && rand.IntN(5) == 0 {
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
	body := map[string]string{"text": p.Text}
	if parent != nil {
		p.Parent, p.ParentAuthor = parent.ID, parent.Author
		body["in_reply_to"] = parent.ID
	}
	a := l.Users[author].Do(ctx, http.MethodPost, "/v1/posts", body)
	if parent != nil && (a.Status == http.StatusNotFound || a.Status == http.StatusForbidden) {
		l.Ledger.addOp(OpRec{Op: "reply", User: author, Target: parent.ID, Phase: p.Phase, Outcome: outcomeOf(a), Status: a.Status})
		return
	}
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

// follow follows or unfollows a pair that is not, never one with a
// follow or unfollow in flight, so that the ledger's order of a pair's
// answers is their order (the checker compares the graph with the last).
func (l *Load) follow(on bool) {
	var from, to string
	l.mu.Lock()
	for range 20 {
		a, b := l.pick(), l.pick()
		if a != b && l.follows[[2]string{a, b}] != on && !l.busy[[3]string{"follow", a, b}] {
			from, to = a, b
			break
		}
	}
	if from != "" {
		l.busy[[3]string{"follow", from, to}] = true
	}
	l.mu.Unlock()
	if from == "" {
		return
	}
	defer func() {
		l.mu.Lock()
		delete(l.busy, [3]string{"follow", from, to})
		l.mu.Unlock()
	}()
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

// A toggle is a relation the load turns on and off between a user and a
// target: a block or a mute of another user, a like or a repost of a post,
// a member of the user's list.
type toggle struct {
	on, off string // the ledger's ops
	// path is that of the PUT (on) and the DELETE (off).
	path func(l *Load, user, target string) string
}

var (
	blockToggle  = toggle{"block", "unblock", func(_ *Load, _, u string) string { return "/v1/blocks/" + u }}
	muteToggle   = toggle{"mute", "unmute", func(_ *Load, _, u string) string { return "/v1/mutes/" + u }}
	likeToggle   = toggle{"like", "unlike", func(_ *Load, _, id string) string { return "/v1/posts/" + id + "/like" }}
	repostToggle = toggle{"repost", "unrepost", func(_ *Load, _, id string) string { return "/v1/posts/" + id + "/repost" }}
	listToggle   = toggle{"list-add", "list-remove", func(l *Load, owner, u string) string { return "/v1/lists/" + l.Lists[owner] + "/members/" + u }}
)

// other picks a pair of distinct users for a toggle of users.
func (l *Load) other() (string, string, bool) {
	a, b := l.pick(), l.pick()
	return a, b, a != b
}

// listable picks a list's owner and another user.
func (l *Load) listable() (string, string, bool) {
	owner, u := l.pick(), l.pick()
	return owner, u, owner != u && l.Lists[owner] != ""
}

// likable picks a liker (or reposter) and a post of another user,
// acknowledged and not deleted by the load.
func (l *Load) likable() (string, string, bool) {
	liker, author := l.pick(), l.pick()
	ps := l.acked[author]
	if liker == author || len(ps) == 0 {
		return "", "", false
	}
	return liker, ps[rand.IntN(len(ps))].ID, true
}

// flip turns t on or off for a pair that pick finds (under l.mu), never
// one with a request of t in flight, so that the ledger's order of a
// pair's answers is their order. An acknowledged block ends the follows
// both ways.
func (l *Load) flip(t toggle, on bool, pick func() (string, string, bool)) {
	var key [3]string
	l.mu.Lock()
	for range 20 {
		if u, target, ok := pick(); ok {
			if k := [3]string{t.on, u, target}; l.toggled[k] != on && !l.busy[k] {
				key = k
				break
			}
		}
	}
	if key[1] == "" {
		l.mu.Unlock()
		return
	}
	l.busy[key] = true
	l.mu.Unlock()
	method, op := http.MethodPut, t.on
	if !on {
		method, op = http.MethodDelete, t.off
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.Timeout)
	defer cancel()
	a := l.Users[key[1]].Do(ctx, method, t.path(l, key[1], key[2]), nil)
	o := OpRec{Op: op, User: key[1], Target: key[2], Phase: l.phase.Load().(string), Outcome: outcomeOf(a), Status: a.Status}
	// In the ledger before the pair is free: its order is the pair's.
	l.Ledger.addOp(o)
	l.mu.Lock()
	if o.Outcome == OK {
		l.toggled[key] = on
		if t.on == blockToggle.on && on {
			delete(l.follows, [2]string{key[1], key[2]})
			delete(l.follows, [2]string{key[2], key[1]})
		}
	}
	delete(l.busy, key)
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

// readFeed reads a page of a user's home feed, or of its list's feed (half
// the time): a read keeps a feed cached, so fan-out writes into it during
// the fault, as it does for readers.
func (l *Load) readFeed() {
	u := l.pick()
	ctx, cancel := context.WithTimeout(context.Background(), l.Timeout)
	defer cancel()
	path, feed := "/v1/feed?limit=50", "home"
	if id := l.Lists[u]; id != "" && rand.IntN(2) == 0 {
		path, feed = "/v1/lists/"+id+"/feed?limit=50", "list:"+id
	}
	a := l.Users[u].Do(ctx, http.MethodGet, path, nil)
	l.Ledger.addOp(OpRec{Op: "feed", User: u, Target: feed, Phase: l.phase.Load().(string), Outcome: outcomeOf(a), Status: a.Status,
		Degraded: a.Header.Get("Feedsvc-Degraded")})
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
