package app_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/app/apptest"
)

// racingLists runs hook once, right after the first ListsOf it serves
// returned: a membership changes after fan-out read the author's lists.
type racingLists struct {
	app.Lists
	once sync.Once
	hook func()
}

func (l *racingLists) ListsOf(ctx context.Context, member string, after app.ListRef, limit int) ([]app.ListRef, error) {
	refs, err := l.Lists.ListsOf(ctx, member, after, limit)
	l.once.Do(l.hook)
	return refs, err
}

// TestListAddRacingAMute: the owner mutes a member while the member's
// addition merges its posts into the list feed; the mute's fan-out runs
// between the merge's read and its write. The posts end up out of the
// list feed (without the check after the merge, they stayed in).
func TestListAddRacingAMute(t *testing.T) {
	ctx := context.Background()
	w := listWorld("owner", "m")
	l, err := w.svc.CreateList(ctx, "owner", "l")
	must(t, err)
	listFeed(t, w, "owner", l.ID, 10) // the feed is stored (empty)
	p, err := w.svc.CreatePost(ctx, "m", "hello", "")
	must(t, err)
	w.bus.Drain(t, w.fanout)
	posts := w.svc.Posts
	w.svc.Posts = &racingPosts{PostStore: w.store, hook: func() {
		must(t, w.svc.Mute(ctx, "owner", "m", 0))
		w.bus.Drain(t, w.fanout)
	}}
	must(t, w.svc.AddListMember(ctx, "owner", l.ID, "m"))
	w.svc.Posts = posts
	if ids, _ := storedList(t, w, l.ID); slices.Contains(ids, p.ID) {
		t.Fatalf("stored list feed %v holds %v of m, whom the owner muted during the addition", ids, p.ID)
	}
	if got := listFeed(t, w, "owner", l.ID, 10); len(got) != 0 {
		t.Fatalf("list timeline %v, want nothing (m muted)", postIDs(got))
	}
}

// TestListUnmuteRacingARemoval: the owner removes a member while the
// unmute's fan-out merges the member's posts back into the list feed,
// between the merge's read and its write. The posts end up out of it.
func TestListUnmuteRacingARemoval(t *testing.T) {
	ctx := context.Background()
	w := listWorld("owner", "m")
	l, err := w.svc.CreateList(ctx, "owner", "l")
	must(t, err)
	must(t, w.svc.AddListMember(ctx, "owner", l.ID, "m"))
	p, err := w.svc.CreatePost(ctx, "m", "hello", "")
	must(t, err)
	listFeed(t, w, "owner", l.ID, 10)
	must(t, w.svc.Mute(ctx, "owner", "m", 0))
	w.bus.Drain(t, w.fanout)
	must(t, w.svc.Unmute(ctx, "owner", "m"))
	racing := *w.fanout
	racing.Posts = &racingPosts{PostStore: w.store, hook: func() {
		must(t, w.svc.RemoveListMember(ctx, "owner", l.ID, "m"))
	}}
	w.bus.Drain(t, &racing)
	if ids, _ := storedList(t, w, l.ID); slices.Contains(ids, p.ID) {
		t.Fatalf("stored list feed %v holds %v of m, removed during the unmute's merge", ids, p.ID)
	}
}

// storedList is list id's feed as stored, and whether it is complete.
func storedList(t *testing.T, w *world, id app.ID) ([]app.ID, bool) {
	t.Helper()
	ids, complete, err := w.feeds.Page(context.Background(), app.ListFeed(id), 0, 1000)
	must(t, err)
	return ids, complete
}

