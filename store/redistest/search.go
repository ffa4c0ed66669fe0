package redistest

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/feedsvc/feedsvc/app"
)

// SearchBackend is one backend of the search suite.
type SearchBackend struct {
	// New returns an index keeping the newest capPerTerm posts of each
	// term, and posts made within retention (0: every post). The cases use
	// words of their own, so the indexes of several calls may share a
	// store or not.
	New func(t *testing.T, capPerTerm int, retention time.Duration) app.SearchIndex
	// HasTermList reports whether index still keeps the list of
	// terms post id was indexed under (Unindex works from it).
	HasTermList func(index app.SearchIndex, id app.ID) (bool, error)
	// Forget deletes what a case stored for terms and posts. Nil: nothing
	// outlives the run.
	Forget func(terms []string, posts []app.ID) error
}

// sxEnv isolates one search case on a shared server: every "$" in a text
// or query becomes a unique suffix, so the words are the test's own, and
// every key written is deleted when the test ends.
type sxEnv struct {
	t      *testing.T
	s      app.SearchIndex
	suffix string
	terms  map[string]bool
	posts  map[app.ID]bool
}

func newSxEnv(t *testing.T, b SearchBackend, capPerTerm int) *sxEnv {
	return newSxEnvFor(t, b, capPerTerm, 0)
}

func newSxEnvFor(t *testing.T, b SearchBackend, capPerTerm int, retention time.Duration) *sxEnv {
	e := &sxEnv{t: t, s: b.New(t, capPerTerm, retention),
		suffix: "_" + uniqueUser(t), terms: map[string]bool{}, posts: map[app.ID]bool{}}
	if b.Forget != nil {
		t.Cleanup(func() {
			if err := b.Forget(slices.Collect(maps.Keys(e.terms)), slices.Collect(maps.Keys(e.posts))); err != nil {
				t.Errorf("clean up: %v", err)
			}
		})
	}
	return e
}

func (e *sxEnv) termsOf(text string) []string {
	return app.Terms(strings.ReplaceAll(text, "$", e.suffix))
}

// index indexes post id with the terms of text, as the Indexer does.
func (e *sxEnv) index(id app.ID, text string) {
	e.t.Helper()
	terms := e.termsOf(text)
	for _, term := range terms {
		e.terms[term] = true
	}
	e.posts[id] = true
	must(e.t, e.s.Index(context.Background(), id, terms))
}

func (e *sxEnv) search(q string, before app.ID, limit int) []app.ID {
	e.t.Helper()
	got, err := e.s.Search(context.Background(), e.termsOf(q), before, limit)
	must(e.t, err)
	return got
}

