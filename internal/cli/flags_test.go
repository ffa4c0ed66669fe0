package cli

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/feedsvc/feedsvc/configs"
	"github.com/feedsvc/feedsvc/internal/buildinfo"
	"github.com/feedsvc/feedsvc/roles"
)

// commandGroups are the settings each command takes.
var commandGroups = map[string]configs.Group{
	"serve":           configs.AllGroups,
	"token":           configs.GroupCommon | configs.GroupAuth,
	"migrate":         configs.GroupCommon | configs.GroupKafka | configs.GroupStore | configs.GroupMigrate,
	"lag":             configs.GroupCommon | configs.GroupKafka | configs.GroupConsumerGroups | configs.GroupStore,
	"replay":          configs.GroupCommon | configs.GroupKafka | configs.GroupConsumerGroups,
	"dlq list":        configs.GroupCommon | configs.GroupKafka | configs.GroupConsumerGroups,
	"dlq replay":      configs.GroupCommon | configs.GroupKafka | configs.GroupConsumerGroups,
	"feed inspect":    configs.GroupCommon | configs.GroupRedis,
	"moderation list": configs.GroupCommon | configs.GroupStore,
	"rebuild":         configs.GroupCommon | configs.GroupStore | configs.GroupRedis,
	"bench":           configs.AllGroups &^ configs.GroupServer &^ configs.GroupRateLimits,
}

// configFlagsOf lists the config flags cmd takes, sorted.
func configFlagsOf(cmd *cobra.Command) []string {
	all := configs.GroupFlags(configs.AllGroups)
	var names []string
	cmd.LocalFlags().VisitAll(func(f *pflag.Flag) {
		if slices.Contains(all, f.Name) {
			names = append(names, f.Name)
		}
	})
	slices.Sort(names)
	return names
}

// TestCommandFlags: each command takes the settings of its groups and no
// other, and its help lists them by group; a command not in the table takes
// none.
func TestCommandFlags(t *testing.T) {
	root := NewRoot(roles.Table, buildinfo.Info{Version: "test"})
	var walk func(cmd *cobra.Command)
	seen := map[string]bool{}
	walk = func(cmd *cobra.Command) {
		for _, c := range cmd.Commands() {
			walk(c)
		}
		path := strings.TrimPrefix(cmd.CommandPath(), "feedsvc ")
		got := configFlagsOf(cmd)
		groups, ok := commandGroups[path]
		if !ok {
			if len(got) > 0 {
				t.Errorf("%s takes settings %v but is not in commandGroups", path, got)
			}
			return
		}
		seen[path] = true
		if want := configs.GroupFlags(groups); !slices.Equal(got, want) {
			t.Errorf("%s takes %v, want %v", path, got, want)
		}
	}
	walk(root)
	for path := range commandGroups {
		if !seen[path] {
			t.Errorf("no command %q", path)
		}
	}

	has := func(path, flag string) bool {
		cmd, _, err := root.Find(strings.Fields(path))
		if err != nil {
			t.Fatal(err)
		}
		return cmd.Flags().Lookup(flag) != nil
	}
	for _, c := range []struct {
		path, flag string
		want       bool
	}{
		{"token", "kafka-brokers", false}, {"token", "cassandra-hosts", false}, {"token", "jwt-secret-file", true}, {"token", "data-dir", true},
		{"migrate", "kafka-partitions", true}, {"migrate", "redis-addr", false}, {"migrate", "http-addr", false},
		{"lag", "cassandra-hosts", true}, {"lag", "consumer-group-prefix", true}, {"lag", "group-prefix", true}, {"feed inspect", "redis-key-prefix", true}, {"lag", "redis-addr", false},
		{"replay", "kafka-brokers", true}, {"replay", "cassandra-hosts", false}, {"replay", "jwt-secret", false},
		{"feed inspect", "redis-addr", true}, {"feed inspect", "feed-cap", true}, {"feed inspect", "kafka-brokers", false},
		{"moderation list", "cassandra-hosts", true}, {"moderation list", "kafka-brokers", false},
		{"bench", "celebrity-threshold", true}, {"bench", "http-addr", false}, {"bench", "rate-limit-posts", false},
		{"serve", "http-addr", true}, {"serve", "kafka-partitions", true},
	} {
		if got := has(c.path, c.flag); got != c.want {
			t.Errorf("%s has --%s: %v, want %v", c.path, c.flag, got, c.want)
		}
	}

	// The help shows the command's own flags, then its settings by group.
	out, err := execute(t, "lag", "--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Examples:", "Flags:\n", "--group string", "Kafka settings:\n", "Consumer group settings:\n",
		"Store (Cassandra) settings:\n", "FEEDSVC_DATA_DIR"} {
		if !strings.Contains(out, want) {
			t.Errorf("lag --help lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "--redis-addr") || strings.Contains(out, "--jwt-") {
		t.Errorf("lag --help lists settings lag does not use:\n%s", out)
	}
	if i, j := strings.Index(out, "Kafka settings:"), strings.Index(out, "Store (Cassandra) settings:"); i > j {
		t.Errorf("groups out of order:\n%s", out)
	}
}

// TestHelpExplainsSettings: the root's and serve's help say how a flag maps
// to its variable and its config file key, with examples.
func TestHelpExplainsSettings(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"serve", "--help"}} {
		out, err := execute(t, args...)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"--kafka-brokers k1:9092,k2:9092", "FEEDSVC_KAFKA_BROKERS=k1:9092,k2:9092", "kafka-brokers: [k1:9092, k2:9092]",
			"--config", "Examples:", "serve.json"} {
			if !strings.Contains(out, want) {
				t.Errorf("%v lacks %q:\n%s", args, want, out)
			}
		}
	}
	// The mapping the help shows is the one Load applies.
	if got := configs.EnvName("kafka-brokers"); got != "FEEDSVC_KAFKA_BROKERS" {
		t.Fatalf("EnvName = %s", got)
	}
	root := NewRoot(roles.Table, buildinfo.Info{Version: "test"})
	for _, path := range []string{"serve", "token", "migrate", "lag", "replay", "dlq list", "dlq replay", "feed inspect", "moderation list", "bench"} {
		cmd, _, err := root.Find(strings.Fields(path))
		if err != nil {
			t.Fatal(err)
		}
		if cmd.Example == "" {
			t.Errorf("%s has no examples", path)
		}
	}
}

