package httpserver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/roles/httpserver"
)

// TestErrorsMappedInOnePlace checks the error handler: echo.HTTPErrors keep
// their status, app's domain errors (wrapped or not) get theirs with their
// message, anything else is a logged 500 that does not leak.
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
		{"unavailable", fmt.Errorf("new post: %w", app.ErrUnavailable), http.StatusServiceUnavailable, "new post: unavailable", false},
		{"ID conflict", fmt.Errorf("save post: %w", app.ErrIDConflict), http.StatusInternalServerError, "internal error", true},
		{"bare sentinel", app.ErrInvalid, http.StatusBadRequest, "invalid input", false},
		{"HTTP error", echo.NewHTTPError(http.StatusRequestEntityTooLarge, "body larger than 16K"), http.StatusRequestEntityTooLarge, "body larger than 16K", false},
		{"HTTP error without a text", echo.NewHTTPError(http.StatusConflict, 42), http.StatusConflict, "Conflict", false},
		{"unauthorized", echo.NewHTTPError(http.StatusUnauthorized, "missing bearer token"), http.StatusUnauthorized, "missing bearer token", false},
		{"unknown", errors.New("pebble: disk on fire"), http.StatusInternalServerError, "internal error", true},
		{"wrapped unknown", fmt.Errorf("save post: %w", context.DeadlineExceeded), http.StatusInternalServerError, "internal error", true},
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
			want := httpserver.Problem{Type: "about:blank", Title: http.StatusText(c.status), Status: c.status, Detail: c.detail}
			if p != want {
				t.Fatalf("problem %+v, want %+v", p, want)
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

func TestHeadErrorHasNoBody(t *testing.T) {
	e := httpserver.New(slog.New(slog.DiscardHandler), prometheus.NewRegistry(), func(context.Context) error { return nil })
	e.HEAD("/gone", func(echo.Context) error { return app.ErrNotFound })
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodHead, "/gone", nil))
	if rec.Code != http.StatusNotFound || rec.Body.Len() != 0 {
		t.Fatalf("HEAD = %d with %d body bytes, want 404 and none", rec.Code, rec.Body.Len())
	}
}
