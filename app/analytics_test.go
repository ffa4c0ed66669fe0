package app_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/app/apptest"
)

// anCall is one RecordPost or RemovePost call seen by anFakeAnalytics
// (a removal has Op "remove" and no author or tags).
type anCall struct {
	Op     string
	Post   app.ID
	Author string
	Tags   []string
	At     time.Time
}

// anFakeAnalytics records RecordPost and RemovePost calls; the queries are
// not used.
type anFakeAnalytics struct {
	calls []anCall
	err   error
}

func (f *anFakeAnalytics) RecordPost(_ context.Context, post app.ID, author string, tags []string, at time.Time) error {
	if f.err != nil {
		return f.err
	}
	f.calls = append(f.calls, anCall{"record", post, author, tags, at})
	return nil
}

func (f *anFakeAnalytics) RemovePost(_ context.Context, post app.ID, at time.Time) error {
	if f.err != nil {
		return f.err
	}
	f.calls = append(f.calls, anCall{"remove", post, "", nil, at})
	return nil
}

func (f *anFakeAnalytics) TopTags(context.Context, time.Time, time.Time, int) ([]app.TagCount, error) {
	return nil, errors.New("not used")
}

func (f *anFakeAnalytics) AuthorHourly(context.Context, string, time.Time, time.Time) ([]app.HourCount, error) {
	return nil, errors.New("not used")
}

func TestAnalystHandle(t *testing.T) {
	at := time.Date(2026, 11, 25, 10, 34, 5, 0, time.UTC)
	id, _ := app.NewIDGen(1).Next()
	cases := []struct {
		name string
		ev   app.Event
		want []anCall
	}{
		{"post.created counts author and hashtags",
			app.Event{ID: "ev1", Type: app.PostCreated, Post: &app.Post{ID: 1, Author: "ann", Text: "#Go and #go, #Café!", CreatedAt: at}},
			[]anCall{{"record", 1, "ann", []string{"go", "cafe"}, at}}},
		{"the post's time, not the event's, picks the bucket",
			app.Event{ID: "ev2", Type: app.PostCreated, Time: at.Add(time.Hour), Post: &app.Post{ID: 1, Author: "ann", Text: "hi", CreatedAt: at}},
			[]anCall{{"record", 1, "ann", nil, at}}},
		{"a post without a time falls back to its ID's",
			app.Event{ID: "ev3", Type: app.PostCreated, Post: &app.Post{ID: id, Author: "ann", Text: "hi"}},
			[]anCall{{"record", id, "ann", nil, id.Time().UTC()}}},
		// post.deleted carries the ID only: its time is the bucket, the
		// one post.created of the same post used.
		{"post.deleted takes the post back from its ID's bucket",
			app.Event{ID: "ev4", Type: app.PostDeleted, Time: at, Post: &app.Post{ID: id, Author: "ann"}},
			[]anCall{{"remove", id, "", nil, id.Time().UTC()}}},
		{"post.moderated takes the post back from its bucket",
			app.Event{ID: "ev6", Type: app.PostModerated, Post: &app.Post{ID: 1, Author: "ann", CreatedAt: at, Moderated: "spam"}},
			[]anCall{{"remove", 1, "", nil, at}}},
		{"follows are ignored", app.Event{ID: "ev5", Type: app.UserFollowed, Follow: &app.Follow{Follower: "a", Followee: "b"}}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := &anFakeAnalytics{}
			if err := (&app.Analyst{Analytics: f}).Handle(context.Background(), c.ev); err != nil {
				t.Fatal(err)
			}
			if !slices.EqualFunc(f.calls, c.want, func(a, b anCall) bool {
				return a.Op == b.Op && a.Post == b.Post && a.Author == b.Author && slices.Equal(a.Tags, b.Tags) && a.At.Equal(b.At)
			}) {
				t.Fatalf("calls = %+v, want %+v", f.calls, c.want)
			}
		})
	}
	t.Run("a failing sink fails the event", func(t *testing.T) {
		boom := errors.New("boom")
		err := (&app.Analyst{Analytics: &anFakeAnalytics{err: boom}}).Handle(context.Background(),
			app.Event{ID: "e", Type: app.PostCreated, Post: &app.Post{ID: 1, Author: "ann", CreatedAt: at}})
		if !errors.Is(err, boom) {
			t.Fatalf("err = %v, want %v", err, boom)
		}
	})
}

// TestDiscoveryTrendsAndStats records posts and checks what the windows
// ending now count.
func TestDiscoveryTrendsAndStats(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 25, 10, 34, 5, 0, time.UTC)
	an := apptest.NewAnalytics()
	record := func(id app.ID, author string, ago time.Duration, tags ...string) {
		t.Helper()
		must(t, an.RecordPost(ctx, id, author, tags, now.Add(-ago)))
	}
	record(1, "ann", 10*time.Minute, "go", "redis")
	record(2, "bob", 50*time.Minute, "go")
	record(3, "ann", 2*time.Hour, "old")    // outside the last hour
	record(4, "ann", 3*time.Hour)           // 07:34, before the last 3 hours' first hour
	record(5, "ann", -time.Minute, "later") // after now
	record(6, "ann", 5*time.Minute, "gone") // deleted: counts nowhere
	must(t, an.RemovePost(ctx, 6, now.Add(-5*time.Minute)))
	record(6, "ann", 5*time.Minute, "gone") // a replayed post.created
	d := &app.Discovery{Analytics: an, Now: func() time.Time { return now }}

	for _, c := range []struct {
		window time.Duration
		limit  int
		want   []app.TagCount
	}{
		{time.Hour, 5, []app.TagCount{{Tag: "go", Count: 2}, {Tag: "redis", Count: 1}}},
		{time.Hour, 1, []app.TagCount{{Tag: "go", Count: 2}}},
		{3 * time.Hour, 5, []app.TagCount{{Tag: "go", Count: 2}, {Tag: "old", Count: 1}, {Tag: "redis", Count: 1}}},
		{time.Minute, 5, nil},
	} {
		tags, err := d.Trends(ctx, c.window, c.limit)
		must(t, err)
		if !slices.Equal(tags, c.want) {
			t.Errorf("Trends(%s, %d) = %v, want %v", c.window, c.limit, tags, c.want)
		}
	}

	// The last 3 hours are 08:00, 09:00 and the current 10:00.
	counts, err := d.AuthorStats(ctx, "ann", 3)
	must(t, err)
	hour := func(h int) time.Time { return time.Date(2026, 11, 25, h, 0, 0, 0, time.UTC) }
	want := []app.HourCount{{Hour: hour(8), Count: 1}, {Hour: hour(9), Count: 0}, {Hour: hour(10), Count: 1}}
	if !slices.EqualFunc(counts, want, func(a, b app.HourCount) bool { return a.Hour.Equal(b.Hour) && a.Count == b.Count }) {
		t.Errorf("AuthorStats(ann, 3) = %v, want %v", counts, want)
	}

	for name, err := range map[string]error{
		"zero window": func() error { _, err := d.Trends(ctx, 0, 5); return err }(),
		"zero limit":  func() error { _, err := d.Trends(ctx, time.Hour, 0); return err }(),
		"zero hours":  func() error { _, err := d.AuthorStats(ctx, "ann", 0); return err }(),
	} {
		if !errors.Is(err, app.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
}
