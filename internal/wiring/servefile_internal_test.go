package wiring

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// TestServeFile: the file is written whole, read back as written, and
// removed only by the process it names.
func TestServeFile(t *testing.T) {
	dir := t.TempDir()
	f := ServeFile{PID: os.Getpid(), StartedAt: time.Now().UTC().Round(0), Roles: []string{"api", "fanout"},
		KafkaBrokers: []string{"127.0.0.1:1234"}, RedisAddr: "127.0.0.1:5678", Store: true, AdminAddr: "0.0.0.0:9090", HTTPAddr: "127.0.0.1:8080"}
	remove, err := writeServeFile(dir, f)
	if err != nil {
		t.Fatal(err)
	}
	got, err := readServeFile(dir)
	if err != nil || !reflect.DeepEqual(*got, f) {
		t.Fatalf("read %+v, %v; want %+v", got, err, f)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("data dir holds %v, want only %s (no temporary file)", entries, ServeFileName)
	}
	if u := got.AdminURL(); u != "http://127.0.0.1:9090" {
		t.Fatalf("admin URL %s", u)
	}

	// Another process took the data dir over: its file stays.
	other := f
	other.PID = f.PID + 1
	if _, err := writeServeFile(dir, other); err != nil {
		t.Fatal(err)
	}
	remove()
	if got, err := readServeFile(dir); err != nil || got.PID != other.PID {
		t.Fatalf("the other process's file was removed: %+v, %v", got, err)
	}
	// Its own file goes.
	if _, err := writeServeFile(dir, f); err != nil {
		t.Fatal(err)
	}
	remove()
	if _, err := os.Stat(filepath.Join(dir, ServeFileName)); !os.IsNotExist(err) {
		t.Fatalf("file left after remove: %v", err)
	}
}

// TestRunningServe: a file is live while its process holds the data dir's
// lock or, for one that took no lock, while its PID runs; a file left by a
// killed process, a garbled one, or none is no running serve.
func TestRunningServe(t *testing.T) {
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	deadPID := dead.Process.Pid
	// A process that runs for the test: sleep, killed at the end.
	alive := exec.Command("sleep", "60")
	if err := alive.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = alive.Process.Kill(); _ = alive.Wait() })

	write := func(t *testing.T, dir string, f ServeFile) {
		t.Helper()
		if _, err := writeServeFile(dir, f); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("no file", func(t *testing.T) {
		if f := RunningServe(t.TempDir()); f != nil {
			t.Fatalf("%+v", f)
		}
	})
	t.Run("garbled", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, ServeFileName), []byte("{"), 0o644); err != nil {
			t.Fatal(err)
		}
		if f := RunningServe(dir); f != nil {
			t.Fatalf("%+v", f)
		}
	})
	t.Run("unlocked, PID runs", func(t *testing.T) {
		dir := t.TempDir()
		write(t, dir, ServeFile{PID: alive.Process.Pid, RedisAddr: "127.0.0.1:1"})
		if f := RunningServe(dir); f == nil || f.RedisAddr != "127.0.0.1:1" {
			t.Fatalf("%+v, want the file", f)
		}
	})
	t.Run("unlocked, PID gone", func(t *testing.T) {
		dir := t.TempDir()
		write(t, dir, ServeFile{PID: deadPID, RedisAddr: "127.0.0.1:1"})
		if f := RunningServe(dir); f != nil {
			t.Fatalf("%+v, want none", f)
		}
	})
	t.Run("locked, lock held", func(t *testing.T) {
		dir := t.TempDir()
		unlock, err := LockDataDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		// The PID is dead but the lock is held: the PID was the
		// container's 1, say. What counts is the lock.
		write(t, dir, ServeFile{PID: deadPID, Locked: true, KafkaBrokers: []string{"127.0.0.1:1"}})
		if f := RunningServe(dir); f == nil {
			t.Fatal("no running serve while the lock is held")
		}
		unlock()
		if f := RunningServe(dir); f != nil {
			t.Fatalf("%+v after the lock was released, want none", f)
		}
		// Reading the file did not take the lock away from anyone.
		unlock, err = LockDataDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		unlock()
	})
	t.Run("locked, PID runs, lock free", func(t *testing.T) {
		// PID reused by another process after a kill -9.
		dir := t.TempDir()
		write(t, dir, ServeFile{PID: alive.Process.Pid, Locked: true})
		if f := RunningServe(dir); f != nil {
			t.Fatalf("%+v, want none", f)
		}
	})
}

func TestDialable(t *testing.T) {
	for in, want := range map[string]string{
		"0.0.0.0:9090":   "127.0.0.1:9090",
		"[::]:9090":      "127.0.0.1:9090",
		":9090":          "127.0.0.1:9090",
		"10.0.0.5:9090":  "10.0.0.5:9090",
		"[::1]:9090":     "[::1]:9090",
		"localhost:9090": "localhost:9090",
	} {
		if got := dialable(in); got != want {
			t.Errorf("dialable(%s) = %s, want %s", in, got, want)
		}
	}
}
