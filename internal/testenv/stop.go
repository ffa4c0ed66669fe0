package testenv

import (
	"os"
	"syscall"
	"time"
)

// Stop ends a child process the way a test's cleanup should: SIGTERM, so
// that it releases what it holds (an api's outbox shard leases), then kill
// if exited has not closed within timeout. It returns at once if the
// process has exited already.
func Stop(p *os.Process, exited <-chan struct{}, timeout time.Duration, kill func()) {
	select {
	case <-exited:
		return
	default:
	}
	_ = p.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(timeout):
		kill()
	}
}
