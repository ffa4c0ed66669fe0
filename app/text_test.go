package app_test

import (
	"slices"
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
