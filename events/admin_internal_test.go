package events

import "testing"

func TestMinInsyncFix(t *testing.T) {
	for _, c := range []struct {
		current     string
		replication int
		want        string
		fix         bool
	}{
		{"1", 3, "2", true},  // the broker default: acks=all would mean the leader alone
		{"2", 3, "2", false}, // the rule
		{"3", 3, "3", false}, // an operator's stricter choice stays
		{"4", 3, "2", true},  // above the replication: no write could succeed
		{"2", 1, "1", true},
		{"1", 1, "1", false},
		{"", 3, "2", true},
		{"x", 3, "2", true},
	} {
		got, fix := minInsyncFix(c.current, c.replication)
		if got != c.want || fix != c.fix {
			t.Errorf("minInsyncFix(%q, %d) = %s, %v; want %s, %v", c.current, c.replication, got, fix, c.want, c.fix)
		}
	}
}