// RunSearch runs the search cases as subtests of t, the backend's test,
// with words of their own, so a real server may be shared.
func RunSearch(t *testing.T, b SearchBackend) {
	ctx := context.Background()
	type query struct {
		q      string
		before app.ID
		limit  int
		want   []app.ID
	}
	cases := []struct {
		name    string
		cap     int
		posts   map[app.ID]string
		unindex []app.ID
		queries []query
	}{
		{
			name: "every term must match",
			posts: map[app.ID]string{
				1: "red$ apple$", 2: "red$ car$", 3: "green$ apple$", 4: "A red$ apple$ pie$",
			},
			queries: []query{
				{"apple$ red$", 0, 10, ids(4, 1)},
				{"red$", 0, 10, ids(4, 2, 1)},
				{"red$ apple$ pie$", 0, 10, ids(4)},
				{"red$ green$", 0, 10, nil},
				{"red$ unknown$", 0, 10, nil},
				{"red$ red$ apple$", 0, 10, ids(4, 1)},
			},
		},
		{
			name:  "case and accents do not matter",
			posts: map[app.ID]string{1: "Café$ crème$!", 2: "cafe$ noir$", 3: "CAFÉ$"},
			queries: []query{
				{"café$", 0, 10, ids(3, 2, 1)},
				{"CAFE$ Creme$", 0, 10, ids(1)},
			},
		},
		{
			name:  "a hashtag is found by the word, the word not by the hashtag",
			posts: map[app.ID]string{1: "loving #Go$ today", 2: "go$ home", 3: "@go$ hi"},
			queries: []query{
				{"#go$", 0, 10, ids(1)},
				{"go$", 0, 10, ids(3, 2, 1)},
				{"#go$ today", 0, 10, ids(1)},
			},
		},
		{
			name: "newest first, paged with before",
			posts: map[app.ID]string{
				1: "page$", 2: "page$", 3: "page$", 4: "page$", 5: "page$", 6: "page$", 7: "page$",
			},
			queries: []query{
				{"page$", 0, 3, ids(7, 6, 5)},
				{"page$", 5, 3, ids(4, 3, 2)},
				{"page$", 2, 3, ids(1)},
				{"page$", 1, 3, nil},
				{"page$", 100, 2, ids(7, 6)},
			},
		},
		{
			name:    "unindex removes a post from every term",
			posts:   map[app.ID]string{1: "gone$ here$", 2: "gone$ here$", 3: "gone$"},
			unindex: []app.ID{2, 2, 99},
			queries: []query{
				{"gone$", 0, 10, ids(3, 1)},
				{"here$", 0, 10, ids(1)},
			},
		},
		{
			name:  "each term keeps its newest posts up to the cap",
			cap:   3,
			posts: map[app.ID]string{1: "cap$ x$", 2: "cap$", 3: "cap$ x$", 4: "cap$", 5: "cap$", 6: "x$"},
			queries: []query{
				{"cap$", 0, 10, ids(5, 4, 3)},
				{"x$", 0, 10, ids(6, 3, 1)},
				{"cap$ x$", 0, 10, ids(3)},
			},
		},
		{
			name:  "64-bit ids keep their order",
			posts: map[app.ID]string{1 << 62: "big$", 1<<62 + 1: "big$", 255: "big$", 256: "big$"},
			queries: []query{
				{"big$", 0, 10, []app.ID{1<<62 + 1, 1 << 62, 256, 255}},
				{"big$", 1 << 62, 10, []app.ID{256, 255}},
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newSxEnv(t, b, cmp.Or(c.cap, 10000))
			// Index in ID order, each twice: indexing is idempotent.
			keys := make([]app.ID, 0, len(c.posts))
			for id := range c.posts {
				keys = append(keys, id)
			}
			slices.Sort(keys)
			for range 2 {
				for _, id := range keys {
					e.index(id, c.posts[id])
				}
			}
			for _, id := range c.unindex {
				must(t, e.s.Unindex(ctx, id))
			}
			for _, q := range c.queries {
				if got := e.search(q.q, q.before, q.limit); !slices.Equal(got, q.want) {
					t.Errorf("Search(%q, before %d, limit %d) = %v, want %v", q.q, q.before, q.limit, got, q.want)
				}
			}
		})
	}
	t.Run("a sparse intersection spans several chunks of the rarest term", func(t *testing.T) {
		e := newSxEnv(t, b, 10000)
		for id := app.ID(1); id <= 600; id++ {
			text := "even$"
			if id%2 == 1 {
				text = "odd$"
			}
			if id <= 300 {
				text += " low$"
			}
			if id%100 == 0 {
				text += " round$"
			}
			e.index(id, text)
		}
		var want []app.ID
		for id := app.ID(300); id > 100; id -= 2 {
			want = append(want, id)
		}
		if got := e.search("low$ even$", 0, 100); !slices.Equal(got, want) {
			t.Fatalf("low even = %v, want %v", got, want)
		}
		if got := e.search("round$ odd$", 0, 10); len(got) != 0 {
			t.Fatalf("round odd = %v, want none", got)
		}
		if got, want := e.search("round$ even$ low$", 0, 10), ids(300, 200, 100); !slices.Equal(got, want) {
			t.Fatalf("round even low = %v, want %v", got, want)
		}
	})
	t.Run("unindex after a cap trim and of a post never indexed", func(t *testing.T) {
		e := newSxEnv(t, b, 2)
		e.index(1, "trim$")
		e.index(2, "trim$")
		e.index(3, "trim$")
		must(t, e.s.Unindex(ctx, 1)) // already trimmed away
		must(t, e.s.Unindex(ctx, 3))
		must(t, e.s.Unindex(ctx, 12345))
		if got := e.search("trim$", 0, 10); !slices.Equal(got, ids(2)) {
			t.Fatalf("trim = %v, want [2]", got)
		}
		kept, err := b.HasTermList(e.s, 3)
		must(t, err)
		if kept {
			t.Fatal("unindex left the post's term list behind")
		}
	})
	t.Run("retention: a post older than it is neither indexed nor found", func(t *testing.T) {
		e := newSxEnvFor(t, b, 10, time.Hour)
		now := time.Now()
		old, edge, young := app.MinIDAt(now.Add(-2*time.Hour)), app.MinIDAt(now.Add(-50*time.Minute)), app.MinIDAt(now.Add(-time.Minute))
		for _, id := range []app.ID{old, edge, young} {
			e.index(id, "aged$")
		}
		if got, want := e.search("aged$", 0, 10), []app.ID{young, edge}; !slices.Equal(got, want) {
			t.Fatalf("aged = %v, want %v (not %v, made 2 h ago)", got, want, old)
		}
		kept, err := b.HasTermList(e.s, old)
		must(t, err)
		if kept {
			t.Fatal("a post older than the retention got a term list")
		}
		kept, err = b.HasTermList(e.s, young)
		must(t, err)
		if !kept {
			t.Fatal("a young post has no term list")
		}
	})
	t.Run("no terms finds nothing", func(t *testing.T) {
		e := newSxEnv(t, b, 10)
		got, err := e.s.Search(ctx, nil, 0, 10)
		must(t, err)
		if len(got) != 0 {
			t.Fatalf("Search(no terms) = %v", got)
		}
	})
}