// TestCommandValidation: each command validates the settings it takes, from
// the environment and the file, and ignores bad values of the others, so one
// environment or file serves every command.
func TestCommandValidation(t *testing.T) {
	// Keys of settings no command below takes all are fine in a shared
	// file; only what is no setting at all is refused.
	shared := filepath.Join(t.TempDir(), "shared.yaml")
	if err := os.WriteFile(shared, []byte("node-id: 5000\nkafka-partitions: 0\nrate-limit-posts: nonsense\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		bad  map[string]string // a setting the command uses: refused
		want string
	}{
		{[]string{"serve"}, map[string]string{"FEEDSVC_REQUEST_TIMEOUT": "1h"}, "--request-timeout (FEEDSVC_REQUEST_TIMEOUT)"},
		{[]string{"token", "alice"}, map[string]string{"FEEDSVC_JWT_LEEWAY": "1h"}, "--jwt-leeway (FEEDSVC_JWT_LEEWAY)"},
		{[]string{"migrate"}, map[string]string{"FEEDSVC_TOPIC_POSTS": "a b"}, "--topic-posts (FEEDSVC_TOPIC_POSTS)"},
		{[]string{"lag"}, map[string]string{"FEEDSVC_GROUP_PREFIX": "a b"}, "--group-prefix (FEEDSVC_GROUP_PREFIX)"},
		{[]string{"replay", "--group", "fanout", "--to-earliest"}, map[string]string{"FEEDSVC_CONSUMER_GROUP_PREFIX": "a b"}, "--group-prefix"},
		{[]string{"dlq", "list", "--group", "fanout"}, map[string]string{"FEEDSVC_TOPIC_FOLLOWS": "a b"}, "--topic-follows (FEEDSVC_TOPIC_FOLLOWS)"},
		{[]string{"dlq", "replay", "--group", "fanout"}, map[string]string{"FEEDSVC_TOPIC_FOLLOWS": "a b"}, "--topic-follows"},
		{[]string{"feed", "inspect", "alice"}, map[string]string{"FEEDSVC_REDIS_ADDR": "nohost"}, "--redis-addr (FEEDSVC_REDIS_ADDR)"},
		{[]string{"moderation", "list"}, map[string]string{"FEEDSVC_CASSANDRA_CONSISTENCY": "SOME"}, "--cassandra-consistency (FEEDSVC_CASSANDRA_CONSISTENCY)"},
		{[]string{"bench", "post-latency"}, map[string]string{"FEEDSVC_FEED_CAP": "0"}, "--feed-cap (FEEDSVC_FEED_CAP)"},
		{[]string{"lag"}, map[string]string{"FEEDSVC_LOG_LEVEL": "loud"}, "--log-level (FEEDSVC_LOG_LEVEL)"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			clearEnv(t)
			// Bad values of settings this command does not take: ignored.
			for _, kv := range [][2]string{{"FEEDSVC_SHUTDOWN_TIMEOUT", "0s"}, {"FEEDSVC_JWT_MAX_LIFETIME", "-1h"}} {
				if !slices.Contains(configFlagsOf(find(t, tt.args)), strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(kv[0], "FEEDSVC_"), "_", "-"))) {
					t.Setenv(kv[0], kv[1])
				}
			}
			for k, v := range tt.bad {
				t.Setenv(k, v)
			}
			dataDir := filepath.Join(t.TempDir(), "data")
			args := append(slices.Clone(tt.args), "--data-dir", dataDir)
			if !strings.HasPrefix(tt.args[0], "serve") {
				args = append(args, "--config", shared)
			}
			_, err := execute(t, args...)
			if code := ExitCode(err); code != ExitUsage || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("exit %d, %v; want a usage error naming %s", code, err, tt.want)
			}
			for _, unused := range []string{"--shutdown-timeout", "--jwt-max-lifetime", "--node-id", "--kafka-partitions", "--rate-limit-posts"} {
				if strings.Contains(err.Error(), unused) && !slices.Contains(configFlagsOf(find(t, tt.args)), strings.TrimPrefix(unused, "--")) {
					t.Errorf("refused for %s, which it does not take:\n%v", unused, err)
				}
			}
			if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
				t.Errorf("data dir was touched: %v", err)
			}
		})
	}

	// With nothing bad that it takes, a command runs: token prints a token
	// although the environment and the shared file hold bad values of
	// other commands' settings.
	clearEnv(t)
	t.Setenv("FEEDSVC_SHUTDOWN_TIMEOUT", "0s")
	t.Setenv("FEEDSVC_NODE_ID", "5000")
	out, err := execute(t, "token", "alice", "--data-dir", t.TempDir(), "--config", shared)
	if err != nil || strings.Count(strings.TrimSpace(out), ".") != 2 {
		t.Fatalf("token: %q, %v", out, err)
	}
}

