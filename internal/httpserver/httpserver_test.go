package httpserver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/internal/httpserver"
	"github.com/feedsvc/feedsvc/internal/testenv"
)

// TestErrorsMappedInOnePlace checks the error handler: echo.HTTPErrors keep
// their status, app's domain errors (wrapped or not) get theirs with their
// message, an unavailable dependency or a passed deadline is a logged 503
// with Retry-After that does not leak, anything else is a logged 500 that
// does not leak.
func TestErrorsMappedInOnePlace(t *testing.T) {
	for _, c := range []struct {
		name   string
		err    error
		status int
		detail string
		logged bool
	}{
		{"invalid", fmt.Errorf("%w: text must not be empty", app.ErrInvalid), http.StatusBadRequest, "invalid input: text must not be empty", false},
		{"not found", fmt.Errorf("post 7: %w", app.ErrNotFound), http.StatusNotFound, "post 7: not found", false},
		{"forbidden", fmt.Errorf("post 7 belongs to another user: %w", app.ErrForbidden), http.StatusForbidden, "post 7 belongs to another user: forbidden", false},
		{"wrapped twice", fmt.Errorf("outer: %w", fmt.Errorf("inner: %w", app.ErrNotFound)), http.StatusNotFound, "outer: inner: not found", false},
		{"ID conflict", fmt.Errorf("save post: %w", app.ErrIDConflict), http.StatusInternalServerError, "internal error", true},
		{"bare sentinel", app.ErrInvalid, http.StatusBadRequest, "invalid input", false},
		{"HTTP error", echo.NewHTTPError(http.StatusRequestEntityTooLarge, "body larger than 16K"), http.StatusRequestEntityTooLarge, "body larger than 16K", false},
		{"HTTP error without a text", echo.NewHTTPError(http.StatusConflict, 42), http.StatusConflict, "Conflict", false},
		{"unauthorized", echo.NewHTTPError(http.StatusUnauthorized, "missing bearer token"), http.StatusUnauthorized, "missing bearer token", false},
		{"unknown", errors.New("pebble: disk on fire"), http.StatusInternalServerError, "internal error", true},
		{"wrapped unknown", fmt.Errorf("save post: %w", io.ErrUnexpectedEOF), http.StatusInternalServerError, "internal error", true},
		{"cancelled, client still there", fmt.Errorf("save post: %w", context.Canceled), http.StatusInternalServerError, "internal error", true},
		{"unavailable", fmt.Errorf("cassandra: save post 7: gocql: no hosts available in the pool (%w)", app.ErrUnavailable), http.StatusServiceUnavailable, unavailableDetail, true},
		{"deadline", fmt.Errorf("redis: read feed: %w", context.DeadlineExceeded), http.StatusServiceUnavailable, unavailableDetail, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			var logs bytes.Buffer
			e := httpserver.New(slog.New(slog.NewTextHandler(&logs, nil)), prometheus.NewRegistry(), func(context.Context) error { return nil })
			e.GET("/fail", func(echo.Context) error { return c.err })
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/fail", nil))

			if rec.Code != c.status || rec.Header().Get("Content-Type") != httpserver.ProblemContentType {
				t.Fatalf("%d %q, want %d problem+json", rec.Code, rec.Header().Get("Content-Type"), c.status)
			}
			var p httpserver.Problem
			if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
				t.Fatal(err)
			}
			want := httpserver.Problem{Type: httpserver.ProblemType(c.status), Title: http.StatusText(c.status), Status: c.status, Detail: c.detail}
			if p != want {
				t.Fatalf("problem %+v, want %+v", p, want)
			}
			if (c.status == http.StatusServiceUnavailable) != (rec.Header().Get("Retry-After") != "") {
				t.Fatalf("Retry-After %q on a %d", rec.Header().Get("Retry-After"), c.status)
			}
			if (c.status == http.StatusUnauthorized) != (rec.Header().Get("WWW-Authenticate") != "") {
				t.Fatalf("WWW-Authenticate %q on a %d", rec.Header().Get("WWW-Authenticate"), c.status)
			}
			if logged := strings.Contains(logs.String(), "request failed"); logged != c.logged {
				t.Fatalf("logged %v, want %v: %q", logged, c.logged, logs.String())
			}
			if c.logged && !strings.Contains(logs.String(), c.err.Error()) {
				t.Fatalf("the log lacks the cause: %q", logs.String())
			}
		})
	}
}

