// Package storetest is the conformance suite every store adapter (Pebble,
// Cassandra) must pass: the same cases, run against each implementation.
package storetest

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/feedsvc/feedsvc/app"
)

// Store is what an adapter provides.
type Store interface {
	app.PostStore
	app.Graph
	app.NotificationStore
	app.ModerationLog
	app.NodeLeases
	app.StoreClock
	app.Outbox
	app.IdempotencyKeys
	app.Likes
	app.Replies
	app.Reposts
	app.Lists
	app.UserScanner
}

// Options tune the suite for a backend.
type Options struct {
	// BigFollowers is the follower count of the "celebrity" case (default
	// 100000).
	BigFollowers int
}

// Run runs every case, in parallel, as subtests of backend against s. The
// cases share s: each names its own users (see user) and posts get fresh
// IDs, so s need not be empty, cases need no cleanup between them, and other
// runs may use the same database at the same time.
func Run(t *testing.T, backend string, s Store, opt Options) {
	if opt.BigFollowers == 0 {
		opt.BigFollowers = 100_000
	}
	cases := []struct {
		name string
		fn   func(t *testing.T, s Store, user func(string) string)
	}{
		{"PostSaveGetDelete", testPostSaveGetDelete},
		{"PostIDConflict", testPostIDConflict},
		{"AuthorTimelinePaging", testAuthorTimelinePaging},
		{"Users", testUsers},
		{"UserScan", testUserScan},
		{"FollowUnfollow", testFollowUnfollow},
		{"FollowRacingUnfollow", testFollowRacingUnfollow},
		{"Blocks", testBlocks},
		{"BlockOutbox", testBlockOutbox},
		{"Mutes", testMutes},
		{"MuteOutbox", testMuteOutbox},
		{"Likes", testLikes},
		{"LikeOutbox", testLikeOutbox},
		{"Replies", testReplies},
		{"Reposts", testReposts},
		{"RepostSettings", testRepostSettings},
		{"Lists", testLists},
		{"FollowsAmong", testFollowsAmong},
		{"FollowerPaging", func(t *testing.T, s Store, user func(string) string) {
			testFollowerPaging(t, s, user, 2_500, 1000)
		}},
		{"ModeratedPost", testModeratedPost},
		{"DeletionRecord", testDeletionRecord},
		{"HidePost", testHidePost},
		{"HideNeverResurrects", testHideNeverResurrects},
		{"Notifications", testNotifications},
		{"RemovePostNotifications", testRemovePostNotifications},
		{"Decisions", testDecisions},
		// The only case that moves outbox cursors (a store may drop the
		// records below them): one case, so no other reads them.
		{"Outbox", testOutbox},
		{"CompleteOutbox", testCompleteOutbox},
		{"IdempotencyKeys", testIdempotencyKeys},
		// The only case that leases nodes: it needs all of them.
		{"NodeLeases", testNodeLeases},
		{"BigFollowerCount", func(t *testing.T, s Store, user func(string) string) {
			testFollowerPaging(t, s, user, opt.BigFollowers, 5000)
		}},
	}
	run := randomHex(t)
	t.Run(backend, func(t *testing.T) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				// "<run>-<case>-<name>": unique per run and case, and
				// readable in a failure message.
				prefix := run + "-" + c.name + "-"
				c.fn(t, s, func(name string) string { return prefix + name })
			})
		}
	})
}

func randomHex(t *testing.T) string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

var (
	ids  = app.NewIDGen(1)
	base = time.Date(2026, 1, 15, 0, 0, 0, 0, time.UTC)
)

// newID is a fresh ID from ids, which owns its node and never refuses.
func newID() app.ID {
	id, _ := ids.Next()
	return id
}

