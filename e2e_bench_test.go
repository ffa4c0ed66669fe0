package main_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBenchQuick runs `feedsvc bench all --quick` as a smoke test: every
// scenario runs and reports, and no request fails. Timings are reported,
// never asserted.
func TestBenchQuick(t *testing.T) {
	forEach(t, func(t *testing.T, s *system) {
		out := filepath.Join(t.TempDir(), "report.json")
		table := s.cli("bench", "all", "--quick", "--out", out)
		for _, want := range []string{"post-latency", "sync baseline", "feed-read", "spike", "memory"} {
			if !strings.Contains(table, want) {
				t.Fatalf("bench output lacks %q:\n%s", want, table)
			}
		}
		raw, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		var report struct {
			Backends    map[string]string `json:"backends"`
			PostLatency struct {
				P99     map[string]float64 `json:"p99_ms"`
				Failed  map[string]int     `json:"failed"`
				SyncP99 *float64           `json:"sync_baseline_p99_ms"`
			} `json:"post_latency"`
			FeedRead struct {
				P99    *float64 `json:"p99_ms"`
				Failed int      `json:"failed"`
			} `json:"feed_read"`
			Spike struct {
				Posts   int      `json:"posts"`
				Failed  int      `json:"failed"`
				CatchUp *float64 `json:"catch_up_s"`
			} `json:"spike"`
			Memory map[string]any `json:"memory"`
		}
		if err := json.Unmarshal(raw, &report); err != nil {
			t.Fatalf("report: %v\n%s", err, raw)
		}
		pl := report.PostLatency
		if len(pl.P99) != 3 || pl.SyncP99 == nil || report.FeedRead.P99 == nil || report.Memory == nil || len(report.Backends) != 3 {
			t.Fatalf("incomplete report:\n%s", raw)
		}
		for size, n := range pl.Failed {
			if n != 0 {
				t.Fatalf("%d posts failed for the %s-follower author", n, size)
			}
		}
		// The synchronous baseline may fail under load (that is its point);
		// feedsvc's own paths must not.
		if report.FeedRead.Failed != 0 || report.Spike.Failed != 0 || report.Spike.Posts == 0 || report.Spike.CatchUp == nil {
			t.Fatalf("feed reads or spike posts failed, or fan-out did not catch up:\n%s", raw)
		}
		if s.dep.real {
			if v, ok := report.Memory["bytes_per_entry"].(float64); !ok || v <= 0 {
				t.Fatalf("no memory figure on real Redis:\n%s", raw)
			}
		}
		t.Logf("bench --quick on %s:\n%s", s.dep.name, table)
	})
}
