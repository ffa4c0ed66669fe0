package app_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/feedsvc/feedsvc/app"
)

// anCall is one RecordPost call seen by anFakeAnalytics.
type anCall struct {
	EventID, Author string
	Tags            []string
	At              time.Time
}

// anFakeAnalytics records RecordPost calls and the last query ranges.
type anFakeAnalytics struct {
	calls            []anCall
	err              error
	topFrom, topTo   time.Time
	topLimit         int
	hourFrom, hourTo time.Time
	hourAuthor       string
}

func (f *anFakeAnalytics) RecordPost(_ context.Context, eventID, author string, tags []string, at time.Time) error {
	if f.err != nil {
		return f.err
	}
	f.calls = append(f.calls, anCall{eventID, author, tags, at})
	return nil
}

func (f *anFakeAnalytics) TopTags(_ context.Context, from, to time.Time, limit int) ([]app.TagCount, error) {
	f.topFrom, f.topTo, f.topLimit = from, to, limit
	return []app.TagCount{{Tag: "go", Count: 2}}, nil
}

func (f *anFakeAnalytics) AuthorHourly(_ context.Context, author string, from, to time.Time) ([]app.HourCount, error) {
	f.hourAuthor, f.hourFrom, f.hourTo = author, from, to
	return []app.HourCount{{Hour: from, Count: 1}}, nil
}

func TestAnalystHandle(t *testing.T) {
	at := time.Date(2026, 11, 25, 10, 34, 5, 0, time.UTC)
	id := app.NewIDGen(1).Next()
	cases := []struct {
		name string
		ev   app.Event
		want []anCall
	}{
		{"post.created counts author and hashtags",
			app.Event{ID: "ev1", Type: app.PostCreated, Post: &app.Post{ID: 1, Author: "ann", Text: "#Go and #go, #Café!", CreatedAt: at}},
			[]anCall{{"ev1", "ann", []string{"go", "cafe"}, at}}},
		{"the post's time, not the event's, picks the bucket",
			app.Event{ID: "ev2", Type: app.PostCreated, Time: at.Add(time.Hour), Post: &app.Post{ID: 1, Author: "ann", Text: "hi", CreatedAt: at}},
			[]anCall{{"ev2", "ann", nil, at}}},
		{"a post without a time falls back to its ID's",
			app.Event{ID: "ev3", Type: app.PostCreated, Post: &app.Post{ID: id, Author: "ann", Text: "hi"}},
			[]anCall{{"ev3", "ann", nil, id.Time().UTC()}}},
		{"an event without an ID dedupes by post",
			app.Event{Type: app.PostCreated, Post: &app.Post{ID: 7, Author: "ann", Text: "hi", CreatedAt: at}},
			[]anCall{{"post:7", "ann", nil, at}}},
		{"post.deleted is ignored", app.Event{ID: "ev4", Type: app.PostDeleted, Post: &app.Post{ID: 1, Author: "ann"}}, nil},
		{"follows are ignored", app.Event{ID: "ev5", Type: app.UserFollowed, Follow: &app.Follow{Follower: "a", Followee: "b"}}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := &anFakeAnalytics{}
			if err := (&app.Analyst{Analytics: f}).Handle(context.Background(), c.ev); err != nil {
				t.Fatal(err)
			}
			if !slices.EqualFunc(f.calls, c.want, func(a, b anCall) bool {
				return a.EventID == b.EventID && a.Author == b.Author && slices.Equal(a.Tags, b.Tags) && a.At.Equal(b.At)
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

func TestDiscoveryTrendsAndStats(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 25, 10, 34, 5, 0, time.UTC)
	f := &anFakeAnalytics{}
	d := &app.Discovery{Analytics: f, Now: func() time.Time { return now }}

	tags, err := d.Trends(ctx, time.Hour, 5)
	if err != nil || len(tags) != 1 {
		t.Fatalf("Trends = %v, %v", tags, err)
	}
	if !f.topFrom.Equal(now.Add(-time.Hour)) || !f.topTo.Equal(now) || f.topLimit != 5 {
		t.Fatalf("TopTags(%s, %s, %d), want [now-1h, now), 5", f.topFrom, f.topTo, f.topLimit)
	}

	if _, err := d.AuthorStats(ctx, "ann", 3); err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC); f.hourAuthor != "ann" || !f.hourFrom.Equal(want) || !f.hourTo.Equal(now) {
		t.Fatalf("AuthorHourly(%s, %s, %s), want ann, %s, now", f.hourAuthor, f.hourFrom, f.hourTo, want)
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