// TestListFeedIsFannedOut: a list feed is stored and kept by fan-out and
// by the membership calls, read by no rebuild once built: new posts go
// in, deleted ones out; a removed member's posts leave at once, also one
// whose fan-out read the member's lists before the removal (takeBack);
// a member added again comes back at once; a deleted list's feed goes.
func TestListFeedIsFannedOut(t *testing.T) {
	ctx := context.Background()
	w := listWorld("owner", "a", "b")
	l, err := w.svc.CreateList(ctx, "owner", "ab")
	must(t, err)
	must(t, w.svc.AddListMember(ctx, "owner", l.ID, "a"))
	must(t, w.svc.AddListMember(ctx, "owner", l.ID, "b"))
	post := func(author string) app.Post {
		p, err := w.svc.CreatePost(ctx, author, "hello from "+author, "")
		must(t, err)
		return p
	}
	a1 := post("a")
	w.bus.Drain(t, w.fanout) // the feed is not cached yet: nothing written
	if _, complete := storedList(t, w, l.ID); complete {
		t.Fatal("a list feed no one read is stored")
	}
	listFeed(t, w, "owner", l.ID, 10) // rebuilt on the miss
	a2, b1 := post("a"), post("b")
	w.bus.Drain(t, w.fanout)
	if ids, _ := storedList(t, w, l.ID); !slices.Equal(ids, []app.ID{b1.ID, a2.ID, a1.ID}) {
		t.Fatalf("stored list feed %v, want b1 a2 a1 (fan-out)", ids)
	}
	must(t, w.svc.DeletePost(ctx, "a", a2.ID))
	w.bus.Drain(t, w.fanout)
	if ids, _ := storedList(t, w, l.ID); !slices.Equal(ids, []app.ID{b1.ID, a1.ID}) {
		t.Fatalf("stored list feed %v after a2's deletion, want b1 a1", ids)
	}

	// b is removed while the fan-out of its post b2 is in flight: fan-out
	// read b's lists before the removal, and writes after it.
	b2 := post("b")
	w.fanout.Lists = &racingLists{Lists: w.store, hook: func() {
		must(t, w.svc.RemoveListMember(ctx, "owner", l.ID, "b"))
	}}
	w.bus.Drain(t, w.fanout)
	w.fanout.Lists = w.store
	if ids, _ := storedList(t, w, l.ID); !slices.Equal(ids, []app.ID{a1.ID}) {
		t.Fatalf("stored list feed %v after b's removal, want a1 only (b2 %v taken back)", ids, b2.ID)
	}
	// Added again: b's posts are back at once, and its next post follows.
	must(t, w.svc.AddListMember(ctx, "owner", l.ID, "b"))
	if ids, _ := storedList(t, w, l.ID); !slices.Equal(ids, []app.ID{b2.ID, b1.ID, a1.ID}) {
		t.Fatalf("stored list feed %v after b is added again, want b2 b1 a1", ids)
	}
	b3 := post("b")
	w.bus.Drain(t, w.fanout)
	if got := postIDs(listFeed(t, w, "owner", l.ID, 2)); !slices.Equal(got, []app.ID{b3.ID, b2.ID, b1.ID, a1.ID}) {
		t.Fatalf("list timeline %v, want b3 b2 b1 a1", got)
	}

	must(t, w.svc.DeleteList(ctx, "owner", l.ID))
	if _, complete := storedList(t, w, l.ID); complete {
		t.Fatal("a deleted list's feed is still stored")
	}
	if refs, err := w.store.ListsOf(ctx, "a", app.ListRef{}, 10); err != nil || len(refs) != 0 {
		t.Fatalf("a is still indexed in lists %v (%v) after the list's deletion", refs, err)
	}
}

