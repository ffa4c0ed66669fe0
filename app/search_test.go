package app_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/app/apptest"
)

// countedIndex is the in-memory index, counting its reads.
type countedIndex struct {
	app.SearchIndex
	mem   *apptest.Search
	calls int
}

func newCountedIndex() *countedIndex {
	m := apptest.NewSearch()
	return &countedIndex{SearchIndex: m, mem: m}
}

func (x *countedIndex) Search(ctx context.Context, terms []string, before app.ID, limit int) ([]app.ID, error) {
	x.calls++
	return x.SearchIndex.Search(ctx, terms, before, limit)
}

func (x *countedIndex) Docs() map[app.ID][]string { return x.mem.Docs() }

// sxPosts is an in-memory app.PostStore; only GetPosts matters here, and
// a missing post counts as a deleted one.
type sxPosts map[app.ID]app.Post

func (s sxPosts) WasDeleted(_ context.Context, id app.ID) (bool, error) {
	_, ok := s[id]
	return !ok, nil
}
func (s sxPosts) HidePost(_ context.Context, p app.Post, rule string) error {
	if stored, ok := s[p.ID]; ok {
		stored.Moderated = rule
		s[p.ID] = stored
	}
	return nil
}

func (s sxPosts) SavePost(_ context.Context, p app.Post, _ ...app.OutboxRecord) error {
	s[p.ID] = p
	return nil
}
func (s sxPosts) DeletePost(_ context.Context, p app.Post, _ ...app.OutboxRecord) error {
	delete(s, p.ID)
	return nil
}
func (s sxPosts) AuthorPosts(context.Context, string, app.ID, int) ([]app.Post, error) {
	return nil, nil
}
func (s sxPosts) GetPosts(_ context.Context, ids []app.ID) (map[app.ID]app.Post, error) {
	out := map[app.ID]app.Post{}
	for _, id := range ids {
		if p, ok := s[id]; ok {
			out[id] = p
		}
	}
	return out, nil
}

func TestIndexerHandle(t *testing.T) {
	ctx := context.Background()
	stored := app.Post{ID: 1, Author: "ann", Text: "Café #Go"}
	cases := []struct {
		name   string
		posts  sxPosts
		before map[app.ID][]string // index before the event
		ev     app.Event
		want   map[app.ID][]string
	}{
		{"post.created indexes the stored text's terms", sxPosts{1: stored}, nil,
			app.Event{Type: app.PostCreated, Post: &stored},
			map[app.ID][]string{1: {"cafe", "#go", "go"}}},
		{"post.created of a deleted post is skipped", sxPosts{}, nil,
			app.Event{Type: app.PostCreated, Post: &stored}, map[app.ID][]string{}},
		{"post.created of a moderated post is skipped", sxPosts{1: {ID: 1, Author: "ann", Text: "Café", Moderated: "spam"}}, nil,
			app.Event{Type: app.PostCreated, Post: &stored}, map[app.ID][]string{}},
		{"post.deleted unindexes", sxPosts{}, map[app.ID][]string{1: {"cafe"}, 2: {"cafe"}},
			app.Event{Type: app.PostDeleted, Post: &app.Post{ID: 1, Author: "ann"}},
			map[app.ID][]string{2: {"cafe"}}},
		{"post.moderated unindexes", sxPosts{1: stored}, map[app.ID][]string{1: {"cafe"}},
			app.Event{Type: app.PostModerated, Post: &app.Post{ID: 1, Author: "ann"}}, map[app.ID][]string{}},
		{"follows are ignored", sxPosts{}, nil,
			app.Event{Type: app.UserFollowed, Follow: &app.Follow{Follower: "a", Followee: "b"}}, map[app.ID][]string{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			x := newCountedIndex()
			for id, terms := range c.before {
				must(t, x.Index(ctx, id, terms))
			}
			h := &app.Indexer{Posts: c.posts, Search: x}
			// Twice: handling is idempotent.
			must(t, h.Handle(ctx, c.ev))
			must(t, h.Handle(ctx, c.ev))
			got := x.Docs()
			if len(got) != len(c.want) {
				t.Fatalf("index = %v, want %v", got, c.want)
			}
			for id, terms := range c.want {
				if !slices.Equal(got[id], terms) {
					t.Fatalf("terms of %d = %v, want %v", id, got[id], terms)
				}
			}
		})
	}
}

