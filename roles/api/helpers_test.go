package api_test

// Handler tests run the router as the process builds it (httpserver.New,
// then api.New) on the in-memory fakes of app/apptest. Most tests share one
// server and run in parallel, so every test names its own users (see
// userFor); tests that need other dependencies, or state nobody else
// touches (trends are global), build their own.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/app/apptest"
	"github.com/feedsvc/feedsvc/internal/httpserver"
	"github.com/feedsvc/feedsvc/roles/api"
)

// tokenPrefix marks the bearer tokens verify accepts: "test-token-<user>".
const tokenPrefix = "test-token-"

func verify(token string) (string, error) {
	user, ok := strings.CutPrefix(token, tokenPrefix)
	if !ok || !app.ValidUserID(user) {
		return "", errors.New("invalid token: not a test token")
	}
	return user, nil
}

// server is the router on fakes, with the fakes at hand to arrange state
// and look behind the API.
type server struct {
	h         http.Handler
	store     *apptest.Store
	bus       *apptest.Bus
	analytics *apptest.Analytics
	search    *apptest.Search
	feeds     *apptest.Feeds
	tickets   *apptest.Tickets
	api       *api.API
	logs      *syncBuffer
}

// options change how a server is built.
type options struct {
	// deps adjusts the api's dependencies (nil analytics, failing stores).
	deps func(*api.Deps)
	// ready answers /readyz (nil: always ready).
	ready func(context.Context) error
	// requestTimeout is the deadline of each request (0: the default).
	requestTimeout time.Duration
	// http are more options of the router.
	http []httpserver.Option
}

func build(o options) (*server, error) {
	s := &server{
		store:     apptest.NewStore(),
		bus:       &apptest.Bus{},
		analytics: apptest.NewAnalytics(),
		search:    apptest.NewSearch(),
		logs:      &syncBuffer{},
		tickets:   apptest.NewTickets(),
	}
	feeds := apptest.NewFeeds()
	s.feeds = feeds
	relay := &app.Relay{Outbox: s.store, Publisher: s.bus}
	svc := &app.Service{
		Posts: s.store, Graph: s.store, Feeds: feeds, Unfollows: feeds, Dispatch: flushDispatch{relay}, Keys: s.store, Notes: s.store,
		IDs: app.NewIDGen(1), FeedCap: 800, Log: slog.New(slog.DiscardHandler), Likes: s.store,
		Replies: s.store, Reposts: s.store, Lists: s.store,
	}
	d := api.Deps{Service: svc, Graph: s.store, Analytics: s.analytics, Search: s.search, Posts: s.store, Verify: verify, Tickets: s.tickets}
	if o.deps != nil {
		o.deps(&d)
	}
	ready := o.ready
	if ready == nil {
		ready = func(context.Context) error { return nil }
	}
	e := httpserver.New(slog.New(slog.NewTextHandler(s.logs, nil)), prometheus.NewRegistry(), ready, append(o.http, httpserver.WithRequestTimeout(o.requestTimeout))...)
	a, err := api.New(e, d)
	if err != nil {
		return nil, err
	}
	s.api = a
	s.h = e
	return s, nil
}

