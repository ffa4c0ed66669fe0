package faults

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/internal/testenv"
	"github.com/feedsvc/feedsvc/internal/wiring"
	redisstore "github.com/feedsvc/feedsvc/store/redis"
)

// TestCheckerFindsPlantedLoss is the checker's negative control (issue
// #25): a checker that passes whatever happened proves nothing. feedsvc
// runs on its embedded default (one process, every role), a short load
// goes through the API, and once a pass is clean, writes are taken out of
// three views behind feedsvc's back, in its embedded Redis: a post from a
// follower's stored feed, another from the search index, a third from the
// trends. The next pass must report each one as lost, in its view.
func TestCheckerFindsPlantedLoss(t *testing.T) {
	bin, err := BuildBinary(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sys := &System{T: t, Binary: bin, Dir: t.TempDir(), Env: []string{
		"FEEDSVC_MODERATION_BLOCKLIST=" + BlockedTerm,
	}}
	sys.Env = append(sys.Env, testenv.UnlimitedRates...)
	// One process runs every role; the checker reaches it as the api.
	sys.procs = map[string]*Proc{"api": sys.Start("all")}
	defer sys.Proc("api").Stop(time.Minute)

	w := newWorkload(t, sys, "ctl"+RandHex(2), Rates{Posts: 20, Replies: 5, Follows: 1, Unfollows: 0.5, Blocks: 1, Unblocks: 0.5, Mutes: 1, Unmutes: 0.5, Likes: 5, Unlikes: 1, Reposts: 3, Unreposts: 0.5, ListAdds: 2, ListRemoves: 1, Deletes: 1, FeedReads: 2}, 10*time.Second)
	loadCtx, stop := context.WithTimeout(context.Background(), 4*time.Second)
	w.load.Run(loadCtx)
	stop()
	// The clean pass below then also covers the checks of blocks, mutes,
	// likes, reposts and replies.
	for _, op := range []string{blockToggle.on, muteToggle.on, likeToggle.on, repostToggle.on, listToggle.on, listToggle.off} {
		if !slices.ContainsFunc(w.ledger.Ops, func(o OpRec) bool { return o.Op == op && o.Outcome == OK }) {
			t.Errorf("the load made no acknowledged %s", op)
		}
	}
	if !slices.ContainsFunc(w.ledger.Posts, func(p *PostRec) bool { return p.Acked() && p.Parent != "" }) {
		t.Errorf("the load made no acknowledged reply")
	}
	checker := w.checker(sys, "")
	ctx := context.Background()
	clean := func() *Findings {
		t.Helper()
		var last *Findings
		var lastErr error
		for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(time.Second) {
			last, lastErr = checker.Pass(ctx)
			if lastErr == nil && last.Clean() {
				return last
			}
		}
		t.Fatalf("no clean pass before planting anything: %v %+v", lastErr, last)
		return nil
	}
	clean()

	f := wiring.RunningServe(sys.Dir)
	if f == nil || f.RedisAddr == "" {
		t.Fatalf("no embedded Redis recorded in %s", sys.Dir)
	}
	rc, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{f.RedisAddr}, DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()

	// Three live posts, each to be lost in one view: one in a follower's
	// stored feed, one with a hashtag (trends), one other (search).
	var inFeed, tagged, plain *PostRec
	var owner string
	feeds := map[string][]string{}
	for name := range w.users {
		feeds[name] = strings.Fields(sys.MustCLI("feed", "inspect", name))
	}
	for _, p := range w.ledger.Posts {
		if !p.Acked() || p.Blocked || !live(t, w.viewer, p.ID) {
			continue
		}
		switch {
		case inFeed == nil:
			for name, ids := range feeds {
				// Not a feed's oldest entry: a hole above it is a loss
				// whatever the feed holds.
				if i := slices.Index(ids, p.ID); i >= 0 && i < len(ids)-1 {
					inFeed, owner = p, name
					break
				}
			}
		case tagged == nil && len(p.Tags) > 0:
			tagged = p
		case plain == nil && len(p.Tags) == 0:
			plain = p
		}
	}
	if inFeed == nil || tagged == nil || plain == nil {
		t.Fatalf("the load made too few live posts to plant losses: in a feed %v, tagged %v, plain %v", inFeed, tagged, plain)
	}
	// A sixth, which a tag's total cannot see: a post of another tag lost
	// from analytics and a ghost of that tag counted for another author.
	// The tag's count stays right; the authors' stats do not.
	var swapped *PostRec
	for _, p := range w.ledger.Posts {
		if p.Acked() && !p.Blocked && len(p.Tags) > 0 && p.Tags[0] != tagged.Tags[0] && p != inFeed && p != plain && live(t, w.viewer, p.ID) {
			swapped = p
			break
		}
	}
	if swapped == nil {
		t.Fatal("the load made no live post of a second tag to plant a swapped count with")
	}
	var ghostAuthor string
	for name := range w.users {
		if name != swapped.Author {
			ghostAuthor = name
			break
		}
	}
	// A fifth: a post of the load (not a repost) in a list feed, not its
	// oldest entry.
	posted := map[string]bool{}
	for _, p := range w.ledger.Posts {
		posted[p.ID] = p.Acked() && !p.Blocked
	}
	var inList, listOwner string
	for name, l := range w.load.Lists {
		ids := strings.Fields(sys.MustCLI("feed", "inspect", "--list", l))
		for i, id := range ids {
			if i < len(ids)-1 && posted[id] && live(t, w.viewer, id) {
				inList, listOwner = id, name
				break
			}
		}
		if inList != "" {
			break
		}
	}
	if inList == "" {
		t.Fatal("no list feed holds two posts to plant a loss in")
	}
	// A fourth: a reply written into the stored feed of a follower of its
	// author who never followed the parent's author (the reply rule).
	reply, reader := ruleBreakingReply(t, w)
	id := func(p *PostRec) app.ID {
		v, err := app.ParseID(p.ID)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	must(t, redisstore.NewFeeds(rc, 800, 0).Remove(ctx, []app.FeedEntry{{User: owner, Post: id(inFeed)}}))
	must(t, redisstore.NewSearch(rc, 0, 0).Unindex(ctx, id(plain)))
	must(t, redisstore.NewAnalytics(rc).RemovePost(ctx, id(tagged), id(tagged).Time()))
	ghost, err := app.NewIDGen(app.MaxNodeID).Next()
	must(t, err)
	must(t, redisstore.NewAnalytics(rc).RemovePost(ctx, id(swapped), id(swapped).Time()))
	must(t, redisstore.NewAnalytics(rc).RecordPost(ctx, ghost, ghostAuthor, swapped.Tags, ghost.Time()))
	must(t, redisstore.NewFeeds(rc, 800, 0).Add(ctx, []app.FeedEntry{{User: reader, Post: id(reply)}}))
	must(t, redisstore.NewFeeds(rc, 800, 0).Remove(ctx, []app.FeedEntry{{User: app.ListFeed(mustID(t, w.load.Lists[listOwner])), Post: mustID(t, inList)}}))

	found, err := checker.Pass(ctx)
	if err != nil {
		t.Fatal(err)
	}
	details := strings.Join(found.Details, "\n")
	for _, want := range []string{
		"stored feed of " + owner + ": lacks post " + inFeed.ID,
		"search " + checker.Term + ": post " + plain.ID + " (" + plain.Word + ") not found",
		"trends #" + tagged.Tags[0] + ":",
		"stored feed of " + reader + ": holds reply " + reply.ID,
		"stored list feed of " + listOwner + ": lacks post " + inList,
		"stats of " + swapped.Author + ":",
		"stats of " + ghostAuthor + ":",
	} {
		if !strings.Contains(details, want) {
			t.Errorf("the checker missed a planted loss: no %q in its findings:\n%s", want, details)
		}
	}
	if found.Lost < 5 || found.Clean() {
		t.Errorf("the checker counted %d lost writes after 5 were planted (clean: %v):\n%s", found.Lost, found.Clean(), details)
	}
}

// ruleBreakingReply finds a live acknowledged reply to a third user and a
// reader who follows its author, and neither follows the parent's author
// nor ever asked to (so the reply must never reach the reader's feed).
func ruleBreakingReply(t *testing.T, w *workload) (*PostRec, string) {
	t.Helper()
	following := map[string][]string{}
	for name, u := range w.users {
		ps, err := pages[string](context.Background(), u, "/v1/users/"+name+"/following?limit=100")
		must(t, err)
		following[name] = flatten(ps)
	}
	asked := w.ledger.followPairs()
	for _, p := range w.ledger.Posts {
		if !p.Acked() || p.Blocked || p.Parent == "" || p.ParentAuthor == p.Author || !live(t, w.viewer, p.ID) {
			continue
		}
		for name, fs := range following {
			if name != p.Author && name != p.ParentAuthor && slices.Contains(fs, p.Author) && !slices.Contains(fs, p.ParentAuthor) &&
				!asked[[2]string{name, p.ParentAuthor}] && !w.ledger.blocks().named[[2]string{name, p.ParentAuthor}] &&
				!w.ledger.mutes().named[[2]string{name, p.ParentAuthor}] {
				return p, name
			}
		}
	}
	t.Fatal("the load made no reply that a follower of its author must not get")
	return nil, ""
}

// live reports whether post id reads back through the API.
func live(t *testing.T, c *Client, id string) bool {
	t.Helper()
	return c.Do(context.Background(), http.MethodGet, "/v1/posts/"+id, nil).Status == http.StatusOK
}

func mustID(t *testing.T, s string) app.ID {
	t.Helper()
	id, err := app.ParseID(s)
	must(t, err)
	return id
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
