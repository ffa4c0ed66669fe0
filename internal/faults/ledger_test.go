package faults

import (
	"strings"
	"testing"
	"time"
)

func TestLedgerCountsAndP99(t *testing.T) {
	l := &Ledger{}
	for i := range 100 {
		l.addPost(&PostRec{Phase: PhaseDuring, Status: 201, Latency: time.Duration(i+1) * time.Millisecond})
	}
	l.addPost(&PostRec{Phase: PhaseDuring, Status: 0, Latency: 10 * time.Second})
	l.addPost(&PostRec{Phase: PhaseDuring, Status: 0, Aborted: true, Latency: time.Hour}) // left out of p99
	l.addPost(&PostRec{Phase: PhaseBefore, Status: 503, Latency: time.Millisecond})
	l.addPost(&PostRec{Phase: PhaseBefore, Status: 400, Latency: time.Millisecond})
	got := l.PostCounts()
	want := Counts{Offered: 104, Created: 100, C4xx: 1, C5xx: 1, NoAnswer: 1, Aborted: 1}
	if got != want {
		t.Fatalf("counts = %+v, want %+v", got, want)
	}
	if p := l.P99(PhaseDuring); p != 100*time.Millisecond {
		t.Fatalf("p99 during = %s, want 100ms (101 posts: the 100th slowest)", p)
	}
	if p := l.P99(PhaseAfter); p != 0 {
		t.Fatalf("p99 without posts = %s", p)
	}
	l.addPost(&PostRec{Phase: PhaseDuring, Status: 503, Latency: 700 * time.Millisecond})
	if p := l.P99Failed(); p != 700*time.Millisecond {
		t.Fatalf("p99 of the 5xx answers = %s, want 700ms (the slower of two)", p)
	}
}

func TestFindingsCountWritesOnce(t *testing.T) {
	f := &Findings{}
	f.note(&f.Lost, "1", "feed of a lacks 1")
	f.note(&f.Lost, "1", "search misses 1")
	f.note(&f.Orphans, "1", "an orphan under the same key counts apart")
	f.note(&f.Dups, "", "dup")
	f.note(&f.Dups, "", "dup")
	if f.Lost != 1 || f.Orphans != 1 || f.Dups != 2 || len(f.Details) != 5 || f.Clean() {
		t.Fatalf("findings = %+v", f)
	}
	if (&Findings{DeadLetters: 5}).Clean() != true {
		t.Fatal("expected dead letters (the poison event) alone are clean")
	}
}

func TestMarkdownRows(t *testing.T) {
	rows := []*Row{
		{Fault: "kill-api", Posts: Counts{Offered: 10, Created: 9, NoAnswer: 1}, P99: map[string]time.Duration{PhaseDuring: 1500 * time.Millisecond},
			Findings: &Findings{}, Recovery: 2 * time.Second},
		{Fault: "redis-flushall", Findings: &Findings{Lost: 3}},
		{Fault: "kafka-all-killed", Posts: Counts{Offered: 2, Created: 1, C5xx: 1}, Broken: "want every post 201", Findings: &Findings{}, Recovery: time.Second,
			P99Fail: 250 * time.Millisecond},
	}
	md := Markdown(rows, "go test ./internal/faults", 15*time.Second, time.Minute)
	for _, want := range []string{
		"`go test ./internal/faults`",
		"| kill-api | 10 | 9 | 0 | 0 | 1 | 0 | 1.5s | - | 0 | 0 | 0 | 0 | 0 (0) | 2s | 0s | pass |",
		"| redis-flushall | 0 | 0 | 0 | 0 | 0 | 0 | 0s | - | 3 | 0 | 0 | 0 | 0 (0) | not within the deadline | 0s | **FAIL** |",
		"| kafka-all-killed | 2 | 1 | 0 | 1 | 0 | 0 | 0s | 250ms | 0 | 0 | 0 | 0 | 0 (0) | 1s | 0s | **FAIL**: want every post 201 |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
}

func TestPostsExpect(t *testing.T) {
	ledger := func(ps ...PostRec) *Ledger {
		l := &Ledger{}
		for i := range ps {
			l.addPost(&ps[i])
		}
		return l
	}
	ok := PostRec{Status: 201, Phase: PhaseDuring}
	hung := PostRec{Status: 0, Phase: PhaseDuring}
	aborted := PostRec{Status: 0, Aborted: true, Phase: PhaseDuring}
	s500 := PostRec{Status: 500, Phase: PhaseDuring}
	s503 := PostRec{Status: 503, Phase: PhaseDuring}
	s503after := PostRec{Status: 503, Phase: PhaseAfter}
	for _, c := range []struct {
		name string
		e    postsExpect
		l    *Ledger
		want string // a part of the complaint; "" for none
	}{
		{"all201 kept", all201, ledger(ok, ok, aborted), ""},
		{"all201 no answer", all201, ledger(ok, hung), "1 posts answered otherwise: status 0 is no answer: 0 (during"},
		{"all201 503", all201, ledger(ok, s503), "503 (during"},
		{"no5xx no answer", no5xx, ledger(ok, hung), ""},
		{"no5xx 500", no5xx, ledger(ok, hung, s500), "500 (during"},
		{"some503 kept", some503, ledger(ok, s503, s503after), ""},
		{"some503 hang", some503, ledger(ok, s503, hung), "0 (during"},
		{"some503 none during", some503, ledger(ok, s503after), "no post got 503 during the fault"},
		{"some503 500", some503, ledger(s503, s500), "500 (during"},
	} {
		why, examples := c.e.check(c.l)
		got := why
		if examples != "" {
			got += ": " + examples
		}
		if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("%s: check = %q, want %q", c.name, got, c.want)
		}
	}
}

