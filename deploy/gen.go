//go:build ignore

// gen writes the deployment files that follow the role table (see
// deploy/internal/rolefiles): go generate in this directory runs it.
// TestRoleFiles fails while they are not as it would write them.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/feedsvc/feedsvc/deploy/internal/rolefiles"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run() error {
	dir, err := os.MkdirTemp("", "feedsvc-gen")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	binary := filepath.Join(dir, "feedsvc")
	// The parent directory is the service's own module.
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Dir = ".."
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build feedsvc: %w", err)
	}
	roles, err := rolefiles.Load(binary)
	if err != nil {
		return err
	}
	files, err := rolefiles.Render(".", roles)
	if err != nil {
		return err
	}
	for _, f := range files {
		if err := os.WriteFile(f.Path, f.Content, 0o644); err != nil {
			return err
		}
	}
	return nil
}
