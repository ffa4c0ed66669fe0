package e2e_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBenchQuick runs `feedsvc bench all --quick` as a smoke test: every
// scenario runs and reports the figures the issue asks for, no request
// fails, and every feed fan-out should have reached is complete. Timings
// are reported, never asserted.
func TestBenchQuick(t *testing.T) {
	forEach(t, func(t *testing.T, s *system) {
		out := filepath.Join(t.TempDir(), "report.json")
		table := s.cli("bench", "all", "--quick", "--out", out)
		for _, want := range []string{"post-latency", "sync baseline", "feed-read", "fanout", "bare rueidis ZADD loop", "spike", "memory", "replay", "celebrity"} {
			if !strings.Contains(table, want) {
				t.Fatalf("bench output lacks %q:\n%s", want, table)
			}
		}
		raw, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		var report map[string]any
		if err := json.Unmarshal(raw, &report); err != nil {
			t.Fatalf("report: %v\n%s", err, raw)
		}
		t.Logf("bench --quick on %s:\n%s", s.dep.name, table)

		// Figures that must be there, as numbers; "zero" ones must be 0.
		checks := []struct {
			path string
			zero bool
		}{
			{path: "post_latency.p99_ms.10"},
			{path: "post_latency.p99_ms.100"},
			{path: "post_latency.p99_ms.1000"},
			{path: "post_latency.failed.10", zero: true},
			{path: "post_latency.failed.100", zero: true},
			{path: "post_latency.failed.1000", zero: true},
			// The synchronous baseline may fail under load (that is its
			// point); feedsvc's own paths must not.
			{path: "post_latency.sync_baseline_p99_ms"},
			{path: "feed_read.p99_ms"},
			{path: "feed_read.failed", zero: true},
			{path: "fanout.inserts_per_sec"},
			{path: "fanout.ceiling_per_sec"},
			{path: "fanout.ratio"},
			{path: "fanout.incomplete_feeds", zero: true},
			{path: "spike.posts"},
			{path: "spike.failed", zero: true},
			{path: "spike.catch_up_s"},
			{path: "spike.incomplete_feeds", zero: true},
			{path: "celebrity.post_p99_ms"},
			{path: "celebrity.post_failed", zero: true},
			{path: "celebrity.baseline_post_failed", zero: true},
			{path: "celebrity.read_p99_ms"},
			{path: "celebrity.read_failed", zero: true},
			{path: "celebrity.seen_max_s"},
			{path: "replay.events"},
			{path: "replay.events_per_sec"},
		}
		for _, c := range checks {
			v, ok := lookup(report, c.path).(float64)
			switch {
			case !ok:
				t.Errorf("report lacks the number %s", c.path)
			case c.zero && v != 0:
				t.Errorf("%s = %v, want 0", c.path, v)
			}
		}
		for _, path := range []string{"spike.feeds_complete", "fanout.feeds_complete"} {
			if v, ok := lookup(report, path).(bool); !ok || !v {
				t.Errorf("%s = %v, want true", path, lookup(report, path))
			}
		}
		if seen, sample := lookup(report, "celebrity.seen"), lookup(report, "celebrity.seen_sample"); seen != sample {
			t.Errorf("%v of %v sampled followers saw the celebrity's post", seen, sample)
		}
		// Present, possibly null with a note (embedded Redis, no redis-benchmark).
		for _, path := range []string{"fanout.redis_benchmark_per_sec", "memory.bytes_per_entry"} {
			parent, key, _ := strings.Cut(path, ".")
			if m, ok := report[parent].(map[string]any); !ok || !hasKey(m, key) {
				t.Errorf("report lacks %s", path)
			}
		}
		if lookup(report, "fanout.redis_benchmark_per_sec") == nil && lookup(report, "fanout.redis_benchmark_note") == nil {
			t.Errorf("no redis-benchmark figure and no note why")
		}
		if b, ok := report["backends"].(map[string]any); !ok || len(b) != 3 {
			t.Errorf("report lacks the backends: %v", report["backends"])
		}
		if s.dep.real {
			if v, ok := lookup(report, "memory.bytes_per_entry").(float64); !ok || v <= 0 {
				t.Errorf("no memory figure on real Redis")
			}
		}
		if t.Failed() {
			t.Logf("report:\n%s", raw)
		}
	})
}

// lookup follows a dotted path through nested JSON objects (nil if absent).
func lookup(v any, path string) any {
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func hasKey(m map[string]any, k string) bool {
	_, ok := m[k]
	return ok
}
