package faults

import (
	"fmt"
	"time"
)

// backlogStall is how long the consumer groups' backlog may go without
// shrinking, past the recovery deadline, before the wait for it ends.
const backlogStall = time.Minute

// backlogChecks is the least time the checker's passes get once the
// backlog drained (or the wait for it ended), whatever is left of the
// recovery deadline: a pass reads every view of every user, about a minute
// on 2 cores after a long fault, and a view that settles just after the
// drain (an outbox record waiting out an unknown outcome, a late
// notification) needs a second pass to be seen settled. In CI a backlog
// that drained near the deadline left one pass, whose one finding the
// row reported as a failure.
const backlogChecks = 2 * time.Minute

// backlogWait decides how long a row waits for the consumer groups'
// backlog (the sum of `feedsvc lag`) to drain after the heal.
//
// Until the recovery deadline it waits. Past it, it waits while the
// backlog keeps shrinking, up to three recovery periods in all: how long a
// backlog takes depends on the machine, not on feedsvc being right. The
// fault suite's cassandra-two-nodes-down row on a loaded CI machine made a
// backlog of 9,000 posts while both nodes restarted (1m47s), cold, and the
// consumers drained it 4 minutes after the heal, losing nothing; a fixed
// 3-minute deadline called that a failure. A backlog that stops shrinking
// (a stuck consumer) still ends the wait at backlogStall. A backlog that
// cannot be read at all is waited for up to the cap: after two Cassandra
// nodes restart cold, `feedsvc lag` itself timed out for 3 minutes, and a
// system that cannot say what it owes cannot have every view right yet.
type backlogWait struct {
	deadline, cap time.Time
	best          int       // the smallest backlog seen
	bestAt        time.Time // when it was first seen
	last          int       // the backlog at the last call (-1: unknown)
	now           time.Time // the last call's time
}

func newBacklogWait(start, deadline time.Time, recovery time.Duration) *backlogWait {
	return &backlogWait{deadline: deadline, cap: start.Add(3 * recovery), best: -1, bestAt: start, last: -1, now: start}
}

// more records the backlog seen at now (ok false: it could not be read)
// and reports whether to keep waiting.
func (w *backlogWait) more(now time.Time, behind int, ok bool) bool {
	w.now, w.last = now, -1
	if ok {
		w.last = behind
		if w.best < 0 || behind < w.best {
			w.best, w.bestAt = behind, now
		}
	}
	switch {
	case now.Before(w.deadline):
		return true
	case !now.Before(w.cap):
		return false
	case !ok:
		return true
	default:
		return now.Sub(w.bestAt) < backlogStall
	}
}

// String says why the wait ended, for the row's log.
func (w *backlogWait) String() string {
	switch {
	case w.last < 0:
		return "could not be read"
	case !w.now.Before(w.cap):
		return fmt.Sprintf("is still %d events at the wait's cap", w.last)
	default:
		return fmt.Sprintf("stopped shrinking at %d events for %s", w.best, w.now.Sub(w.bestAt).Round(time.Second))
	}
}
