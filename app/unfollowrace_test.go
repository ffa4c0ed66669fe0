package app_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/feedsvc/feedsvc/app"
)

// racingGraph runs hook once, right after the first Followers or Following
// call it serves returned: the graph changes after the caller read it.
type racingGraph struct {
	app.Graph
	once sync.Once
	hook func()
}

func (g *racingGraph) Followers(ctx context.Context, user, cursor string, limit int) ([]string, string, error) {
	users, next, err := g.Graph.Followers(ctx, user, cursor, limit)
	g.once.Do(g.hook)
	return users, next, err
}

func (g *racingGraph) Following(ctx context.Context, user, cursor string, limit int) ([]string, string, error) {
	users, next, err := g.Graph.Following(ctx, user, cursor, limit)
	g.once.Do(g.hook)
	return users, next, err
}

// racingUnfollows runs hook once, right after RecentUnfollowers returned.
type racingUnfollows struct {
	app.Unfollows
	once sync.Once
	hook func()
}

func (u *racingUnfollows) RecentUnfollowers(ctx context.Context, author string, within time.Duration) ([]string, error) {
	users, err := u.Unfollows.RecentUnfollowers(ctx, author, within)
	u.once.Do(u.hook)
	return users, err
}

// changeEdge changes the graph and hands the event to fan-out at once, as
// an unfollow (or follow) handled while another write is in flight.
func (w *world) changeEdge(t *testing.T, follower, followee string, follow bool) {
	t.Helper()
	ctx := context.Background()
	ev := app.Event{Type: app.UserUnfollowed, Follow: &app.Follow{Follower: follower, Followee: followee}}
	var err error
	if follow {
		ev.Type = app.UserFollowed
		_, err = w.store.Follow(ctx, follower, followee)
	} else {
		_, err = w.store.Unfollow(ctx, follower, followee)
	}
	must(t, err)
	must(t, w.fanout.Handle(ctx, ev))
}

// TestUnfollowDuringFanout: a post's fan-out reads the followers, the
// follower unfollows and that unfollow's fan-out runs, and only then the
// post is written into the feeds (the posts and follows topics are not
// ordered together). The post must not stay in the unfollower's feed.
func TestUnfollowDuringFanout(t *testing.T) {
	for _, refollow := range []bool{false, true} {
		name := map[bool]string{false: "unfollow", true: "unfollow then follow again"}[refollow]
		t.Run(name, func(t *testing.T) {
			w := newWorld("a", "f", "g")
			ctx := context.Background()
			must(t, w.svc.Follow(ctx, "f", "a"))
			must(t, w.svc.Follow(ctx, "g", "a"))
			w.read(t, "f")
			w.read(t, "g")
			w.bus.Drain(t, w.fanout)
			p, err := w.svc.CreatePost(ctx, "a", "racing", "")
			must(t, err)
			racing := *w.fanout
			racing.Graph = &racingGraph{Graph: w.store, hook: func() {
				w.changeEdge(t, "f", "a", false)
				if refollow {
					w.changeEdge(t, "f", "a", true)
				}
			}}
			w.bus.Drain(t, &racing)
			want := []app.ID(nil)
			if refollow {
				want = []app.ID{p.ID}
			}
			if got := w.feeds.IDs("f"); !slices.Equal(got, want) {
				t.Errorf("f's stored feed = %v, want %v", got, want)
			}
			if got := w.feeds.IDs("g"); !slices.Equal(got, []app.ID{p.ID}) {
				t.Errorf("g's stored feed = %v, want the post", got)
			}
		})
	}
}