// unavailableDetail is what a 503 says, whatever the driver said.
const unavailableDetail = "a service this request needs is unavailable or too slow; retry later"

// TestRequestDeadline checks that a handler's context has the configured
// deadline, and that a handler cut off by it answers 503 with Retry-After.
func TestRequestDeadline(t *testing.T) {
	var logs bytes.Buffer
	e := httpserver.New(slog.New(slog.NewTextHandler(&logs, nil)), prometheus.NewRegistry(), func(context.Context) error { return nil },
		httpserver.WithRequestTimeout(50*time.Millisecond))
	var deadline time.Time
	e.GET("/slow", func(c echo.Context) error {
		ctx := c.Request().Context()
		d, ok := ctx.Deadline()
		if !ok {
			return errors.New("no deadline")
		}
		deadline = d
		// A store call that hangs until the request's deadline.
		<-ctx.Done()
		return fmt.Errorf("cassandra: get posts: %w", ctx.Err())
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rec := httptest.NewRecorder()
	// The deadline is the configured 50ms after the request came in: set
	// between start and end, whatever a stall of the machine in between.
	start := time.Now()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/slow", nil).WithContext(ctx))
	end := time.Now()
	if deadline.Before(start.Add(50*time.Millisecond)) || deadline.After(end.Add(50*time.Millisecond)) {
		t.Fatalf("deadline %s, want 50ms after the request came in, between %s and %s", deadline, start, end)
	}
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "2" {
		t.Fatalf("%d, Retry-After %q; want 503, 2", rec.Code, rec.Header().Get("Retry-After"))
	}
	var p httpserver.Problem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Detail != unavailableDetail {
		t.Fatalf("body %q (%v), want the problem with detail %q", rec.Body.String(), err, unavailableDetail)
	}
}

// TestDefaultDeadlineNotOnProfiler checks that requests have a deadline
// without WithRequestTimeout, except the profiler's, which samples for as
// long as it is asked.
func TestDefaultDeadlineNotOnProfiler(t *testing.T) {
	e := httpserver.New(slog.New(slog.DiscardHandler), prometheus.NewRegistry(), func(context.Context) error { return nil })
	hasDeadline := func(c echo.Context) error {
		d, ok := c.Request().Context().Deadline()
		if !ok {
			return c.String(http.StatusOK, "none")
		}
		if left := time.Until(d); left <= 0 || left > httpserver.DefaultRequestTimeout {
			return c.String(http.StatusOK, "wrong: "+left.String())
		}
		return c.String(http.StatusOK, "default")
	}
	e.GET("/v1/x", hasDeadline)
	e.GET("/debug/pprof/x", hasDeadline)
	for path, want := range map[string]string{"/v1/x": "default", "/debug/pprof/x": "none"} {
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Body.String() != want {
			t.Errorf("%s: deadline %q, want %q", path, rec.Body.String(), want)
		}
	}
}

// TestClientGoneIsNotAnError checks that a request whose client left (its
// context cancelled) is neither answered nor logged as a failure, and is
// counted as 499.
func TestClientGoneIsNotAnError(t *testing.T) {
	var logs bytes.Buffer
	reg := prometheus.NewRegistry()
	e := httpserver.New(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})), reg, func(context.Context) error { return nil },
		httpserver.WithOperatorRoutes(false))
	e.POST("/v1/posts", func(c echo.Context) error {
		return fmt.Errorf("cassandra: save post: %w", c.Request().Context().Err())
	})
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the client hung up
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/posts", nil).WithContext(ctx))
	if rec.Code != httpserver.StatusClientClosedRequest || rec.Body.Len() != 0 {
		t.Fatalf("%d with %q, want %d and no body", rec.Code, rec.Body.String(), httpserver.StatusClientClosedRequest)
	}
	if strings.Contains(logs.String(), "level=ERROR") || strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "client went away") {
		t.Fatalf("logs %q, want only a debug line", logs.String())
	}
	mrec := httptest.NewRecorder()
	e.ServeHTTP(mrec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if !strings.Contains(mrec.Body.String(), `feedsvc_http_requests_total{code="499",method="POST",route="/v1/posts"} 1`) {
		t.Fatalf("metrics lack the 499:\n%s", mrec.Body.String())
	}
}