func TestLedgerBlocks(t *testing.T) {
	l := &Ledger{}
	op := func(op, from, to string, o Outcome) { l.addOp(OpRec{Op: op, User: from, Target: to, Outcome: o}) }
	op("block", "a", "b", OK)       // in force
	op("block", "c", "d", OK)       // then lifted
	op("unblock", "c", "d", OK)     //
	op("block", "e", "f", NoAnswer) // may or may not have landed
	op("block", "g", "h", OK)       // an unblock that failed: unsure
	op("unblock", "g", "h", ServerError)
	op("block", "i", "j", OK)
	op("unblock", "i", "j", ClientError) // refused: changed nothing
	op("block", "k", "l", ServerError)
	op("block", "k", "l", OK) // the 5xx is over: this answer stands
	op("block", "m", "n", NoAnswer)
	op("block", "m", "n", OK)  // the lost one may land after it: unsure
	op("follow", "x", "y", OK) // not a block
	b := l.blocks()
	for _, c := range []struct {
		x, y   string
		across bool
		named  bool
	}{
		{"a", "b", true, true}, {"b", "a", true, true}, {"i", "j", true, true},
		{"k", "l", true, true}, {"m", "n", false, true},
		{"c", "d", false, true}, {"e", "f", false, true}, {"h", "g", false, true},
		{"x", "y", false, false}, {"a", "c", false, false},
	} {
		if got := b.across(c.x, c.y); got != c.across {
			t.Errorf("across(%s, %s) = %v, want %v", c.x, c.y, got, c.across)
		}
		if got := b.named[[2]string{c.x, c.y}]; got != c.named {
			t.Errorf("named(%s, %s) = %v, want %v", c.x, c.y, got, c.named)
		}
	}
}

// TestLedgerKnownState: a pair's state is known when its last answered
// request was a 2xx and nothing since may land after it; a lifted block
// is known off.
func TestLedgerKnownState(t *testing.T) {
	l := &Ledger{}
	op := func(op, from, to string, o Outcome) { l.addOp(OpRec{Op: op, User: from, Target: to, Outcome: o}) }
	op("follow", "a", "b", OK)
	op("follow", "c", "d", OK)
	op("unfollow", "c", "d", OK)
	op("follow", "e", "f", OK)
	op("unfollow", "e", "f", ServerError)
	op("follow", "g", "h", NoAnswer)
	op("unfollow", "i", "j", ClientError)
	known := l.follows().known
	want := map[[2]string]bool{{"a", "b"}: true, {"c", "d"}: false}
	if len(known) != len(want) {
		t.Errorf("known %v, want %v", known, want)
	}
	for p, on := range want {
		if got, ok := known[p]; !ok || got != on {
			t.Errorf("known[%v] = %v (%v), want %v", p, got, ok, on)
		}
	}
}

// TestFeedReads counts the home feed reads of one phase: answered, of
// those degraded, and not answered; list feed reads and other phases
// are not counted.
func TestFeedReads(t *testing.T) {
	l := &Ledger{}
	for _, o := range []OpRec{
		{Op: "feed", Target: "home", Phase: PhaseDuring, Status: 200},
		{Op: "feed", Target: "home", Phase: PhaseDuring, Status: 200, Degraded: "posts,counts"},
		{Op: "feed", Target: "home", Phase: PhaseDuring, Status: 503},
		{Op: "feed", Target: "list:1", Phase: PhaseDuring, Status: 503},
		{Op: "feed", Target: "home", Phase: PhaseBefore, Status: 503},
		{Op: "follow", Target: "home", Phase: PhaseDuring, Status: 503},
	} {
		l.addOp(o)
	}
	if ok, degraded, failed := l.FeedReads(PhaseDuring); ok != 2 || degraded != 1 || failed != 1 {
		t.Fatalf("FeedReads = %d, %d, %d; want 2, 1, 1", ok, degraded, failed)
	}
}
