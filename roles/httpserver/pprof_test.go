package httpserver_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/feedsvc/feedsvc/roles/httpserver"
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
			e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
			if rec.Code != c.want {
				t.Errorf("enabled=%v GET %s = %d, want %d", c.enabled, path, rec.Code, c.want)
			}
		}
	}
}
