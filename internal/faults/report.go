package faults

import (
	"fmt"
	"strings"
	"time"
)

// Row is the suite's result for one fault.
type Row struct {
	Fault    string
	Skipped  string // why the fault did not run, if it did not
	Posts    Counts
	P99      map[string]time.Duration // POST p99 per phase
	Findings *Findings                // of the last pass
	// Recovery is the time from the heal to the first clean pass (0 when
	// no pass was clean before the deadline).
	Recovery time.Duration
	Took     time.Duration // the whole fault, setup to last check
}

// Failed is whether the row breaks a promise: a lost write, an orphan, a
// ghost, a visible duplicate, or an unexpected (or missing poison) dead letter.
func (r *Row) Failed() bool { return r.Skipped == "" && (r.Findings == nil || !r.Findings.Clean()) }

// Markdown renders rows as a table, with the command that produced it.
func Markdown(rows []*Row, command string, faultDuration time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Produced by `%s` (faults of %s; %s).\n\n", command, faultDuration, time.Now().UTC().Format("2006-01-02"))
	b.WriteString("| fault | posts offered | 201 | 4xx | 5xx | no answer | aborted by client | POST p99 during | lost | orphans | duplicates | ghosts | dead letters (unexpected) | time to full recovery | result |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, r := range rows {
		if r.Skipped != "" {
			fmt.Fprintf(&b, "| %s | | | | | | | | | | | | | | skipped: %s |\n", r.Fault, r.Skipped)
			continue
		}
		f := r.Findings
		if f == nil {
			f = &Findings{}
		}
		rec := "not within the deadline"
		if r.Recovery > 0 {
			rec = r.Recovery.Round(100 * time.Millisecond).String()
		}
		result := "pass"
		if r.Failed() {
			result = "**FAIL**"
		}
		c := r.Posts
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %d | %d | %s | %d | %d | %d | %d | %d (%d) | %s | %s |\n",
			r.Fault, c.Offered, c.Created, c.C4xx, c.C5xx, c.NoAnswer, c.Aborted, r.P99[PhaseDuring].Round(time.Millisecond),
			f.Lost, f.Orphans, f.Dups, f.Ghosts, f.DeadLetters, f.Unexpected+f.PoisonMissing, rec, result)
	}
	b.WriteString("\nlost: acknowledged writes (posts, deletes, unfollows, moderation) missing from a view; orphans: posts never acknowledged that are stored but missing from a view; ghosts: entries for posts never acknowledged and not stored (a trend count above what live posts imply counts here too).\n")
	return b.String()
}
