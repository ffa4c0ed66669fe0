package faults

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Phases of a fault run, in order.
const (
	PhaseBefore = "before"
	PhaseDuring = "during"
	PhaseAfter  = "after"
)

// Outcome sorts an answer: 2xx, 4xx, 5xx, or no answer at all.
type Outcome int

// Outcomes.
const (
	OK Outcome = iota
	ClientError
	ServerError
	NoAnswer
)

func outcomeOf(a Answer) Outcome {
	switch {
	case a.Status == 0:
		return NoAnswer
	case a.Status >= 500:
		return ServerError
	case a.Status >= 400:
		return ClientError
	default:
		return OK
	}
}

// PostRec is one offered post and what its author knows of it.
type PostRec struct {
	Author   string
	Word     string // unique to this post: its search key and its identity before an ID is known
	Text     string
	Tags     []string // folded hashtags, without '#'
	Mentions []string
	Blocked  bool // contains BlockedTerm
	Phase    string
	Status   int    // 0: no answer
	Aborted  bool   // the client disconnected on purpose (client-disconnect fault)
	ID       string // from the 201
	Latency  time.Duration
	// Parent and ParentAuthor name the post a reply answers ("" for a post).
	Parent, ParentAuthor string
}

// Acked is whether the post's creation was acknowledged (201).
func (p *PostRec) Acked() bool { return p.Status == 201 }

// OpRec is one other request: a follow, an unfollow, a delete, a feed read.
type OpRec struct {
	Op      string // "follow", "unfollow", "delete", "feed", a toggle's, "reply" (refused)
	User    string
	Target  string // followed user or post ID
	Phase   string
	Outcome Outcome
	Status  int
	// Degraded is a feed page's Feedsvc-Degraded header: what it went
	// without while the store was unavailable ("": whole).
	Degraded string
}

// Ledger records every request the load made.
type Ledger struct {
	mu    sync.Mutex
	Posts []*PostRec
	Ops   []OpRec
	// PageDups counts duplicate IDs seen within one feed page during the load.
	PageDups int
}

func (l *Ledger) addPost(p *PostRec) {
	l.mu.Lock()
	l.Posts = append(l.Posts, p)
	l.mu.Unlock()
}

func (l *Ledger) addOp(o OpRec) {
	l.mu.Lock()
	l.Ops = append(l.Ops, o)
	l.mu.Unlock()
}

// Counts are a ledger's post outcomes.
type Counts struct {
	Offered, Created, C4xx, C5xx, NoAnswer, Aborted int
}

// PostCounts counts the posts by outcome; aborted posts (the client hung up
// on purpose) count as offered and aborted only.
func (l *Ledger) PostCounts() Counts {
	l.mu.Lock()
	defer l.mu.Unlock()
	var c Counts
	for _, p := range l.Posts {
		c.Offered++
		switch {
		case p.Aborted && p.Status == 0:
			c.Aborted++
		case p.Status == 201:
			c.Created++
		case p.Status == 0:
			c.NoAnswer++
		case p.Status >= 500:
			c.C5xx++
		case p.Status >= 400:
			c.C4xx++
		}
	}
	return c
}

// P99 is the 99th percentile of POST latency in phase (a post without an
// answer counts with the time it took to fail; aborted posts are left out),
// or 0 without posts.
func (l *Ledger) P99(phase string) time.Duration {
	return l.p99(func(p *PostRec) bool { return p.Phase == phase && !p.Aborted })
}

// P99Failed is the 99th percentile of the time to a 5xx answer to a post,
// in any phase, or 0 without one: how fast a post that cannot be taken is
// told so.
func (l *Ledger) P99Failed() time.Duration {
	return l.p99(func(p *PostRec) bool { return p.Status >= 500 })
}

func (l *Ledger) p99(keep func(*PostRec) bool) time.Duration {
	l.mu.Lock()
	var ds []time.Duration
	for _, p := range l.Posts {
		if keep(p) {
			ds = append(ds, p.Latency)
		}
	}
	l.mu.Unlock()
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return ds[min(len(ds)-1, len(ds)*99/100)]
}

// deleteAttempts lists every delete request per post ID with its outcome.
func (l *Ledger) deleteAttempts() map[string][]OpRec {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string][]OpRec{}
	for _, o := range l.Ops {
		if o.Op == "delete" {
			out[o.Target] = append(out[o.Target], o)
		}
	}
	return out
}

// followHistory says how the load's follows and unfollows of from->to were
// answered, in order, for the details ("" when the load made none).
func (l *Ledger) followHistory(from, to string) string {
	return l.history(from, to, "follow", "unfollow")
}

