package api_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/roles/api"
)

// wordFor returns a search word no other test uses.
func wordFor(t *testing.T, prefix string) string {
	return prefix + strings.ReplaceAll(testKey(t), "_", "")
}

// The discovery endpoints are checked end to end through the fakes: posts
// are created through the API and their events handed to the indexer and
// the analyst, as the search and analytics roles would.

func TestSearch(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	ctx := context.Background()
	ann, bob := userFor(t, "ann"), userFor(t, "bob")
	word := wordFor(t, "w")
	indexer := &app.Indexer{Posts: s.store, Search: s.search}

	var want []app.ID // newest first
	for i := range 3 {
		p := s.post(t, ann, fmt.Sprintf("Crème brûlée %s number %d", word, i))
		s.deliver(t, indexer, p)
		want = append([]app.ID{p.ID}, want...)
	}
	other := s.post(t, bob, "a post about something else, "+word+"x")
	s.deliver(t, indexer, other)
	// Moderated after indexing: only its author finds it.
	moderated := s.post(t, bob, "spam "+word)
	s.deliver(t, indexer, moderated)
	moderated.Moderated = "blocklist"
	if err := s.store.SavePost(ctx, moderated); err != nil {
		t.Fatal(err)
	}
	// Deleted and still in the index (its event is not delivered): gone.
	deleted := s.post(t, ann, "deleted "+word)
	s.deliver(t, indexer, deleted)
	s.must(t, "DELETE", "/v1/posts/"+deleted.ID.String(), ann, "", http.StatusNoContent)

	search := func(t *testing.T, user, query string) ([]app.ID, string) {
		t.Helper()
		p := decode[page[app.Post]](t, s.must(t, "GET", "/v1/search?"+query, user, "", http.StatusOK))
		var ids []app.ID
		for _, post := range p.Items {
			ids = append(ids, post.ID)
		}
		return ids, p.NextCursor
	}
	for _, c := range []struct {
		name, user, query string
		want              []app.ID
	}{
		{"one word", ann, "q=" + word, want},
		{"words in any order, case and accents folded", ann, "q=BRULEE+" + word + "+creme", want},
		{"every word must match", ann, "q=" + word + "+absent", nil},
		{"the author finds the moderated post", bob, "q=" + word, append([]app.ID{moderated.ID}, want...)},
		{"another word", bob, "q=" + word + "x", []app.ID{other.ID}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got, next := search(t, c.user, c.query); !slices.Equal(got, c.want) || next != "" {
				t.Fatalf("search %s = %v next %q, want %v", c.query, got, next, c.want)
			}
		})
	}
	t.Run("paged", func(t *testing.T) {
		var got []app.ID
		cursor := ""
		for range 10 {
			ids, next := search(t, ann, "limit=2&q="+word+"&cursor="+cursor)
			got = append(got, ids...)
			if next == "" {
				break
			}
			cursor = next
		}
		if !slices.Equal(got, want) {
			t.Fatalf("pages %v, want %v", got, want)
		}
	})

	for _, c := range []struct{ name, query, detail string }{
		{"no query", "", `"q" is required`},
		{"empty query", "q=", `"q" is required`},
		{"nothing searchable", "q=%21%3F+%23", "no searchable words"},
		{"bad cursor", "q=" + word + "&cursor=x", `bad cursor "x"`},
		{"bad limit", "q=" + word + "&limit=0", "limit must be"},
	} {
		t.Run(c.name, func(t *testing.T) {
			wantProblem(t, s.do("GET", "/v1/search?"+c.query, ann, ""), http.StatusBadRequest, c.detail)
		})
	}
}