func TestHeadErrorHasNoBody(t *testing.T) {
	e := httpserver.New(slog.New(slog.DiscardHandler), prometheus.NewRegistry(), func(context.Context) error { return nil })
	e.HEAD("/gone", func(echo.Context) error { return app.ErrNotFound })
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodHead, "/gone", nil))
	if rec.Code != http.StatusNotFound || rec.Body.Len() != 0 {
		t.Fatalf("HEAD = %d with %d body bytes, want 404 and none", rec.Code, rec.Body.Len())
	}
}

// TestHandlerPanic: a panicking handler answers a problem+json 500 that
// leaks nothing, is counted (as a panic and as a 500), logged with its
// stack, and the server goes on serving.
func TestHandlerPanic(t *testing.T) {
	var logs bytes.Buffer
	reg := prometheus.NewRegistry()
	e := httpserver.New(slog.New(slog.NewTextHandler(&logs, nil)), reg, func(context.Context) error { return nil })
	e.GET("/boom", func(echo.Context) error {
		var m map[string]int
		m["secret"]++ // a nil map write: a real runtime panic
		return nil
	})
	for range 2 {
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/boom", nil))
		var p httpserver.Problem
		if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
			t.Fatalf("%d %q: %v", rec.Code, rec.Body.String(), err)
		}
		want := httpserver.Problem{Type: httpserver.ProblemType(http.StatusInternalServerError), Title: "Internal Server Error", Status: http.StatusInternalServerError, Detail: "internal error"}
		if rec.Code != http.StatusInternalServerError || rec.Header().Get("Content-Type") != httpserver.ProblemContentType || p != want {
			t.Fatalf("%d %q %+v, want a problem+json 500 %+v", rec.Code, rec.Header().Get("Content-Type"), p, want)
		}
	}
	if got := testenv.Metric(t, reg, "feedsvc_http_panics_total", nil); got != 2 {
		t.Fatalf("feedsvc_http_panics_total = %v, want 2", got)
	}
	if got := testenv.Metric(t, reg, "feedsvc_http_requests_total", map[string]string{"code": "500"}); got != 2 {
		t.Fatalf("feedsvc_http_requests_total{code=500} = %v, want 2", got)
	}
	if out := logs.String(); !strings.Contains(out, "handler panic") || !strings.Contains(out, "assignment to entry in nil map") || !strings.Contains(out, "goroutine ") {
		t.Fatalf("the panic is not logged with its cause and stack:\n%s", out)
	}
}

