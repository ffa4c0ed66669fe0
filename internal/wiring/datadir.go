package wiring

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockFileName is the data dir's lock file.
const lockFileName = "feedsvc.lock"

// LockDataDir takes an exclusive lock on the data dir, held until unlock:
// the embedded broker and store are one process's own, and two processes on
// the same files would corrupt them.
func LockDataDir(dir string) (unlock func(), err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, lockFileName), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			who := "another feedsvc process"
			if f := RunningServe(dir); f != nil {
				who = f.describe(dir)
			}
			return nil, fmt.Errorf("data dir %s is in use by %s (the embedded broker and store live inside it: stop it, or pass --kafka-brokers and --cassandra-hosts)", dir, who)
		}
		return nil, fmt.Errorf("lock data dir %s: %w", dir, err)
	}
	return func() { f.Close() }, nil
}