func newPost(author string, i int) app.Post {
	id := newID()
	return app.Post{ID: id, Author: author, Text: fmt.Sprintf("post %d by %s", i, author), CreatedAt: id.Time().UTC()}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func testPostSaveGetDelete(t *testing.T, s Store, user func(string) string) {
	ctx := context.Background()
	alice := user("alice")
	p := newPost(alice, 1)
	never := newID() // an ID no case saves
	must(t, s.SavePost(ctx, p))
	must(t, s.SavePost(ctx, p)) // idempotent
	got, err := s.GetPosts(ctx, []app.ID{p.ID, never})
	must(t, err)
	if len(got) != 1 {
		t.Fatalf("GetPosts: %d posts, want 1", len(got))
	}
	if g := got[p.ID]; g.ID != p.ID || g.Author != p.Author || g.Text != p.Text || !g.CreatedAt.Equal(p.CreatedAt) {
		t.Fatalf("GetPosts = %+v, want %+v", g, p)
	}
	must(t, s.DeletePost(ctx, p))
	must(t, s.DeletePost(ctx, p)) // deleting twice is fine
	got, err = s.GetPosts(ctx, []app.ID{p.ID})
	must(t, err)
	if len(got) != 0 {
		t.Fatalf("post still there after delete: %+v", got)
	}
	tl, err := s.AuthorPosts(ctx, alice, 0, 10)
	must(t, err)
	if len(tl) != 0 {
		t.Fatalf("timeline still holds deleted post: %+v", tl)
	}
}

func testAuthorTimelinePaging(t *testing.T, s Store, user func(string) string) {
	ctx := context.Background()
	bob, carol := user("bob"), user("carol")
	var want []app.ID
	for i := range 25 {
		p := newPost(bob, i)
		must(t, s.SavePost(ctx, p))
		want = append(want, p.ID)
		must(t, s.SavePost(ctx, newPost(carol, i))) // another author interleaved
	}
	slices.Reverse(want)
	cases := []struct {
		limit int
	}{{1}, {7}, {25}, {100}}
	for _, c := range cases {
		t.Run(fmt.Sprint("limit", c.limit), func(t *testing.T) {
			var got []app.ID
			before := app.ID(0)
			for range 100 {
				page, err := s.AuthorPosts(ctx, bob, before, c.limit)
				must(t, err)
				for _, p := range page {
					if p.Author != bob {
						t.Fatalf("post of %s in %s's timeline", p.Author, bob)
					}
					got = append(got, p.ID)
				}
				if len(page) < c.limit {
					break
				}
				before = page[len(page)-1].ID
			}
			if !slices.Equal(got, want) {
				t.Fatalf("timeline = %v, want %v", got, want)
			}
		})
	}
	none, err := s.AuthorPosts(ctx, user("nobody"), 0, 10)
	must(t, err)
	if len(none) != 0 {
		t.Fatalf("unknown author has posts: %v", none)
	}
}

func testUsers(t *testing.T, s Store, user func(string) string) {
	ctx := context.Background()
	dave := user("dave")
	ok, err := s.UserExists(ctx, dave)
	must(t, err)
	if ok {
		t.Fatalf("%s exists before EnsureUser", dave)
	}
	must(t, s.EnsureUser(ctx, dave))
	must(t, s.EnsureUser(ctx, dave))
	ok, err = s.UserExists(ctx, dave)
	must(t, err)
	if !ok {
		t.Fatalf("%s missing after EnsureUser", dave)
	}
}

// testUserScan pages through every user with a small page: each of this
// case's users comes exactly once, whatever else the store holds, and
// every page but the last is full.
func testUserScan(t *testing.T, s Store, user func(string) string) {
	ctx := context.Background()
	want := map[string]bool{}
	for i := range 5 {
		u := user(fmt.Sprint("u", i))
		must(t, s.EnsureUser(ctx, u))
		want[u] = true
	}
	seen := map[string]int{}
	cursor, pages := "", 0
	for {
		page, next, err := s.Users(ctx, cursor, 3)
		must(t, err)
		pages++
		if next != "" && len(page) != 3 {
			t.Fatalf("page %d: %d users and a next cursor, want 3", pages, len(page))
		}
		for _, u := range page {
			seen[u]++
		}
		if next == "" {
			break
		}
		cursor = next
	}
	for u := range want {
		if seen[u] != 1 {
			t.Fatalf("%s listed %d times in %d pages, want once", u, seen[u], pages)
		}
	}
}

// testFollowRacingUnfollow: a follow and an unfollow of one edge at once,
// many times over; after each pair the followers list (what fan-out
// reads) agrees with the edge (what the graph says).
func testFollowRacingUnfollow(t *testing.T, s Store, user func(string) string) {
	ctx := context.Background()
	for i := range 20 {
		a, b := user(fmt.Sprint("a", i)), user(fmt.Sprint("b", i))
		must(t, s.EnsureUser(ctx, a))
		must(t, s.EnsureUser(ctx, b))
		if i%2 == 1 {
			_, err := s.Follow(ctx, a, b)
			must(t, err)
		}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		wg.Go(func() { _, errs[0] = s.Follow(ctx, a, b) })
		wg.Go(func() { _, errs[1] = s.Unfollow(ctx, a, b) })
		wg.Wait()
		must(t, errors.Join(errs...))
		following, err := s.IsFollowing(ctx, a, b)
		must(t, err)
		fs, _, err := s.Followers(ctx, b, "", 10)
		must(t, err)
		if listed := slices.Contains(fs, a); listed != following {
			t.Fatalf("round %d: %s follows %s: %v; %s's followers list it: %v", i, a, b, following, b, listed)
		}
	}
}

func testFollowUnfollow(t *testing.T, s Store, user func(string) string) {
	ctx := context.Background()
	a, b, c, x, y := user("a"), user("b"), user("c"), user("x"), user("y")
	steps := []struct {
		op       string
		from, to string
		changed  bool
	}{
		{"follow", b, a, true},
		{"follow", b, a, false},
		{"follow", c, a, true},
		{"follow", a, c, true},
		{"unfollow", b, a, true},
		{"unfollow", b, a, false},
		{"unfollow", x, y, false},
	}
	for _, st := range steps {
		f := s.Follow
		if st.op == "unfollow" {
			f = s.Unfollow
		}
		changed, err := f(ctx, st.from, st.to)
		must(t, err)
		if changed != st.changed {
			t.Fatalf("%s %s -> %s: changed=%v, want %v", st.op, st.from, st.to, changed, st.changed)
		}
	}
	edges := []struct {
		from, to string
		want     bool
	}{{a, c, true}, {c, a, true}, {b, a, false}, {a, b, false}, {x, y, false}}
	for _, e := range edges {
		got, err := s.IsFollowing(ctx, e.from, e.to)
		must(t, err)
		if got != e.want {
			t.Fatalf("IsFollowing(%s, %s) = %v, want %v", e.from, e.to, got, e.want)
		}
	}
	lists := []struct {
		name string
		list func(context.Context, string, string, int) ([]string, string, error)
		user string
		want []string
	}{
		{"followers of a", s.Followers, a, []string{c}},
		{"following of a", s.Following, a, []string{c}},
		{"following of b", s.Following, b, nil},
		{"followers of c", s.Followers, c, []string{a}},
	}
	for _, l := range lists {
		got, next, err := l.list(ctx, l.user, "", 10)
		must(t, err)
		if !slices.Equal(got, l.want) || next != "" {
			t.Fatalf("%s = %v (next %q), want %v", l.name, got, next, l.want)
		}
	}
}

// testFollowerPaging makes n users follow one user and checks that paging
// returns each exactly once, across page boundaries, and that the reverse
// lists agree.
func testFollowerPaging(t *testing.T, s Store, user func(string) string, n, pageSize int) {
	ctx := context.Background()
	star := user("star")
	fan := func(i int) string { return user(fmt.Sprintf("fan%06d", i)) }
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(64)
	for i := range n {
		g.Go(func() error {
			_, err := s.Follow(gctx, fan(i), star)
			return err
		})
	}
	must(t, g.Wait())
	seen := make(map[string]bool, n)
	cursor, pages := "", 0
	for {
		page, next, err := s.Followers(ctx, star, cursor, pageSize)
		must(t, err)
		pages++
		if len(page) > pageSize {
			t.Fatalf("page of %d > limit %d", len(page), pageSize)
		}
		for _, u := range page {
			if seen[u] {
				t.Fatalf("follower %s returned twice", u)
			}
			seen[u] = true
		}
		if next == "" {
			break
		}
		cursor = next
		if pages > n/pageSize+100 {
			t.Fatal("paging does not terminate")
		}
	}
	if len(seen) != n {
		t.Fatalf("paged %d followers, want %d", len(seen), n)
	}
	for i := range n {
		if !seen[fan(i)] {
			t.Fatalf("follower %s missing", fan(i))
		}
	}
	for _, i := range []int{0, n / 2, n - 1} {
		u := fan(i)
		got, _, err := s.Following(ctx, u, "", 10)
		must(t, err)
		if !slices.Equal(got, []string{star}) {
			t.Fatalf("following of %s = %v", u, got)
		}
	}
}

func testModeratedPost(t *testing.T, s Store, user func(string) string) {
	ctx := context.Background()
	mod := user("mod")
	p := newPost(mod, 1)
	must(t, s.SavePost(ctx, p))
	p.Moderated = "blocklist"
	must(t, s.SavePost(ctx, p)) // moderation overwrites the stored post
	got, err := s.GetPosts(ctx, []app.ID{p.ID})
	must(t, err)
	if got[p.ID].Moderated != "blocklist" || got[p.ID].Text != p.Text {
		t.Fatalf("GetPosts = %+v", got[p.ID])
	}
	tl, err := s.AuthorPosts(ctx, mod, 0, 10)
	must(t, err)
	if len(tl) != 1 || tl[0].Moderated != "blocklist" {
		t.Fatalf("AuthorPosts = %+v", tl)
	}
}

// testDeletionRecord: DeletePost records the deletion, so "deleted" is
// told from "never saved" (or "not visible yet").
func testDeletionRecord(t *testing.T, s Store, user func(string) string) {
	ctx := context.Background()
	author := user("del")
	p, kept := newPost(author, 1), newPost(author, 2)
	never := newID()
	must(t, s.SavePost(ctx, p))
	must(t, s.SavePost(ctx, kept))
	for _, id := range []app.ID{p.ID, kept.ID, never} {
		if deleted, err := s.WasDeleted(ctx, id); err != nil || deleted {
			t.Fatalf("WasDeleted(%s) before any delete = %v, %v", id, deleted, err)
		}
	}
	must(t, s.DeletePost(ctx, p))
	must(t, s.DeletePost(ctx, p))
	// A caller that knows only the ID (the author is looked up).
	byID := newPost(author, 3)
	must(t, s.SavePost(ctx, byID))
	must(t, s.DeletePost(ctx, app.Post{ID: byID.ID}))
	for id, want := range map[app.ID]bool{p.ID: true, byID.ID: true, kept.ID: false, never: false} {
		deleted, err := s.WasDeleted(ctx, id)
		must(t, err)
		if deleted != want {
			t.Fatalf("WasDeleted(%s) = %v, want %v", id, deleted, want)
		}
	}
	got, err := s.GetPosts(ctx, []app.ID{p.ID, byID.ID, kept.ID})
	must(t, err)
	if len(got) != 1 || got[kept.ID].Text != kept.Text {
		t.Fatalf("GetPosts after deletes = %+v, want only %s", got, kept.ID)
	}
	tl, err := s.AuthorPosts(ctx, author, 0, 10)
	must(t, err)
	if len(tl) != 1 || tl[0].ID != kept.ID {
		t.Fatalf("AuthorPosts after deletes = %+v, want only %s", tl, kept.ID)
	}
}

// testHidePost: HidePost marks a stored post moderated by ID and author,
// keeping its text, in both reads; the caller may know only the ID.
func testHidePost(t *testing.T, s Store, user func(string) string) {
	ctx := context.Background()
	author := user("hide")
	p, q := newPost(author, 1), newPost(author, 2)
	must(t, s.SavePost(ctx, p))
	must(t, s.SavePost(ctx, q))
	must(t, s.HidePost(ctx, app.Post{ID: p.ID, Author: author}, "blocklist"))
	must(t, s.HidePost(ctx, app.Post{ID: p.ID, Author: author}, "blocklist")) // a replay
	must(t, s.HidePost(ctx, app.Post{ID: q.ID}, "link_spam"))
	got, err := s.GetPosts(ctx, []app.ID{p.ID, q.ID})
	must(t, err)
	for _, w := range []struct {
		p    app.Post
		rule string
	}{{p, "blocklist"}, {q, "link_spam"}} {
		if g := got[w.p.ID]; g.Moderated != w.rule || g.Text != w.p.Text || g.Author != author || !g.CreatedAt.Equal(w.p.CreatedAt) {
			t.Fatalf("GetPosts(%s) = %+v, want %+v moderated %q", w.p.ID, g, w.p, w.rule)
		}
	}
	tl, err := s.AuthorPosts(ctx, author, 0, 10)
	must(t, err)
	if len(tl) != 2 || tl[0].Moderated != "link_spam" || tl[1].Moderated != "blocklist" || tl[1].Text != p.Text {
		t.Fatalf("AuthorPosts = %+v", tl)
	}
}

// testHideNeverResurrects: hiding a deleted post leaves it deleted, in
// GetPosts, in the timeline (whose pages stay full past such posts) and in
// the deletion record.
func testHideNeverResurrects(t *testing.T, s Store, user func(string) string) {
	ctx := context.Background()
	author := user("ghost")
	var posts []app.Post
	for i := range 6 {
		p := newPost(author, i)
		must(t, s.SavePost(ctx, p))
		posts = append(posts, p)
	}
	// The four newest are deleted, then a late moderation hides them.
	for _, p := range posts[2:] {
		must(t, s.DeletePost(ctx, p))
		must(t, s.HidePost(ctx, p, "blocklist"))
	}
	never := newPost(author, 9) // hidden without ever being saved
	must(t, s.HidePost(ctx, never, "blocklist"))
	var ids []app.ID
	for _, p := range append(posts[2:], never) {
		ids = append(ids, p.ID)
	}
	got, err := s.GetPosts(ctx, ids)
	must(t, err)
	if len(got) != 0 {
		t.Fatalf("hidden deleted posts came back: %+v", got)
	}
	for _, p := range posts[2:] {
		if deleted, err := s.WasDeleted(ctx, p.ID); err != nil || !deleted {
			t.Fatalf("WasDeleted(%s) after a hide = %v, %v", p.ID, deleted, err)
		}
	}
	for _, limit := range []int{1, 2, 10} {
		tl, err := s.AuthorPosts(ctx, author, 0, limit)
		must(t, err)
		var got []app.ID
		for _, p := range tl {
			got = append(got, p.ID)
		}
		want := []app.ID{posts[1].ID, posts[0].ID}[:min(limit, 2)]
		if !slices.Equal(got, want) {
			t.Fatalf("AuthorPosts(limit %d) = %v, want %v", limit, got, want)
		}
	}
}

func testNotifications(t *testing.T, s Store, user func(string) string) {
	ctx := context.Background()
	nina, other := user("nina"), user("other")
	at := base.Add(time.Hour)
	var want []app.ID
	for i := range 5 {
		n := app.Notification{ID: newID(), User: nina, Kind: app.NotifyMention, Actor: user(fmt.Sprint("a", i)), Post: newID(), CreatedAt: at}
		must(t, s.AddNotification(ctx, n))
		must(t, s.AddNotification(ctx, n)) // redelivery
		want = append([]app.ID{n.ID}, want...)
	}
	must(t, s.AddNotification(ctx, app.Notification{ID: newID(), User: other, Kind: app.NotifyFollow, Actor: user("x"), CreatedAt: at}))
	page1, err := s.Notifications(ctx, nina, 0, 3)
	must(t, err)
	page2, err := s.Notifications(ctx, nina, page1[len(page1)-1].ID, 3)
	must(t, err)
	var got []app.ID
	for _, n := range append(page1, page2...) {
		if n.User != nina || n.Kind != app.NotifyMention || n.Read || !n.CreatedAt.Equal(at) {
			t.Fatalf("notification %+v", n)
		}
		got = append(got, n.ID)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("notifications = %v, want %v", got, want)
	}
	must(t, s.MarkRead(ctx, nina, want[2]))
	must(t, s.MarkRead(ctx, nina, want[4])) // never moves back
	all, err := s.Notifications(ctx, nina, 0, 10)
	must(t, err)
	for i, n := range all {
		if wantRead := i >= 2; n.Read != wantRead {
			t.Fatalf("notification %d read=%v, want %v", i, n.Read, wantRead)
		}
	}
}

// testDecisions pages through the whole log, which other cases and runs may
// share, and keeps only this case's decisions (by their author).
func testDecisions(t *testing.T, s Store, user func(string) string) {
	ctx := context.Background()
	spammer := user("spammer")
	var want []app.ID
	for i := range 4 {
		d := app.Decision{Post: newID(), Author: spammer, Rule: "blocklist", Detail: fmt.Sprint("term ", i), DecidedAt: base}
		must(t, s.RecordDecision(ctx, d))
		must(t, s.RecordDecision(ctx, d))
		want = append([]app.ID{d.Post}, want...)
	}
	const pageSize = 3
	var got []app.ID
	before := app.ID(0)
	for pages := 0; ; pages++ {
		if pages > 10_000 {
			t.Fatal("paging does not terminate")
		}
		page, err := s.Decisions(ctx, before, pageSize)
		must(t, err)
		if len(page) > pageSize {
			t.Fatalf("page of %d > limit %d", len(page), pageSize)
		}
		for _, d := range page {
			if before != 0 && d.Post >= before {
				t.Fatalf("decision on %s after before=%s", d.Post, before)
			}
			before = d.Post
			if d.Author != spammer {
				continue
			}
			if d.Rule != "blocklist" || !d.DecidedAt.Equal(base) {
				t.Fatalf("decision %+v", d)
			}
			got = append(got, d.Post)
		}
		if len(page) < pageSize {
			break
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("decisions = %v, want %v", got, want)
	}
}

// testRemovePostNotifications: the notifications about one post go, for
// every user; others (another post's, a follow) stay; repeating is fine.
func testRemovePostNotifications(t *testing.T, s Store, user func(string) string) {
	ctx := context.Background()
	bob, cat := user("bob"), user("cat")
	at := base.Add(time.Hour)
	gone, kept := newID(), newID()
	follow := app.Notification{ID: newID(), User: bob, Kind: app.NotifyFollow, Actor: user("ann"), CreatedAt: at}
	for _, n := range []app.Notification{
		{ID: gone, User: bob, Kind: app.NotifyMention, Actor: user("ann"), Post: gone, CreatedAt: at},
		{ID: gone, User: cat, Kind: app.NotifyMention, Actor: user("ann"), Post: gone, CreatedAt: at},
		{ID: kept, User: bob, Kind: app.NotifyMention, Actor: user("ann"), Post: kept, CreatedAt: at},
		follow,
	} {
		must(t, s.AddNotification(ctx, n))
	}
	must(t, s.RemovePostNotifications(ctx, gone))
	must(t, s.RemovePostNotifications(ctx, gone))
	must(t, s.RemovePostNotifications(ctx, newID())) // a post nobody was notified about
	for u, want := range map[string][]app.ID{bob: {kept, follow.ID}, cat: nil} {
		ns, err := s.Notifications(ctx, u, 0, 10)
		must(t, err)
		var got []app.ID
		for _, n := range ns {
			got = append(got, n.ID)
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("notifications of %s = %v, want %v", u, got, want)
		}
	}
}

func testPostIDConflict(t *testing.T, s Store, user func(string) string) {
	ctx := context.Background()
	alice, bob := user("alice"), user("bob")
	p := newPost(alice, 1)
	must(t, s.SavePost(ctx, p))
	must(t, s.SavePost(ctx, p)) // a retry
	moderated := p
	moderated.Moderated = "blocklist"
	must(t, s.SavePost(ctx, moderated)) // a moderation of the same post
	for _, other := range []app.Post{
		{ID: p.ID, Author: bob, Text: p.Text, CreatedAt: p.CreatedAt},
		{ID: p.ID, Author: alice, Text: "another text", CreatedAt: p.CreatedAt},
		{ID: p.ID, Author: alice, Text: p.Text, CreatedAt: p.CreatedAt.Add(time.Second)},
	} {
		if err := s.SavePost(ctx, other); !errors.Is(err, app.ErrIDConflict) {
			t.Fatalf("SavePost of %+v over %+v: err = %v, want ErrIDConflict", other, p, err)
		}
	}
	got, err := s.GetPosts(ctx, []app.ID{p.ID})
	must(t, err)
	if g := got[p.ID]; g.Author != alice || g.Text != p.Text || !g.CreatedAt.Equal(p.CreatedAt) || g.Moderated != "blocklist" {
		t.Fatalf("after refused saves GetPosts = %+v, want %+v moderated", g, p)
	}
	tl, err := s.AuthorPosts(ctx, bob, 0, 10)
	must(t, err)
	if len(tl) != 0 {
		t.Fatalf("refused post in bob's timeline: %+v", tl)
	}
}

// testNodeLeases runs its steps in order on the whole node range, which no
// other case touches.
func testNodeLeases(t *testing.T, s Store, user func(string) string) {
	ctx := context.Background()
	const long = time.Minute
	a, b := user("a"), user("b")
	na, err := s.Acquire(ctx, a, long)
	must(t, err)
	nb, err := s.Acquire(ctx, b, long)
	must(t, err)
	if na == nb || na < 0 || na > app.MaxNodeID || nb < 0 || nb > app.MaxNodeID {
		t.Fatalf("two owners got nodes %d and %d", na, nb)
	}

	// Renew by a non-owner fails; the owner's renewal works; a non-owner's
	// release frees nothing.
	if err := s.Renew(ctx, na, b, long); !errors.Is(err, app.ErrLeaseLost) {
		t.Fatalf("Renew of %d by a non-owner: err = %v, want ErrLeaseLost", na, err)
	}
	must(t, s.Renew(ctx, na, a, long))
	must(t, s.Release(ctx, na, b))
	must(t, s.Renew(ctx, na, a, long))

	// The store's clock is the one IDs are held to: on the test servers,
	// which run on this machine, it is this process's, give or take the
	// round trip.
	before := time.Now()
	storeNow, err := s.StoreNow(ctx)
	must(t, err)
	if storeNow.Before(before.Add(-time.Second)) || storeNow.After(time.Now().Add(time.Second)) {
		t.Fatalf("StoreNow = %v, read between %v and %v", storeNow, before, time.Now())
	}

	// A node's mark (until when its holders may have issued IDs) only
	// rises, whatever order the raises come in; it outlives the leases.
	// (A store kept from an earlier run may hold a mark already.)
	base, err := s.IssuedUntil(ctx, na)
	must(t, err)
	base = base.Add(time.Hour).Truncate(time.Millisecond)
	for _, raise := range []time.Time{base, base.Add(-time.Minute), base.Add(time.Minute), base.Add(30 * time.Second)} {
		must(t, s.RaiseIssuedUntil(ctx, na, raise))
	}
	if got, err := s.IssuedUntil(ctx, na); err != nil || !got.Equal(base.Add(time.Minute)) {
		t.Fatalf("node %d's mark after raises to +0, -1, +1 and +0.5 min = %v, %v; want %v", na, got, err, base.Add(time.Minute))
	}
	if got, err := s.IssuedUntil(ctx, nb); err != nil || got.Equal(base.Add(time.Minute)) {
		t.Fatalf("node %d's mark moved with node %d's: %v, %v", nb, na, got, err)
	}

	// Claim (--node-id): a held node is refused to another owner and
	// confirmed to its holder.
	if ok, err := s.Claim(ctx, na, b, long); err != nil || ok {
		t.Fatalf("Claim of %d held by another owner = %v, %v; want false", na, ok, err)
	}
	if ok, err := s.Claim(ctx, na, a, long); err != nil || !ok {
		t.Fatalf("Claim of %d by its holder = %v, %v; want true", na, ok, err)
	}

	// Many concurrent acquirers take every other node, each its own.
	holders := make([]string, app.MaxNodeID+1)
	holders[na], holders[nb] = a, b
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for i := range app.MaxNodeID - 1 {
		g.Go(func() error {
			owner := user(fmt.Sprint("f", i))
			n, err := s.Acquire(gctx, owner, long)
			if err != nil {
				return fmt.Errorf("acquirer %d: %w", i, err)
			}
			mu.Lock()
			defer mu.Unlock()
			if holders[n] != "" {
				return fmt.Errorf("node %d leased to %s and to %s", n, holders[n], owner)
			}
			holders[n] = owner
			return nil
		})
	}
	must(t, g.Wait())
	c := user("c")
	if n, err := s.Acquire(ctx, c, long); !errors.Is(err, app.ErrNoFreeNode) {
		t.Fatalf("Acquire with every node leased = %d, %v; want ErrNoFreeNode", n, err)
	}

	// Release frees the node: it is the only one left to take.
	must(t, s.Release(ctx, na, a))
	if got, err := s.IssuedUntil(ctx, na); err != nil || !got.Equal(base.Add(time.Minute)) {
		t.Fatalf("node %d's mark after its release = %v, %v; want it kept, %v", na, got, err, base.Add(time.Minute))
	}
	if err := s.Renew(ctx, na, a, long); !errors.Is(err, app.ErrLeaseLost) {
		t.Fatalf("Renew after Release: err = %v, want ErrLeaseLost", err)
	}
	n, err := s.Acquire(ctx, c, long)
	must(t, err)
	if n != na {
		t.Fatalf("Acquire after releasing %d got %d", na, n)
	}

	// An expired lease can be taken.
	must(t, s.Release(ctx, nb, b))
	d, e := user("d"), user("e")
	n, err = s.Acquire(ctx, d, time.Second)
	must(t, err)
	if n != nb {
		t.Fatalf("Acquire after releasing %d got %d", nb, n)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		n, err = s.Acquire(ctx, e, long)
		if err == nil {
			break
		}
		if !errors.Is(err, app.ErrNoFreeNode) || time.Now().After(deadline) {
			t.Fatalf("Acquire of an expired lease: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n != nb {
		t.Fatalf("Acquire after %d expired got %d", nb, n)
	}
	if err := s.Renew(ctx, nb, d, long); !errors.Is(err, app.ErrLeaseLost) {
		t.Fatalf("Renew of an expired lease taken since: err = %v, want ErrLeaseLost", err)
	}

	// A free node claimed (--node-id) is leased like an acquired one: no
	// other owner may acquire it.
	must(t, s.Release(ctx, nb, e))
	if ok, err := s.Claim(ctx, nb, d, long); err != nil || !ok {
		t.Fatalf("Claim of the free node %d = %v, %v; want true", nb, ok, err)
	}
	if n, err := s.Acquire(ctx, user("g"), long); !errors.Is(err, app.ErrNoFreeNode) {
		t.Fatalf("Acquire with the last node claimed = %d, %v; want ErrNoFreeNode", n, err)
	}
	must(t, s.Renew(ctx, nb, d, long))
}

// findRecord scans rec's shard from just below it and returns what the
// store holds under rec's ID.
func findRecord(t *testing.T, s Store, rec app.OutboxRecord) (app.OutboxRecord, bool) {
	t.Helper()
	got, err := s.ScanOutbox(context.Background(), rec.Shard, rec.ID-1, 1)
	must(t, err)
	if len(got) == 1 && got[0].ID == rec.ID {
		return got[0], true
	}
	return app.OutboxRecord{}, false
}

// publishable returns rec as stored if the relay would publish it: found by
// a scan, not done, and completed with app.Publish.
func publishable(t *testing.T, s Store, rec app.OutboxRecord) (app.OutboxRecord, bool) {
	t.Helper()
	got, ok := findRecord(t, s, rec)
	if !ok || got.Done {
		return got, false
	}
	v, err := s.CompleteOutbox(context.Background(), []app.OutboxRecord{got})
	must(t, err)
	return got, v[0] == app.Publish
}

func newBlockRecord(typ string, b app.Block) app.OutboxRecord {
	id := newID()
	return app.NewOutboxRecord(id, app.Event{ID: typ + ":" + id.String(), Type: typ, Time: id.Time().UTC(), Block: &b})
}

// testBlocks: Block and Unblock report whether they changed anything, keep
// both directions' lists, and touch no follow edge.
func testBlocks(t *testing.T, s Store, user func(string) string) {
	ctx := context.Background()
	a, b, c, x, y := user("a"), user("b"), user("c"), user("x"), user("y")
	_, err := s.Follow(ctx, b, a)
	must(t, err)
	steps := []struct {
		op       string
		from, to string
		changed  bool
	}{
		{"block", a, b, true},
		{"block", a, b, false},
		{"block", a, c, true},
		{"block", c, a, true},
		{"block", b, c, true},
		{"unblock", b, c, true},
		{"unblock", b, c, false},
		{"unblock", x, y, false},
	}
	for _, st := range steps {
		f := s.Block
		if st.op == "unblock" {
			f = s.Unblock
		}
		changed, err := f(ctx, st.from, st.to)
		must(t, err)
		if changed != st.changed {
			t.Fatalf("%s %s -> %s: changed=%v, want %v", st.op, st.from, st.to, changed, st.changed)
		}
	}
	edges := []struct {
		from, to string
		want     bool
	}{{a, b, true}, {b, a, false}, {a, c, true}, {c, a, true}, {b, c, false}, {x, y, false}}
	for _, e := range edges {
		got, err := s.IsBlocked(ctx, e.from, e.to)
		must(t, err)
		if got != e.want {
			t.Fatalf("IsBlocked(%s, %s) = %v, want %v", e.from, e.to, got, e.want)
		}
	}
	if following, err := s.IsFollowing(ctx, b, a); err != nil || !following {
		t.Fatalf("IsFollowing(%s, %s) after a block = %v, %v: a block leaves follows to the caller", b, a, following, err)
	}
	lists := []struct {
		name string
		list func(context.Context, string, string, int) ([]string, string, error)
		user string
		want []string
	}{
		{"blocking of a", s.Blocking, a, []string{b, c}},
		{"blocked by of a", s.BlockedBy, a, []string{c}},
		{"blocked by of b", s.BlockedBy, b, []string{a}},
		{"blocking of b", s.Blocking, b, nil},
		{"blocked by of c", s.BlockedBy, c, []string{a}},
	}
	for _, l := range lists {
		got, next, err := l.list(ctx, l.user, "", 10)
		must(t, err)
		if !slices.Equal(got, l.want) || next != "" {
			t.Fatalf("%s = %v (next %q), want %v", l.name, got, next, l.want)
		}
	}

	// Paging, both sides.
	star := user("star")
	var fans []string
	for i := range 7 {
		u := user(fmt.Sprintf("fan%d", i))
		fans = append(fans, u)
		_, err := s.Block(ctx, star, u)
		must(t, err)
		_, err = s.Block(ctx, u, star)
		must(t, err)
	}
	slices.Sort(fans)
	for name, list := range map[string]func(context.Context, string, string, int) ([]string, string, error){
		"blocking": s.Blocking, "blocked by": s.BlockedBy,
	} {
		var all []string
		cursor := ""
		for range 10 {
			got, next, err := list(ctx, star, cursor, 3)
			must(t, err)
			if len(got) > 3 {
				t.Fatalf("%s: page of %d with limit 3", name, len(got))
			}
			all = append(all, got...)
			if cursor = next; cursor == "" {
				break
			}
		}
		if !slices.Equal(all, fans) {
			t.Fatalf("%s of star paged = %v, want %v", name, all, fans)
		}
	}
}

// testBlockOutbox: a block's records are published exactly when it
// changed something, and completing them never undoes a later change.
func testBlockOutbox(t *testing.T, s Store, user func(string) string) {
	ctx := context.Background()
	a, b := user("a"), user("b")
	bl := app.Block{Blocker: a, Blocked: b}
	type call struct {
		name    string
		rec     app.OutboxRecord
		changed bool
	}
	calls := []call{
		{"block", newBlockRecord(app.UserBlocked, bl), true},
		{"repeated block", newBlockRecord(app.UserBlocked, bl), false},
		{"unblock", newBlockRecord(app.UserUnblocked, bl), true},
		{"repeated unblock", newBlockRecord(app.UserUnblocked, bl), false},
	}
	for _, c := range calls {
		do := s.Block
		if c.rec.Event.Type == app.UserUnblocked {
			do = s.Unblock
		}
		changed, err := do(ctx, a, b, c.rec)
		must(t, err)
		if changed != c.changed {
			t.Fatalf("%s: changed = %v, want %v", c.name, changed, c.changed)
		}
	}
	for _, c := range calls {
		got, ok := publishable(t, s, c.rec)
		if ok != c.changed {
			t.Fatalf("%s: record to publish = %v, want %v", c.name, ok, c.changed)
		}
		if ok && (got.Event.ID != c.rec.Event.ID || got.Event.Type != c.rec.Event.Type || got.Event.Block == nil ||
			*got.Event.Block != bl || got.Event.Key() != a) {
			t.Fatalf("%s: stored %+v, want %+v", c.name, got.Event, c.rec.Event)
		}
	}
	// Completing the block again (publishable did, above) left the later
	// unblock in force.
	if blocked, err := s.IsBlocked(ctx, a, b); err != nil || blocked {
		t.Fatalf("IsBlocked after completing block then unblock: %v %v", blocked, err)
	}
	if got, _, err := s.BlockedBy(ctx, b, "", 10); err != nil || len(got) != 0 {
		t.Fatalf("blocked by after completing block then unblock: %v %v", got, err)
	}
}

func newMuteRecord(typ string, m app.Mute) app.OutboxRecord {
	id := newID()
	return app.NewOutboxRecord(id, app.Event{ID: typ + ":" + id.String(), Type: typ, Time: id.Time().UTC(), Mute: &m})
}

// sameMutes compares mute lists with their expiries as instants.
func sameMutes(a, b []app.Mute) bool {
	return slices.EqualFunc(a, b, func(x, y app.Mute) bool {
		return x.Muter == y.Muter && x.Muted == y.Muted && x.ExpiresAt.Equal(y.ExpiresAt)
	})
}

// testMutes: Mute, Unmute and ExpireMute report whether they changed
// anything, keep the expiry (to the millisecond) in both directions'
// lists, page in name order, and touch no follow edge; ExpireMute removes
// only the mute that expires when it was told.
func testMutes(t *testing.T, s Store, user func(string) string) {
	ctx := context.Background()
	a, b, c, x, y := user("a"), user("b"), user("c"), user("x"), user("y")
	_, err := s.Follow(ctx, a, b)
	must(t, err)
	soon := time.Now().Add(time.Hour).UTC().Truncate(time.Millisecond)
	later := soon.Add(time.Hour)
	past := time.Now().Add(-time.Hour).UTC().Truncate(time.Millisecond)
	steps := []struct {
		op      string
		m       app.Mute
		changed bool
	}{
		{"mute", app.Mute{Muter: a, Muted: b}, true},
		{"mute", app.Mute{Muter: a, Muted: b}, false},
		{"mute", app.Mute{Muter: a, Muted: b, ExpiresAt: soon}, true},
		{"mute", app.Mute{Muter: a, Muted: b, ExpiresAt: soon}, false},
		{"mute", app.Mute{Muter: a, Muted: c, ExpiresAt: past}, true},
		{"mute", app.Mute{Muter: c, Muted: a}, true},
		{"mute", app.Mute{Muter: b, Muted: c}, true},
		{"unmute", app.Mute{Muter: b, Muted: c}, true},
		{"unmute", app.Mute{Muter: b, Muted: c}, false},
		{"unmute", app.Mute{Muter: x, Muted: y}, false},
	}
	for _, st := range steps {
		var changed bool
		if st.op == "mute" {
			changed, err = s.Mute(ctx, st.m)
		} else {
			changed, err = s.Unmute(ctx, st.m.Muter, st.m.Muted)
		}
		must(t, err)
		if changed != st.changed {
			t.Fatalf("%s %+v: changed=%v, want %v", st.op, st.m, changed, st.changed)
		}
	}
	gets := []struct {
		muter, muted string
		want         app.Mute
		ok           bool
	}{
		{a, b, app.Mute{Muter: a, Muted: b, ExpiresAt: soon}, true},
		{a, c, app.Mute{Muter: a, Muted: c, ExpiresAt: past}, true},
		{c, a, app.Mute{Muter: c, Muted: a}, true},
		{b, a, app.Mute{}, false},
		{b, c, app.Mute{}, false},
	}
	for _, g := range gets {
		got, ok, err := s.GetMute(ctx, g.muter, g.muted)
		must(t, err)
		if ok != g.ok || !sameMutes([]app.Mute{got}, []app.Mute{g.want}) {
			t.Fatalf("GetMute(%s, %s) = %+v %v, want %+v %v", g.muter, g.muted, got, ok, g.want, g.ok)
		}
	}
	if following, err := s.IsFollowing(ctx, a, b); err != nil || !following {
		t.Fatalf("IsFollowing(%s, %s) after a mute = %v, %v: a mute leaves follows alone", a, b, following, err)
	}
	lists := []struct {
		name string
		list func(context.Context, string, string, int) ([]app.Mute, string, error)
		user string
		want []app.Mute
	}{
		{"muting of a", s.Muting, a, []app.Mute{{Muter: a, Muted: b, ExpiresAt: soon}, {Muter: a, Muted: c, ExpiresAt: past}}},
		{"muted by of a", s.MutedBy, a, []app.Mute{{Muter: c, Muted: a}}},
		{"muted by of b", s.MutedBy, b, []app.Mute{{Muter: a, Muted: b, ExpiresAt: soon}}},
		{"muting of b", s.Muting, b, nil},
		{"muted by of c", s.MutedBy, c, []app.Mute{{Muter: a, Muted: c, ExpiresAt: past}}},
	}
	for _, l := range lists {
		got, next, err := l.list(ctx, l.user, "", 10)
		must(t, err)
		if !sameMutes(got, l.want) || next != "" {
			t.Fatalf("%s = %+v (next %q), want %+v", l.name, got, next, l.want)
		}
	}

	// ExpireMute removes the mute only with its expiry, and never one
	// without.
	expires := []struct {
		m       app.Mute
		changed bool
	}{
		{app.Mute{Muter: a, Muted: b, ExpiresAt: later}, false},
		{app.Mute{Muter: c, Muted: a}, false},
		{app.Mute{Muter: x, Muted: y, ExpiresAt: past}, false},
		{app.Mute{Muter: a, Muted: c, ExpiresAt: past}, true},
		{app.Mute{Muter: a, Muted: c, ExpiresAt: past}, false},
	}
	for _, e := range expires {
		changed, err := s.ExpireMute(ctx, e.m)
		must(t, err)
		if changed != e.changed {
			t.Fatalf("ExpireMute(%+v): changed=%v, want %v", e.m, changed, e.changed)
		}
	}
	if got, _, err := s.MutedBy(ctx, c, "", 10); err != nil || len(got) != 0 {
		t.Fatalf("muted by of c after its mute expired: %+v %v", got, err)
	}
	if _, ok, err := s.GetMute(ctx, a, b); err != nil || !ok {
		t.Fatalf("GetMute(a, b) after an ExpireMute with another expiry: %v %v", ok, err)
	}

	// Paging, both sides.
	star := user("star")
	var fans []string
	for i := range 7 {
		u := user(fmt.Sprintf("fan%d", i))
		fans = append(fans, u)
		_, err := s.Mute(ctx, app.Mute{Muter: star, Muted: u, ExpiresAt: soon})
		must(t, err)
		_, err = s.Mute(ctx, app.Mute{Muter: u, Muted: star})
		must(t, err)
	}
	slices.Sort(fans)
	for name, list := range map[string]func(context.Context, string, string, int) ([]app.Mute, string, error){
		"muting": s.Muting, "muted by": s.MutedBy,
	} {
		var all []string
		cursor := ""
		for range 10 {
			got, next, err := list(ctx, star, cursor, 3)
			must(t, err)
			if len(got) > 3 {
				t.Fatalf("%s: page of %d with limit 3", name, len(got))
			}
			for _, m := range got {
				other := m.Muted
				if name == "muted by" {
					other = m.Muter
				}
				all = append(all, other)
			}
			if cursor = next; cursor == "" {
				break
			}
		}
		if !slices.Equal(all, fans) {
			t.Fatalf("%s of star paged = %v, want %v", name, all, fans)
		}
	}
}

// testMuteOutbox: a mute's records are published exactly when it changed
// something, completing them never undoes a later change, and an expiry
// that lost to a mute made again is not published.
func testMuteOutbox(t *testing.T, s Store, user func(string) string) {
	ctx := context.Background()
	a, b, c := user("a"), user("b"), user("c")
	m := app.Mute{Muter: a, Muted: b}
	type call struct {
		name    string
		rec     app.OutboxRecord
		changed bool
	}
	calls := []call{
		{"mute", newMuteRecord(app.UserMuted, m), true},
		{"repeated mute", newMuteRecord(app.UserMuted, m), false},
		{"unmute", newMuteRecord(app.UserUnmuted, m), true},
		{"repeated unmute", newMuteRecord(app.UserUnmuted, m), false},
	}
	for _, c := range calls {
		var changed bool
		var err error
		if c.rec.Event.Type == app.UserUnmuted {
			changed, err = s.Unmute(ctx, a, b, c.rec)
		} else {
			changed, err = s.Mute(ctx, m, c.rec)
		}
		must(t, err)
		if changed != c.changed {
			t.Fatalf("%s: changed = %v, want %v", c.name, changed, c.changed)
		}
	}
	for _, c := range calls {
		got, ok := publishable(t, s, c.rec)
		if ok != c.changed {
			t.Fatalf("%s: record to publish = %v, want %v", c.name, ok, c.changed)
		}
		if ok && (got.Event.ID != c.rec.Event.ID || got.Event.Type != c.rec.Event.Type || got.Event.Mute == nil ||
			!sameMutes([]app.Mute{*got.Event.Mute}, []app.Mute{m}) || got.Event.Key() != a) {
			t.Fatalf("%s: stored %+v, want %+v", c.name, got.Event, c.rec.Event)
		}
	}
	// Completing the mute again (publishable did, above) left the later
	// unmute in force.
	if _, muted, err := s.GetMute(ctx, a, b); err != nil || muted {
		t.Fatalf("GetMute after completing mute then unmute: %v %v", muted, err)
	}
	if got, _, err := s.MutedBy(ctx, b, "", 10); err != nil || len(got) != 0 {
		t.Fatalf("muted by after completing mute then unmute: %v %v", got, err)
	}

	// An expiry: published with its expiry, and completing it brings
	// nothing back.
	past := time.Now().Add(-time.Minute).UTC().Truncate(time.Millisecond)
	timed := app.Mute{Muter: a, Muted: c, ExpiresAt: past}
	muted := newMuteRecord(app.UserMuted, timed)
	if changed, err := s.Mute(ctx, timed, muted); err != nil || !changed {
		t.Fatalf("timed mute: %v %v", changed, err)
	}
	expiry := newMuteRecord(app.UserUnmuted, timed)
	if changed, err := s.ExpireMute(ctx, timed, expiry); err != nil || !changed {
		t.Fatalf("ExpireMute: %v %v", changed, err)
	}
	for name, rec := range map[string]app.OutboxRecord{"timed mute": muted, "expiry": expiry} {
		got, ok := publishable(t, s, rec)
		if !ok || got.Event.Mute == nil || !got.Event.Mute.ExpiresAt.Equal(past) {
			t.Fatalf("%s: record to publish %+v (%v), want one with the expiry %s", name, got.Event.Mute, ok, past)
		}
	}
	if _, ok, err := s.GetMute(ctx, a, c); err != nil || ok {
		t.Fatalf("GetMute after completing the timed mute then its expiry: %v %v", ok, err)
	}
	// An expiry that met a mute made again since changes nothing and is
	// not published.
	again := app.Mute{Muter: a, Muted: c}
	if changed, err := s.Mute(ctx, again, newMuteRecord(app.UserMuted, again)); err != nil || !changed {
		t.Fatalf("mute again: %v %v", changed, err)
	}
	late := newMuteRecord(app.UserUnmuted, timed)
	if changed, err := s.ExpireMute(ctx, timed, late); err != nil || changed {
		t.Fatalf("ExpireMute of a mute made again: %v %v", changed, err)
	}
	if _, ok := publishable(t, s, late); ok {
		t.Fatal("an expiry that removed nothing is to be published")
	}
	if got, ok, err := s.GetMute(ctx, a, c); err != nil || !ok || !got.ExpiresAt.IsZero() {
		t.Fatalf("GetMute after a late expiry: %+v %v %v, want the mute made again", got, ok, err)
	}
}

func newRecord(typ string, p *app.Post, f *app.Follow) app.OutboxRecord {
	id := newID()
	return app.NewOutboxRecord(id, app.Event{ID: typ + ":" + id.String(), Type: typ, Time: id.Time().UTC(), Post: p, Follow: f})
}

func testOutbox(t *testing.T, s Store, user func(string) string) {
	ctx := context.Background()
	a, b := user("a"), user("b")
	p := newPost(a, 1)
	created := newRecord(app.PostCreated, &p, nil)
	must(t, s.SavePost(ctx, p, created))
	deleted := newRecord(app.PostDeleted, &app.Post{ID: p.ID, Author: a}, nil)
	must(t, s.DeletePost(ctx, p, deleted))
	f := &app.Follow{Follower: b, Followee: a}
	// Five identical follows, two unfollows, a follow again: the records
	// of the calls that changed nothing are never published.
	type call struct {
		name    string
		rec     app.OutboxRecord
		changed bool
	}
	calls := []call{{"follow", newRecord(app.UserFollowed, nil, f), true}}
	for range 4 {
		calls = append(calls, call{"repeated follow", newRecord(app.UserFollowed, nil, f), false})
	}
	calls = append(calls, call{"unfollow", newRecord(app.UserUnfollowed, nil, f), true},
		call{"repeated unfollow", newRecord(app.UserUnfollowed, nil, f), false},
		call{"follow again", newRecord(app.UserFollowed, nil, f), true})
	for _, c := range calls {
		do := s.Follow
		if c.rec.Event.Type == app.UserUnfollowed {
			do = s.Unfollow
		}
		changed, err := do(ctx, b, a, c.rec)
		must(t, err)
		if changed != c.changed {
			t.Fatalf("%s: changed = %v, want %v", c.name, changed, c.changed)
		}
	}
	// A refused save writes no record.
	other := app.Post{ID: p.ID, Author: b, Text: "not mine", CreatedAt: p.CreatedAt}
	q := newPost(a, 2)
	must(t, s.SavePost(ctx, q))
	conflict := newRecord(app.PostCreated, &other, nil)
	conflict.ID = q.ID // a record under the refused post's own ID
	conflict.Shard = app.OutboxShard(b)
	if err := s.SavePost(ctx, app.Post{ID: q.ID, Author: b, Text: "not mine", CreatedAt: q.CreatedAt}, conflict); !errors.Is(err, app.ErrIDConflict) {
		t.Fatalf("SavePost under another post's ID: %v, want ErrIDConflict", err)
	}
	calls = append(calls, call{"post.created", created, true}, call{"post.deleted", deleted, true}, call{"refused save", conflict, false})
	for _, c := range calls {
		got, ok := publishable(t, s, c.rec)
		if ok != c.changed {
			t.Fatalf("%s: record to publish = %v, want %v", c.name, ok, c.changed)
		}
		if !ok {
			continue
		}
		if got.Event.ID != c.rec.Event.ID || got.Event.Type != c.rec.Event.Type || got.Event.Key() != c.rec.Event.Key() ||
			!got.Event.Time.Equal(c.rec.Event.Time) {
			t.Fatalf("%s: stored %+v, want %+v", c.name, got, c.rec)
		}
		if c.rec.Event.Post != nil && *got.Event.Post != *c.rec.Event.Post {
			t.Fatalf("%s: stored post %+v, want %+v", c.name, *got.Event.Post, *c.rec.Event.Post)
		}
	}

	// Marked done, a record stays done when its change is written again
	// (an idempotent retry).
	must(t, s.MarkOutboxDone(ctx, created.Shard, []app.ID{created.ID}))
	if got, _ := findRecord(t, s, created); !got.Done {
		t.Fatal("record not done after MarkOutboxDone")
	}
	must(t, s.SavePost(ctx, p, created))
	if got, _ := findRecord(t, s, created); !got.Done {
		t.Fatal("writing the change again cleared the done mark")
	}

	// Scans are ordered, bounded and start after the given ID.
	recs := make([]app.OutboxRecord, 5)
	for i := range recs {
		pi := newPost(a, 10+i)
		recs[i] = newRecord(app.PostCreated, &pi, nil)
		must(t, s.SavePost(ctx, pi, recs[i]))
	}
	shard := recs[0].Shard
	got, err := s.ScanOutbox(ctx, shard, recs[0].ID, 3)
	must(t, err)
	if len(got) != 3 || got[0].ID != recs[1].ID || got[1].ID != recs[2].ID || got[2].ID != recs[3].ID {
		t.Fatalf("scan after the first of 5 with limit 3: %v", recordIDs(got))
	}

	// The cursor.
	must(t, s.SetOutboxCursor(ctx, shard, recs[2].ID))
	c, err := s.OutboxCursor(ctx, shard)
	must(t, err)
	if c != recs[2].ID {
		t.Fatalf("cursor = %s, want %s", c, recs[2].ID)
	}
	got, err = s.ScanOutbox(ctx, shard, c, 10)
	must(t, err)
	if len(got) < 2 || got[0].ID != recs[3].ID || got[1].ID != recs[4].ID {
		t.Fatalf("scan from the cursor: %v, want %s %s first", recordIDs(got), recs[3].ID, recs[4].ID)
	}
}

// testCompleteOutbox: completing records whose changes are in place
// changes nothing, and never undoes what came after them: a post deleted
// or hidden since stays so, an edge removed since stays removed.
func testCompleteOutbox(t *testing.T, s Store, user func(string) string) {
	ctx := context.Background()
	a, b := user("a"), user("b")
	live, deleted, hidden := newPost(a, 1), newPost(a, 2), newPost(a, 3)
	var recs []app.OutboxRecord
	for _, p := range []app.Post{live, deleted, hidden} {
		rec := newRecord(app.PostCreated, &p, nil)
		must(t, s.SavePost(ctx, p, rec))
		recs = append(recs, rec)
	}
	del := newRecord(app.PostDeleted, &app.Post{ID: deleted.ID, Author: a}, nil)
	must(t, s.DeletePost(ctx, deleted, del))
	must(t, s.HidePost(ctx, hidden, "blocklist"))
	f := &app.Follow{Follower: b, Followee: a}
	follow, unfollow := newRecord(app.UserFollowed, nil, f), newRecord(app.UserUnfollowed, nil, f)
	_, err := s.Follow(ctx, b, a, follow)
	must(t, err)
	_, err = s.Unfollow(ctx, b, a, unfollow)
	must(t, err)

	// Posts and their deletions are published; the follow, undone since,
	// may be held back (Wait) or published, but brings no edge back.
	all := append(slices.Clone(recs), del, follow, unfollow)
	for range 2 { // twice, and creations after the deletion
		v, err := s.CompleteOutbox(ctx, all)
		must(t, err)
		if len(v) != len(all) {
			t.Fatalf("CompleteOutbox answered %d verdicts for %d records", len(v), len(all))
		}
		for i, rec := range all {
			if want := app.Publish; rec.Event.Type != app.UserFollowed && v[i] != want {
				t.Fatalf("%s: verdict %d, want %d (Publish)", rec.Event.ID, v[i], want)
			}
		}
		all = recs
	}

	got, err := s.GetPosts(ctx, []app.ID{live.ID, deleted.ID, hidden.ID})
	must(t, err)
	if g, ok := got[live.ID]; !ok || g.Text != live.Text || g.Moderated != "" {
		t.Fatalf("live post after CompleteOutbox: %+v (present %v)", g, ok)
	}
	if g, ok := got[deleted.ID]; ok {
		t.Fatalf("CompleteOutbox brought a deleted post back: %+v", g)
	}
	if g := got[hidden.ID]; g.Moderated != "blocklist" {
		t.Fatalf("CompleteOutbox un-hid a moderated post: %+v", g)
	}
	tl, err := s.AuthorPosts(ctx, a, 0, 10)
	must(t, err)
	if len(tl) != 2 || tl[0].ID != hidden.ID || tl[1].ID != live.ID {
		t.Fatalf("timeline after CompleteOutbox: %+v", tl)
	}
	if following, err := s.IsFollowing(ctx, b, a); err != nil || following {
		t.Fatalf("IsFollowing after completing follow then unfollow: %v %v", following, err)
	}
	if fs, _, err := s.Followers(ctx, a, "", 10); err != nil || len(fs) != 0 {
		t.Fatalf("followers after completing follow then unfollow: %v %v", fs, err)
	}
}

func recordIDs(recs []app.OutboxRecord) []app.ID {
	ids := make([]app.ID, len(recs))
	for i, r := range recs {
		ids[i] = r.ID
	}
	return ids
}

func testIdempotencyKeys(t *testing.T, s Store, user func(string) string) {
	ctx := context.Background()
	a, b := user("a"), user("b")
	first := app.KeyBinding{ID: newID(), Fingerprint: "f1"}
	got, err := s.BindKey(ctx, a, "k", first)
	must(t, err)
	if got != first {
		t.Fatalf("first bind = %+v, want %+v", got, first)
	}
	got, err = s.BindKey(ctx, a, "k", app.KeyBinding{ID: newID(), Fingerprint: "f2"})
	must(t, err)
	if got != first {
		t.Fatalf("second bind = %+v, want the first %+v", got, first)
	}
	other := app.KeyBinding{ID: newID(), Fingerprint: "f1"}
	got, err = s.BindKey(ctx, b, "k", other)
	must(t, err)
	if got != other {
		t.Fatalf("another user's key = %+v, want %+v", got, other)
	}
	// Concurrent binds of one key agree on one binding.
	var (
		mu    sync.Mutex
		seen  = map[app.KeyBinding]bool{}
		group errgroup.Group
	)
	for i := range 8 {
		group.Go(func() error {
			got, err := s.BindKey(ctx, a, "race", app.KeyBinding{ID: newID(), Fingerprint: fmt.Sprint(i)})
			mu.Lock()
			seen[got] = true
			mu.Unlock()
			return err
		})
	}
	must(t, group.Wait())
	if len(seen) != 1 {
		t.Fatalf("8 concurrent binds of one key returned %d bindings: %v", len(seen), seen)
	}
}

func newLikeRecord(typ string, l app.Like) (app.Like, app.OutboxRecord) {
	id := newID()
	l.ID = id
	return l, app.NewOutboxRecord(id, app.Event{ID: typ + ":" + id.String(), Type: typ, Time: id.Time().UTC(), Like: &l})
}

// testLikes: Like and Unlike report whether they changed anything;
// LikeCounts counts the likers of each post of a page and says which the
// reader likes; FirstLike keeps the first like's ID through an unlike.
func testLikes(t *testing.T, s Store, user func(string) string) {
	ctx := context.Background()
	a, b, c := user("a"), user("b"), user("c")
	p, q, none := newPost(a, 1), newPost(a, 2), newPost(a, 3)
	for _, x := range []app.Post{p, q, none} {
		must(t, s.SavePost(ctx, x))
	}
	do := func(op, who string, post app.ID, want bool) app.Like {
		t.Helper()
		typ, f := app.PostLiked, s.Like
		if op == "unlike" {
			typ, f = app.PostUnliked, s.Unlike
		}
		l, rec := newLikeRecord(typ, app.Like{User: who, Post: post, Author: a})
		changed, err := f(ctx, l, rec)
		must(t, err)
		if changed != want {
			t.Fatalf("%s %s by %s: changed=%v, want %v", op, post, who, changed, want)
		}
		return l
	}
	firstB := do("like", b, p.ID, true)
	do("like", b, p.ID, false)
	do("like", c, p.ID, true)
	do("like", a, p.ID, true)
	do("like", c, q.ID, true)
	do("unlike", c, q.ID, true)
	do("unlike", c, q.ID, false)
	do("unlike", b, none.ID, false)

	page := []app.ID{p.ID, q.ID, none.ID}
	for _, r := range []struct {
		reader string
		want   map[app.ID]app.LikeCount
	}{
		{b, map[app.ID]app.LikeCount{p.ID: {Count: 3, Liked: true}}},
		{user("nobody"), map[app.ID]app.LikeCount{p.ID: {Count: 3}}},
		{"", map[app.ID]app.LikeCount{p.ID: {Count: 3}}}, // the counts only
	} {
		got, err := s.LikeCounts(ctx, r.reader, page)
		must(t, err)
		for _, id := range page {
			if got[id] != r.want[id] {
				t.Fatalf("LikeCounts as %s: post %s = %+v, want %+v", r.reader, id, got[id], r.want[id])
			}
		}
	}
	if got, err := s.LikeCounts(ctx, b, nil); err != nil || len(got) != 0 {
		t.Fatalf("LikeCounts of no posts = %v, %v", got, err)
	}

	// The first like's ID stays through an unlike and a like again; a
	// pair not liked now has none.
	if id, ok, err := s.FirstLike(ctx, b, p.ID); err != nil || !ok || id != firstB.ID {
		t.Fatalf("FirstLike(b, p) = %s %v %v, want %s", id, ok, err, firstB.ID)
	}
	do("unlike", b, p.ID, true)
	if _, ok, err := s.FirstLike(ctx, b, p.ID); err != nil || ok {
		t.Fatalf("FirstLike(b, p) after the unlike = %v %v, want none", ok, err)
	}
	do("like", b, p.ID, true)
	if id, ok, err := s.FirstLike(ctx, b, p.ID); err != nil || !ok || id != firstB.ID {
		t.Fatalf("FirstLike(b, p) after a like again = %s %v %v, want the first, %s", id, ok, err, firstB.ID)
	}
	if _, ok, err := s.FirstLike(ctx, c, q.ID); err != nil || ok {
		t.Fatalf("FirstLike(c, q) after its unlike = %v %v, want none", ok, err)
	}
}

// testLikeOutbox: a like's records are published exactly when it changed
// something, and completing them never undoes a later change.
func testLikeOutbox(t *testing.T, s Store, user func(string) string) {
	ctx := context.Background()
	a, b := user("a"), user("b")
	p := newPost(a, 1)
	must(t, s.SavePost(ctx, p))
	type call struct {
		name    string
		like    app.Like
		rec     app.OutboxRecord
		changed bool
	}
	var calls []call
	for _, c := range []struct {
		name, typ string
		changed   bool
	}{
		{"like", app.PostLiked, true},
		{"repeated like", app.PostLiked, false},
		{"unlike", app.PostUnliked, true},
		{"repeated unlike", app.PostUnliked, false},
	} {
		l, rec := newLikeRecord(c.typ, app.Like{User: b, Post: p.ID, Author: a})
		calls = append(calls, call{c.name, l, rec, c.changed})
	}
	for _, c := range calls {
		do := s.Like
		if c.rec.Event.Type == app.PostUnliked {
			do = s.Unlike
		}
		changed, err := do(ctx, c.like, c.rec)
		must(t, err)
		if changed != c.changed {
			t.Fatalf("%s: changed = %v, want %v", c.name, changed, c.changed)
		}
	}
	for _, c := range calls {
		got, ok := publishable(t, s, c.rec)
		if ok != c.changed {
			t.Fatalf("%s: record to publish = %v, want %v", c.name, ok, c.changed)
		}
		if ok && (got.Event.ID != c.rec.Event.ID || got.Event.Type != c.rec.Event.Type || got.Event.Like == nil ||
			*got.Event.Like != c.like || got.Event.Key() != b) {
			t.Fatalf("%s: stored %+v, want %+v", c.name, got.Event, c.rec.Event)
		}
	}
	// Completing the like again (publishable did, above) left the later
	// unlike in force.
	if got, err := s.LikeCounts(ctx, b, []app.ID{p.ID}); err != nil || got[p.ID] != (app.LikeCount{}) {
		t.Fatalf("LikeCounts after completing like then unlike: %+v %v, want none", got[p.ID], err)
	}
	// A like whose request failed after its record was written (the relay
	// completes it later), then an unlike that found nothing to undo: the
	// unlike, the later change, wins when the like is completed.
	q := newPost(a, 2)
	must(t, s.SavePost(ctx, q))
	failed, failedRec := newLikeRecord(app.PostLiked, app.Like{User: b, Post: q.ID, Author: a})
	undo, undoRec := newLikeRecord(app.PostUnliked, app.Like{User: b, Post: q.ID, Author: a})
	if changed, err := s.Unlike(ctx, undo, undoRec); err != nil || changed {
		t.Fatalf("Unlike of a post not liked = %v, %v; want unchanged", changed, err)
	}
	if _, err := s.CompleteOutbox(ctx, []app.OutboxRecord{failedRec}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.LikeCounts(ctx, b, []app.ID{q.ID}); err != nil || got[q.ID] != (app.LikeCount{}) {
		t.Fatalf("LikeCounts after an unlike then the completion of an earlier like (%s): %+v %v, want none", failed.ID, got[q.ID], err)
	}
}

// newReply is a post of author replying to parent.
func newReply(author string, parent app.Post, i int) app.Post {
	p := newPost(author, i)
	p.InReplyTo, p.InReplyToAuthor = parent.ID, parent.Author
	return p
}

func sameIDs(got, want []app.ID) bool { return slices.Equal(got, want) }

// testReplies: a reply keeps its parent and the parent's author in every
// read; Replies pages a parent's live replies oldest first and ReplyCounts
// counts them; a deleted reply (by the full post or only its ID) and a
// moderated one leave both; a deleted parent leaves its replies.
func testReplies(t *testing.T, s Store, user func(string) string) {
	ctx := context.Background()
	a, b := user("a"), user("b")
	parent, other := newPost(a, 0), newPost(a, 100)
	must(t, s.SavePost(ctx, parent))
	must(t, s.SavePost(ctx, other))
	var rs []app.Post
	for i := range 5 {
		r := newReply(b, parent, i+1)
		if i == 4 {
			r.Author = a // a reply to oneself is a reply too
		}
		must(t, s.SavePost(ctx, r))
		rs = append(rs, r)
	}
	got, err := s.GetPosts(ctx, []app.ID{rs[0].ID, parent.ID})
	must(t, err)
	if g := got[rs[0].ID]; g.InReplyTo != parent.ID || g.InReplyToAuthor != a {
		t.Fatalf("GetPosts: reply %+v, want its parent %s by %s", g, parent.ID, a)
	}
	if g := got[parent.ID]; g.InReplyTo != 0 || g.InReplyToAuthor != "" || g.IsReply() {
		t.Fatalf("GetPosts: a post replying to none %+v", g)
	}
	timeline, err := s.AuthorPosts(ctx, b, 0, 10)
	must(t, err)
	if len(timeline) != 4 || timeline[0].ID != rs[3].ID || timeline[0].InReplyTo != parent.ID || timeline[0].InReplyToAuthor != a {
		t.Fatalf("AuthorPosts: %+v, want 4 replies with their parent, newest first", timeline)
	}

	page := func(after app.ID, limit int, want ...app.Post) {
		t.Helper()
		ids, err := s.Replies(ctx, parent.ID, after, limit)
		must(t, err)
		var wantIDs []app.ID
		for _, p := range want {
			wantIDs = append(wantIDs, p.ID)
		}
		if !sameIDs(ids, wantIDs) {
			t.Fatalf("Replies(after %s, limit %d) = %v, want %v", after, limit, ids, wantIDs)
		}
	}
	page(0, 2, rs[0], rs[1])
	page(rs[1].ID, 2, rs[2], rs[3])
	page(rs[3].ID, 2, rs[4])
	page(rs[4].ID, 2)
	counts := func(want int64) {
		t.Helper()
		got, err := s.ReplyCounts(ctx, []app.ID{parent.ID, other.ID, rs[0].ID})
		must(t, err)
		if got[parent.ID] != want || got[other.ID] != 0 || got[rs[0].ID] != 0 {
			t.Fatalf("ReplyCounts = %v, want %d for %s and none else", got, want, parent.ID)
		}
	}
	counts(5)
	if got, err := s.ReplyCounts(ctx, nil); err != nil || len(got) != 0 {
		t.Fatalf("ReplyCounts of no posts = %v, %v", got, err)
	}

	must(t, s.DeletePost(ctx, rs[1]))
	must(t, s.DeletePost(ctx, app.Post{ID: rs[2].ID})) // only the ID: the store finds the rest
	must(t, s.HidePost(ctx, rs[3], "test-rule"))
	counts(2)
	page(0, 10, rs[0], rs[4])
	if got, err := s.GetPosts(ctx, []app.ID{rs[3].ID}); err != nil || got[rs[3].ID].Moderated != "test-rule" {
		t.Fatalf("the moderated reply: %+v, %v, want it stored, moderated", got, err)
	}

	must(t, s.DeletePost(ctx, parent))
	page(0, 10, rs[0], rs[4])
	if got, err := s.GetPosts(ctx, []app.ID{rs[0].ID}); err != nil || got[rs[0].ID].InReplyTo != parent.ID {
		t.Fatalf("a reply to a deleted post: %+v, %v, want it standing", got, err)
	}
}

// testFollowsAmong: FollowersAmong and FolloweesAmong answer exactly the
// candidates on the edge's other side, whatever their followers buckets,
// ignoring repeats and unknown users.
func testFollowsAmong(t *testing.T, s Store, user func(string) string) {
	ctx := context.Background()
	star, fan := user("star"), user("fan")
	var candidates, want []string
	for i := range 60 {
		u := user(fmt.Sprint("u", i))
		candidates = append(candidates, u)
		if i%3 == 0 {
			_, err := s.Follow(ctx, u, star)
			must(t, err)
			want = append(want, u)
		}
		if i%4 == 0 {
			_, err := s.Follow(ctx, fan, u)
			must(t, err)
		}
	}
	candidates = append(candidates, want[0], user("nobody"))
	got, err := s.FollowersAmong(ctx, star, candidates)
	must(t, err)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("FollowersAmong(%s) = %v, want %v", star, got, want)
	}
	var wantFollowees []string
	for i := 0; i < 60; i += 4 {
		wantFollowees = append(wantFollowees, user(fmt.Sprint("u", i)))
	}
	got, err = s.FolloweesAmong(ctx, fan, candidates)
	must(t, err)
	slices.Sort(got)
	slices.Sort(wantFollowees)
	if !slices.Equal(got, wantFollowees) {
		t.Fatalf("FolloweesAmong(%s) = %v, want %v", fan, got, wantFollowees)
	}
	for name, f := range map[string]func(context.Context, string, []string) ([]string, error){"FollowersAmong": s.FollowersAmong, "FolloweesAmong": s.FolloweesAmong} {
		if got, err := f(ctx, star, nil); err != nil || len(got) != 0 {
			t.Fatalf("%s of no users = %v, %v", name, got, err)
		}
	}
	_, err = s.Unfollow(ctx, want[0], star)
	must(t, err)
	if got, err := s.FollowersAmong(ctx, star, want[:1]); err != nil || len(got) != 0 {
		t.Fatalf("FollowersAmong after an unfollow = %v, %v", got, err)
	}
}

func newRepost(reposter string, orig app.Post) app.Post {
	id := newID()
	return app.Post{ID: id, Author: reposter, CreatedAt: id.Time().UTC(), RepostOf: orig.ID, RepostOfAuthor: orig.Author}
}

// testReposts: a repost (no text) keeps its original and the original's
// author in every read; RepostBy, RepostsOf and RepostCounts see the live
// reposts; a deleted repost (by the full post or its ID alone) and a
// moderated one leave them, while FirstRepost keeps the first; a deleted
// original leaves its reposts' index rows (fan-out reads them).
func testReposts(t *testing.T, s Store, user func(string) string) {
	ctx := context.Background()
	a, b, c, d := user("a"), user("b"), user("c"), user("d")
	orig, other := newPost(a, 0), newPost(a, 1)
	must(t, s.SavePost(ctx, orig))
	must(t, s.SavePost(ctx, other))
	rb, rc, rd := newRepost(b, orig), newRepost(c, orig), newRepost(d, orig)
	for _, r := range []app.Post{rb, rc, rd, rb} { // saving again is harmless
		must(t, s.SavePost(ctx, r))
	}
	got, err := s.GetPosts(ctx, []app.ID{rb.ID})
	must(t, err)
	if g := got[rb.ID]; g.RepostOf != orig.ID || g.RepostOfAuthor != a || g.Text != "" || g.Author != b {
		t.Fatalf("GetPosts: repost %+v, want b's repost of %s by %s", g, orig.ID, a)
	}
	timeline, err := s.AuthorPosts(ctx, b, 0, 10)
	must(t, err)
	if len(timeline) != 1 || timeline[0].ID != rb.ID || timeline[0].RepostOf != orig.ID || timeline[0].RepostOfAuthor != a {
		t.Fatalf("AuthorPosts: %+v, want b's repost with its original", timeline)
	}
	if id, ok, err := s.RepostBy(ctx, b, orig.ID); err != nil || !ok || id != rb.ID {
		t.Fatalf("RepostBy(b) = %s, %v, %v; want %s", id, ok, err, rb.ID)
	}
	if _, ok, err := s.RepostBy(ctx, b, other.ID); err != nil || ok {
		t.Fatalf("RepostBy of a post b did not repost = %v, %v", ok, err)
	}
	var all []app.Repost
	for after := (app.Repost{}); ; {
		page, err := s.RepostsOf(ctx, orig.ID, after, 2)
		must(t, err)
		all = append(all, page...)
		if len(page) < 2 {
			break
		}
		after = page[len(page)-1]
	}
	want := []app.Repost{{Reposter: b, ID: rb.ID}, {Reposter: c, ID: rc.ID}, {Reposter: d, ID: rd.ID}}
	if !slices.Equal(all, want) {
		t.Fatalf("RepostsOf in pages of 2: %+v, want %+v", all, want)
	}
	counts, err := s.RepostCounts(ctx, c, []app.ID{orig.ID, other.ID})
	must(t, err)
	if counts[orig.ID] != (app.RepostCount{Count: 3, Reposted: true}) || counts[other.ID].Count != 0 {
		t.Fatalf("RepostCounts as c: %+v, want 3 reposted, 0", counts)
	}

	// Unreposts: by the full post, by the ID alone; a moderation.
	must(t, s.DeletePost(ctx, app.Post{ID: rb.ID, Author: b, RepostOf: orig.ID}))
	must(t, s.DeletePost(ctx, app.Post{ID: rc.ID}))
	must(t, s.HidePost(ctx, rd, "spam"))
	counts, err = s.RepostCounts(ctx, c, []app.ID{orig.ID})
	must(t, err)
	if counts[orig.ID] != (app.RepostCount{}) {
		t.Fatalf("RepostCounts after the unreposts: %+v, want none", counts[orig.ID])
	}
	if _, ok, err := s.RepostBy(ctx, b, orig.ID); err != nil || ok {
		t.Fatalf("RepostBy after the unrepost = %v, %v", ok, err)
	}
	again := newRepost(b, orig)
	must(t, s.SavePost(ctx, again))
	if id, ok, err := s.FirstRepost(ctx, b, orig.ID); err != nil || !ok || id != rb.ID {
		t.Fatalf("FirstRepost(b) = %s, %v, %v; want the first, %s", id, ok, err, rb.ID)
	}
	if id, ok, err := s.RepostBy(ctx, b, orig.ID); err != nil || !ok || id != again.ID {
		t.Fatalf("RepostBy after a repost again = %s, %v, %v; want %s", id, ok, err, again.ID)
	}
	// The original's deletion leaves its reposts listed.
	must(t, s.DeletePost(ctx, orig))
	left, err := s.RepostsOf(ctx, orig.ID, app.Repost{}, 10)
	must(t, err)
	if !slices.Equal(left, []app.Repost{{Reposter: b, ID: again.ID}}) {
		t.Fatalf("RepostsOf a deleted original: %+v, want b's repost", left)
	}
}

// testRepostSettings: SetShowReposts hides a followee's reposts from a
// follower, seen both ways, and shows them again.
func testRepostSettings(t *testing.T, s Store, user func(string) string) {
	ctx := context.Background()
	a, f1, f2, f3 := user("a"), user("f1"), user("f2"), user("f3")
	must(t, s.SetShowReposts(ctx, f1, a, false))
	must(t, s.SetShowReposts(ctx, f2, a, false))
	must(t, s.SetShowReposts(ctx, f2, a, false)) // idempotent
	must(t, s.SetShowReposts(ctx, f3, a, true))  // shown already
	among, err := s.RepostsHiddenAmong(ctx, a, []string{f1, f2, f3, f1, user("nobody")})
	must(t, err)
	slices.Sort(among)
	if !slices.Equal(among, []string{f1, f2}) {
		t.Fatalf("RepostsHiddenAmong: %v, want %s and %s", among, f1, f2)
	}
	from, err := s.RepostsHiddenFrom(ctx, f1, []string{a, f2})
	must(t, err)
	if !slices.Equal(from, []string{a}) {
		t.Fatalf("RepostsHiddenFrom(f1): %v, want %s", from, a)
	}
	must(t, s.SetShowReposts(ctx, f1, a, true))
	if among, err := s.RepostsHiddenAmong(ctx, a, []string{f1}); err != nil || len(among) != 0 {
		t.Fatalf("RepostsHiddenAmong after showing: %v, %v", among, err)
	}
	if from, err := s.RepostsHiddenFrom(ctx, f1, []string{a}); err != nil || len(from) != 0 {
		t.Fatalf("RepostsHiddenFrom after showing: %v, %v", from, err)
	}
}

// testLists: a list is found only under its owner; a rename keeps it and
// never brings a deleted one back; members are idempotent, counted, paged
// in name order and owner-scoped; deleting a list takes its members.
func testLists(t *testing.T, s Store, user func(string) string) {
	ctx := context.Background()
	owner, other := user("owner"), user("other")
	newList := func(owner, title string) app.List {
		t.Helper()
		id := newID()
		l := app.List{ID: id, Owner: owner, Name: title, CreatedAt: id.Time().UTC()}
		must(t, s.CreateList(ctx, l))
		return l
	}
	same := func(a, b app.List) bool {
		return a.ID == b.ID && a.Owner == b.Owner && a.Name == b.Name && a.CreatedAt.Equal(b.CreatedAt)
	}
	l1, l2 := newList(owner, "friends"), newList(owner, "work")
	must(t, s.CreateList(ctx, l1)) // again: harmless
	if got, ok, err := s.GetList(ctx, owner, l1.ID); err != nil || !ok || !same(got, l1) {
		t.Fatalf("GetList(owner, l1) = %+v %v %v, want %+v", got, ok, err, l1)
	}
	if _, ok, err := s.GetList(ctx, other, l1.ID); err != nil || ok {
		t.Fatalf("GetList(other, l1) = %v %v, want none: a list is its owner's", ok, err)
	}
	if _, ok, err := s.GetList(ctx, owner, newID()); err != nil || ok {
		t.Fatalf("GetList of an unknown ID = %v %v, want none", ok, err)
	}
	got, err := s.OwnerLists(ctx, owner, 10)
	must(t, err)
	if len(got) != 2 || !same(got[0], l1) || !same(got[1], l2) {
		t.Fatalf("OwnerLists(owner) = %+v, want l1 then l2", got)
	}
	if got, err := s.OwnerLists(ctx, owner, 1); err != nil || len(got) != 1 || got[0].ID != l1.ID {
		t.Fatalf("OwnerLists(owner, 1) = %+v %v, want l1", got, err)
	}
	if got, err := s.OwnerLists(ctx, other, 10); err != nil || len(got) != 0 {
		t.Fatalf("OwnerLists(other) = %+v %v, want none", got, err)
	}

	must(t, s.RenameList(ctx, owner, l1.ID, "close friends"))
	if got, ok, err := s.GetList(ctx, owner, l1.ID); err != nil || !ok || got.Name != "close friends" || !got.CreatedAt.Equal(l1.CreatedAt) {
		t.Fatalf("after the rename: %+v %v %v", got, ok, err)
	}
	must(t, s.RenameList(ctx, other, l1.ID, "not yours")) // names no list
	if got, _, err := s.GetList(ctx, owner, l1.ID); err != nil || got.Name != "close friends" {
		t.Fatalf("another user's rename changed the list: %+v %v", got, err)
	}

	// Members: idempotent, in name order, paged, counted, per list.
	ms := []string{user("m3"), user("m1"), user("m2"), user("m4")}
	for _, m := range append(ms, ms[0], ms[1]) {
		must(t, s.AddListMember(ctx, owner, l1.ID, m))
	}
	must(t, s.AddListMember(ctx, owner, l2.ID, ms[0]))
	want := slices.Sorted(slices.Values(ms))
	var paged []string
	for after := ""; ; {
		page, err := s.ListMembers(ctx, owner, l1.ID, after, 3)
		must(t, err)
		paged = append(paged, page...)
		if len(page) < 3 {
			break
		}
		after = page[len(page)-1]
	}
	if !slices.Equal(paged, want) {
		t.Fatalf("members of l1 in pages of 3 = %v, want %v", paged, want)
	}
	if n, err := s.CountListMembers(ctx, owner, l1.ID); err != nil || n != 4 {
		t.Fatalf("CountListMembers(l1) = %d %v, want 4", n, err)
	}
	if ok, err := s.IsListMember(ctx, owner, l1.ID, ms[2]); err != nil || !ok {
		t.Fatalf("IsListMember(l1, m2) = %v %v, want true", ok, err)
	}
	if ok, err := s.IsListMember(ctx, owner, l2.ID, ms[2]); err != nil || ok {
		t.Fatalf("IsListMember(l2, m2) = %v %v, want false", ok, err)
	}
	if got, err := s.ListMembers(ctx, other, l1.ID, "", 10); err != nil || len(got) != 0 {
		t.Fatalf("members of l1 as other's list = %v %v, want none", got, err)
	}
	must(t, s.RemoveListMember(ctx, owner, l1.ID, ms[2]))
	must(t, s.RemoveListMember(ctx, owner, l1.ID, ms[2])) // again: harmless
	must(t, s.RemoveListMember(ctx, owner, l1.ID, user("never")))
	if n, err := s.CountListMembers(ctx, owner, l1.ID); err != nil || n != 3 {
		t.Fatalf("CountListMembers(l1) after a removal = %d %v, want 3", n, err)
	}
	if ok, err := s.IsListMember(ctx, owner, l1.ID, ms[2]); err != nil || ok {
		t.Fatalf("IsListMember(l1, m2) after its removal = %v %v, want false", ok, err)
	}

	// ListsOf: the lists a member is in, by owner then ID, paged; a
	// removal leaves them.
	l3 := newList(other, "others")
	must(t, s.AddListMember(ctx, other, l3.ID, ms[0]))
	refs := func(member string, limit int) []app.ListRef {
		t.Helper()
		var out []app.ListRef
		for after := (app.ListRef{}); ; {
			page, err := s.ListsOf(ctx, member, after, limit)
			must(t, err)
			out = append(out, page...)
			if len(page) < limit {
				return out
			}
			after = page[len(page)-1]
		}
	}
	wantRefs := []app.ListRef{{Owner: owner, ID: l1.ID}, {Owner: owner, ID: l2.ID}, {Owner: other, ID: l3.ID}}
	slices.SortFunc(wantRefs, func(a, b app.ListRef) int { return cmp.Or(cmp.Compare(a.Owner, b.Owner), cmp.Compare(a.ID, b.ID)) })
	for _, limit := range []int{1, 2, 10} {
		if got := refs(ms[0], limit); !slices.Equal(got, wantRefs) {
			t.Fatalf("ListsOf(m3) in pages of %d = %v, want %v", limit, got, wantRefs)
		}
	}
	if got := refs(ms[2], 10); len(got) != 0 {
		t.Fatalf("ListsOf(m2) after its removal = %v, want none", got)
	}
	if got := refs(user("never"), 10); len(got) != 0 {
		t.Fatalf("ListsOf of a user in no list = %v", got)
	}
	must(t, s.DeleteList(ctx, other, l3.ID))

	// Deleting takes the list and its members; another list stays; a
	// rename after the deletion brings nothing back.
	must(t, s.DeleteList(ctx, owner, l1.ID))
	must(t, s.DeleteList(ctx, owner, l1.ID)) // again: harmless
	if _, ok, err := s.GetList(ctx, owner, l1.ID); err != nil || ok {
		t.Fatalf("GetList after the deletion = %v %v, want none", ok, err)
	}
	if n, err := s.CountListMembers(ctx, owner, l1.ID); err != nil || n != 0 {
		t.Fatalf("members of the deleted list = %d %v, want 0", n, err)
	}
	must(t, s.RenameList(ctx, owner, l1.ID, "back?"))
	if _, ok, err := s.GetList(ctx, owner, l1.ID); err != nil || ok {
		t.Fatalf("a rename brought the deleted list back (%v)", err)
	}
	if got, err := s.OwnerLists(ctx, owner, 10); err != nil || len(got) != 1 || !same(got[0], l2) {
		t.Fatalf("OwnerLists after the deletion = %+v %v, want l2", got, err)
	}
	if got, err := s.ListMembers(ctx, owner, l2.ID, "", 10); err != nil || !slices.Equal(got, ms[:1]) {
		t.Fatalf("members of l2 = %v %v, want %v", got, err, ms[:1])
	}
	// The deleted lists left the index; l2 is still in it.
	if got, err := s.ListsOf(ctx, ms[0], app.ListRef{}, 10); err != nil || !slices.Equal(got, []app.ListRef{{Owner: owner, ID: l2.ID}}) {
		t.Fatalf("ListsOf(m3) after the deletions = %v %v, want l2 only", got, err)
	}
	if got, err := s.ListsOf(ctx, ms[1], app.ListRef{}, 10); err != nil || len(got) != 0 {
		t.Fatalf("ListsOf(m1) after its list's deletion = %v %v, want none", got, err)
	}
}
