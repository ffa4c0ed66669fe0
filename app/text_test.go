package app_test

import (
	"slices"
	"sync"
	"testing"

	"github.com/feedsvc/feedsvc/app"
)

func TestText(t *testing.T) {
	cases := []struct {
		text               string
		terms, tags, users []string
	}{
		{"hi @bob #golang", []string{"hi", "bob", "#golang", "golang"}, []string{"golang"}, []string{"bob"}},
		{"Café CAFÉ cafe", []string{"cafe"}, nil, nil},
		{"#Go, #go! and #GÖ", []string{"#go", "go", "and"}, []string{"go"}, nil},
		{"mail a@b.c @Alice @x-y", []string{"mail", "a", "b", "c", "alice", "x", "y"}, nil, []string{"alice", "x"}},
		{"# @ ##", nil, nil, nil},
		{"Straße STRASSE STRAẞE strasse", []string{"strasse"}, nil, nil},
		{"ＦＥＥＤ feed", []string{"feed"}, nil, nil},
		{"ﬁle ﬂow", []string{"file", "flow"}, nil, nil},
		{"#Straße @ＢＯＢ", []string{"#strasse", "strasse", "bob"}, []string{"strasse"}, []string{"bob"}},
		{"＃ｆｅｅｄ ＠ａｌｉｃｅ", []string{"#feed", "feed", "alice"}, []string{"feed"}, []string{"alice"}},
	}
	for _, c := range cases {
		if got := app.Terms(c.text); !slices.Equal(got, c.terms) {
			t.Errorf("Terms(%q) = %q, want %q", c.text, got, c.terms)
		}
		if got := app.Hashtags(c.text); !slices.Equal(got, c.tags) {
			t.Errorf("Hashtags(%q) = %q, want %q", c.text, got, c.tags)
		}
		if got := app.Mentions(c.text); !slices.Equal(got, c.users) {
			t.Errorf("Mentions(%q) = %q, want %q", c.text, got, c.users)
		}
	}
}

func TestFold(t *testing.T) {
	cases := []struct{ in, want string }{
		{"Straße", "strasse"},
		{"STRAẞE", "strasse"}, // capital sharp s
		{"ＦＥＥＤ", "feed"},      // full-width
		{"ﬁle ﬂow", "file flow"},
		{"café CAFÉ", "cafe cafe"},
		{"Ærø", "ærø"},           // æ and ø have no decomposition
		{"İstanbul", "istanbul"}, // dotted capital I: i plus a dot, dropped
		{"ISTANBUL", "istanbul"}, // not Turkish-aware: I -> i
		{"ırmak", "ırmak"},       // dotless i stays apart from i
		{"ＢＵＹ　ＮＯＷ", "buy now"},   // ideographic space -> space
		{"한국어", "한국어"},           // Hangul recomposed after NFKD
		{"x² ½", "x2 1⁄2"},       // compatibility digits
		{"", ""},
	}
	for _, c := range cases {
		if got := app.Fold(c.in); got != c.want {
			t.Errorf("Fold(%q) = %q, want %q", c.in, got, c.want)
		}
		if got := app.Fold(c.want); got != c.want {
			t.Errorf("Fold(%q) = %q, want it unchanged", c.want, got)
		}
	}
}

// TestFoldConcurrent guards against sharing a stateful transformer between
// goroutines; the race detector does the checking.
func TestFoldConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				if got := app.Fold("ＳＴＲＡẞＥ Café ﬁle"); got != "strasse cafe file" {
					t.Errorf("Fold = %q", got)
					return
				}
			}
		})
	}
	wg.Wait()
}
