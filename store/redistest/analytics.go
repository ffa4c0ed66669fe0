package redistest

import (
	"context"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/feedsvc/feedsvc/app"
)

// AnalyticsBackend is one backend of the analytics suite.
type AnalyticsBackend struct {
	Analytics app.Analytics
	// Buckets reach into the backend's hour buckets. Nil for a backend
	// that keeps none (the fake): the cases about losing or expiring a
	// bucket are not run (not registered, so that CI can refuse every
	// skipped test), and the case that also checks a mark's expiry
	// checks the counts only.
	Buckets *Buckets
}

// Buckets reach into the hour buckets of an analytics backend.
type Buckets struct {
	// Retention is how long a bucket is kept; older events are ignored.
	Retention time.Duration
	// Wipe deletes the bucket of at's hour, counts and marks, as losing
	// its keys would.
	Wipe func(at time.Time) error
	// TTLs names the keys of at's bucket, the removal marks' first, and
	// returns their remaining lifetimes in seconds, as TTL answers (-2:
	// absent).
	TTLs func(at time.Time) (keys []string, ttls []int64, err error)
}

// anEvent is one post.created as the analytics adapter sees it. Tags and
// authors ending in "$" get the test's unique suffix; post is added to the
// test's random ID base.
type anEvent struct {
	post   app.ID
	author string
	tags   []string
	at     time.Duration // after the test's base hour
}

// anEnv isolates one analytics case on a shared server: a random base hour
// within the retention, a unique suffix for tags and authors, and a wipe of
// every bucket touched when the test ends.
type anEnv struct {
	t      *testing.T
	b      AnalyticsBackend
	a      app.Analytics
	base   time.Time
	suffix string
	idBase app.ID
}

// anHours hands each env of this process hours of its own: a case reads
// the hours from 1 before its base to 5 after, and a limited TopTags over
// hours another case also wrote counts that case's tags too (the fake
// keeps every case's events; one case in 60 met another's hours when the
// base hour was drawn at random, 1 of 120, for each case).
var anHours struct {
	sync.Mutex
	start, next int
}

// anSpan is the hours a case owns; 120/anSpan cases fit before they share.
const anSpan = 7

func newAnEnv(t *testing.T, b AnalyticsBackend) *anEnv {
	t.Helper()
	// 1..6 days back: far from now and from the retention edge; the start
	// is random, so that processes sharing a server rarely meet.
	anHours.Lock()
	if anHours.next == 0 {
		anHours.start = rand.IntN(5 * 24)
	}
	slot := (anHours.start + anHours.next*anSpan) % (5*24 - anSpan)
	anHours.next++
	anHours.Unlock()
	back := time.Duration(24+anSpan-1+slot) * time.Hour
	e := &anEnv{
		t:      t,
		b:      b,
		a:      b.Analytics,
		base:   time.Now().UTC().Add(-back).Truncate(time.Hour),
		suffix: "_" + uniqueUser(t),
		idBase: app.ID(rand.Int64N(1 << 60)),
	}
	if b.Buckets != nil {
		t.Cleanup(func() {
			for h := e.base.Add(-time.Hour); h.Before(e.base.Add(5 * time.Hour)); h = h.Add(time.Hour) {
				e.wipe(h)
			}
		})
	}
	return e
}

func (e *anEnv) name(s string) string { return strings.ReplaceAll(s, "$", e.suffix) }

func (e *anEnv) record(evs ...anEvent) {
	e.t.Helper()
	for _, ev := range evs {
		tags := make([]string, len(ev.tags))
		for i, tag := range ev.tags {
			tags[i] = e.name(tag)
		}
		must(e.t, e.a.RecordPost(context.Background(), e.idBase+ev.post, e.name(ev.author), tags, e.base.Add(ev.at)))
	}
}

// remove takes posts back, each at the time it was recorded with.
func (e *anEnv) remove(evs ...anEvent) {
	e.t.Helper()
	for _, ev := range evs {
		must(e.t, e.a.RemovePost(context.Background(), e.idBase+ev.post, e.base.Add(ev.at)))
	}
}

// wipe deletes the hour bucket of at: counters and dedupe set together.
func (e *anEnv) wipe(at time.Time) {
	if err := e.b.Buckets.Wipe(at); err != nil {
		e.t.Errorf("wipe bucket %s: %v", at, err)
	}
}

// top returns TopTags over [from, to) after the base hour, keeping only
// this test's tags (with the suffix removed) so strays cannot interfere.
func (e *anEnv) top(from, to time.Duration, limit int) []app.TagCount {
	e.t.Helper()
	got, err := e.a.TopTags(context.Background(), e.base.Add(from), e.base.Add(to), limit)
	must(e.t, err)
	var out []app.TagCount
	for _, tc := range got {
		if tag, ok := strings.CutSuffix(tc.Tag, e.suffix); ok {
			out = append(out, app.TagCount{Tag: tag + "$", Count: tc.Count})
		}
	}
	return out
}

