package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Build builds feedsvc into dir and returns its path: with the race
// detector if race (tests of behaviour), without it for tests that measure
// (the fault suite, the benchmarks); ldflags as go build takes them.
func Build(dir string, race bool, ldflags string) (string, error) {
	bin := filepath.Join(dir, "feedsvc")
	args := []string{"build", "-o", bin}
	if race {
		args = append(args, "-race")
	}
	if ldflags != "" {
		args = append(args, "-ldflags", ldflags)
	}
	build := exec.Command("go", append(args, "github.com/feedsvc/feedsvc")...)
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build feedsvc: %w\n%s", err, out)
	}
	return bin, nil
}

// RunWithBinary is a TestMain's body for tests that run feedsvc as a child:
// it builds it (Build) into a temporary directory, sets *binary to it, runs
// the tests and removes the directory; it returns the exit code.
func RunWithBinary(m *testing.M, binary *string, race bool, ldflags string) int {
	dir, err := os.MkdirTemp("", "feedsvc-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if *binary, err = Build(dir, race, ldflags); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}
