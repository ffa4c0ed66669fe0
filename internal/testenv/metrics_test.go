package testenv

import (
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// TestMetricSumsMatchingSeries: both readers sum the series that carry all
// the given labels, from a registry and from its text exposition alike.
func TestMetricSumsMatchingSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "events_total"}, []string{"group", "outcome"})
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "lag"})
	reg.MustRegister(c, g)
	c.WithLabelValues("fanout", "ok").Add(3)
	c.WithLabelValues("fanout", "error").Add(2)
	c.WithLabelValues("search", "ok").Add(5)
	g.Set(7)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"events_total", nil, 10},
		{"events_total", map[string]string{"group": "fanout"}, 5},
		{"events_total", map[string]string{"group": "fanout", "outcome": "ok"}, 3},
		{"events_total", map[string]string{"group": "nosuch"}, 0},
		{"events_total", map[string]string{"shard": "1"}, 0}, // a label no series has
		{"lag", nil, 7},
		{"missing", nil, 0},
	} {
		if got := Metric(t, reg, tc.name, tc.labels); got != tc.want {
			t.Errorf("Metric(%s, %v) = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
		if got := ScrapedMetric(t, srv.URL, tc.name, tc.labels); got != tc.want {
			t.Errorf("ScrapedMetric(%s, %v) = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
}
