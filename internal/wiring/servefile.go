package wiring

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// ServeFileName is the file in the data dir where a running `feedsvc serve`
// records the addresses of what it runs in-process (the embedded broker and
// Redis listen on random ports) and of its admin listener, so that the
// operator commands on the same data dir can reach them while it runs.
const ServeFileName = "serve.json"

// ServeFile is what a running serve process records in its data dir.
type ServeFile struct {
	// PID is the serving process.
	PID       int       `json:"pid"`
	StartedAt time.Time `json:"started_at"`
	Roles     []string  `json:"roles"`
	// Locked: the process holds the data dir's lock (it runs the embedded
	// broker or store). While it does, the file is live.
	Locked bool `json:"locked"`
	// KafkaBrokers is the embedded broker's address, when the process
	// runs it.
	KafkaBrokers []string `json:"kafka_brokers,omitempty"`
	// RedisAddr is the embedded Redis's address, when the process runs it.
	RedisAddr string `json:"redis_addr,omitempty"`
	// Store: the process has the embedded store open and answers
	// OutboxPath and DecisionsPath on AdminAddr.
	Store bool `json:"store"`
	// AdminAddr is where the operator's routes are served: the admin
	// listener, or the HTTP one without --admin-addr.
	AdminAddr string `json:"admin_addr"`
	HTTPAddr  string `json:"http_addr"`
}

// Paths of the operator's routes of a process holding the embedded store,
// for the operator commands run next to it (JSON).
const (
	OutboxPath    = "/ops/outbox"
	DecisionsPath = "/ops/moderation/decisions"
)

// AdminURL is the base URL of the operator's routes, reachable from this
// host (a wildcard listen address is dialled on loopback).
func (f *ServeFile) AdminURL() string { return "http://" + dialable(f.AdminAddr) }

// dialable turns a listener's address into one to connect to: 0.0.0.0:9090
// and [::]:9090 become 127.0.0.1:9090.
func dialable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// writeServeFile records f in dir, atomically (a reader sees the old file or
// the new one, never half of one). remove deletes it again, if it still is
// this process's.
func writeServeFile(dir string, f ServeFile) (remove func(), err error) {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, ServeFileName)
	tmp, err := os.CreateTemp(dir, ServeFileName+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	_, err = tmp.Write(append(b, '\n'))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return func() {
		// Another process may have taken the data dir over since (one
		// with only an embedded Redis takes no lock): leave its file.
		if cur, err := readServeFile(dir); err == nil && cur.PID == f.PID {
			os.Remove(path)
		}
	}, nil
}

// readServeFile reads dir's serve file as it is, live or not.
func readServeFile(dir string) (*ServeFile, error) {
	b, err := os.ReadFile(filepath.Join(dir, ServeFileName))
	if err != nil {
		return nil, err
	}
	var f ServeFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, ServeFileName), err)
	}
	return &f, nil
}

// RunningServe returns what the serve process running on the data dir
// recorded, or nil if none runs there: no file, or a stale one, left by a
// process that was killed. A file of a process that held the data dir's lock
// is live while the lock is held (a PID may have been reused since, as in a
// container, where each process is PID 1); else while its PID runs. An
// unreadable file is taken for stale.
func RunningServe(dir string) *ServeFile {
	f, err := readServeFile(dir)
	if err != nil || f.PID <= 0 {
		return nil
	}
	if f.Locked {
		if !dataDirLocked(dir) {
			return nil
		}
		return f
	}
	if f.PID == os.Getpid() || !processRuns(f.PID) {
		return nil
	}
	return f
}

// dataDirLocked reports whether a process holds dir's lock (LockDataDir).
func dataDirLocked(dir string) bool {
	fd, err := os.Open(filepath.Join(dir, lockFileName))
	if err != nil {
		return false // no lock file: nobody ever locked it
	}
	defer fd.Close()
	if err := syscall.Flock(int(fd.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		return errors.Is(err, syscall.EWOULDBLOCK)
	}
	_ = syscall.Flock(int(fd.Fd()), syscall.LOCK_UN)
	return false
}

// processRuns reports whether a process with pid exists (signal 0 checks
// without sending anything; EPERM: it exists, as another user's).
func processRuns(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// describe names the serving process in messages.
func (f *ServeFile) describe(dir string) string {
	return "feedsvc serve (pid " + strconv.Itoa(f.PID) + ") on data dir " + dir
}
