package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/app/apptest"
	"github.com/feedsvc/feedsvc/internal/httpserver"
	"github.com/feedsvc/feedsvc/roles/api"
)

// event is one Server-Sent Event.
type event struct{ name, data string }

// ticketFor asks s for a feed stream ticket of user.
func ticketFor(t *testing.T, base, user string) string {
	t.Helper()
	req, err := http.NewRequest("POST", base+api.TicketPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tokenPrefix+user)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct {
		Ticket    string `json:"ticket"`
		ExpiresIn int    `json:"expires_in"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != http.StatusCreated || got.Ticket == "" || got.ExpiresIn <= 0 {
		t.Fatalf("POST %s: %d %+v %v", api.TicketPath, resp.StatusCode, got, err)
	}
	return got.Ticket
}

// openStream opens the feed stream as user, with a ticket in the query as
// the web app does, and returns its events (the channel closes when the
// stream ends).
func openStream(t *testing.T, base, user string) (*http.Response, <-chan event) {
	t.Helper()
	return openStreamURL(t, base+api.StreamPath+"?ticket="+ticketFor(t, base, user))
}

// openStreamURL opens the feed stream at url and returns its events.
func openStreamURL(t *testing.T, url string) (*http.Response, <-chan event) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	events := make(chan event, 100)
	if resp.StatusCode != http.StatusOK {
		close(events)
		return resp, events
	}
	go func() {
		defer close(events)
		sc := bufio.NewScanner(resp.Body)
		var ev event
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.name != "" {
					events <- ev
				}
				ev = event{}
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.data = strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	return resp, events
}

// waitEvent waits up to a deadline for an event named name whose data
// satisfies ok.
func waitEvent(t *testing.T, events <-chan event, name string, ok func(data string) bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case ev, open := <-events:
			if !open {
				t.Fatalf("the stream ended before a %s event", name)
			}
			if ev.name == name && ok(ev.data) {
				return
			}
		case <-deadline:
			t.Fatalf("no %s event within 10 s", name)
		}
	}
}

// TestFeedStream: the stream opens with a ticket in the query, sends the
// feed's head and the unread count as they change (a followed user's
// post, a mention, the post's deletion), holds at most MaxStreams, and
// ends when the role stops.
//
// Fan-out's feed writes signal the streams (apptest.FeedSignals), which
// otherwise read only every 20 s or more: the post and its deletion show
// within the test's 10 s only through the signals.
func TestFeedStream(t *testing.T) {
	sig := &apptest.FeedSignals{}
	s := newServer(t, options{
		deps: func(d *api.Deps) { d.MaxStreams = 1; d.Signals = sig },
		http: []httpserver.Option{httpserver.WithStreams(api.StreamPath)},
	})
	srv := httptest.NewServer(s.h)
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // before srv.Close, which waits for the stream to end
	done := make(chan error, 1)
	go func() { done <- s.api.Run(ctx) }()
	for deadline := time.Now().Add(10 * time.Second); sig.Watching() == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the api does not watch the feed signals")
		}
	}
	alice, bob := userFor(t, "alice"), userFor(t, "bob")
	s.must(t, "GET", "/v1/feed", alice, "", http.StatusOK) // alice exists from her first call
	s.must(t, "PUT", "/v1/following/"+alice, bob, "", http.StatusNoContent)

	resp, events := openStream(t, srv.URL, bob)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	waitEvent(t, events, "feed", func(d string) bool { return d == `{"items":[]}` })
	waitEvent(t, events, "notifications", func(d string) bool { return d == `{"unread":0}` })

	// One stream is the maximum here.
	if second, _ := openStream(t, srv.URL, alice); second.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("a second stream: %d, want 503", second.StatusCode)
	}
	// A ticket opens the stream only.
	if r := s.do("GET", "/v1/feed?ticket="+ticketFor(t, srv.URL, bob), "", ""); r.Code != http.StatusUnauthorized {
		t.Fatalf("GET /v1/feed with a ticket: %d, want 401", r.Code)
	}

	p := s.post(t, alice, "hello @"+bob)
	fanout := &app.Fanout{Posts: s.store, Graph: s.store, Feeds: app.SignalingFeeds(s.feeds, sig, nil), Unfollows: s.feeds, FeedCap: 800}
	notifier := &app.Notifier{Graph: s.store, Notifications: s.store, Posts: s.store, Signals: sig}
	s.deliver(t, fanout, p)
	s.deliver(t, notifier, p)
	waitEvent(t, events, "feed", func(d string) bool {
		var head struct{ Items []app.Post }
		return json.Unmarshal([]byte(d), &head) == nil && len(head.Items) == 1 && head.Items[0].ID == p.ID
	})
	waitEvent(t, events, "notifications", func(d string) bool { return d == `{"unread":1}` })

	s.must(t, "DELETE", "/v1/posts/"+p.ID.String(), alice, "", http.StatusNoContent)
	s.deliver(t, fanout, p) // post.deleted: fan-out takes it out of bob's feed
	waitEvent(t, events, "feed", func(d string) bool { return d == `{"items":[]}` })

	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	deadline := time.After(10 * time.Second)
	for open := true; open; {
		select {
		case _, open = <-events:
		case <-deadline:
			t.Fatal("the stream did not end within 10 s of the role stopping")
		}
	}
}

// TestFeedStreamRepostEntry: when a post's entry in the feed changes but
// the post shown does not (the original leaves, a repost of it stays),
// the stream sends the feed again, now with the reposter.
func TestFeedStreamRepostEntry(t *testing.T) {
	sig := &apptest.FeedSignals{}
	s := newServer(t, options{
		deps: func(d *api.Deps) { d.Signals = sig },
		http: []httpserver.Option{httpserver.WithStreams(api.StreamPath)},
	})
	srv := httptest.NewServer(s.h)
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.api.Run(ctx) }()
	defer func() { cancel(); <-done }()
	for deadline := time.Now().Add(10 * time.Second); sig.Watching() == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the api does not watch the feed signals")
		}
	}
	alice, bob, carol := userFor(t, "alice"), userFor(t, "bob"), userFor(t, "carol")
	for _, u := range []string{alice, carol, bob} {
		s.must(t, "GET", "/v1/feed", u, "", http.StatusOK)
	}
	s.must(t, "PUT", "/v1/following/"+alice, bob, "", http.StatusNoContent)
	s.must(t, "PUT", "/v1/following/"+carol, bob, "", http.StatusNoContent)
	fanout := &app.Fanout{Posts: s.store, Graph: s.store, Feeds: app.SignalingFeeds(s.feeds, sig, nil), Unfollows: s.feeds,
		Reposts: s.store, FeedCap: 800}
	handleAll := func() {
		t.Helper()
		for _, ev := range s.bus.Pending() {
			if err := fanout.Handle(context.Background(), ev); err != nil {
				t.Fatal(err)
			}
		}
	}
	p := s.post(t, alice, "worth sharing")
	s.must(t, "PUT", "/v1/posts/"+p.ID.String()+"/repost", carol, "", http.StatusNoContent)
	handleAll()

	_, events := openStream(t, srv.URL, bob)
	shown := func(by string) func(string) bool {
		return func(d string) bool {
			var head struct{ Items []app.Post }
			return json.Unmarshal([]byte(d), &head) == nil && len(head.Items) == 1 && head.Items[0].ID == p.ID && head.Items[0].RepostedBy == by
		}
	}
	waitEvent(t, events, "feed", shown("")) // the original, met first
	s.must(t, "DELETE", "/v1/following/"+alice, bob, "", http.StatusNoContent)
	handleAll() // the unfollow takes alice's post out; carol's repost stays
	waitEvent(t, events, "feed", shown(carol))
}

// TestStreamTickets: a ticket opens one stream of its user; a used,
// expired or made-up ticket, a bearer token in its place (or in the
// query at all) and a ticket as a bearer token are refused, and the access
// log records neither tickets nor tokens.
func TestStreamTickets(t *testing.T) {
	s := newServer(t, options{http: []httpserver.Option{httpserver.WithStreams(api.StreamPath)}})
	srv := httptest.NewServer(s.h)
	t.Cleanup(srv.Close)
	alice := userFor(t, "alice")
	refused := func(what, url string) {
		t.Helper()
		resp, _ := openStreamURL(t, url)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("%s: %d, want 401", what, resp.StatusCode)
		}
		resp.Body.Close()
	}
	base := srv.URL + api.StreamPath

	ticket := ticketFor(t, srv.URL, alice)
	resp, events := openStreamURL(t, base+"?ticket="+ticket)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("stream with a ticket: %d, want 200", resp.StatusCode)
	}
	waitEvent(t, events, "feed", func(string) bool { return true })
	resp.Body.Close()
	refused("a ticket used twice", base+"?ticket="+ticket)

	expired := ticketFor(t, srv.URL, alice)
	s.tickets.Advance(api.TicketTTL)
	refused("an expired ticket", base+"?ticket="+expired)

	refused("a made-up ticket", base+"?ticket="+strings.Repeat("A", len(ticket)))
	refused("a bearer token as the ticket", base+"?ticket="+tokenPrefix+alice)
	refused("a bearer token in the query", base+"?access_token="+tokenPrefix+alice)
	if r := s.do("GET", "/v1/feed", "", ""); r.Code != http.StatusUnauthorized {
		t.Fatalf("no token: %d", r.Code)
	}
	req := httptest.NewRequest("GET", "/v1/feed", nil)
	req.Header.Set("Authorization", "Bearer "+ticketFor(t, srv.URL, alice))
	if r := s.serve(req); r.Code != http.StatusUnauthorized {
		t.Fatalf("a ticket as the bearer token: %d, want 401", r.Code)
	}
	// Tickets are made for their caller only.
	if r := s.do("POST", api.TicketPath, "", ""); r.Code != http.StatusUnauthorized {
		t.Fatalf("a ticket without a token: %d, want 401", r.Code)
	}
	if logs := s.logs.String(); strings.Contains(logs, ticket) || strings.Contains(logs, tokenPrefix) {
		t.Fatalf("the access log recorded a ticket or token:\n%s", logs)
	}
}

// TestFeedStreamsPerUser: one user holds at most a few streams (429
// beyond), others still get theirs, and a closed stream frees its place.
func TestFeedStreamsPerUser(t *testing.T) {
	s := newServer(t, options{http: []httpserver.Option{httpserver.WithStreams(api.StreamPath)}})
	srv := httptest.NewServer(s.h)
	// Cleanups run last first: the streams' bodies are closed (their
	// handlers return) before the server waits for its handlers.
	t.Cleanup(srv.Close)
	alice, bob := userFor(t, "alice"), userFor(t, "bob")
	var open []*http.Response
	for range 5 {
		resp, _ := openStream(t, srv.URL, alice)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("stream %d of alice: %d, want 200", len(open)+1, resp.StatusCode)
		}
		open = append(open, resp)
	}
	if extra, _ := openStream(t, srv.URL, alice); extra.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("a sixth stream of alice: %d, want 429", extra.StatusCode)
	}
	if other, _ := openStream(t, srv.URL, bob); other.StatusCode != http.StatusOK {
		t.Fatalf("bob's stream next to alice's five: %d, want 200", other.StatusCode)
	}
	open[0].Body.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, _ := openStream(t, srv.URL, alice)
		if resp.StatusCode == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("alice's stream after closing one: %d, want 200", resp.StatusCode)
		}
		resp.Body.Close()
		time.Sleep(50 * time.Millisecond)
	}
}

// TestDevLogin: the route exists only when dev login is on, and its token
// is the user's.
func TestDevLogin(t *testing.T) {
	off := sharedServer(t)
	if r := off.do("POST", api.DevLoginPath, "", `{"user":"alice"}`); r.Code == http.StatusOK {
		t.Fatalf("dev login without DevLogin: %d %s", r.Code, r.Body)
	}

	on := newServer(t, options{deps: func(d *api.Deps) {
		d.DevLogin = func(u string) (string, error) { return tokenPrefix + u, nil }
	}})
	login := func(host, body string) *httptest.ResponseRecorder {
		r := newRequest("POST", api.DevLoginPath, "", body)
		r.Host = host
		return on.serve(r)
	}
	rec := login("127.0.0.1:8080", `{"user":"alice"}`)
	got := decode[struct{ User, Token string }](t, rec)
	if rec.Code != http.StatusOK || got.User != "alice" || got.Token != tokenPrefix+"alice" {
		t.Fatalf("dev login answered %d %+v", rec.Code, got)
	}
	on.must(t, "GET", "/v1/feed", "alice", "", http.StatusOK)
	wantProblem(t, login("localhost:8080", `{"user":"Not Valid"}`), http.StatusBadRequest, "must match")
	// A page's own name resolving to the loopback address (DNS
	// rebinding) signs in nobody.
	wantProblem(t, login("rebind.example:8080", `{"user":"alice"}`), http.StatusForbidden, "IP address or localhost")
	// Through a reverse proxy on the same host, the client may be anyone.
	for _, h := range []string{"X-Forwarded-For", "Forwarded", "X-Real-Ip"} {
		r := newRequest("POST", api.DevLoginPath, "", `{"user":"admin"}`)
		r.Host = "127.0.0.1:8080"
		r.Header.Set(h, "203.0.113.9")
		wantProblem(t, on.serve(r), http.StatusForbidden, "came through a proxy ("+h+")")
	}
}

// TestWebApp: the page and its files are served without a token, the page
// says whether dev login exists, and nothing else is served under /app/.
func TestWebApp(t *testing.T) {
	off := sharedServer(t)
	page := off.must(t, "GET", "/", "", "", http.StatusOK)
	if !strings.Contains(page.Body.String(), `data-dev-login="off"`) || page.Header().Get("Content-Security-Policy") == "" {
		t.Fatalf("page without dev login: %s %v", page.Body, page.Header())
	}
	on := newServer(t, options{deps: func(d *api.Deps) {
		d.DevLogin = func(u string) (string, error) { return tokenPrefix + u, nil }
	}})
	if b := on.must(t, "GET", "/", "", "", http.StatusOK).Body.String(); !strings.Contains(b, `data-dev-login="on"`) {
		t.Fatalf("page with dev login: %s", b)
	}
	// Every script and style sheet of the app, as on disk (embedded).
	files, err := filepath.Glob("web/*.[jc]s*")
	if err != nil || len(files) < 2 {
		t.Fatalf("the web app's files: %v %v", files, err)
	}
	for _, f := range files {
		f = filepath.Base(f)
		rec := off.must(t, "GET", "/app/"+f, "", "", http.StatusOK)
		if ct := rec.Header().Get("Content-Type"); !strings.Contains(ct, "javascript") && !strings.Contains(ct, "css") {
			t.Fatalf("/app/%s: Content-Type %q", f, ct)
		}
	}
	off.must(t, "GET", "/app/", "", "", http.StatusNotFound)
	off.must(t, "GET", "/app/missing.js", "", "", http.StatusNotFound)
}
