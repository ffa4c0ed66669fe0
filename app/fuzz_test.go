package app_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/app/apptest"
)

// FuzzText: post validation, folding, terms, hashtags and mentions take any
// string without a panic; a valid post is valid UTF-8 of 1-500 characters;
// folding is stable (a folded text folds to itself), and so is every term.
func FuzzText(f *testing.F) {
	for _, s := range []string{"", "hello #Go @bob", "Ｃｒèｍｅ ﬁ brûlée", "\xff\xfe", "İstanbul ß ﬃ", "#a#b@@c", strings.Repeat("é", 501)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if err := app.ValidatePostText(s); err == nil {
			if n := utf8.RuneCountInString(s); !utf8.ValidString(s) || n < 1 || n > app.MaxPostChars {
				t.Fatalf("ValidatePostText accepted %q (%d characters)", s, n)
			}
		}
		folded := app.Fold(s)
		if strings.ContainsFunc(folded, func(r rune) bool { return unicode.Is(unicode.Cherokee, r) }) {
			return // Cherokee does not fold consistently in x/text (app.Fold, golang/go#46101)
		}
		if again := app.Fold(folded); again != folded {
			t.Fatalf("Fold is not stable: %q -> %q -> %q", s, folded, again)
		}
		for _, term := range app.Terms(s) {
			if term == "" || app.Fold(term) != term {
				t.Fatalf("term %q of %q is empty or not folded", term, s)
			}
		}
		for _, u := range app.Mentions(s) {
			if !app.ValidUserID(u) {
				t.Fatalf("mention %q of %q is not a user id", u, s)
			}
		}
		_ = app.Hashtags(s)
	})
}

// FuzzParseID: any string parses to a positive ID that prints back to a
// string parsing to the same ID, or is refused as invalid.
func FuzzParseID(f *testing.F) {
	for _, s := range []string{"1", "0", "-5", "9223372036854775807", "9223372036854775808", "0x10", " 7", "007"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := app.ParseID(s)
		if err != nil {
			return
		}
		if id <= 0 {
			t.Fatalf("ParseID(%q) = %d", s, id)
		}
		if id.String() != s {
			t.Fatalf("ParseID(%q) = %d, which renders as %q: only what String renders is an ID", s, id, id.String())
		}
	})
}

// FuzzModeration: the moderator takes any text and blocklist entry without
// a panic (a bad pattern is refused when the rules are compiled), and a
// post that has the blocked term as a word of its own is always hidden.
func FuzzModeration(f *testing.F) {
	f.Add("buy now", "spam")
	f.Add("ＳＰＡＭ here", "re:(x")
	f.Add("cheap ﬁxes", "re:ﬁ+")
	f.Fuzz(func(t *testing.T, text, entry string) {
		ctx := context.Background()
		store := apptest.NewStore()
		m, err := app.NewModerator(app.Moderator{Posts: store, Decisions: store, Events: &apptest.Bus{},
			Rules: app.ModerationRules{Blocklist: []string{entry, "forbiddenword"}, MaxLinks: 3}, Log: slog.New(slog.DiscardHandler)})
		if err != nil {
			return
		}
		p := app.Post{ID: 1 << 40, Author: "alice", Text: text + " forbiddenword"}
		if err := store.SavePost(ctx, p); err != nil {
			t.Fatal(err)
		}
		if err := m.Handle(ctx, app.Event{ID: "post.created:1", Type: app.PostCreated, Post: &p}); err != nil {
			t.Fatal(err)
		}
		got, err := store.GetPosts(ctx, []app.ID{p.ID})
		if err != nil {
			t.Fatal(err)
		}
		if got[p.ID].Moderated == "" {
			t.Fatalf("a post ending with a blocked term was not moderated: %q", p.Text)
		}
	})
}
