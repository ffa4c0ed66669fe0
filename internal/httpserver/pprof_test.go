package httpserver_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/feedsvc/feedsvc/internal/httpserver"
)

func TestPprofOnlyWhenEnabled(t *testing.T) {
	for _, c := range []struct {
		enabled bool
		want    int
	}{{false, http.StatusNotFound}, {true, http.StatusOK}} {
		e := httpserver.New(slog.New(slog.DiscardHandler), prometheus.NewRegistry(), func(context.Context) error { return nil })
		if c.enabled {
			httpserver.EnablePprof(e)
		}
		for _, path := range []string{"/debug/pprof/", "/debug/pprof/heap", "/debug/pprof/cmdline"} {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodGet, path, nil)
			req.Host = "127.0.0.1:9090"
			e.ServeHTTP(rec, req)
			if rec.Code != c.want {
				t.Errorf("enabled=%v GET %s = %d, want %d", c.enabled, path, rec.Code, c.want)
			}
		}
	}
	// Addressed by a name other than localhost (DNS rebinding): refused.
	e := httpserver.New(slog.New(slog.DiscardHandler), prometheus.NewRegistry(), func(context.Context) error { return nil })
	httpserver.EnablePprof(e)
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/debug/pprof/cmdline", nil)) // Host example.com
	if rec.Code != http.StatusForbidden {
		t.Errorf("GET /debug/pprof/cmdline addressed to example.com = %d, want 403", rec.Code)
	}
}