// hourly returns AuthorHourly's counts over [from, to) after the base hour,
// checking that the hours are consecutive from from's hour.
func (e *anEnv) hourly(author string, from, to time.Duration) []int64 {
	e.t.Helper()
	got, err := e.a.AuthorHourly(context.Background(), e.name(author), e.base.Add(from), e.base.Add(to))
	must(e.t, err)
	counts := make([]int64, len(got))
	for i, hc := range got {
		if want := e.base.Add(from).Truncate(time.Hour).Add(time.Duration(i) * time.Hour); !hc.Hour.Equal(want) {
			e.t.Fatalf("hour %d = %s, want %s", i, hc.Hour, want)
		}
		counts[i] = hc.Count
	}
	return counts
}

func tagCounts(kv ...any) []app.TagCount {
	var out []app.TagCount
	for i := 0; i < len(kv); i += 2 {
		out = append(out, app.TagCount{Tag: kv[i].(string), Count: int64(kv[i+1].(int))})
	}
	return out
}

// RunAnalytics runs the analytics cases as subtests of t, the backend's
// test, each at a random hour of the last days with its own authors and
// tags, so a real server may be shared.
func RunAnalytics(t *testing.T, b AnalyticsBackend) {
	ctx := context.Background()
	bucketCase := func(name string, f func(t *testing.T)) {
		if b.Buckets != nil {
			t.Run(name, f)
		}
	}
	m := time.Minute
	h := time.Hour
	type query struct {
		from, to time.Duration
		limit    int
		want     []app.TagCount
	}
	type hourly struct {
		author   string
		from, to time.Duration
		want     []int64
	}
	cases := []struct {
		name    string
		events  []anEvent
		tops    []query
		hourlys []hourly
	}{
		{
			name: "each event counts once however often it is delivered",
			events: []anEvent{
				{1, "ann$", []string{"go$", "redis$"}, 10 * time.Second},
				{1, "ann$", []string{"go$", "redis$"}, 10 * time.Second},
				{2, "ann$", []string{"go$"}, 30 * time.Second},
				{3, "bob$", []string{"go$"}, m + time.Second},
				{2, "ann$", []string{"go$"}, 30 * time.Second},
				{3, "bob$", []string{"go$"}, m + time.Second},
			},
			tops:    []query{{0, h, 0, tagCounts("go$", 3, "redis$", 1)}},
			hourlys: []hourly{{"ann$", 0, h, []int64{2}}, {"bob$", 0, h, []int64{1}}},
		},
		{
			name: "windows across hours: whole hours from rollups, the partial ones by minute",
			events: []anEvent{
				{1, "ann$", []string{"a$"}, 20 * m},
				{2, "ann$", []string{"a$", "b$"}, 50 * m},
				{3, "bob$", []string{"b$"}, h + 5*m},
				{4, "bob$", []string{"c$"}, 2*h + 10*m},
				{5, "ann$", []string{"c$"}, 2*h + 40*m},
				{6, "ann$", []string{"d$"}, 3*h + 59*m},
			},
			tops: []query{
				{30 * m, 2*h + 15*m, 0, tagCounts("b$", 2, "a$", 1, "c$", 1)},
				{0, 3 * h, 0, tagCounts("a$", 2, "b$", 2, "c$", 2)},
				{h, 2 * h, 0, tagCounts("b$", 1)},
				{50 * m, 3*h + 59*m, 0, tagCounts("b$", 2, "c$", 2, "a$", 1)},
				{21 * m, 4 * h, 0, tagCounts("b$", 2, "c$", 2, "a$", 1, "d$", 1)},
			},
			hourlys: []hourly{
				{"ann$", 30 * m, 2*h + 15*m, []int64{1, 0, 0}},
				{"ann$", 0, 4 * h, []int64{2, 0, 1, 1}},
				{"bob$", 30 * m, 2*h + 15*m, []int64{0, 1, 1}},
			},
		},
		{
			name:    "a tag repeated in one post counts once",
			events:  []anEvent{{1, "ann$", []string{"go$", "go$"}, 0}},
			tops:    []query{{0, h, 0, tagCounts("go$", 1)}},
			hourlys: []hourly{{"ann$", 0, h, []int64{1}}},
		},
		{
			name: "top tags: most used first, ties by name, limit",
			events: []anEvent{
				{1, "ann$", []string{"b$", "c$"}, 0},
				{2, "ann$", []string{"a$", "c$"}, 2 * m},
				{3, "bob$", []string{"a$", "b$", "c$"}, 40 * m},
				{4, "bob$", []string{"d$"}, 59 * m},
			},
			tops: []query{
				{0, h, 0, tagCounts("c$", 3, "a$", 2, "b$", 2, "d$", 1)},
				{0, h, 2, tagCounts("c$", 3, "a$", 2)},
				{0, h, 100, tagCounts("c$", 3, "a$", 2, "b$", 2, "d$", 1)},
			},
		},
		{
			name: "window edges are minute buckets: from inclusive, to exclusive",
			events: []anEvent{
				{1, "ann$", []string{"early$"}, 10*m - time.Second},
				{2, "ann$", []string{"first$"}, 10 * m},
				{3, "ann$", []string{"inside$"}, 15*m + 30*time.Second},
				{4, "ann$", []string{"last$"}, 20*m - time.Nanosecond},
				{5, "ann$", []string{"late$"}, 20 * m},
			},
			tops: []query{
				{10 * m, 20 * m, 0, tagCounts("first$", 1, "inside$", 1, "last$", 1)},
				// An unaligned edge takes the whole minute it falls in.
				{10*m + 30*time.Second, 19*m + time.Second, 0, tagCounts("first$", 1, "inside$", 1, "last$", 1)},
				{15 * m, 16 * m, 0, tagCounts("inside$", 1)},
				{20 * m, 20 * m, 0, nil},
				{0, 10 * m, 0, tagCounts("early$", 1)},
				{0, 2 * h, 0, tagCounts("early$", 1, "first$", 1, "inside$", 1, "last$", 1, "late$", 1)},
			},
		},
		{
			name: "author hourly: every hour of the range, zeros included",
			events: []anEvent{
				{1, "ann$", nil, 5 * m},
				{2, "ann$", nil, 59*m + 59*time.Second},
				{3, "ann$", nil, h},
				{4, "ann$", nil, 3*h + 30*m},
				{5, "bob$", nil, 3 * h},
				{4, "ann$", nil, 3*h + 30*m},
			},
			hourlys: []hourly{
				{"ann$", 0, 4 * h, []int64{2, 1, 0, 1}},
				{"ann$", 30 * m, 3*h + 30*m, []int64{1, 1, 0, 0}},
				{"ann$", 30 * m, 3*h + 31*m, []int64{1, 1, 0, 1}},
				{"bob$", 0, 4 * h, []int64{0, 0, 0, 1}},
				{"nobody$", 0, 2 * h, []int64{0, 0}},
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newAnEnv(t, b)
			e.record(c.events...)
			for _, q := range c.tops {
				if got := e.top(q.from, q.to, q.limit); !slices.Equal(got, q.want) {
					t.Errorf("TopTags(+%s, +%s, %d) = %v, want %v", q.from, q.to, q.limit, got, q.want)
				}
			}
			for _, q := range c.hourlys {
				if got := e.hourly(q.author, q.from, q.to); !slices.Equal(got, q.want) {
					t.Errorf("AuthorHourly(%s, +%s, +%s) = %v, want %v", q.author, q.from, q.to, got, q.want)
				}
			}
		})
	}
	bucketCase("wiping a bucket and replaying reproduces the counts", func(t *testing.T) {
		e := newAnEnv(t, b)
		evs := []anEvent{
			{1, "ann$", []string{"go$", "db$"}, 5*m + time.Second},
			{2, "ann$", []string{"go$"}, 5*m + 50*time.Second},
			{3, "bob$", []string{"db$"}, 5*m + 20*time.Second},
			{4, "ann$", []string{"go$"}, 6 * m},
			{5, "bob$", []string{"go$"}, h + 6*m},
		}
		e.record(evs...)
		e.record(evs[1], evs[3]) // redelivered
		wantTop := tagCounts("go$", 4, "db$", 2)
		wantAnn, wantBob := []int64{3, 0}, []int64{1, 1}
		check := func(when string) {
			t.Helper()
			if got := e.top(0, 2*h, 0); !slices.Equal(got, wantTop) {
				t.Fatalf("%s: TopTags = %v, want %v", when, got, wantTop)
			}
			if got := e.hourly("ann$", 0, 2*h); !slices.Equal(got, wantAnn) {
				t.Fatalf("%s: ann hourly = %v, want %v", when, got, wantAnn)
			}
			if got := e.hourly("bob$", 0, 2*h); !slices.Equal(got, wantBob) {
				t.Fatalf("%s: bob hourly = %v, want %v", when, got, wantBob)
			}
		}
		check("before the wipe")
		e.wipe(e.base.Add(5 * m)) // the first hour
		if got, want := e.top(0, 2*h, 0), tagCounts("go$", 1); !slices.Equal(got, want) {
			t.Fatalf("after the wipe: TopTags = %v, want %v", got, want)
		}
		// Replay everything, twice: only the wiped bucket counts again.
		e.record(evs...)
		check("after replay")
		e.record(evs...)
		check("after a second replay")
	})
	t.Run("a removed post leaves trends and hourly counts, once", func(t *testing.T) {
		e := newAnEnv(t, b)
		gone := anEvent{1, "ann$", []string{"go$", "db$", "only$"}, 5*m + time.Second}
		evs := []anEvent{gone,
			{2, "ann$", []string{"go$"}, 5*m + 30*time.Second},
			{3, "bob$", []string{"db$"}, 5*m + 40*time.Second},
		}
		e.record(evs...)
		e.remove(gone)
		e.remove(gone) // redelivered
		want := tagCounts("db$", 1, "go$", 1)
		if got := e.top(0, h, 0); !slices.Equal(got, want) {
			t.Fatalf("TopTags = %v, want %v (a tag at zero is gone)", got, want)
		}
		if got := e.hourly("ann$", 0, h); !slices.Equal(got, []int64{1}) {
			t.Fatalf("ann hourly = %v, want [1]", got)
		}
		// The whole log again, in order: create, create, create, delete.
		e.record(evs...)
		e.remove(gone)
		if got := e.top(0, h, 0); !slices.Equal(got, want) {
			t.Fatalf("after a replay: TopTags = %v, want %v", got, want)
		}
		if got := e.hourly("ann$", 0, h); !slices.Equal(got, []int64{1}) {
			t.Fatalf("after a replay: ann hourly = %v, want [1]", got)
		}
	})
	t.Run("a post removed before it was counted is never counted", func(t *testing.T) {
		e := newAnEnv(t, b)
		late := anEvent{1, "ann$", []string{"go$"}, 7 * m}
		e.remove(late) // the delete handled first (a re-driven dead letter)
		e.record(late)
		e.record(anEvent{2, "ann$", []string{"db$"}, 7 * m})
		if got, want := e.top(0, h, 0), tagCounts("db$", 1); !slices.Equal(got, want) {
			t.Fatalf("TopTags = %v, want %v", got, want)
		}
		if got := e.hourly("ann$", 0, h); !slices.Equal(got, []int64{1}) {
			t.Fatalf("ann hourly = %v, want [1]", got)
		}
		if b.Buckets == nil {
			return // nothing kept in real time, nothing to expire
		}
		keys, ttls, err := b.Buckets.TTLs(e.base.Add(7 * m))
		must(t, err)
		if ttls[0] <= 0 {
			t.Fatalf("TTL of %s = %d: the removal mark must expire with its bucket", keys[0], ttls[0])
		}
	})
	bucketCase("wiping a bucket and replaying creates and deletes reproduces the counts", func(t *testing.T) {
		e := newAnEnv(t, b)
		evs := []anEvent{
			{1, "ann$", []string{"go$", "db$"}, 9*m + time.Second},
			{2, "ann$", []string{"go$"}, 9*m + 20*time.Second},
			{3, "bob$", []string{"db$"}, 9*m + 50*time.Second},
		}
		play := func() {
			e.record(evs...)
			e.remove(evs[0])
		}
		play()
		want := tagCounts("db$", 1, "go$", 1)
		e.wipe(e.base.Add(9 * m))
		play()
		play()
		if got := e.top(0, h, 0); !slices.Equal(got, want) {
			t.Fatalf("TopTags = %v, want %v", got, want)
		}
	})
	bucketCase("keys expire and old events are ignored", func(t *testing.T) {
		e := newAnEnv(t, b)
		e.record(anEvent{1, "ann$", []string{"go$"}, 0})
		keys, ttls, err := b.Buckets.TTLs(e.base)
		must(t, err)
		for i, ttl := range ttls {
			if max := int64(b.Buckets.Retention / time.Second); ttl <= 0 || ttl > max {
				t.Fatalf("TTL of %s = %d, want in (0, %d]", keys[i], ttl, max)
			}
		}
		old := time.Now().Add(-b.Buckets.Retention - time.Hour)
		must(t, e.a.RemovePost(ctx, e.idBase+98, old))
		must(t, e.a.RecordPost(ctx, e.idBase+99, "ann"+e.suffix, []string{"go" + e.suffix}, old))
		keys, ttls, err = b.Buckets.TTLs(old)
		must(t, err)
		for i, ttl := range ttls {
			if ttl != -2 {
				t.Fatalf("an event past the retention created %s", keys[i])
			}
		}
	})
}