// TestFollowAgainWhileFanoutTakesBack: fan-out learns that f unfollowed
// the author, then f follows again (and that follow's fan-out puts the
// author's posts back) before fan-out takes the post out: the guarded
// removal leaves the feed as the follow made it.
func TestFollowAgainWhileFanoutTakesBack(t *testing.T) {
	w := newWorld("a", "f")
	ctx := context.Background()
	must(t, w.svc.Follow(ctx, "f", "a"))
	w.read(t, "f")
	w.bus.Drain(t, w.fanout)
	p, err := w.svc.CreatePost(ctx, "a", "racing", "")
	must(t, err)
	racing := *w.fanout
	racing.Graph = &racingGraph{Graph: w.store, hook: func() { w.changeEdge(t, "f", "a", false) }}
	racing.Unfollows = &racingUnfollows{Unfollows: w.feeds, hook: func() { w.changeEdge(t, "f", "a", true) }}
	w.bus.Drain(t, &racing)
	if got := w.feeds.IDs("f"); !slices.Equal(got, []app.ID{p.ID}) {
		t.Errorf("f's stored feed = %v, want the post (f follows a again)", got)
	}
}

// TestUnfollowDuringRebuild: a feed rebuild reads whom the user follows,
// the user unfollows one of them and its fan-out runs, and only then the
// rebuild fills the feed. The unfollowed author's posts must not stay.
func TestUnfollowDuringRebuild(t *testing.T) {
	w := newWorld("a", "b", "f")
	ctx := context.Background()
	must(t, w.svc.Follow(ctx, "f", "a"))
	must(t, w.svc.Follow(ctx, "f", "b"))
	_, err := w.svc.CreatePost(ctx, "a", "unfollowed meanwhile", "")
	must(t, err)
	kept, err := w.svc.CreatePost(ctx, "b", "kept", "")
	must(t, err)
	w.bus.Drain(t, w.fanout)
	svc := w.replica(1)
	svc.Graph = &racingGraph{Graph: w.store, hook: func() { w.changeEdge(t, "f", "a", false) }}
	if _, err := svc.ReadFeed(ctx, "f", "", 10); err != nil {
		t.Fatal(err)
	}
	if got := w.feeds.IDs("f"); !slices.Equal(got, []app.ID{kept.ID}) {
		t.Errorf("f's stored feed after the rebuild = %v, want only %v", got, kept.ID)
	}
}

// failingUnfollows fails every query of recent unfollows.
type failingUnfollows struct{ app.Unfollows }

func (failingUnfollows) RecentUnfollowees(context.Context, string, time.Duration) ([]string, error) {
	return nil, errors.New("redis: connection refused")
}

// TestRebuildDropsAFeedItCannotCheck: a rebuild that cannot ask which
// users the reader unfollowed meanwhile fails, and leaves no complete feed
// behind (it might hold an unfollowed author's posts): the next read
// rebuilds.
func TestRebuildDropsAFeedItCannotCheck(t *testing.T) {
	w := newWorld("a", "f")
	ctx := context.Background()
	must(t, w.svc.Follow(ctx, "f", "a"))
	_, err := w.svc.CreatePost(ctx, "a", "hello", "")
	must(t, err)
	w.bus.Drain(t, w.fanout)
	svc := w.replica(1)
	svc.Unfollows = failingUnfollows{w.feeds}
	if _, err := svc.ReadFeed(ctx, "f", "", 10); err == nil {
		t.Fatal("the read succeeded without checking the unfollows")
	}
	if _, complete, err := w.feeds.Page(ctx, "f", 0, 10); err != nil || complete {
		t.Fatalf("after the failed rebuild the feed is complete=%v (err %v), want dropped", complete, err)
	}
}

// racingPosts runs hook once, right after the first AuthorPosts call it
// serves returned: a post is deleted after a follow's merge read it.
type racingPosts struct {
	app.PostStore
	once sync.Once
	hook func()
}

func (p *racingPosts) AuthorPosts(ctx context.Context, author string, before app.ID, limit int) ([]app.Post, error) {
	posts, err := p.PostStore.AuthorPosts(ctx, author, before, limit)
	p.once.Do(p.hook)
	return posts, err
}