func TestTrends(t *testing.T) {
	t.Parallel()
	// Trends are global: this server is the test's own.
	s := newServer(t, options{})
	poster := userFor(t, "poster")
	analyst := &app.Analyst{Analytics: s.analytics}
	s.deliver(t, analyst,
		s.post(t, poster, "#Go and #redis"),
		s.post(t, poster, "#go again, #GO"),
		s.post(t, poster, "#Café"),
		s.post(t, poster, "no tags"),
	)
	all := []app.TagCount{{Tag: "go", Count: 2}, {Tag: "cafe", Count: 1}, {Tag: "redis", Count: 1}}

	type answer struct {
		Window string         `json:"window"`
		Items  []app.TagCount `json:"items"`
	}
	for _, c := range []struct {
		query, window string
		want          []app.TagCount
	}{
		{"", "1h0m0s", all},
		{"?window=1h", "1h0m0s", all},
		{"?window=24h", "24h0m0s", all},
		{"?window=7d", "168h0m0s", all},
		{"?window=2d", "48h0m0s", all},
		{"?window=90m", "1h30m0s", all},
		{"?window=1h30m", "1h30m0s", all},
		{"?window=168h", "168h0m0s", all},
		{"?window=1h&limit=1", "1h0m0s", all[:1]},
		{"?window=24h&limit=100", "24h0m0s", all},
		// The shortest windows hold the posts too unless the test stalls
		// for minutes; only their form is checked.
		{"?window=1m", "1m0s", nil},
		{"?window=15m", "15m0s", nil},
	} {
		t.Run("accepted "+c.query, func(t *testing.T) {
			got := decode[answer](t, s.must(t, "GET", "/v1/trends"+c.query, poster, "", http.StatusOK))
			if got.Window != c.window {
				t.Fatalf("window %q, want %q", got.Window, c.window)
			}
			if c.want != nil && !slices.Equal(got.Items, c.want) {
				t.Fatalf("trends %v, want %v", got.Items, c.want)
			}
		})
	}
	for _, q := range []string{
		"window=30s", "window=0", "window=0d", "window=59s", "window=8d", "window=169h", "window=-1h",
		"window=abc", "window=1.5d", "window=d", "window=1w", "window=400d",
	} {
		t.Run("rejected "+q, func(t *testing.T) {
			wantProblem(t, s.do("GET", "/v1/trends?"+q, poster, ""), http.StatusBadRequest, "window must be a duration from 1m to 7d")
		})
	}
	for _, q := range []string{"limit=0", "limit=101", "limit=x"} {
		t.Run("rejected "+q, func(t *testing.T) {
			wantProblem(t, s.do("GET", "/v1/trends?"+q, poster, ""), http.StatusBadRequest, "limit must be an integer from 1 to 100")
		})
	}
}

func TestStats(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	ann, bob := userFor(t, "ann"), userFor(t, "bob")
	analyst := &app.Analyst{Analytics: s.analytics}
	s.deliver(t, analyst, s.post(t, ann, "one"), s.post(t, ann, "two"), s.post(t, bob, "not ann's"))

	type answer struct {
		Items []app.HourCount `json:"items"`
	}
	stats := func(t *testing.T, query string) []app.HourCount {
		t.Helper()
		return decode[answer](t, s.must(t, "GET", "/v1/users/"+ann+"/stats"+query, bob, "", http.StatusOK)).Items
	}
	for _, c := range []struct {
		query string
		hours int
	}{{"", 24}, {"?hours=3", 3}, {"?hours=168", 168}} {
		t.Run(c.query, func(t *testing.T) {
			got := stats(t, c.query)
			if len(got) != c.hours {
				t.Fatalf("%d hours, want %d", len(got), c.hours)
			}
			var total int64
			for i, h := range got {
				total += h.Count
				if i > 0 && !h.Hour.Equal(got[i-1].Hour.Add(time.Hour)) {
					t.Fatalf("hours not consecutive: %v", got)
				}
			}
			if total != 2 {
				t.Fatalf("%d posts counted, want ann's 2: %v", total, got)
			}
		})
	}
	t.Run("one hour", func(t *testing.T) {
		if got := stats(t, "?hours=1"); len(got) != 1 {
			t.Fatalf("%v, want one hour", got)
		}
	})
	t.Run("a user without posts", func(t *testing.T) {
		cat := userFor(t, "cat")
		s.must(t, "GET", "/v1/feed", cat, "", http.StatusOK) // known: signed in, never posted
		rec := s.must(t, "GET", "/v1/users/"+cat+"/stats?hours=2", bob, "", http.StatusOK)
		got := decode[answer](t, rec).Items
		if len(got) != 2 || got[0].Count != 0 || got[1].Count != 0 {
			t.Fatalf("%v, want two empty hours", got)
		}
	})
	t.Run("an unknown user", func(t *testing.T) {
		s.must(t, "GET", "/v1/users/nobody_"+ann+"/stats?hours=2", bob, "", http.StatusNotFound)
	})
	for _, c := range []struct{ name, path, detail string }{
		{"hours zero", "/v1/users/" + ann + "/stats?hours=0", "hours must be an integer from 1 to 168"},
		{"hours too many", "/v1/users/" + ann + "/stats?hours=169", "hours must be an integer from 1 to 168"},
		{"hours not a number", "/v1/users/" + ann + "/stats?hours=x", "hours must be an integer from 1 to 168"},
		{"malformed user id", "/v1/users/Ann/stats", "must match"},
	} {
		t.Run(c.name, func(t *testing.T) {
			wantProblem(t, s.do("GET", c.path, bob, ""), http.StatusBadRequest, c.detail)
		})
	}
}

func TestDiscoveryNotConfigured(t *testing.T) {
	t.Parallel()
	s := newServer(t, options{deps: func(d *api.Deps) { d.Analytics, d.Search, d.Posts = nil, nil, nil }})
	ann := userFor(t, "ann")
	for path, detail := range map[string]string{
		"/v1/search?q=x":              "search is not configured",
		"/v1/trends":                  "analytics is not configured",
		"/v1/users/" + ann + "/stats": "analytics is not configured",
	} {
		wantProblem(t, s.do("GET", path, ann, ""), http.StatusServiceUnavailable, detail)
	}
}
