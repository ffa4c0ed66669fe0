package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/feedsvc/feedsvc/configs"
	"github.com/feedsvc/feedsvc/internal/buildinfo"
	"github.com/feedsvc/feedsvc/roles"
)

// clearEnv unsets the FEEDSVC_ variables of every config flag for the test.
func clearEnv(t *testing.T) {
	t.Helper()
	var c configs.Config
	fs := pflag.NewFlagSet("env", pflag.ContinueOnError)
	c.Bind(fs)
	fs.VisitAll(func(f *pflag.Flag) {
		name := configs.EnvName(f.Name)
		if _, ok := os.LookupEnv(name); ok {
			t.Setenv(name, "") // restores the value after the test
			os.Unsetenv(name)
		}
	})
}

// execute runs the root command in-process. Its context is already
// cancelled, so a command that got past validation by mistake would stop at
// once instead of serving.
func execute(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	root := NewRoot(roles.Table, buildinfo.Info{Version: "test", Commit: "abc123", Go: "go1.x"})
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	return out.String(), err
}

func TestBadSettingsAreUsageErrors(t *testing.T) {
	badFile := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(badFile, []byte("log-level: info\nfeed-cap: lots\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A list where one value belongs, and a list whose pattern holds a comma
	// but does not compile: both name the flag.
	listFile := filepath.Join(t.TempDir(), "list.yaml")
	if err := os.WriteFile(listFile, []byte("node-id: [1, 2]\nmoderation-blocklist: [\"spam\", \"re:bu{2,3}(y\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want []string
	}{
		{"flag out of range", []string{"serve", "--node-id", "5000"}, nil,
			[]string{"--node-id (FEEDSVC_NODE_ID): 5000 is out of range 0-1023"}},
		{"env does not parse", []string{"serve"}, map[string]string{"FEEDSVC_FEED_CAP": "abc"},
			[]string{`--feed-cap (FEEDSVC_FEED_CAP): "abc" is not a valid integer`}},
		{"file value does not parse", []string{"serve", "--config", badFile}, nil,
			[]string{`--feed-cap (file ` + badFile + `, line 2): "lots" is not a valid integer`}},
		{"yaml lists", []string{"serve", "--config", listFile}, nil,
			[]string{"--node-id (file " + listFile + ", line 1)", `--moderation-blocklist (FEEDSVC_MODERATION_BLOCKLIST): pattern "re:bu{2,3}(y" does not compile`}},
		{"all at once", []string{"serve", "--node-id", "5000", "--config", badFile}, map[string]string{"FEEDSVC_KAFKA_PARTITIONS": "0"},
			[]string{"--node-id (FEEDSVC_NODE_ID)", "--feed-cap (file " + badFile, "--kafka-partitions (FEEDSVC_KAFKA_PARTITIONS)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			dataDir := filepath.Join(t.TempDir(), "data")
			_, err := execute(t, append(tt.args, "--data-dir", dataDir, "--http-addr", "127.0.0.1:0")...)
			if code := ExitCode(err); code != ExitUsage {
				t.Fatalf("exit code %d (%v), want %d", code, err, ExitUsage)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
			// Validation comes before anything opens: the embedded
			// backends would have created the data dir.
			if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
				t.Errorf("data dir was touched: %v", err)
			}
		})
	}
}

func TestVersionNeedsNoConfig(t *testing.T) {
	clearEnv(t)
	t.Setenv("FEEDSVC_FEED_CAP", "abc")
	for _, args := range [][]string{{"version"}, {"--version"}} {
		out, err := execute(t, args...)
		if err != nil || !strings.HasPrefix(out, "feedsvc test\n") || !strings.Contains(out, "commit:  abc123\n") || !strings.Contains(out, "go:      go1.x\n") {
			t.Fatalf("%v: %q, %v", args, out, err)
		}
	}
}

func TestWrongArgumentsAreUsageErrors(t *testing.T) {
	clearEnv(t)
	for _, args := range [][]string{{"bogus"}, {"serve", "extra"}, {"token"}, {"feed", "bogus"}, {"dlq", "list", "extra"}, {"version", "x"}, {"--bogus-flag"}} {
		_, err := execute(t, args...)
		if code := ExitCode(err); code != ExitUsage {
			t.Errorf("%v: exit code %d (%v), want %d", args, code, err, ExitUsage)
		}
	}
}

// TestUnknownGroupIsAUsageError: lag, replay and the dlq commands refuse a
// --group that names no consumer role, before opening anything.
func TestUnknownGroupIsAUsageError(t *testing.T) {
	clearEnv(t)
	for _, args := range [][]string{{"lag", "--group", "nosuch"}, {"replay", "--group", "nosuch", "--to-earliest"}, {"dlq", "list", "--group", "nosuch"}} {
		dataDir := filepath.Join(t.TempDir(), "data")
		_, err := execute(t, append(args, "--data-dir", dataDir)...)
		if code := ExitCode(err); code != ExitUsage || !strings.Contains(fmt.Sprint(err), `"nosuch" is not a consumer group: give one of `+strings.Join(roles.Table.Consumers(), ", ")) {
			t.Errorf("%v: exit code %d (%v), want %d naming the groups", args, code, err, ExitUsage)
		}
		if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
			t.Errorf("%v: data dir was touched: %v", args, err)
		}
	}
}

// TestCommandFlagsNotFromEnvironment: only the shared config flags come from
// FEEDSVC_* and the file; a command's own flags, like replay's --execute,
// must be typed.
func TestCommandFlagsNotFromEnvironment(t *testing.T) {
	clearEnv(t)
	t.Setenv("FEEDSVC_EXECUTE", "true")
	var cfg configs.Config
	fs := pflag.NewFlagSet("replay", pflag.ContinueOnError)
	cfg.Bind(fs)
	doIt := fs.Bool("execute", false, "")
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Load(fs); err != nil {
		t.Fatal(err)
	}
	if *doIt {
		t.Fatal("FEEDSVC_EXECUTE set --execute")
	}
	file := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(file, []byte("execute: true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := execute(t, "replay", "--group", "g", "--to-earliest", "--config", file, "--data-dir", t.TempDir())
	if code := ExitCode(err); code != ExitUsage || !strings.Contains(err.Error(), `unknown setting "execute"`) {
		t.Fatalf("execute in the file: exit %d, %v", code, err)
	}
}

// TestLogFormat: auto is JSON when stderr is not a terminal (a file, a
// collector's pipe); text and json are what they say.
func TestLogFormat(t *testing.T) {
	for format, wantJSON := range map[string]bool{"auto": true, "json": true, "text": false} {
		f, err := os.CreateTemp(t.TempDir(), "log")
		if err != nil {
			t.Fatal(err)
		}
		log, err := newLogger(f, "info", format)
		if err != nil {
			t.Fatal(err)
		}
		log.Info("hello", "n", 1, "took", 1500*time.Millisecond)
		f.Close()
		out, _ := os.ReadFile(f.Name())
		if isJSON := strings.HasPrefix(string(out), `{"time":`); isJSON != wantJSON || !strings.Contains(string(out), "hello") {
			t.Errorf("--log-format %s wrote %q", format, out)
		}
		// Durations as Go prints them, not as integer nanoseconds.
		if want := map[bool]string{true: `"took":"1.5s"`, false: "took=1.5s"}[wantJSON]; !strings.Contains(string(out), want) {
			t.Errorf("--log-format %s wrote %q, want %s in it", format, out, want)
		}
	}
}

// healthcheck exits 0 on a 2xx answer and 1 on anything else or no answer;
// a URL that is not http(s) is a usage error.
func TestHealthcheck(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(status)
		_, _ = w.Write([]byte("kafka: down"))
	}))
	defer srv.Close()
	if _, err := healthcheck(t, srv.URL+"/readyz"); err != nil {
		t.Fatalf("healthcheck of a 200: %v", err)
	}
	status = http.StatusServiceUnavailable
	if _, err := healthcheck(t, srv.URL+"/readyz"); ExitCode(err) != ExitError || !strings.Contains(err.Error(), "kafka: down") {
		t.Fatalf("healthcheck of a 503: %v (exit %d), want exit 1 with the body", err, ExitCode(err))
	}
	srv.Close()
	if _, err := healthcheck(t, srv.URL+"/readyz", "--timeout", "1s"); ExitCode(err) != ExitError {
		t.Fatalf("healthcheck of a closed server: %v (exit %d), want exit 1", err, ExitCode(err))
	}
	if _, err := healthcheck(t, "localhost:8080/readyz"); ExitCode(err) != ExitUsage {
		t.Fatalf("healthcheck of a URL without a scheme: %v (exit %d), want exit 2", err, ExitCode(err))
	}
}

// healthcheck runs `feedsvc healthcheck args...` with a live context (the
// execute helper's is cancelled).
func healthcheck(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := NewRoot(roles.Table, buildinfo.Info{Version: "test"})
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(append([]string{"healthcheck"}, args...))
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

// TestRolesCommand: `feedsvc roles --output json` is the role table, which
// deploy/ generates its files from.
func TestRolesCommand(t *testing.T) {
	out, err := execute(t, "roles", "--output", "json")
	if err != nil {
		t.Fatal(err)
	}
	var got []roleInfo
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	var names, groups []string
	for _, r := range got {
		names = append(names, r.Name)
		if r.ConsumerGroup != "" {
			groups = append(groups, r.ConsumerGroup)
		}
	}
	if !slices.Equal(names, roles.Table.Names()) || !slices.Equal(groups, roles.Table.Consumers()) {
		t.Errorf("roles %q, groups %q; want %q and %q", names, groups, roles.Table.Names(), roles.Table.Consumers())
	}
	if api := got[0]; api.Name != "api" || !api.HTTP || !api.IDs || api.ConsumerGroup != "" {
		t.Errorf("api = %+v", api)
	}
	if _, err := execute(t, "roles", "--output", "yaml"); ExitCode(err) != ExitUsage {
		t.Errorf("--output yaml: %v, want a usage error", err)
	}
}

// TestCompletion: the shell completes --role, --group and --output from the
// role table, whichever command has them.
func TestCompletion(t *testing.T) {
	complete := func(args ...string) []string {
		out, err := execute(t, append([]string{"__complete"}, args...)...)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		return lines[:len(lines)-2] // then the directive and its description
	}
	if got, want := complete("serve", "--role", ""), append([]string{"all"}, roles.Table.Names()...); !slices.Equal(got, want) {
		t.Errorf("serve --role: %q, want %q", got, want)
	}
	first := roles.Table.Names()[0]
	var want []string
	for _, n := range roles.Table.Names()[1:] {
		want = append(want, first+","+n)
	}
	if got := complete("serve", "--role", first+","); !slices.Equal(got, want) {
		t.Errorf("serve --role %s,: %q, want %q", first, got, want)
	}
	for _, cmd := range [][]string{{"lag"}, {"replay"}, {"dlq", "list"}, {"dlq", "replay"}} {
		if got := complete(append(cmd, "--group", "")...); !slices.Equal(got, roles.Table.Consumers()) {
			t.Errorf("%v --group: %q, want %q", cmd, got, roles.Table.Consumers())
		}
	}
	if got := complete("lag", "--output", ""); !slices.Equal(got, []string{"text", "json"}) {
		t.Errorf("lag --output: %q", got)
	}
}