// TestReadinessDetailOnlyForOperators: a failing readiness answers 503 on
// both routers, with its cause on the operator's only; the public router
// serves no /metrics and no profiler unless given the operator's routes.
func TestReadinessDetailOnlyForOperators(t *testing.T) {
	notReady := func(context.Context) error { return errors.New("redis 10.0.0.7:6379: connection refused") }
	get := func(e *echo.Echo, path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Host = "127.0.0.1:9090" // as an operator's tools address it
		e.ServeHTTP(rec, req)
		return rec
	}
	public := httpserver.New(slog.New(slog.DiscardHandler), prometheus.NewRegistry(), notReady)
	admin := httpserver.NewAdmin(slog.New(slog.DiscardHandler), prometheus.NewRegistry(), notReady, true)
	if rec := get(public, "/readyz"); rec.Code != http.StatusServiceUnavailable || strings.Contains(rec.Body.String(), "redis") {
		t.Errorf("public /readyz: %d %s; want 503 naming no backend", rec.Code, rec.Body.String())
	}
	if rec := get(admin, "/readyz"); rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "connection refused") {
		t.Errorf("admin /readyz: %d %s; want 503 with the cause", rec.Code, rec.Body.String())
	}
	for _, path := range []string{"/metrics", "/debug/pprof/"} {
		if rec := get(public, path); rec.Code != http.StatusNotFound {
			t.Errorf("public %s: %d, want 404", path, rec.Code)
		}
		if rec := get(admin, path); rec.Code != http.StatusOK {
			t.Errorf("admin %s: %d, want 200", path, rec.Code)
		}
	}
}

// TestReadinessDegraded: a degraded process is ready (200) on both
// routers; only the operator's names what is degraded.
func TestReadinessDegraded(t *testing.T) {
	degraded := func(context.Context) error {
		return &httpserver.Degraded{Err: errors.New("redis: connection refused")}
	}
	for _, c := range []struct {
		name   string
		e      *echo.Echo
		detail bool
	}{
		{"public", httpserver.New(slog.New(slog.DiscardHandler), prometheus.NewRegistry(), degraded), false},
		{"admin", httpserver.NewAdmin(slog.New(slog.DiscardHandler), prometheus.NewRegistry(), degraded, false), true},
	} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/readyz", nil)
		req.Host = "127.0.0.1:9090"
		c.e.ServeHTTP(rec, req)
		body := rec.Body.String()
		if rec.Code != http.StatusOK || !strings.Contains(body, `"status":"ready"`) || strings.Contains(body, "redis") != c.detail {
			t.Errorf("%s /readyz of a degraded process: %d %s; want 200, ready, the cause only for operators", c.name, rec.Code, body)
		}
	}
}

// TestAccessLog: one line per request with its method, route, status,
// duration and request ID; the ID is echoed in X-Request-ID, taken from the
// request when it is a sane one and made up otherwise; probes log at debug
// level only.
func TestAccessLog(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil)) // info: probes stay out
	e := httpserver.New(log, prometheus.NewRegistry(), func(context.Context) error { return nil })
	e.GET("/v1/posts/:id", func(c echo.Context) error { return c.String(http.StatusTeapot, "tea") })
	for _, c := range []struct {
		name, sent string
		keep       bool
	}{
		{"no ID", "", false},
		{"a proxy's ID", "req-42.abc", true},
		{"too long", strings.Repeat("x", 129), false},
		{"not printable", "a\nb", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			logs.Reset()
			req := httptest.NewRequest(http.MethodGet, "/v1/posts/7", nil)
			if c.sent != "" {
				req.Header.Set(echo.HeaderXRequestID, c.sent)
			}
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, req)
			id := rec.Header().Get(echo.HeaderXRequestID)
			if (id == c.sent) != c.keep || id == "" {
				t.Fatalf("X-Request-ID %q for %q sent, keep %v", id, c.sent, c.keep)
			}
			var line struct {
				Msg, Method, Route, Path string
				Status                   int
				Duration                 int64
				RequestID                string `json:"request_id"`
			}
			if err := json.Unmarshal(logs.Bytes(), &line); err != nil {
				t.Fatalf("not one JSON line: %q: %v", logs.String(), err)
			}
			if line.Msg != "request" || line.Method != "GET" || line.Route != "/v1/posts/:id" || line.Path != "/v1/posts/7" ||
				line.Status != http.StatusTeapot || line.Duration <= 0 || line.RequestID != id {
				t.Fatalf("access log %+v (X-Request-ID %q)", line, id)
			}
		})
	}
	logs.Reset()
	e.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if logs.Len() != 0 {
		t.Fatalf("a probe logged at info: %q", logs.String())
	}
}