// TestDeleteDuringFollowMerge: a follow's fan-out reads the followee's
// posts, one of them is deleted and that post.deleted is handled (the
// follower is in the graph already, but its feed does not hold the post
// yet), and only then the merge writes the feed. The deleted post must not
// stay in the feed.
func TestDeleteDuringFollowMerge(t *testing.T) {
	w := newWorld("a", "f")
	ctx := context.Background()
	gone, err := w.svc.CreatePost(ctx, "a", "deleted meanwhile", "")
	must(t, err)
	kept, err := w.svc.CreatePost(ctx, "a", "kept", "")
	must(t, err)
	w.bus.Drain(t, w.fanout)
	w.read(t, "f") // f's feed is cached (empty): fan-out writes into it
	racing := *w.fanout
	racing.Posts = &racingPosts{PostStore: w.store, hook: func() {
		must(t, w.svc.DeletePost(ctx, "a", gone.ID))
		w.bus.Drain(t, w.fanout)
	}}
	must(t, w.svc.Follow(ctx, "f", "a"))
	w.bus.Drain(t, &racing)
	if got := w.feeds.IDs("f"); !slices.Equal(got, []app.ID{kept.ID}) {
		t.Errorf("f's stored feed = %v, want only %v", got, kept.ID)
	}
}

// TestDeleteDuringRebuild: a feed rebuild reads the followee's posts, one
// of them is deleted and that post.deleted is handled (the feed is being
// rebuilt, so it does not hold the post yet), and only then the rebuild
// fills the feed. The deleted post must not stay in the stored feed.
func TestDeleteDuringRebuild(t *testing.T) {
	w := newWorld("a", "f")
	ctx := context.Background()
	must(t, w.svc.Follow(ctx, "f", "a"))
	gone, err := w.svc.CreatePost(ctx, "a", "deleted meanwhile", "")
	must(t, err)
	kept, err := w.svc.CreatePost(ctx, "a", "kept", "")
	must(t, err)
	w.bus.Drain(t, w.fanout)
	svc := w.replica(1)
	svc.Posts = &racingPosts{PostStore: w.store, hook: func() {
		must(t, w.svc.DeletePost(ctx, "a", gone.ID))
		w.bus.Drain(t, w.fanout)
	}}
	if _, err := svc.ReadFeed(ctx, "f", "", 10); err != nil {
		t.Fatal(err)
	}
	if got := w.feeds.IDs("f"); !slices.Equal(got, []app.ID{kept.ID}) {
		t.Errorf("f's stored feed after the rebuild = %v, want only %v", got, kept.ID)
	}
}

// TestModerateDuringTimelineRebuild: the same race on a celebrity's
// timeline, rebuilt on a follower's read, with a moderation.
func TestModerateDuringTimelineRebuild(t *testing.T) {
	ctx := context.Background()
	w := hybridWorld(t)
	removed, err := w.svc.CreatePost(ctx, "star", "moderated meanwhile", "")
	must(t, err)
	kept, err := w.svc.CreatePost(ctx, "star", "kept", "")
	must(t, err)
	w.bus.Drain(t, w.fanout)
	must(t, w.timelines.Drop(ctx, "star")) // evicted: the next read rebuilds it
	svc := w.replica(1)
	svc.Posts = &racingPosts{PostStore: w.store, hook: func() {
		must(t, w.store.HidePost(ctx, removed, app.RuleBlocklist))
		must(t, w.fanout.Handle(ctx, app.Event{Type: app.PostModerated, Post: &app.Post{ID: removed.ID, Author: "star"}}))
	}}
	if _, err := svc.ReadFeed(ctx, "f1", "", 10); err != nil {
		t.Fatal(err)
	}
	if got := w.timelines.IDs("star"); !slices.Equal(got, []app.ID{kept.ID}) {
		t.Errorf("star's stored timeline after the rebuild = %v, want only %v", got, kept.ID)
	}
}