// TestTokenSeesTheDeployment: token takes no backend flags, but the backend
// addresses in the environment or the file still say it is not the embedded
// default, where it needs a key, an issuer and an audience as serve does.
func TestTokenSeesTheDeployment(t *testing.T) {
	file := filepath.Join(t.TempDir(), "prod.yaml")
	if err := os.WriteFile(file, []byte("cassandra-hosts: [c1, c2]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		env  map[string]string
		args []string
	}{
		{map[string]string{"FEEDSVC_KAFKA_BROKERS": "k1:9092"}, nil},
		{nil, []string{"--config", file}},
	} {
		clearEnv(t)
		for k, v := range c.env {
			t.Setenv(k, v)
		}
		dir := t.TempDir()
		_, err := execute(t, append([]string{"token", "alice", "--data-dir", dir}, c.args...)...)
		if err == nil || !strings.Contains(err.Error(), "--jwt-issuer") {
			t.Fatalf("%v %v: %v, want the issuer required", c.env, c.args, err)
		}
		if _, err := os.Stat(filepath.Join(dir, "jwt.secret")); !os.IsNotExist(err) {
			t.Errorf("a secret was generated outside the embedded default: %v", err)
		}
	}
}

func find(t *testing.T, args []string) *cobra.Command {
	t.Helper()
	cmd, _, err := NewRoot(roles.Table, buildinfo.Info{Version: "test"}).Find(args)
	if err != nil {
		t.Fatal(err)
	}
	return cmd
}
