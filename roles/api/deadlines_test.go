package api_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/internal/httpserver"
	"github.com/feedsvc/feedsvc/roles/api"
)

// hangingPosts is a store that stopped answering: every call waits until
// its context ends (at most a minute, so a missing deadline fails the test
// instead of hanging it).
type hangingPosts struct{ app.PostStore }

func hang(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return fmt.Errorf("cassandra: gocql: no response received from cassandra within timeout period: %w", ctx.Err())
	case <-time.After(time.Minute):
		return errors.New("the request had no deadline")
	}
}

func (hangingPosts) SavePost(ctx context.Context, _ app.Post, _ ...app.OutboxRecord) error {
	return hang(ctx)
}
func (hangingPosts) GetPosts(ctx context.Context, _ []app.ID) (map[app.ID]app.Post, error) {
	return nil, hang(ctx)
}

// downFeeds is a Redis that is down: the adapter says so.
type downFeeds struct{ app.FeedCache }

func (downFeeds) Page(context.Context, string, app.ID, int) ([]app.ID, bool, error) {
	return nil, false, fmt.Errorf("read feed: redis: dial tcp 127.0.0.1:6379: connect: connection refused (%w)", app.ErrUnavailable)
}

// TestDependencyDownIs503 checks that a store that hangs is cut off at the
// request's deadline, and a cache that is down answered at once, both as
// 503 with Retry-After and without the driver's words.
func TestDependencyDownIs503(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name         string
		deps         func(*api.Deps)
		method, path string
		body         string
	}{
		{"store hangs on write", func(d *api.Deps) { d.Service.Posts = hangingPosts{d.Service.Posts} }, "POST", "/v1/posts", `{"text":"hi"}`},
		{"store hangs on read", func(d *api.Deps) { d.Service.Posts = hangingPosts{d.Service.Posts} }, "GET", "/v1/posts/1", ""},
		{"redis down", func(d *api.Deps) { d.Service.Feeds = downFeeds{d.Service.Feeds} }, "GET", "/v1/feed", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, options{deps: c.deps, requestTimeout: 100 * time.Millisecond})
			rec := s.do(c.method, c.path, userFor(t, "ann"), c.body)
			wantProblem(t, rec, http.StatusServiceUnavailable, "a service this request needs is unavailable or too slow; retry later")
			if rec.Header().Get("Retry-After") == "" {
				t.Fatal("a 503 without Retry-After")
			}
			if body := rec.Body.String(); strings.Contains(body, "cassandra") || strings.Contains(body, "redis") {
				t.Fatalf("the cause leaked: %s", body)
			}
			if logs := s.logs.String(); !strings.Contains(logs, "dependency unavailable") || strings.Contains(logs, "level=ERROR") {
				t.Fatalf("want one warning, not an error: %q", logs)
			}
		})
	}
}

// TestClientGoneIsNotLogged checks that a client hanging up while the store
// works is not logged as a failure.
func TestClientGoneIsNotLogged(t *testing.T) {
	t.Parallel()
	s := newServer(t, options{deps: func(d *api.Deps) { d.Service.Posts = hangingPosts{d.Service.Posts} }})
	ctx, cancel := context.WithCancel(context.Background())
	r := newRequest("POST", "/v1/posts", userFor(t, "ann"), `{"text":"hi"}`).WithContext(ctx)
	done := make(chan int, 1)
	go func() { done <- s.serve(r).Code }()
	cancel()
	if code := <-done; code != httpserver.StatusClientClosedRequest {
		t.Fatalf("status %d for a client that left, want %d", code, httpserver.StatusClientClosedRequest)
	}
	if logs := s.logs.String(); strings.Contains(logs, "request failed") {
		t.Fatalf("a client that left was logged as a failure: %q", logs)
	}
}
