package roles_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/app/apptest"
	"github.com/feedsvc/feedsvc/roles"
)

// feedWrites returns feedsvc_feed_writes_total{feed, op} and whether the
// series exists.
func feedWrites(t *testing.T, reg *prometheus.Registry, feed, op string) (float64, bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "feedsvc_feed_writes_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			if labels["feed"] == feed && labels["op"] == op {
				return m.GetCounter().GetValue(), true
			}
		}
	}
	return 0, false
}

// Every feed write made through the counted caches is counted by op: a
// fan-out's appends and take-back, a delete's removals, a rebuild's fill,
// a drop, a celebrity timeline's append.
func TestCountFeedWrites(t *testing.T) {
	ctx := context.Background()
	feeds, timelines := apptest.NewFeeds(), apptest.NewFeeds()
	reg := prometheus.NewRegistry()
	c := roles.CountFeedWrites(roles.Caches{Feeds: feeds, Unfollows: feeds, Timelines: timelines}, reg)
	want := map[[2]string]float64{}
	for _, op := range []string{roles.FeedOpAdd, roles.FeedOpRemove, roles.FeedOpRebuild, roles.FeedOpTakeBack, roles.FeedOpDrop} {
		want[[2]string{"home", op}] = 0
	}
	for _, op := range []string{roles.FeedOpAdd, roles.FeedOpRemove, roles.FeedOpRebuild} {
		want[[2]string{"timeline", op}] = 0
	}
	check := func(when string) {
		t.Helper()
		for k, v := range want {
			got, ok := feedWrites(t, reg, k[0], k[1])
			if !ok {
				t.Errorf("%s: feedsvc_feed_writes_total{feed=%q,op=%q} is missing", when, k[0], k[1])
			} else if got != v {
				t.Errorf("%s: feedsvc_feed_writes_total{feed=%q,op=%q} = %v, want %v", when, k[0], k[1], got, v)
			}
		}
	}
	check("at the start")

	ids := app.NewIDGen(1)
	old1, _ := ids.Next()
	old2, _ := ids.Next()
	// Two feeds rebuilt (read once, so fan-out writes them): 2 IDs filled.
	must(t, c.Feeds.Fill(ctx, "bo", nil))
	must(t, c.Feeds.Fill(ctx, "cy", []app.ID{old1, old2}))
	want[[2]string{"home", roles.FeedOpRebuild}] = 2
	check("after two rebuilds")

	// bo and cy follow al; bo unfollows just before al posts, so the
	// fan-out reaches cy only and takes the post back out of bo's feed.
	store := apptest.NewStore()
	for _, u := range []string{"al", "bo", "cy"} {
		must(t, store.EnsureUser(ctx, u))
	}
	for _, u := range []string{"bo", "cy"} {
		_, err := store.Follow(ctx, u, "al")
		must(t, err)
	}
	_, err := store.Unfollow(ctx, "bo", "al")
	must(t, err)
	must(t, c.Unfollows.RecordUnfollow(ctx, app.Follow{Follower: "bo", Followee: "al"}))
	fan := &app.Fanout{Posts: store, Graph: store, Feeds: c.Feeds, Unfollows: c.Unfollows, Timelines: c.Timelines,
		FeedCap: 100, PageSize: 10, Log: slog.New(slog.DiscardHandler)}
	id, _ := ids.Next()
	p := app.Post{ID: id, Author: "al", Text: "hello", CreatedAt: time.Now()}
	must(t, store.SavePost(ctx, p))
	must(t, fan.Handle(ctx, app.Event{ID: "post.created:" + id.String(), Type: app.PostCreated, Time: p.CreatedAt, Post: &p}))
	want[[2]string{"home", roles.FeedOpAdd}] = 1
	want[[2]string{"home", roles.FeedOpTakeBack}] = 1
	check("after a fan-out to one follower, taken back from one unfollower")

	// The delete takes it out of the one follower's feed.
	must(t, fan.Handle(ctx, app.Event{ID: "post.deleted:" + id.String(), Type: app.PostDeleted, Time: time.Now(), Post: &p}))
	want[[2]string{"home", roles.FeedOpRemove}] = 1
	check("after a delete")

	must(t, c.Feeds.Drop(ctx, "cy"))
	want[[2]string{"home", roles.FeedOpDrop}] = 1
	must(t, c.Timelines.Add(ctx, []app.FeedEntry{{User: "al", Post: id}}))
	want[[2]string{"timeline", roles.FeedOpAdd}] = 1
	check("after a drop and a timeline append")

	// A failed write counts nothing.
	reg2 := prometheus.NewRegistry()
	broken := roles.CountFeedWrites(roles.Caches{Feeds: failingFeeds{feeds}}, reg2)
	if err := broken.Feeds.Add(ctx, []app.FeedEntry{{User: "cy", Post: id}}); err == nil {
		t.Fatal("the failing cache's Add succeeded")
	}
	if n, _ := feedWrites(t, reg2, "home", roles.FeedOpAdd); n != 0 {
		t.Errorf("a failed Add counted %v writes, want 0", n)
	}
	// A process without Redis keeps its caches unset.
	none := roles.CountFeedWrites(roles.Caches{}, prometheus.NewRegistry())
	if none.Feeds != nil || none.Unfollows != nil || none.Timelines != nil {
		t.Errorf("CountFeedWrites set caches that were not set: %+v", none)
	}
}

// failingFeeds is a feed cache whose Redis is down.
type failingFeeds struct{ app.FeedCache }

func (failingFeeds) Add(context.Context, []app.FeedEntry) error { return errors.New("redis: down") }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