// TestListFeedOfCelebrity: a celebrity's posts, which its followers merge
// from its timeline on read, are fanned out to its lists' feeds.
func TestListFeedOfCelebrity(t *testing.T) {
	ctx := context.Background()
	w := listWorld("owner", "star", "f1", "f2", "f3")
	w.fanout.CelebrityThreshold = 2
	for _, f := range []string{"f1", "f2", "f3"} {
		must(t, w.svc.Follow(ctx, f, "star"))
	}
	l, err := w.svc.CreateList(ctx, "owner", "stars")
	must(t, err)
	must(t, w.svc.AddListMember(ctx, "owner", l.ID, "star"))
	listFeed(t, w, "owner", l.ID, 10)
	p1, err := w.svc.CreatePost(ctx, "star", "first", "") // makes star a celebrity
	must(t, err)
	w.bus.Drain(t, w.fanout)
	p2, err := w.svc.CreatePost(ctx, "star", "second", "")
	must(t, err)
	w.bus.Drain(t, w.fanout)
	st, err := w.celebs.Statuses(ctx, []string{"star"})
	must(t, err)
	if st[0] != app.Celebrity {
		t.Fatalf("star's status %v, want a celebrity", st[0])
	}
	if ids, _ := storedList(t, w, l.ID); !slices.Equal(ids, []app.ID{p2.ID, p1.ID}) {
		t.Fatalf("stored list feed %v, want p2 p1", ids)
	}
	must(t, w.svc.DeletePost(ctx, "star", p2.ID))
	w.bus.Drain(t, w.fanout)
	if ids, _ := storedList(t, w, l.ID); !slices.Equal(ids, []app.ID{p1.ID}) {
		t.Fatalf("stored list feed %v after p2's deletion, want p1", ids)
	}
}

// failingAdds is a FeedCache whose Add fails.
type failingAdds struct{ app.FeedCache }

func (failingAdds) Add(context.Context, []app.FeedEntry) error { return app.ErrUnavailable }

// TestListChangeFailureDropsTheFeed: a member stored but not merged (the
// feed's write failed) answers an error and drops the list feed, so the
// next read rebuilds it with the member's posts.
func TestListChangeFailureDropsTheFeed(t *testing.T) {
	ctx := context.Background()
	w := listWorld("owner", "a")
	l, err := w.svc.CreateList(ctx, "owner", "a")
	must(t, err)
	p, err := w.svc.CreatePost(ctx, "a", "hello", "")
	must(t, err)
	listFeed(t, w, "owner", l.ID, 10) // cached, empty
	w.svc.Feeds = failingAdds{w.feeds}
	if err := w.svc.AddListMember(ctx, "owner", l.ID, "a"); err == nil {
		t.Fatal("adding a member whose merge failed answered no error")
	}
	w.svc.Feeds = w.feeds
	if _, complete := storedList(t, w, l.ID); complete {
		t.Fatal("the list feed stayed cached without the added member's posts")
	}
	if got := postIDs(listFeed(t, w, "owner", l.ID, 10)); !slices.Equal(got, []app.ID{p.ID}) {
		t.Fatalf("list timeline %v after the rebuild, want a's post", got)
	}
}

// landsThenFails is a Lists whose member removal is stored, then reported
// failed: a write that timed out after it landed.
type landsThenFails struct{ app.Lists }

func (l landsThenFails) RemoveListMember(ctx context.Context, owner string, id app.ID, member string) error {
	if err := l.Lists.RemoveListMember(ctx, owner, id, member); err != nil {
		return err
	}
	return app.ErrUnavailable
}

// TestListRemovalLandedDespiteAnError: a removal whose store write
// reports a failure but landed leaves no member's post in the list feed;
// without the drop, the feed kept the removed member's posts, and a post
// deleted afterwards stayed in it (its deletion looks only in the lists the
// author is in).
func TestListRemovalLandedDespiteAnError(t *testing.T) {
	ctx := context.Background()
	w := listWorld("owner", "a")
	l, err := w.svc.CreateList(ctx, "owner", "a")
	must(t, err)
	must(t, w.svc.AddListMember(ctx, "owner", l.ID, "a"))
	p, err := w.svc.CreatePost(ctx, "a", "hello", "")
	must(t, err)
	listFeed(t, w, "owner", l.ID, 10) // cached with a's post
	w.svc.Lists = landsThenFails{w.store}
	if err := w.svc.RemoveListMember(ctx, "owner", l.ID, "a"); err == nil {
		t.Fatal("a removal whose store write failed answered no error")
	}
	w.svc.Lists = w.store
	must(t, w.svc.DeletePost(ctx, "a", p.ID))
	w.bus.Drain(t, w.fanout)
	if ids, _ := storedList(t, w, l.ID); slices.Contains(ids, p.ID) {
		t.Fatalf("stored list feed %v holds %v, deleted, of a removed member", ids, p.ID)
	}
}

