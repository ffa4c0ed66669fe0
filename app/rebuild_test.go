package app_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/app/apptest"
)

// rebuildStore holds alice's four kinds of post (live, repost, moderated,
// older than the rebuild's reach), bob's 450 (more than a page) and carol,
// who never posted. It returns the posts a rebuild must write.
func rebuildStore(t *testing.T, now time.Time) (*apptest.Store, []app.ID) {
	t.Helper()
	ctx := context.Background()
	s := apptest.NewStore()
	for _, u := range []string{"alice", "bob", "carol"} {
		if err := s.EnsureUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	at := func(d time.Duration, n int) app.ID { return app.MinIDAt(now.Add(-d)) + app.ID(n) }
	save := func(p app.Post) {
		p.CreatedAt = p.ID.Time()
		if err := s.SavePost(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	live := app.Post{ID: at(time.Hour, 1), Author: "alice", Text: "hello #Go"}
	save(live)
	save(app.Post{ID: at(30*time.Minute, 1), Author: "alice", RepostOf: live.ID})
	spam := app.Post{ID: at(20*time.Minute, 1), Author: "alice", Text: "buy #now"}
	save(spam)
	if err := s.HidePost(ctx, spam, "spam"); err != nil {
		t.Fatal(err)
	}
	save(app.Post{ID: at(10*24*time.Hour, 1), Author: "alice", Text: "old #go"})
	want := []app.ID{live.ID}
	for i := range 450 {
		p := app.Post{ID: at(2*time.Hour, i), Author: "bob", Text: "bob says #x"}
		save(p)
		want = append(want, p.ID)
	}
	return s, want
}

func TestRebuildViewWritesEveryLivePost(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	s, want := rebuildStore(t, now)
	var got []app.ID
	var calls atomic.Int64
	write := func(_ context.Context, p app.Post) error {
		got = append(got, p.ID) // one worker: no lock needed
		return nil
	}
	res, err := app.RebuildView(ctx, s, write, now.Add(-8*24*time.Hour), 1, func(app.RebuildProgress) { calls.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("rebuild wrote %d posts, want %d (alice's live post and bob's 450)", len(got), len(want))
	}
	if res != (app.RebuildProgress{Users: 3, Written: 451, Skipped: 2}) || calls.Load() != 3 {
		t.Fatalf("progress %+v after %d calls, want 3 users, 451 written, 2 skipped after 3 calls", res, calls.Load())
	}
}

func TestRebuildTrendsAndSearchFromTheStore(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	s, want := rebuildStore(t, now)
	an, idx := apptest.NewAnalytics(), apptest.NewSearch()
	since := now.Add(-8 * 24 * time.Hour)
	// Twice: a rebuild that runs again (after a failure, or beside the
	// consumers) counts nothing twice.
	for range 2 {
		for _, w := range []app.PostWriter{app.CountPost(an), app.IndexPost(idx)} {
			if _, err := app.RebuildView(ctx, s, w, since, 4, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	tags, err := an.TopTags(ctx, since, now.Add(time.Minute), 10)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(tags, []app.TagCount{{Tag: "x", Count: 450}, {Tag: "go", Count: 1}}) {
		t.Fatalf("trends %v, want x 450 and go 1 (not the old post's, not the moderated one's)", tags)
	}
	if n := len(idx.Docs()); n != len(want) {
		t.Fatalf("index holds %d posts, want %d", n, len(want))
	}
	ids, err := idx.Search(ctx, []string{"hello"}, 0, 10)
	if err != nil || len(ids) != 1 || ids[0] != want[0] {
		t.Fatalf("search hello: %v, %v; want alice's post %s", ids, err, want[0])
	}
}

func TestRebuildViewStopsAtAFailedWrite(t *testing.T) {
	s, _ := rebuildStore(t, time.Now())
	// More users than a page of the listing: the failure stops it, and
	// the error is the write's.
	for i := range 450 {
		must(t, s.EnsureUser(context.Background(), fmt.Sprint("idle", i)))
	}
	boom := errors.New("redis down")
	var n atomic.Int64
	write := func(_ context.Context, p app.Post) error {
		if n.Add(1) > 10 {
			return fmt.Errorf("index post %s: %w", p.ID, boom)
		}
		return nil
	}
	res, err := app.RebuildView(context.Background(), s, write, time.Time{}, 2, nil)
	if !errors.Is(err, boom) {
		t.Fatalf("err %v, want the write's", err)
	}
	if res.Written != 10 {
		t.Fatalf("%d posts counted written, want the 10 that were", res.Written)
	}
}
