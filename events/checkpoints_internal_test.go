package events

import "testing"

func TestStaleRewind(t *testing.T) {
	for _, c := range []struct {
		name                  string
		committed, checkpoint int64
		held                  bool
		oldest                int64
		wantTo                int64
		wantRewind            bool
	}{
		{"redis holds what was committed", 100, 100, true, 0, 100, false},
		{"redis holds more (a replay moved the group back)", 40, 100, true, 0, 100, false},
		{"restored from an older snapshot", 100, 60, true, 0, 60, true},
		{"the checkpoint is older than the log", 100, 10, true, 30, 30, true},
		{"flushed: redo the retained log", 100, 0, false, 30, 30, true},
		{"flushed, nothing retained before the commit", 30, 0, false, 30, 30, false},
		{"nothing committed: the group starts at the log start anyway", -1, 0, false, 0, 0, false},
		{"nothing committed, a checkpoint left", -1, 50, true, 0, 0, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			to, rewind := staleRewind(c.committed, c.checkpoint, c.held, c.oldest)
			if rewind != c.wantRewind || (rewind && to != c.wantTo) {
				t.Fatalf("staleRewind(%d, %d, %v, %d) = %d, %v; want %d, %v",
					c.committed, c.checkpoint, c.held, c.oldest, to, rewind, c.wantTo, c.wantRewind)
			}
		})
	}
}

func TestLostWrites(t *testing.T) {
	for _, c := range []struct {
		known, checkpoint int64
		held, want        bool
	}{
		{known: 10, checkpoint: 10, held: true, want: false},
		{known: 10, checkpoint: 12, held: true, want: false}, // another member wrote since
		{known: 10, checkpoint: 9, held: true, want: true},
		{known: 10, held: false, want: true},
		{known: 0, held: false, want: true}, // a checkpoint of 0 was there, now nothing is
	} {
		if got := lostWrites(c.known, c.checkpoint, c.held); got != c.want {
			t.Errorf("lostWrites(%d, %d, %v) = %v, want %v", c.known, c.checkpoint, c.held, got, c.want)
		}
	}
}
