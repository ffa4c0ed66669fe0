package faults

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestBacklogWait(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	recovery := 3 * time.Minute
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	t.Run("waits until the deadline whatever the backlog", func(t *testing.T) {
		w := newBacklogWait(t0, at(recovery), recovery)
		if !w.more(at(2*time.Minute), 500, true) || !w.more(at(179*time.Second), 500, false) {
			t.Fatal("stopped before the deadline")
		}
	})
	t.Run("keeps waiting past the deadline while the backlog shrinks", func(t *testing.T) {
		w := newBacklogWait(t0, at(recovery), recovery)
		backlog := 9000
		for d := time.Duration(0); d < 8*time.Minute; d += 30 * time.Second {
			if !w.more(at(d), backlog, true) {
				t.Fatalf("stopped at %s with a shrinking backlog of %d", d, backlog)
			}
			backlog -= 500
		}
	})
	t.Run("stops when the backlog stalls past the deadline", func(t *testing.T) {
		w := newBacklogWait(t0, at(recovery), recovery)
		w.more(at(time.Minute), 800, true)
		w.more(at(150*time.Second), 700, true) // the last progress
		if !w.more(at(recovery), 700, true) {
			t.Fatal("stopped within backlogStall of the last progress")
		}
		if w.more(at(150*time.Second+backlogStall), 700, true) {
			t.Fatal("kept waiting for a stalled backlog")
		}
		if got, want := w.String(), "stopped shrinking at 700 events for 1m0s"; got != want {
			t.Fatalf("String() = %q, want %q", got, want)
		}
	})
	t.Run("waits up to the cap for a backlog that cannot be read", func(t *testing.T) {
		w := newBacklogWait(t0, at(recovery), recovery)
		if !w.more(at(recovery+backlogStall), 0, false) {
			t.Fatal("stopped waiting for a backlog that could not be read, before the cap")
		}
		if w.more(at(3*recovery), 0, false) {
			t.Fatal("kept waiting past the cap")
		}
		if got := w.String(); got != "could not be read" {
			t.Fatalf("String() = %q", got)
		}
	})
	t.Run("a stall is counted from the last progress read, not the unreadable time", func(t *testing.T) {
		w := newBacklogWait(t0, at(recovery), recovery)
		w.more(at(time.Minute), 800, true)
		w.more(at(recovery+backlogStall), 0, false)
		if w.more(at(recovery+backlogStall+time.Second), 800, true) {
			t.Fatal("kept waiting for a backlog stalled since minute 1")
		}
	})
	t.Run("stops at the cap even while shrinking", func(t *testing.T) {
		w := newBacklogWait(t0, at(recovery), recovery)
		backlog := 100000
		var d time.Duration
		for ; w.more(at(d), backlog, true); d += 10 * time.Second {
			backlog--
		}
		if d != 3*recovery {
			t.Fatalf("stopped at %s, want the cap %s", d, 3*recovery)
		}
	})
}

func TestLagBacklog(t *testing.T) {
	row := func(group string, lag int) string {
		return fmt.Sprintf("p-%s  t.posts  0  10  %d  %d\n", group, 10+lag, lag)
	}
	all := func(lag int) string {
		out := "GROUP  TOPIC  PARTITION  COMMITTED  END  LAG\n"
		for _, g := range PostGroups {
			out += row(g, lag)
		}
		return out
	}
	for _, c := range []struct {
		name  string
		out   string
		total int
		ok    bool
	}{
		{"every group caught up, outbox empty", all(0) + "\noutbox: 0 events pending\n", 0, true},
		{"the partitions add up, the outbox does not", all(2) + "\noutbox: 5 events pending, oldest made 1s ago (2026-12-06T10:00:00Z)\n", 2 * len(PostGroups), true},
		{"a group left out is not caught up", strings.Replace(all(0), row(PostGroups[0], 0), "", 1) + "\noutbox: 0 events pending\n", 0, false},
		{"no outbox line", all(0), 0, false},
		{"outbox unavailable", all(0) + "\noutbox: unavailable: cassandra down\n", 0, false},
		{"nothing listed", "", 0, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			total, ok := lagBacklog(c.out, "p-")
			if ok != c.ok || (ok && total != c.total) {
				t.Fatalf("lagBacklog = %d, %v; want %d, %v", total, ok, c.total, c.ok)
			}
		})
	}
}
