package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/feedsvc/feedsvc/app"
	"golang.org/x/sync/errgroup"
)

// Findings are what one pass over every view found wrong. Lost, Orphans
// and Ghosts count writes (posts, deletes, unfollows, moderations), once
// each however many views miss them; Details says which views.
type Findings struct {
	Lost    int // acknowledged writes (posts, deletes, unfollows, moderation) missing from a view
	Orphans int // posts never acknowledged, in the store but missing from a view (in every view or none)
	Ghosts  int // posts never acknowledged and not in the store, yet in a view
	Dups    int // duplicate IDs read through the API (a page, a feed, a search, notifications)
	// DeadLetters counts dead letters; Unexpected those that are not the poison event.
	DeadLetters, Unexpected int
	// PoisonMissing counts post groups that have not dead-lettered the poison event.
	PoisonMissing int
	Details       []string
	// Took says how long the pass read each view (which one a slow
	// pass waited for).
	Took    string
	counted map[string]bool
	mu      sync.Mutex // a pass reads users' views concurrently
}

// Clean is whether nothing is wrong.
func (f *Findings) Clean() bool {
	return f.Lost == 0 && f.Orphans == 0 && f.Ghosts == 0 && f.Dups == 0 && f.Unexpected == 0 && f.PoisonMissing == 0
}

// note records a finding about the write key (counted once per counter;
// "" counts every time).
func (f *Findings) note(counter *int, key, format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.counted == nil {
		f.counted = map[string]bool{}
	}
	k := fmt.Sprintf("%p/%s", counter, key)
	if key == "" || !f.counted[k] {
		*counter++
	}
	if key != "" {
		f.counted[k] = true
	}
	if len(f.Details) < 40 {
		f.Details = append(f.Details, fmt.Sprintf(format, args...))
	}
}

// Checker checks every acknowledged write of a ledger against every view.
type Checker struct {
	Sys    *System
	Users  map[string]*Client
	Viewer *Client // a user who writes nothing: reads search, posts, trends
	Tags   []string
	Term   string // a word every post of the load carries (Load.Prefix)
	Ledger *Ledger
	Cap    int    // feed cap: a stored feed holds the newest Cap posts
	Poison string // the poison event's ID, if this fault wrote one
	// Lists holds each writer's list ID, whose feed is checked as a home
	// feed is, with its members as the sources.
	Lists map[string]string

	// resolved caches what the API answers for an ID a stored feed holds
	// and no listing explained (nil: not found): a repost its reposter
	// may no longer see, or a ghost. Passes run after the load ended.
	resolved   map[string]*Post
	resolvedMu sync.Mutex
}

// readers is how many users' views a pass reads at once: a pass is
// mostly waiting for answers (one spawned feed inspect, pages of a
// recovering cluster), and one user at a time took minutes.
const readers = 4

// eachUser runs read for every user, readers at a time; the first error
// ends the others.
func (c *Checker) eachUser(ctx context.Context, read func(ctx context.Context, name string, u *Client) error) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(readers)
	for name, u := range c.Users {
		g.Go(func() error { return read(ctx, name, u) })
	}
	return g.Wait()
}

// postState is what the store says of one offered post.
type postState struct {
	rec       *PostRec
	id        string
	stored    bool
	moderated bool
	why       string // for a gone post: how it went
	// parentAuthor is the author of the post a reply answers, as stored
	// ("" for a post that is no reply).
	parentAuthor string
}

