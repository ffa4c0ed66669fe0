package wiring

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/feedsvc/feedsvc/internal/httpserver"
)

// TestCheckLogReadiness: a failed required backend makes the process not
// ready; a failed other one only degrades it; each check sets
// feedsvc_backend_up.
func TestCheckLogReadiness(t *testing.T) {
	down := map[string]error{}
	run := func(context.Context) []Check {
		var cs []Check
		for _, name := range []string{"kafka", "redis", "store"} {
			cs = append(cs, Check{Name: name, Err: down[name]})
		}
		return cs
	}
	reg := prometheus.NewRegistry()
	l := newCheckLog(run, func(name string) bool { return name == "store" }, reg)
	up := func(name string) float64 {
		var m dto.Metric
		if err := l.up.WithLabelValues(name).Write(&m); err != nil {
			t.Fatal(err)
		}
		return m.GetGauge().GetValue()
	}

	if err := l.ready(t.Context()); err != nil || up("redis") != 1 {
		t.Fatalf("all up: %v, redis up %v; want ready and 1", err, up("redis"))
	}
	down["redis"] = errors.New("connection refused")
	err := l.ready(t.Context())
	var d *httpserver.Degraded
	if !errors.As(err, &d) || err != error(d) || !strings.Contains(err.Error(), "redis: connection refused") || up("redis") != 0 {
		t.Fatalf("redis down: %v, redis up %v; want degraded by redis and 0", err, up("redis"))
	}
	down["store"] = errors.New("no hosts")
	err = l.ready(t.Context())
	if _, ok := err.(*httpserver.Degraded); ok || err == nil || !strings.Contains(err.Error(), "store: no hosts") || !strings.Contains(err.Error(), "redis") {
		t.Fatalf("store and redis down: %v; want not ready, naming both", err)
	}
	l.required = nil // a process of consumers alone
	delete(down, "store")
	if err := l.ready(t.Context()); err == nil || errors.As(err, &d) {
		t.Fatalf("consumers, redis down: %v; want not ready", err)
	}
}