// history says how the load's ops on and off of from->to were answered.
func (l *Ledger) history(from, to, on, off string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var parts []string
	for _, o := range l.Ops {
		if (o.Op == on || o.Op == off) && o.User == from && o.Target == to {
			parts = append(parts, fmt.Sprintf("%s %d (%s)", o.Op, o.Status, o.Phase))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "; load: " + strings.Join(parts, ", ")
}

// follows is the follow state the load's requests make known: follower,
// followee (a block ends follows: pairs a block named are not known).
// FeedReads counts the home feed reads of phase: answered 200 (ok), of
// those served degraded, and not answered 200 (failed).
func (l *Ledger) FeedReads(phase string) (ok, degraded, failed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, o := range l.Ops {
		if o.Op != "feed" || o.Target != "home" || o.Phase != phase {
			continue
		}
		switch {
		case o.Status != 200:
			failed++
		case o.Degraded != "":
			ok++
			degraded++
		default:
			ok++
		}
	}
	return ok, degraded, failed
}

func (l *Ledger) follows() relations { return l.relations("follow", "unfollow") }

// followPairs is every pair (from, to) the load asked to follow or
// unfollow, whatever the answer.
func (l *Ledger) followPairs() map[[2]string]bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[[2]string]bool{}
	for _, o := range l.Ops {
		if o.Op == "follow" || o.Op == "unfollow" {
			out[[2]string{o.User, o.Target}] = true
		}
	}
	return out
}

// relations is what the ledger says of one toggle (see Load.flip) between
// users and targets: a block or mute of another user, a like of a post.
type relations struct {
	// inForce: pairs (user, target) whose last 2xx turned the toggle on,
	// with no 5xx since (it may or may not have been applied) and no
	// request ever without an answer (it may land after a later one).
	inForce map[[2]string]bool
	// unsure: pairs whose state is not known (see inForce).
	unsure map[[2]string]bool
	// known: the state of each pair a request named, when it is known
	// (on or off; see inForce).
	known map[[2]string]bool
	// named: pairs, in either order, that any request of the toggle named.
	named map[[2]string]bool
}

// relations reads the state of the toggle whose ops are on and off. The
// load makes one request of a pair at a time, so the order of a pair's
// answers is that of its requests; a 4xx changed nothing.
func (l *Ledger) relations(on, off string) relations {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := relations{inForce: map[[2]string]bool{}, unsure: map[[2]string]bool{}, named: map[[2]string]bool{}}
	lost := map[[2]string]bool{} // a request without an answer: unsure for good
	for _, o := range l.Ops {
		if o.Op != on && o.Op != off {
			continue
		}
		p := [2]string{o.User, o.Target}
		r.named[p], r.named[[2]string{o.Target, o.User}] = true, true
		switch o.Outcome {
		case OK:
			r.inForce[p] = o.Op == on
			// A 5xx request before it is over, and its change, if the
			// store made it, is older: this answer's state stands.
			if !lost[p] {
				delete(r.unsure, p)
			}
		case ServerError:
			r.unsure[p] = true
		case NoAnswer:
			// It may reach the server after the pair's next request.
			r.unsure[p], lost[p] = true, true
		}
	}
	r.known = map[[2]string]bool{}
	for p, in := range r.inForce {
		if !r.unsure[p] {
			r.known[p] = in
		}
		if !in || r.unsure[p] {
			delete(r.inForce, p)
		}
	}
	return r
}

// blocks is the block state: blocker, blocked.
func (l *Ledger) blocks() relations { return l.relations(blockToggle.on, blockToggle.off) }

// mutes is the mute state: muter, muted.
func (l *Ledger) mutes() relations { return l.relations(muteToggle.on, muteToggle.off) }

// likes is the like state: liker, post ID.
func (l *Ledger) likes() relations { return l.relations(likeToggle.on, likeToggle.off) }

// reposts is the repost state: reposter, original post ID.
func (l *Ledger) reposts() relations { return l.relations(repostToggle.on, repostToggle.off) }

// listed is the list membership state: owner, member.
func (l *Ledger) listed() relations { return l.relations(listToggle.on, listToggle.off) }

// listHistory says how the load's adds and removals of member to owner's
// list were answered, in order, for the details ("" when it made none).
func (l *Ledger) listHistory(owner, member string) string {
	return l.history(owner, member, listToggle.on, listToggle.off)
}

// across reports whether the toggle is in force between x and y, either
// way (a block).
func (r relations) across(x, y string) bool {
	return r.inForce[[2]string{x, y}] || r.inForce[[2]string{y, x}]
}