// TestRebuildRecordsTheCut: a rebuild that finds more posts than the cap
// keeps the newest cap and records the cut as the feed's floor, as the
// cap does on a write: a late fan-out of an older post stays out, and the
// feed never reads as holding a hole above its floor. Home and list feeds.
func TestRebuildRecordsTheCut(t *testing.T) {
	ctx := context.Background()
	w := listWorld("owner", "a")
	w.feeds = apptest.NewCappedFeeds(3)
	w.svc.Feeds, w.svc.Unfollows, w.fanout.Feeds, w.fanout.Unfollows = w.feeds, w.feeds, w.feeds, w.feeds
	w.svc.FeedCap, w.fanout.FeedCap = 3, 3
	must(t, w.svc.Follow(ctx, "owner", "a"))
	l, err := w.svc.CreateList(ctx, "owner", "a")
	must(t, err)
	must(t, w.svc.AddListMember(ctx, "owner", l.ID, "a"))
	var ps []app.Post
	for i := range 5 {
		p, err := w.svc.CreatePost(ctx, "a", fmt.Sprintf("post %d", i), "")
		must(t, err)
		ps = append(ps, p)
	}
	w.read(t, "owner")                // rebuilds the home feed
	listFeed(t, w, "owner", l.ID, 10) // and the list feed
	for _, feed := range []string{"owner", app.ListFeed(l.ID)} {
		if got := w.feeds.Floor(feed); got != ps[1].ID {
			t.Errorf("feed %s's floor after the rebuild: %v, want %v, the newest post the cap cut", feed, got, ps[1].ID)
		}
	}
	w.bus.Drain(t, w.fanout) // every post.created, late
	want := []app.ID{ps[4].ID, ps[3].ID, ps[2].ID}
	for _, feed := range []string{"owner", app.ListFeed(l.ID)} {
		ids, _, err := w.feeds.Page(ctx, feed, 0, 10)
		must(t, err)
		if !slices.Equal(ids, want) {
			t.Errorf("feed %s holds %v after the rebuild and a late fan-out, want the newest 3 %v", feed, ids, want)
		}
	}
}

// TestStoreLostDropsListFeeds: told that Redis lost writes, fan-out drops
// every list feed (the api's merges are redone by no event), keeps home
// feeds (the replay redoes them), and the next read rebuilds the list
// feed from the lists as stored.
func TestStoreLostDropsListFeeds(t *testing.T) {
	ctx := context.Background()
	w := listWorld("owner", "a")
	w.fanout.ListFeeds = w.feeds
	must(t, w.svc.Follow(ctx, "owner", "a"))
	l, err := w.svc.CreateList(ctx, "owner", "a")
	must(t, err)
	must(t, w.svc.AddListMember(ctx, "owner", l.ID, "a"))
	p, err := w.svc.CreatePost(ctx, "a", "hello", "")
	must(t, err)
	w.read(t, "owner")
	listFeed(t, w, "owner", l.ID, 10)
	must(t, w.fanout.StoreLost(ctx))
	if _, complete := storedList(t, w, l.ID); complete {
		t.Fatal("the list feed outlived the store's loss")
	}
	if _, complete, err := w.feeds.Page(ctx, "owner", 0, 10); err != nil || !complete {
		t.Fatalf("the home feed went too (%v)", err)
	}
	if got := postIDs(listFeed(t, w, "owner", l.ID, 10)); !slices.Equal(got, []app.ID{p.ID}) {
		t.Fatalf("the list feed rebuilt as %v, want %v", got, p.ID)
	}
}
