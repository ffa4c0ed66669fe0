package app_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/feedsvc/feedsvc/app"
)

type decisionLog struct {
	mu sync.Mutex
	ds map[app.ID]app.Decision
}

func (l *decisionLog) RecordDecision(_ context.Context, d app.Decision) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ds[d.Post] = d
	return nil
}

func (l *decisionLog) Decisions(context.Context, app.ID, int) ([]app.Decision, error) {
	return nil, nil
}

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
			store, log, b := newMemStore(), &decisionLog{ds: map[app.ID]app.Decision{}}, &bus{}
			ids := app.NewIDGen(2)
			for i := range c.prior {
				id := ids.Next()
				must(t, store.SavePost(ctx, app.Post{ID: id, Author: "a", Text: fmt.Sprint(i), CreatedAt: id.Time()}))
			}
			p := app.Post{ID: ids.Next(), Author: "a", Text: c.text}
			p.CreatedAt = p.ID.Time()
			must(t, store.SavePost(ctx, p))
			m, err := app.NewModerator(app.Moderator{Posts: store, Decisions: log, Events: b, Rules: rules, Log: slog.New(slog.DiscardHandler)})
			must(t, err)
			ev := app.Event{ID: "post.created:" + p.ID.String(), Type: app.PostCreated, Time: time.Now(), Post: &p}
			for range 2 { // a replay reaches the same verdict and changes nothing more
				must(t, m.Handle(ctx, ev))
			}
			got, _ := store.GetPosts(ctx, []app.ID{p.ID})
			if got[p.ID].Moderated != c.rule || log.ds[p.ID].Rule != c.rule {
				t.Fatalf("moderated=%q decision=%+v, want rule %q", got[p.ID].Moderated, log.ds[p.ID], c.rule)
			}
			announced := 0
			for _, e := range b.evs {
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

type noteStore struct {
	mu sync.Mutex
	ns map[string]map[app.ID]app.Notification
}

func (s *noteStore) AddNotification(_ context.Context, n app.Notification) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ns[n.User] == nil {
		s.ns[n.User] = map[app.ID]app.Notification{}
	}
	s.ns[n.User][n.ID] = n
	return nil
}

func (s *noteStore) Notifications(context.Context, string, app.ID, int) ([]app.Notification, error) {
	return nil, nil
}

func (s *noteStore) MarkRead(context.Context, string, app.ID) error { return nil }

func TestNotifier(t *testing.T) {
	ctx := context.Background()
	store := newMemStore()
	for _, u := range []string{"alice", "bob", "carol"} {
		must(t, store.EnsureUser(ctx, u))
	}
	notes := &noteStore{ns: map[string]map[app.ID]app.Notification{}}
	n := &app.Notifier{Graph: store, Notifications: notes}
	p := app.Post{ID: 42, Author: "alice", Text: "hi @Bob @bob @alice @nobody @carol"}
	evs := []app.Event{
		{ID: "post.created:42", Type: app.PostCreated, Post: &p},
		{ID: "user.followed:77", Type: app.UserFollowed, Follow: &app.Follow{Follower: "carol", Followee: "alice"}},
	}
	for range 3 { // redelivery and replay
		for _, ev := range evs {
			must(t, n.Handle(ctx, ev))
		}
	}
	want := map[string]string{"bob": "mention", "carol": "mention", "alice": "follow"}
	for user, kind := range want {
		got := notes.ns[user]
		if len(got) != 1 {
			t.Fatalf("%s has %d notifications, want 1: %v", user, len(got), got)
		}
		for _, x := range got {
			if x.Kind != kind {
				t.Fatalf("%s's notification %+v, want kind %s", user, x, kind)
			}
		}
	}
	if len(notes.ns["nobody"]) != 0 || strings.Contains(fmt.Sprint(notes.ns), "nobody") {
		t.Fatal("a user that does not exist was notified")
	}
}
