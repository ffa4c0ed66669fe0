package deploy

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// binary is feedsvc built from the parent module by TestMain.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "feedsvc-deploy")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "feedsvc")
	// The parent directory is the service's own module: build it there,
	// with its go.mod, not this one's.
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Dir = ".."
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build feedsvc:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// childEnv is this process's environment without any FEEDSVC_ setting (CI
// exports the test servers' addresses), plus vars.
func childEnv(vars ...string) []string {
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "FEEDSVC_") })
	return append(env, vars...)
}

// feedsvc runs the built binary with args and returns its output.
func feedsvc(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = childEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("feedsvc %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

var (
	flagPattern = regexp.MustCompile(`(?m)^\s+(?:-\w, )?--([a-z0-9-]+)`)
	knownRoles  = regexp.MustCompile(`known roles: ([a-z, ]+)`)
)

// serveSettings returns the FEEDSVC_* variables `feedsvc serve` reads: one
// per flag of its help, as configs.EnvName names them.
func serveSettings(t *testing.T) map[string]bool {
	t.Helper()
	vars := map[string]bool{}
	for _, m := range flagPattern.FindAllStringSubmatch(feedsvc(t, "serve", "--help"), -1) {
		vars["FEEDSVC_"+strings.ToUpper(strings.ReplaceAll(m[1], "-", "_"))] = true
	}
	for _, want := range []string{"FEEDSVC_KAFKA_BROKERS", "FEEDSVC_CASSANDRA_HOSTS", "FEEDSVC_REDIS_ADDR", "FEEDSVC_JWT_SECRET"} {
		if !vars[want] {
			t.Fatalf("serve --help names no flag for %s: the help's format changed (flags found: %d)", want, len(vars))
		}
	}
	return vars
}

// roles returns the role names `feedsvc serve --role` accepts besides
// all, from its refusal of an unknown one: every one must be deployed.
func roles(t *testing.T) []string {
	t.Helper()
	cmd := exec.Command(binary, "serve", "--role=no-such-role")
	cmd.Dir = t.TempDir() // it stops before opening anything; still, not here
	cmd.Env = childEnv()
	out, _ := cmd.CombinedOutput()
	m := knownRoles.FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("feedsvc serve --role=no-such-role does not list the known roles:\n%s", out)
	}
	var names []string
	for _, r := range strings.Split(m[1], ",") {
		if r = strings.TrimSpace(r); r != "" && r != "all" {
			names = append(names, r)
		}
	}
	if len(names) < 2 {
		t.Fatalf("roles from feedsvc: %q", names)
	}
	return names
}

// feedsvcCmd is the built binary with args, in the environment childEnv.
func feedsvcCmd(args ...string) *exec.Cmd {
	cmd := exec.Command(binary, args...)
	cmd.Env = childEnv()
	return cmd
}