func newServer(t *testing.T, o options) *server {
	t.Helper()
	s, err := build(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// shared is the server of the tests that need nothing special.
var shared = sync.OnceValues(func() (*server, error) { return build(options{}) })

func sharedServer(t *testing.T) *server {
	t.Helper()
	s, err := shared()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// userFor returns a user ID unique to the test and role, so tests sharing a
// server do not see each other's posts, follows or notifications.
func userFor(t *testing.T, role string) string { return role + "_" + testKey(t) }

var (
	keysMu sync.Mutex
	keys   = map[*testing.T]string{}
)

// testKey names t: a hash of its name and, because the shared server
// outlives one run of the tests (go test -count=N), the run.
func testKey(t *testing.T) string {
	keysMu.Lock()
	defer keysMu.Unlock()
	k, ok := keys[t]
	if !ok {
		h := fnv.New32a()
		h.Write([]byte(t.Name()))
		k = fmt.Sprintf("%08x_%d", h.Sum32(), len(keys))
		keys[t] = k
	}
	return k
}

// newRequest builds a request as user ("" sends no Authorization header).
// A body is sent as application/json unless the caller changes it.
func newRequest(method, path, user, body string) *http.Request {
	var r *http.Request
	if body == "" {
		r = httptest.NewRequest(method, path, nil)
	} else {
		r = httptest.NewRequest(method, path, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
	}
	if user != "" {
		r.Header.Set("Authorization", "Bearer "+tokenPrefix+user)
	}
	return r
}

func (s *server) serve(r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	s.h.ServeHTTP(rec, r)
	return rec
}

func (s *server) do(method, path, user, body string) *httptest.ResponseRecorder {
	return s.serve(newRequest(method, path, user, body))
}

// must calls the API and fails t unless the status is want.
func (s *server) must(t *testing.T, method, path, user, body string, want int) *httptest.ResponseRecorder {
	t.Helper()
	rec := s.do(method, path, user, body)
	if rec.Code != want {
		t.Fatalf("%s %s as %q = %d %s, want %d", method, path, user, rec.Code, rec.Body, want)
	}
	return rec
}

// flushDispatch publishes the whole outbox on every dispatch, so the
// events of a request are on the bus when it answers.
type flushDispatch struct{ r *app.Relay }

func (d flushDispatch) Dispatch(ctx context.Context, _ app.OutboxRecord) { _ = d.r.Flush(ctx) }

// post creates a post through the API.
func (s *server) post(t *testing.T, user, text string) app.Post {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"text": text})
	return decode[app.Post](t, s.must(t, "POST", "/v1/posts", user, string(body), http.StatusCreated))
}

// deliver hands the published events about posts to h, as its consumer
// group would. Only this test's posts: other tests publish on the same bus
// and drain nothing, so their events stay pending.
func (s *server) deliver(t *testing.T, h app.Handler, posts ...app.Post) {
	t.Helper()
	for _, ev := range s.bus.Pending() {
		for _, p := range posts {
			if ev.Post != nil && ev.Post.ID == p.ID {
				if err := h.Handle(context.Background(), ev); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

// published reports whether an event of type typ about post id was
// published.
func (s *server) published(typ string, id app.ID) bool {
	for _, ev := range s.bus.Pending() {
		if ev.Type == typ && ev.Post != nil && ev.Post.ID == id {
			return true
		}
	}
	return false
}

func decode[T any](t *testing.T, rec *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("decode %s: %v", rec.Body, err)
	}
	return v
}

// page is the JSON shape of lists.
type page[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor"`
}

// wantProblem checks an error response: the status, a problem+json body
// whose status matches, and a detail containing detail.
func wantProblem(t *testing.T, rec *httptest.ResponseRecorder, status int, detail string) {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status %d %s, want %d", rec.Code, rec.Body, status)
	}
	if ct := rec.Header().Get("Content-Type"); ct != httpserver.ProblemContentType {
		t.Fatalf("Content-Type %q, want %q", ct, httpserver.ProblemContentType)
	}
	var p httpserver.Problem
	dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("problem body %s: %v", rec.Body, err)
	}
	if p.Status != status || p.Title != http.StatusText(status) || p.Type != httpserver.ProblemType(status) {
		t.Fatalf("problem %+v, want status %d titled %q", p, status, http.StatusText(status))
	}
	if p.Detail == "" || !strings.Contains(p.Detail, detail) {
		t.Fatalf("problem detail %q, want it to contain %q", p.Detail, detail)
	}
}

// syncBuffer is a bytes.Buffer safe for the concurrent handlers' logs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var _ io.Writer = (*syncBuffer)(nil)