func TestDiscoverySearch(t *testing.T) {
	ctx := context.Background()
	posts := sxPosts{}
	x := newCountedIndex()
	add := func(id app.ID, author, text, moderated string, stored bool) {
		p := app.Post{ID: id, Author: author, Text: text, Moderated: moderated}
		if stored {
			posts[id] = p
		}
		must(t, x.Index(ctx, id, app.Terms(text)))
	}
	for id := app.ID(1); id <= 9; id++ {
		add(id, "ann", "Crème brûlée", "", true)
	}
	add(10, "bob", "crème brûlée", "spam", true)  // moderated: only bob sees it
	add(11, "bob", "crème brûlée", "", false)     // deleted, still indexed
	add(12, "cid", "crème only", "", true)        // one term only
	add(13, "bob", "CRÈME BRÛLÉE!", "spam", true) // moderated
	d := &app.Discovery{Index: x, Posts: posts}

	idsOf := func(ps []app.Post) []app.ID {
		var out []app.ID
		for _, p := range ps {
			out = append(out, p.ID)
		}
		return out
	}
	cases := []struct {
		name, caller, q, cursor string
		limit                   int
		want                    []app.ID
		next                    string
	}{
		{"hidden and missing posts are skipped, page filled", "ann", "creme brulee", "", 3, sxIDs(9, 8, 7), "7"},
		{"the author sees their moderated post", "bob", "brûlée crème", "", 3, sxIDs(13, 10, 9), "9"},
		{"cursor continues after the last ID", "ann", "creme brulee", "7", 3, sxIDs(6, 5, 4), "4"},
		{"last page has no next cursor", "ann", "creme brulee", "3", 5, sxIDs(2, 1), ""},
		{"one term", "ann", "ONLY", "", 5, sxIDs(12), ""},
		{"no match", "ann", "creme nothing", "", 5, nil, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, next, err := d.Search(ctx, c.caller, c.q, c.cursor, c.limit)
			must(t, err)
			if !slices.Equal(idsOf(got), c.want) || next != c.next {
				t.Fatalf("Search = %v next %q, want %v next %q", idsOf(got), next, c.want, c.next)
			}
		})
	}
	t.Run("a page of only hidden posts gives up after a few rounds", func(t *testing.T) {
		x := newCountedIndex()
		for id := app.ID(1); id <= 100; id++ {
			must(t, x.Index(ctx, id, []string{"hidden"}))
		}
		d := &app.Discovery{Index: x, Posts: sxPosts{}}
		got, next, err := d.Search(ctx, "ann", "hidden", "", 5)
		must(t, err)
		if len(got) != 0 || next == "" || x.calls > 10 {
			t.Fatalf("Search = %v next %q after %d index reads, want none, a cursor, few reads", got, next, x.calls)
		}
	})
	long := strings.Repeat("é", app.MaxQueryChars+1)
	huge := strings.Repeat("w ", 425_000) // 850 KB of one-letter words
	for name, q := range map[string][2]string{"empty query": {"", ""}, "only punctuation": {"!?# @", ""}, "bad cursor": {"creme", "x"},
		"257 characters": {long, ""}, "850 KB": {huge, ""}, "9 terms": {"a b c d e f g h i", ""}} {
		t.Run(name, func(t *testing.T) {
			if _, _, err := d.Search(ctx, "ann", q[0], q[1], 5); !errors.Is(err, app.ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
	}
}

// TestSearchCaps: a query at the caps is taken (a hashtag counts once,
// though it is looked up under two terms), one past them is refused before
// the index is read.
func TestSearchCaps(t *testing.T) {
	ctx := context.Background()
	x := &countingIndex{}
	d := &app.Discovery{Index: x, Posts: sxPosts{}}
	for _, q := range []string{"a b c d e f g #h", strings.Repeat("é", app.MaxQueryChars)} {
		if _, _, err := d.Search(ctx, "ann", q, "", 5); err != nil {
			t.Errorf("Search(%.20q...): %v", q, err)
		}
	}
	calls := x.calls
	for _, q := range []string{"a b c d e f g h #i", strings.Repeat("x", app.MaxQueryChars+1)} {
		if _, _, err := d.Search(ctx, "ann", q, "", 5); !errors.Is(err, app.ErrInvalid) {
			t.Errorf("Search(%.20q...) = %v, want ErrInvalid", q, err)
		}
	}
	if x.calls != calls {
		t.Errorf("refused queries read the index %d times", x.calls-calls)
	}
}

// countingIndex is an empty index that counts its reads.
type countingIndex struct{ calls int }

func (c *countingIndex) Index(context.Context, app.ID, []string) error { return nil }
func (c *countingIndex) Unindex(context.Context, app.ID) error         { return nil }
func (c *countingIndex) Search(context.Context, []string, app.ID, int) ([]app.ID, error) {
	c.calls++
	return nil, nil
}

func sxIDs(ns ...int) []app.ID {
	out := make([]app.ID, len(ns))
	for i, n := range ns {
		out[i] = app.ID(n)
	}
	return out
}

// TestSearchFolding: a post indexed through the Indexer is found by a query
// spelled with another case, width, ligature or accent form.
func TestSearchFolding(t *testing.T) {
	ctx := context.Background()
	posts := sxPosts{
		1: {ID: 1, Author: "ann", Text: "Straße"},
		2: {ID: 2, Author: "ann", Text: "ＦＥＥＤ ﬁle"},
		3: {ID: 3, Author: "ann", Text: "Æther"},
	}
	x := newCountedIndex()
	h := &app.Indexer{Posts: posts, Search: x}
	for _, p := range posts {
		must(t, h.Handle(ctx, app.Event{Type: app.PostCreated, Post: &p}))
	}
	d := &app.Discovery{Index: x, Posts: posts}
	cases := []struct {
		q    string
		want []app.ID
	}{
		{"strasse", sxIDs(1)},
		{"STRASSE", sxIDs(1)},
		{"STRAẞE", sxIDs(1)},
		{"feed file", sxIDs(2)},
		{"ｆｅｅｄ", sxIDs(2)},
		{"æther", sxIDs(3)},
		{"aether", nil}, // æ is a letter of its own, not a ligature NFKD splits
	}
	for _, c := range cases {
		got, _, err := d.Search(ctx, "ann", c.q, "", 5)
		must(t, err)
		var ids []app.ID
		for _, p := range got {
			ids = append(ids, p.ID)
		}
		if !slices.Equal(ids, c.want) {
			t.Errorf("Search(%q) = %v, want %v", c.q, ids, c.want)
		}
	}
}