// Pass reads every view once. An error means a view could not be read
// (not recovered yet), not a finding.
func (c *Checker) Pass(ctx context.Context) (*Findings, error) {
	start := time.Now()
	f := &Findings{}
	c.Ledger.mu.Lock()
	recs := slices.Clone(c.Ledger.Posts)
	c.Ledger.mu.Unlock()
	deletes := c.Ledger.deleteAttempts()

	// The store: each author's own listing shows their posts, moderated
	// included, and their reposts (rendered as the originals).
	stored := map[string]Post{} // by unique word
	storedIDs := map[string]Post{}
	reposts := map[string]Post{} // by the repost's ID
	var listings sync.Mutex
	err := c.eachUser(ctx, func(ctx context.Context, name string, u *Client) error {
		ps, err := pages[Post](ctx, u, "/v1/users/"+name+"/posts?limit=100")
		if err != nil {
			return err
		}
		listings.Lock()
		defer listings.Unlock()
		for _, p := range flatten(ps) {
			if p.RepostID != "" {
				reposts[p.RepostID] = p
				continue
			}
			w, _, _ := strings.Cut(p.Text, " ")
			stored[w] = p
			storedIDs[p.ID] = p
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// live: must be in every view; gone: acknowledged, then deleted or
	// moderated: in no view; unknown IDs in a view are ghosts.
	live := map[string]*postState{}
	gone := map[string]*postState{}
	var none []*PostRec // never acknowledged, not stored: in no view
	for _, r := range recs {
		sp, ok := stored[r.Word]
		st := &postState{rec: r, id: r.ID, stored: ok, moderated: sp.Moderated != "", parentAuthor: r.ParentAuthor}
		if ok {
			st.id, st.parentAuthor = sp.ID, sp.InReplyToAuthor
		}
		switch {
		// A 201 whose body the client lost (it hung up mid-body) has no ID:
		// the store's is the post's.
		case r.Acked() && ok && r.ID != "" && r.ID != sp.ID:
			f.note(&f.Lost, r.ID, "post %s (%s): acknowledged as %s, stored as %s", r.Word, r.Author, r.ID, sp.ID)
			continue
		case r.Acked() && !ok:
			if len(deletes[r.ID]) == 0 {
				f.note(&f.Lost, r.ID, "post %s (%s, %s): acknowledged, not in the store", r.ID, r.Author, r.Word)
			}
			st.why = deleteHistory(deletes[r.ID])
			gone[r.ID] = st
			continue
		case !r.Acked() && !ok:
			none = append(none, r)
			continue
		}
		if acked := slices.ContainsFunc(deletes[st.id], func(o OpRec) bool { return o.Outcome == OK }); acked {
			f.note(&f.Lost, "delete:"+st.id, "post %s: delete acknowledged, still in the store", st.id)
		}
		if r.Blocked != st.moderated {
			counter := &f.Lost
			if !r.Acked() {
				counter = &f.Orphans
			}
			f.note(counter, "moderation:"+st.id, "post %s (%s): blocked term %v, moderated %v", st.id, r.Word, r.Blocked, st.moderated)
		}
		if st.moderated {
			st.why = "moderated"
			gone[st.id] = st
		} else {
			live[st.id] = st
		}
	}
	miss := func(st *postState, format string, args ...any) {
		if st.rec.Acked() {
			f.note(&f.Lost, st.id, format, args...)
		} else {
			f.note(&f.Orphans, st.id, format, args...)
		}
	}
	// known: any ID the test can explain (an entry for another is a ghost).
	known := func(id string) bool {
		return live[id] != nil || gone[id] != nil || storedIDs[id].ID != "" || reposts[id].ID != ""
	}

	// Moderation: a moderated post is hidden from everyone but its author.
	for id, st := range gone {
		if !st.moderated {
			continue
		}
		a := c.Viewer.Do(ctx, http.MethodGet, "/v1/posts/"+id, nil)
		switch a.Status {
		case http.StatusNotFound:
		case http.StatusOK:
			f.note(&f.Lost, "moderation:"+id, "moderated post %s visible to another user", id)
		default:
			return nil, fmt.Errorf("GET /v1/posts/%s: %d %v", id, a.Status, a.Err)
		}
	}

	soc := social{blocks: c.Ledger.blocks(), mutes: c.Ledger.mutes(), likes: c.Ledger.likes(), reposts: c.Ledger.reposts()}
	c.checkToggleCounts(f, live, storedIDs, soc.likes, "like_count", func(p Post) int { return p.LikeCount })
	c.checkToggleCounts(f, live, storedIDs, soc.reposts, "repost_count", func(p Post) int { return p.RepostCount })
	c.checkReplyCounts(f, live, storedIDs)
	// Each user's following list, as checkFeeds reads it; checkFollowers
	// compares the followers lists with them.
	following := &userLists{m: map[string][]string{}}
	views := []struct {
		name string
		read func() error
	}{
		{"feeds", func() error { return c.checkFeeds(ctx, f, live, gone, reposts, soc, known, miss, following) }},
		{"search", func() error { return c.checkSearch(ctx, f, live, gone, none, miss) }},
		{"notifications", func() error { return c.checkNotifications(ctx, f, live, gone, soc, known, miss) }},
		{"trends", func() error { return c.checkTrends(ctx, f, live) }},
		{"stats", func() error { return c.checkStats(ctx, f, live) }},
		{"followers", func() error { return c.checkFollowers(ctx, f, following) }},
		{"dead letters", func() error { return c.checkDeadLetters(ctx, f) }},
	}
	took := []string{"posts " + time.Since(start).Round(100*time.Millisecond).String()}
	for _, v := range views {
		begin := time.Now()
		err := v.read()
		took = append(took, v.name+" "+time.Since(begin).Round(100*time.Millisecond).String())
		if err != nil {
			return nil, fmt.Errorf("%s (%s): %w", v.name, strings.Join(took, ", "), err)
		}
	}
	f.Took = strings.Join(took, ", ")
	return f, nil
}

func (c *Checker) checkFeeds(ctx context.Context, f *Findings, live, gone map[string]*postState, reposts map[string]Post, soc social, known func(string) bool, miss func(*postState, string, ...any), lists *userLists) error {
	followOps := c.Ledger.followPairs()
	asked := c.Ledger.follows()
	listed := c.Ledger.listed()
	return c.eachUser(ctx, func(ctx context.Context, name string, u *Client) error {
		following, err := pages[string](ctx, u, "/v1/users/"+name+"/following?limit=100")
		if err != nil {
			return err
		}
		lists.set(name, flatten(following))
		follows := map[string]bool{}
		for _, a := range flatten(following) {
			follows[a] = true
			if soc.blocks.across(name, a) {
				f.note(&f.Lost, "block:"+name+"/"+a, "%s follows %s across a block", name, a)
			}
		}
		// The graph as the store has it agrees with every follow and
		// unfollow acknowledged last (a block ends follows, so pairs a
		// block request named are left out).
		for p, on := range asked.known {
			if p[0] == name && follows[p[1]] != on && !soc.blocks.named[p] {
				f.note(&f.Lost, "follow:"+name+"/"+p[1], "following of %s: acknowledged %s of %s, the store says following %v%s", name,
					map[bool]string{true: "follow", false: "unfollow"}[on], p[1], follows[p[1]], c.Ledger.followHistory(name, p[1]))
			}
		}
		home := feedView{reader: name, label: "feed of " + name, path: "/v1/feed?limit=100", inspect: []string{name},
			sources: follows, follows: follows, followOps: followOps, not: "not followed", history: c.Ledger.followHistory}
		if err := c.checkFeed(ctx, f, u, home, live, gone, reposts, soc, known, miss); err != nil {
			return err
		}
		id := c.Lists[name]
		if id == "" {
			return nil
		}
		ms, err := pages[string](ctx, u, "/v1/lists/"+id+"/members?limit=100")
		if err != nil {
			return err
		}
		members := map[string]bool{}
		for _, m := range flatten(ms) {
			members[m] = true
		}
		// The members as the store has them agree with every add and
		// removal acknowledged last (a block keeps a member listed).
		for p, on := range listed.known {
			if p[0] == name && members[p[1]] != on {
				f.note(&f.Lost, "list:"+name+"/"+p[1], "list of %s: acknowledged %s of %s, the store says listed %v%s", name,
					map[bool]string{true: "add", false: "removal"}[on], p[1], members[p[1]], c.Ledger.listHistory(name, p[1]))
			}
		}
		list := feedView{reader: name, label: "list feed of " + name, path: "/v1/lists/" + id + "/feed?limit=100", inspect: []string{"--list", id},
			sources: members, follows: follows, followOps: followOps, not: "not listed", unsure: listed.unsure,
			history: func(owner, member string) string { return c.Ledger.listHistory(owner, member) }}
		return c.checkFeed(ctx, f, u, list, live, gone, reposts, soc, known, miss)
	})
}

// feedView is one stored feed the checker reads: a home feed, whose
// sources are the reader's followees, or a list feed, whose sources are
// the list's members. Both follow the reader's rules (blocks, mutes, the
// reply rule, which the reader's own follows decide).
type feedView struct {
	reader, label string
	path          string   // of the API's pages
	inspect       []string // feed inspect's arguments
	// sources are the users whose posts the feed holds; follows those the
	// reader follows; followOps the pairs the load asked to follow or
	// unfollow.
	sources, follows map[string]bool
	followOps        map[[2]string]bool
	not              string // what a post's author not in sources is
	// unsure are the (reader, source) pairs whose change was answered
	// 5xx or not at all: it may have landed half (a list's membership
	// changes in the store, then in the feed), so neither is required.
	unsure map[[2]string]bool
	// history says how the load changed a source, for the details.
	history func(reader, source string) string
}

// checkFeed reads v through the API and as stored, and checks both against
// the ledger and the store.
func (c *Checker) checkFeed(ctx context.Context, f *Findings, u *Client, v feedView, live, gone map[string]*postState, reposts map[string]Post, soc social, known func(string) bool, miss func(*postState, string, ...any)) error {
	name, follows := v.reader, v.follows
	// replyHidden: a reply of author to another user's post stays out
	// of name's feed unless name follows that user (or is them).
	thirdParty := func(author, parentAuthor string) bool {
		return parentAuthor != "" && parentAuthor != author && parentAuthor != name
	}
	replyHidden := func(author, parentAuthor string) bool {
		return thirdParty(author, parentAuthor) && !follows[parentAuthor]
	}
	// steady: name's follow of other was the same all through the
	// load (no follow, unfollow, block or mute between them was
	// asked), so the reply rule had one answer for every copy.
	steady := func(other string) bool {
		return !v.followOps[[2]string{name, other}] && !soc.named(name, other)
	}
	// Through the API first: every page, no duplicates, nothing deleted.
	// (A missing feed is rebuilt by this read, as designed.)
	feed, err := pages[Post](ctx, u, v.path)
	if err != nil {
		return err
	}
	shown := map[string]bool{}
	for _, p := range flatten(feed) {
		shown[p.ID] = true
	}
	// A page shows a post once; pages may show it again as a
	// repost (the rule is per page), never twice as posted.
	posted := map[string]bool{}
	for _, pg := range feed {
		seen := map[string]bool{}
		for _, p := range pg {
			if seen[p.ID] || (p.RepostID == "" && posted[p.ID]) {
				f.note(&f.Dups, "", "%s: %s twice through the API", v.label, p.ID)
			}
			seen[p.ID] = true
			if p.RepostID == "" {
				posted[p.ID] = true
			}
		}
	}
	for _, p := range flatten(feed) {
		switch {
		case gone[p.ID] != nil:
			f.note(&f.Lost, "gone:"+p.ID, "%s (API): shows post %s, %s", v.label, p.ID, gone[p.ID].why)
		case soc.blocks.across(name, p.Author):
			f.note(&f.Lost, "block:"+name+"/"+p.Author, "%s (API): shows post %s of %s across a block", v.label, p.ID, p.Author)
		case soc.mutes.inForce[[2]string{name, p.Author}]:
			f.note(&f.Lost, "mute:"+name+"/"+p.Author, "%s (API): shows post %s of %s, muted", v.label, p.ID, p.Author)
		case p.RepostedBy != "" && soc.blocks.across(name, p.RepostedBy):
			f.note(&f.Lost, "block:"+name+"/"+p.RepostedBy, "%s (API): shows %s's repost %s across a block", v.label, p.RepostedBy, p.RepostID)
		case p.RepostedBy != "" && soc.mutes.inForce[[2]string{name, p.RepostedBy}]:
			f.note(&f.Lost, "mute:"+name+"/"+p.RepostedBy, "%s (API): shows %s's repost %s, muted", v.label, p.RepostedBy, p.RepostID)
		case p.RepostedBy == "" && replyHidden(p.Author, p.InReplyToAuthor):
			// A feed read applies the rule with the follows of now;
			// a repost of a reply goes to the reposter's followers,
			// as any repost.
			f.note(&f.Lost, "reply:"+name+"/"+p.ID, "%s (API): shows reply %s of %s to %s, whom %s does not follow", v.label, p.ID, p.Author, p.InReplyToAuthor, name)
		case !known(p.ID):
			f.note(&f.Ghosts, p.ID, "%s (API): post %s was never acknowledged and is not stored", v.label, p.ID)
		}
	}
	// The stored feed: the newest Cap posts of the followed authors, and
	// its floor (below).
	out, err := c.Sys.CLI(ctx, append([]string{"feed", "inspect", "--json"}, v.inspect...)...)
	if err != nil {
		return err
	}
	var stored struct {
		Floor string   `json:"floor"`
		IDs   []string `json:"ids"`
	}
	if err := json.Unmarshal([]byte(out), &stored); err != nil {
		return fmt.Errorf("feed inspect --json %v: %w", v.inspect, err)
	}
	inFeed := map[string]bool{}
	for _, id := range stored.IDs {
		inFeed[id] = true
		rp, isRepost := reposts[id]
		if !isRepost && !known(id) {
			if rp, isRepost, err = c.resolveRepost(ctx, id); err != nil {
				return err
			}
		}
		if isRepost {
			// A repost is its reposter's post: it goes with the
			// follow, the blocks and the mutes between the reader
			// and the reposter. (One of a post gone since is not
			// found: a ghost, below.)
			by := rp.RepostedBy
			switch {
			case soc.blocks.across(name, by):
				f.note(&f.Lost, "block:"+name+"/"+by, "stored %s: holds %s's repost %s across a block", v.label, by, id)
			case soc.mutes.inForce[[2]string{name, by}]:
				f.note(&f.Lost, "mute:"+name+"/"+by, "stored %s: holds %s's repost %s, muted", v.label, by, id)
			case !v.sources[by] && !v.unsure[[2]string{name, by}]:
				f.note(&f.Lost, "source:"+v.label+"/"+by, "stored %s: holds %s's repost %s, %s%s", v.label, by, id, v.not, v.history(name, by))
			}
			continue
		}
		switch st := storedState(id, live, gone); {
		case st == nil && !known(id):
			f.note(&f.Ghosts, id, "stored %s: post %s was never acknowledged and is not stored (nor a live repost)", v.label, id)
		case st != nil && gone[id] != nil:
			f.note(&f.Lost, "gone:"+id, "stored %s: holds post %s of %s (a source: %v), %s%s", v.label, id, st.rec.Author, v.sources[st.rec.Author], st.why,
				v.history(name, st.rec.Author))
		case st != nil && soc.blocks.across(name, st.rec.Author):
			f.note(&f.Lost, "block:"+name+"/"+st.rec.Author, "stored %s: holds post %s of %s across a block", v.label, id, st.rec.Author)
		case st != nil && soc.mutes.inForce[[2]string{name, st.rec.Author}]:
			f.note(&f.Lost, "mute:"+name+"/"+st.rec.Author, "stored %s: holds post %s of %s, muted", v.label, id, st.rec.Author)
		case st != nil && !v.sources[st.rec.Author] && !v.unsure[[2]string{name, st.rec.Author}]:
			f.note(&f.Lost, "source:"+v.label+"/"+st.rec.Author, "stored %s: holds post %s of %s, %s%s", v.label, id, st.rec.Author, v.not,
				v.history(name, st.rec.Author))
		case st != nil && replyHidden(st.rec.Author, st.parentAuthor) && steady(st.parentAuthor):
			f.note(&f.Lost, "reply:"+name+"/"+id, "stored %s: holds reply %s of %s to %s, whom %s never followed", v.label, id, st.rec.Author, st.parentAuthor, name)
		}
	}
	var want []string
	for id, st := range live {
		// A muted author's posts are out of the feed; whether an
		// unanswered mute or unmute landed is not known.
		// So are those of an author across a block, or a block
		// whose outcome is not known (a 5xx block may have landed
		// and left the follow, its unfollow refused).
		m, back := [2]string{name, st.rec.Author}, [2]string{st.rec.Author, name}
		// A reply to a third user is wanted only when name followed
		// that user all along: a follow made during the load merges
		// that user's posts, not others' replies to them.
		if v.sources[st.rec.Author] && !v.unsure[m] && !soc.mutes.inForce[m] && !soc.mutes.unsure[m] &&
			!soc.blocks.across(name, st.rec.Author) && !soc.blocks.unsure[m] && !soc.blocks.unsure[back] &&
			(!thirdParty(st.rec.Author, st.parentAuthor) || follows[st.parentAuthor] && steady(st.parentAuthor)) {
			want = append(want, id)
		}
	}
	slices.SortFunc(want, func(a, b string) int { return cmpID(b, a) })
	if len(want) > c.Cap {
		want = want[:c.Cap]
	}
	// A home feed is a window of the newest Cap posts, as designed:
	// the cap cuts the oldest, and its floor (the highest ID it ever
	// cut) keeps them out, so deleting, unfollowing or muting frees
	// places that no older post comes back to fill. A post at or
	// below the floor may be missing; a hole above it is a loss.
	// (The feed's size tells nothing: merges fill it past the cap,
	// then removals empty it far below.)
	floor := stored.Floor
	if _, err := strconv.ParseInt(floor, 10, 64); err != nil {
		return fmt.Errorf("feed inspect --json %v: floor %q is not a post ID", v.inspect, floor)
	}
	for _, id := range want {
		switch {
		case !inFeed[id] && cmpID(id, floor) > 0:
			miss(live[id], "stored %s: lacks post %s of %s (the feed holds %d posts above its floor %s)", v.label, id, live[id].rec.Author, len(inFeed), floor)
		case inFeed[id] && !shown[id]:
			// What the stored feed holds and the rules let through,
			// a read shows.
			miss(live[id], "%s (API): lacks post %s of %s, which its stored feed holds", v.label, id, live[id].rec.Author)
		}
	}
	return nil
}

func storedState(id string, live, gone map[string]*postState) *postState {
	if st := live[id]; st != nil {
		return st
	}
	return gone[id]
}

// cmpID orders Snowflake IDs numerically.
func cmpID(a, b string) int {
	x, _ := strconv.ParseInt(a, 10, 64)
	y, _ := strconv.ParseInt(b, 10, 64)
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// searchSample is how many posts a pass also looks up by their own word:
// the listing below reads the index of one term only.
const searchSample = 200

// checkSearch lists every post of the load through the search for the word
// they all carry (a few hundred pages, where a lookup per post was one
// request per post and outlasted a pass on a loaded machine), then looks up
// a sample by their unique words.
func (c *Checker) checkSearch(ctx context.Context, f *Findings, live, gone map[string]*postState, none []*PostRec, miss func(*postState, string, ...any)) error {
	listing, err := pages[Post](ctx, c.Viewer, "/v1/search?limit=100&q="+url.QueryEscape(c.Term))
	if err != nil {
		return err
	}
	found := map[string]bool{}
	for _, h := range flatten(listing) {
		word, _, _ := strings.Cut(h.Text, " ")
		switch {
		case found[h.ID]:
			f.note(&f.Dups, "", "search %s: post %s twice", c.Term, h.ID)
		case gone[h.ID] != nil:
			f.note(&f.Lost, "gone:"+h.ID, "search %s: finds post %s (%s), %s", c.Term, h.ID, word, gone[h.ID].why)
		case live[h.ID] == nil:
			f.note(&f.Ghosts, h.ID, "search %s: finds post %s (%s), never acknowledged and not stored", c.Term, h.ID, word)
		}
		found[h.ID] = true
	}
	for id, st := range live {
		if !found[id] {
			miss(st, "search %s: post %s (%s) not found", c.Term, id, st.rec.Word)
		}
	}

	type job struct {
		word string
		st   *postState // nil: a post never acknowledged nor stored
		want bool
	}
	var jobs []job
	for _, st := range live {
		jobs = append(jobs, job{st.rec.Word, st, true})
	}
	for _, st := range gone {
		jobs = append(jobs, job{st.rec.Word, st, false})
	}
	for _, r := range none {
		jobs = append(jobs, job{r.Word, nil, false})
	}
	rand.Shuffle(len(jobs), func(i, j int) { jobs[i], jobs[j] = jobs[j], jobs[i] })
	for _, j := range jobs[:min(searchSample, len(jobs))] {
		var hits page[Post]
		if err := c.Viewer.getJSON(ctx, "/v1/search?limit=100&q="+url.QueryEscape(j.word), &hits); err != nil {
			return err
		}
		found, dup, hit := false, false, ""
		for i, h := range hits.Items {
			first, _, _ := strings.Cut(h.Text, " ")
			if (j.st != nil && h.ID == j.st.id) || (j.st == nil && first == j.word) {
				found, hit = true, h.ID
			}
			dup = dup || slices.ContainsFunc(hits.Items[:i], func(p Post) bool { return p.ID == h.ID })
		}
		switch {
		case dup:
			f.note(&f.Dups, "", "search %s: a post twice", j.word)
		case j.want && !found:
			miss(j.st, "search %s: post %s not found", j.word, j.st.id)
		case !j.want && found && j.st != nil:
			f.note(&f.Lost, "gone:"+j.st.id, "search %s: finds deleted or moderated post %s", j.word, j.st.id)
		case !j.want && found:
			f.note(&f.Ghosts, hit, "search %s: finds post %s, never acknowledged and not stored", j.word, hit)
		}
	}
	return nil
}

func (c *Checker) checkNotifications(ctx context.Context, f *Findings, live, gone map[string]*postState, soc social, known func(string) bool, miss func(*postState, string, ...any)) error {
	return c.eachUser(ctx, func(ctx context.Context, name string, u *Client) error {
		ns, err := pages[Notification](ctx, u, "/v1/notifications?limit=100")
		if err != nil {
			return err
		}
		count := map[string]int{}
		marks := map[string]map[[2]string]int{"like": {}, "repost": {}} // kind: {actor, post}
		for _, n := range flatten(ns) {
			switch {
			case soc.blocks.across(name, n.Actor):
				f.note(&f.Lost, "block:"+name+"/"+n.Actor, "notifications of %s: a %s by %s across a block", name, n.Kind, n.Actor)
			case soc.mutes.inForce[[2]string{name, n.Actor}]:
				f.note(&f.Lost, "mute:"+name+"/"+n.Actor, "notifications of %s: a %s by %s, muted", name, n.Kind, n.Actor)
			}
			if m, ok := marks[n.Kind]; ok {
				if m[[2]string{n.Actor, n.Post}]++; m[[2]string{n.Actor, n.Post}] == 2 {
					f.note(&f.Dups, "", "notifications of %s: %s's %s of post %s twice", name, n.Actor, n.Kind, n.Post)
				}
			}
			// A mention and a reply are keyed by the post: one each,
			// gone with it.
			if n.Kind != "mention" && n.Kind != "reply" {
				continue
			}
			count[n.Post]++
			switch {
			case count[n.Post] == 2:
				f.note(&f.Dups, "", "notifications of %s: post %s notified twice", name, n.Post)
			case gone[n.Post] != nil:
				f.note(&f.Lost, "gone:"+n.Post, "notifications of %s: %s by deleted or moderated post %s", name, n.Kind, n.Post)
			case !known(n.Post):
				f.note(&f.Ghosts, n.Post, "notifications of %s: %s by post %s, never acknowledged and not stored", name, n.Kind, n.Post)
			}
		}
		for id, st := range live {
			// A mention between users a block or unblock named may have
			// met the block: it notifies nobody then.
			if slices.Contains(st.rec.Mentions, name) && count[id] == 0 && !soc.named(name, st.rec.Author) {
				miss(st, "notifications of %s: no mention for post %s", name, id)
			}
			if st.parentAuthor == name && st.rec.Author != name && count[id] == 0 && !soc.named(name, st.rec.Author) {
				miss(st, "notifications of %s: no reply notification for reply %s of %s", name, id, st.rec.Author)
			}
			if st.rec.Author != name {
				continue
			}
			// A like or repost in force notifies the author once (taking
			// it back leaves the notification; one taken back before it
			// was handled may have notified nobody).
			for kind, rel := range map[string]relations{"like": soc.likes, "repost": soc.reposts} {
				for p := range rel.inForce {
					if p[1] == id && p[0] != name && marks[kind][p] == 0 && !soc.named(name, p[0]) {
						f.note(&f.Lost, kind+":"+p[0]+"/"+id, "notifications of %s: no %s by %s of post %s", name, kind, p[0], id)
					}
				}
			}
		}
		return nil
	})
}

func (c *Checker) checkTrends(ctx context.Context, f *Findings, live map[string]*postState) error {
	var tr struct {
		Items []struct {
			Tag   string `json:"tag"`
			Count int64  `json:"count"`
		} `json:"items"`
	}
	if err := c.Viewer.getJSON(ctx, "/v1/trends?window=1h&limit=100", &tr); err != nil {
		return err
	}
	for _, tag := range c.Tags {
		var want, got int64
		for _, st := range live {
			if slices.Contains(st.rec.Tags, tag) {
				want++
			}
		}
		for _, it := range tr.Items {
			if it.Tag == tag {
				got = it.Count
			}
		}
		switch {
		case got < want:
			for i := range want - got {
				f.note(&f.Lost, fmt.Sprintf("trend:%s:%d", tag, i), "trends #%s: %d, want %d", tag, got, want)
			}
		case got > want:
			// More than the live posts imply: a ghost, or a deletion or
			// moderation not taken out; counted as ghosts.
			for i := range got - want {
				f.note(&f.Ghosts, fmt.Sprintf("trend:%s:%d", tag, i), "trends #%s: %d, want %d", tag, got, want)
			}
		}
	}
	return nil
}

// checkStats compares each author's posts per hour (GET
// /v1/users/{u}/stats, what analytics counts) with the live posts and
// replies of that author created in each hour: exact per author and hour,
// so a lost count and a ghost cannot cancel out as they can in a tag's
// total.
func (c *Checker) checkStats(ctx context.Context, f *Findings, live map[string]*postState) error {
	want := map[string]map[time.Time]int64{}
	for id, st := range live {
		n, err := strconv.ParseInt(id, 10, 64)
		if err != nil {
			return fmt.Errorf("post ID %q: %w", id, err)
		}
		hour := app.ID(n).Time().UTC().Truncate(time.Hour)
		if want[st.rec.Author] == nil {
			want[st.rec.Author] = map[time.Time]int64{}
		}
		want[st.rec.Author][hour]++
	}
	return c.eachUser(ctx, func(ctx context.Context, name string, _ *Client) error {
		var stats struct {
			Items []struct {
				Hour  time.Time `json:"hour"`
				Count int64     `json:"count"`
			} `json:"items"`
		}
		// The row's load lasts minutes: 3 hours hold all of it.
		if err := c.Viewer.getJSON(ctx, "/v1/users/"+name+"/stats?hours=3", &stats); err != nil {
			return err
		}
		got := map[time.Time]int64{}
		for _, it := range stats.Items {
			got[it.Hour.UTC()] = it.Count
		}
		for hour, n := range want[name] {
			if got[hour] < n {
				for i := range n - got[hour] {
					f.note(&f.Lost, fmt.Sprintf("stats:%s:%s:%d", name, hour.Format(time.RFC3339), i), "stats of %s: %d posts in the hour of %s, want %d", name, got[hour], hour.Format(time.RFC3339), n)
				}
			}
		}
		for hour, n := range got {
			if n > want[name][hour] {
				for i := range n - want[name][hour] {
					f.note(&f.Ghosts, fmt.Sprintf("stats:%s:%s:%d", name, hour.Format(time.RFC3339), i), "stats of %s: %d posts in the hour of %s, want %d", name, n, hour.Format(time.RFC3339), want[name][hour])
				}
			}
		}
		return nil
	})
}

// checkFollowers compares each user's followers list with the following
// lists checkFeeds read: the store keeps the two sides in two tables, and
// fan-out reads the followers side. (The following side is checked
// against the acknowledged follows in checkFeeds.)
func (c *Checker) checkFollowers(ctx context.Context, f *Findings, lists *userLists) error {
	following := lists.m // complete: checkFeeds ran first
	var mu sync.Mutex
	followers := map[string]map[string]bool{}
	err := c.eachUser(ctx, func(ctx context.Context, name string, u *Client) error {
		fers, err := pages[string](ctx, u, "/v1/users/"+name+"/followers?limit=100")
		if err != nil {
			return err
		}
		set := map[string]bool{}
		for _, x := range flatten(fers) {
			set[x] = true
		}
		mu.Lock()
		defer mu.Unlock()
		followers[name] = set
		return nil
	})
	if err != nil {
		return err
	}
	want := map[string]map[string]bool{}
	for name, fs := range following {
		for _, followee := range fs {
			if followers[followee] == nil {
				continue // not a user of the load (none is followed)
			}
			if !followers[followee][name] {
				f.note(&f.Lost, "followers:"+followee+"/"+name, "followers of %s lack %s, who follows them%s", followee, name, c.Ledger.followHistory(name, followee))
			}
			if want[followee] == nil {
				want[followee] = map[string]bool{}
			}
			want[followee][name] = true
		}
	}
	for followee, set := range followers {
		for name := range set {
			if _, ours := following[name]; ours && !want[followee][name] {
				f.note(&f.Lost, "followers:"+followee+"/"+name, "followers of %s list %s, who does not follow them%s", followee, name, c.Ledger.followHistory(name, followee))
			}
		}
	}
	return nil
}

// userLists holds a list per user, written by concurrent readers.
type userLists struct {
	mu sync.Mutex
	m  map[string][]string
}

func (l *userLists) set(user string, list []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.m[user] = list
}

// checkDeadLetters: every dead letter of the posts groups is the poison
// event, and each group dead-lettered it when the fault wrote one.
func (c *Checker) checkDeadLetters(ctx context.Context, f *Findings) error {
	for _, g := range PostGroups {
		out, err := c.Sys.CLI(ctx, "dlq", "list", "--group", g, "--limit", "0")
		if err != nil {
			return err
		}
		poisoned := false
		for _, line := range strings.Split(out, "\n")[1:] {
			fs := strings.Fields(line)
			if len(fs) < 4 {
				continue
			}
			f.DeadLetters++
			if c.Poison != "" && fs[3] == c.Poison {
				poisoned = true
				continue
			}
			f.note(&f.Unexpected, "", "dead letter of %s: %s", g, strings.Join(fs, " "))
		}
		if c.Poison != "" && !poisoned {
			f.note(&f.PoisonMissing, "", "group %s has not dead-lettered the poison event %s", g, c.Poison)
		}
	}
	return nil
}

// deleteHistory says how a post's deletes were answered, for the details.
func deleteHistory(ops []OpRec) string {
	var parts []string
	for _, o := range ops {
		parts = append(parts, fmt.Sprintf("delete answered %d (%s)", o.Status, o.Phase))
	}
	if len(parts) == 0 {
		return "gone without a delete"
	}
	return strings.Join(parts, ", ")
}

// social is what the ledger says of the blocks, mutes, likes and reposts.
type social struct{ blocks, mutes, likes, reposts relations }

// named reports whether any block or mute request named the users x and
// y: a mention or like between them may have met one and notified nobody.
func (s social) named(x, y string) bool {
	p := [2]string{x, y}
	return s.blocks.named[p] || s.mutes.named[p]
}

// checkReplyCounts compares each live post's reply count, as its author's
// listing shows it, with the replies to it in the store (every author's
// listing): those not deleted and not moderated.
func (c *Checker) checkReplyCounts(f *Findings, live map[string]*postState, stored map[string]Post) {
	want := map[string]int{}
	for _, p := range stored {
		if p.InReplyTo != "" && p.Moderated == "" {
			want[p.InReplyTo]++
		}
	}
	for id := range live {
		got, ok := stored[id]
		if !ok || got.ReplyCount == want[id] {
			continue
		}
		counter := &f.Lost // a reply stored and not counted
		if got.ReplyCount > want[id] {
			counter = &f.Ghosts // counted more than the replies stored
		}
		f.note(counter, "replies:"+id, "post %s: reply_count %d, want %d", id, got.ReplyCount, want[id])
	}
}

// checkToggleCounts compares each live post's count of a toggle (likes,
// reposts), as its author's listing shows it (count), with the toggles in
// force; a post with a request whose outcome is unknown is left out.
func (c *Checker) checkToggleCounts(f *Findings, live map[string]*postState, stored map[string]Post, rel relations, field string, count func(Post) int) {
	want, unsure := map[string]int{}, map[string]bool{}
	for p := range rel.inForce {
		want[p[1]]++
	}
	for p := range rel.unsure {
		unsure[p[1]] = true
	}
	for id := range live {
		got, ok := stored[id]
		if !ok || unsure[id] || count(got) == want[id] {
			continue
		}
		counter := &f.Lost // acknowledged and not counted
		if count(got) > want[id] {
			counter = &f.Ghosts // counted more than in force
		}
		f.note(counter, field+":"+id, "post %s: %s %d, want %d", id, field, count(got), want[id])
	}
}

// resolveRepost asks the API, as the viewer (who blocks and mutes nobody),
// what id is: a repost the reposter's own listing did not render (its
// original's author is hidden from the reposter) is found there.
func (c *Checker) resolveRepost(ctx context.Context, id string) (Post, bool, error) {
	if c.resolved == nil {
		c.resolved = map[string]*Post{}
	}
	c.resolvedMu.Lock()
	defer c.resolvedMu.Unlock()
	p, ok := c.resolved[id]
	if !ok {
		a := c.Viewer.Do(ctx, http.MethodGet, "/v1/posts/"+id, nil)
		switch a.Status {
		case http.StatusOK:
			p = &Post{}
			if err := json.Unmarshal(a.Body, p); err != nil {
				return Post{}, false, fmt.Errorf("GET /v1/posts/%s: %w", id, err)
			}
		case http.StatusNotFound:
		default:
			return Post{}, false, fmt.Errorf("GET /v1/posts/%s: %d %v", id, a.Status, a.Err)
		}
		c.resolved[id] = p
	}
	if p == nil || p.RepostID != id {
		return Post{}, false, nil
	}
	return *p, true, nil
}
