package app_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/app/apptest"
)

func TestModerationRules(t *testing.T) {
	rules := app.ModerationRules{
		Blocklist:    []string{"Spamword", "buy now", `re:\bfree\s+money\b`, "strasse", "ＢＡＤ　ＷＯＲＤ", "flagged"},
		MaxLinks:     2,
		MaxPerMinute: 3,
	}
	cases := []struct {
		name  string
		text  string
		prior int // posts by the same author in the minute before
		rule  string
	}{
		{"clean", "hello world", 0, ""},
		{"blocked term, any case and accents", "this is SPÄMWORD", 0, app.RuleBlocklist},
		{"term inside another word is fine", "spamwords are words", 0, ""},
		{"blocked phrase", "Buy  now? no: buy now!", 0, app.RuleBlocklist},
		{"blocked pattern", "get FREE   money", 0, app.RuleBlocklist},
		{"blocked term, sharp s", "Straße", 0, app.RuleBlocklist},
		{"blocked term, capital sharp s", "STRAẞE", 0, app.RuleBlocklist},
		{"blocked term, full-width", "ｓｐａｍｗｏｒｄ!", 0, app.RuleBlocklist},
		{"blocked phrase, full-width", "ＢＵＹ　ＮＯＷ", 0, app.RuleBlocklist},
		{"blocked pattern, full-width", "ＦＲＥＥ　ｍｏｎｅｙ", 0, app.RuleBlocklist},
		{"full-width phrase entry", "a bad word", 0, app.RuleBlocklist},
		{"blocked term, ligature", "ﬂagged", 0, app.RuleBlocklist},
		{"similar but not blocked", "strass", 0, ""},
		{"two links are fine", "https://a.example https://b.example", 0, ""},
		{"three links are spam", "https://a.example http://b.example www.c.example", 0, app.RuleLinkSpam},
		{"under the rate ceiling", "hi", 2, ""},
		{"over the rate ceiling", "hi", 3, app.RuleRate},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			store, b := apptest.NewStore(), &apptest.Bus{}
			ids := app.NewIDGen(2)
			for i := range c.prior {
				id, _ := ids.Next()
				must(t, store.SavePost(ctx, app.Post{ID: id, Author: "a", Text: fmt.Sprint(i), CreatedAt: id.Time()}))
			}
			id, _ := ids.Next()
			p := app.Post{ID: id, Author: "a", Text: c.text}
			p.CreatedAt = p.ID.Time()
			must(t, store.SavePost(ctx, p))
			m, err := app.NewModerator(app.Moderator{Posts: store, Decisions: store, Events: b, Rules: rules, Log: slog.New(slog.DiscardHandler)})
			must(t, err)
			ev := app.Event{ID: "post.created:" + p.ID.String(), Type: app.PostCreated, Time: time.Now(), Post: &p}
			for range 2 { // a replay reaches the same verdict and changes nothing more
				must(t, m.Handle(ctx, ev))
			}
			got, _ := store.GetPosts(ctx, []app.ID{p.ID})
			ds, err := store.Decisions(ctx, 0, 100)
			must(t, err)
			var decision app.Decision
			for _, d := range ds {
				if d.Post == p.ID {
					decision = d
				}
			}
			if got[p.ID].Moderated != c.rule || decision.Rule != c.rule {
				t.Fatalf("moderated=%q decision=%+v, want rule %q", got[p.ID].Moderated, decision, c.rule)
			}
			announced := 0
			for _, e := range b.Pending() {
				if e.Type == app.PostModerated && e.Post.ID == p.ID {
					announced++
				}
			}
			if (c.rule != "") != (announced > 0) {
				t.Fatalf("post.moderated published %d times for rule %q", announced, c.rule)
			}
		})
	}
	if _, err := app.NewModerator(app.Moderator{Rules: app.ModerationRules{Blocklist: []string{"re:("}}}); err == nil {
		t.Fatal("a bad pattern was accepted")
	}
}

func TestNotifier(t *testing.T) {
	ctx := context.Background()
	store := apptest.NewStore()
	for _, u := range []string{"alice", "bob", "carol"} {
		must(t, store.EnsureUser(ctx, u))
	}
	n := &app.Notifier{Graph: store, Notifications: store, Posts: store}
	p := app.Post{ID: 42, Author: "alice", Text: "hi @Bob @bob @alice @nobody @carol"}
	must(t, store.SavePost(ctx, p))
	evs := []app.Event{
		{ID: "post.created:42", Type: app.PostCreated, Post: &p},
		{ID: "user.followed:77", Type: app.UserFollowed, Follow: &app.Follow{Follower: "carol", Followee: "alice"}},
	}
	for range 3 { // redelivery and replay
		for _, ev := range evs {
			must(t, n.Handle(ctx, ev))
		}
	}
	notes := map[string][]app.Notification{}
	for _, user := range []string{"alice", "bob", "carol"} {
		ns, err := store.Notifications(ctx, user, 0, 100)
		must(t, err)
		notes[user] = ns
	}
	want := map[string]string{"bob": "mention", "carol": "mention", "alice": "follow"}
	for user, kind := range want {
		got := notes[user]
		if len(got) != 1 {
			t.Fatalf("%s has %d notifications, want 1: %v", user, len(got), got)
		}
		for _, x := range got {
			if x.Kind != kind {
				t.Fatalf("%s's notification %+v, want kind %s", user, x, kind)
			}
		}
	}
	nobody, err := store.Notifications(ctx, "nobody", 0, 100)
	must(t, err)
	if len(nobody) != 0 || strings.Contains(fmt.Sprint(notes), "nobody") {
		t.Fatal("a user that does not exist was notified")
	}
}

// TestMassMentionCapped: a post mentioning more users than
// MaxMentionsNotified notifies the first that many that exist, in the
// order written; a mention of a user that does not exist takes no place.
func TestMassMentionCapped(t *testing.T) {
	ctx := context.Background()
	store := apptest.NewStore()
	var text []string
	for i := range app.MaxMentionsNotified + 5 {
		u := fmt.Sprintf("u%d", i)
		must(t, store.EnsureUser(ctx, u))
		text = append(text, "@"+u)
		if i == 0 {
			text = append(text, "@ghost") // not a user
		}
	}
	must(t, store.EnsureUser(ctx, "alice"))
	p := app.Post{ID: 42, Author: "alice", Text: strings.Join(text, " ")}
	must(t, store.SavePost(ctx, p))
	n := &app.Notifier{Graph: store, Notifications: store, Posts: store}
	must(t, n.Handle(ctx, app.Event{ID: "post.created:42", Type: app.PostCreated, Post: &p}))
	for i := range app.MaxMentionsNotified + 5 {
		ns, err := store.Notifications(ctx, fmt.Sprintf("u%d", i), 0, 10)
		must(t, err)
		if want := i < app.MaxMentionsNotified; (len(ns) == 1) != want {
			t.Errorf("u%d has %d notifications, want notified = %v", i, len(ns), want)
		}
	}
}
