package testenv

import (
	"testing"
	"time"
)

// EventuallyLimit bounds Eventually: only a broken run waits this long, so
// it is generous for a loaded machine, not a timing assertion.
const EventuallyLimit = 2 * time.Minute

// Eventually calls check until it returns nil (asynchronous work, such as a
// fan-out or a consumer's commit, is done) and fails t with what and the
// last error if that takes EventuallyLimit. It polls quickly at first, then
// every 100 ms.
func Eventually(t testing.TB, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(EventuallyLimit)
	for wait := time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %v", what, EventuallyLimit, err)
		}
		time.Sleep(wait)
	}
}

// Until is Eventually for a condition that has no error of its own.
func Until(t testing.TB, what string, cond func() bool) {
	t.Helper()
	Eventually(t, what, func() error {
		if cond() {
			return nil
		}
		return errNotYet
	})
}

type notYet struct{}

func (notYet) Error() string { return "the condition does not hold" }

var errNotYet error = notYet{}
