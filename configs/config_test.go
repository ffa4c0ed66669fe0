package configs

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/app/apptest"
	"github.com/feedsvc/feedsvc/internal/setting"
	"github.com/feedsvc/feedsvc/roles/api"
)

// clearEnv unsets every FEEDSVC_ variable of a flag for the test, so the
// caller's environment (a shell with test infrastructure addresses, say)
// does not leak in.
func clearEnv(t *testing.T) {
	t.Helper()
	var c Config
	fs := pflag.NewFlagSet("env", pflag.ContinueOnError)
	c.Bind(fs)
	fs.VisitAll(func(f *pflag.Flag) {
		name := EnvName(f.Name)
		if _, ok := os.LookupEnv(name); ok {
			t.Setenv(name, "") // restores the value after the test
			os.Unsetenv(name)
		}
	})
}

// load binds a fresh Config, parses args, sets env and loads.
func load(t *testing.T, args []string, env map[string]string) (*Config, *pflag.FlagSet, error) {
	t.Helper()
	clearEnv(t)
	for k, v := range env {
		t.Setenv(k, v)
	}
	c := &Config{}
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	c.Bind(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse %q: %v", args, err)
	}
	return c, fs, c.Load(fs)
}

func writeFile(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// messages are the joined errors of err, one per bad setting.
func messages(err error) []string {
	var out []string
	for _, e := range setting.Flatten(err) {
		out = append(out, e.Error())
	}
	return out
}

func TestDefaultsAreValidAndEmbedded(t *testing.T) {
	c, _, err := load(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !c.EmbeddedKafka() || !c.EmbeddedRedis() || !c.EmbeddedStore() {
		t.Fatalf("defaults should be embedded: %+v", c)
	}
	if c.Feeds.Cap != 800 || c.Feeds.NodeID != -1 || c.Kafka.Topics.Posts != "feedsvc.posts" || c.Kafka.Partitions != 6 {
		t.Fatalf("unexpected defaults: %+v", c)
	}
}

func TestPrecedence(t *testing.T) {
	file := writeFile(t, "feed-cap: 1\n")
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want int
	}{
		{"default", nil, nil, 800},
		{"file", []string{"--config", file}, nil, 1},
		{"env over file", []string{"--config", file}, map[string]string{"FEEDSVC_FEED_CAP": "2"}, 2},
		{"flag over env and file", []string{"--config", file, "--feed-cap", "3"}, map[string]string{"FEEDSVC_FEED_CAP": "2"}, 3},
		{"file named by env", nil, map[string]string{"FEEDSVC_CONFIG": file}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := load(t, tt.args, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			if c.Feeds.Cap != tt.want {
				t.Fatalf("feed cap %d, want %d", c.Feeds.Cap, tt.want)
			}
		})
	}
}

func TestValidateOneField(t *testing.T) {
	tests := []struct {
		args []string
		want string // "" for valid; else the one expected message
	}{
		{[]string{"--node-id", "5000"}, "--node-id (FEEDSVC_NODE_ID): 5000 is out of range 0-1023"},
		{[]string{"--node-id", "-2"}, "--node-id (FEEDSVC_NODE_ID): -2 is out of range 0-1023"},
		{[]string{"--group-prefix", "a b"}, `--group-prefix (FEEDSVC_GROUP_PREFIX): "a b" is not a group name prefix (letters, digits, '.', '_' and '-', at most 100)`},
		{[]string{"--consumer-group-prefix", "a b"}, `--group-prefix (FEEDSVC_GROUP_PREFIX): "a b" is not a group name prefix`},
		{[]string{"--group-prefix", "a-", "--consumer-group-prefix", "b-"}, `--consumer-group-prefix (FEEDSVC_CONSUMER_GROUP_PREFIX): "b-" disagrees with --group-prefix "a-"; give one`},
		{[]string{"--group-prefix", "a-", "--consumer-group-prefix", "a-"}, ""},
		{[]string{"--redis-key-prefix", "prod:"}, ""},
		{[]string{"--redis-key-prefix", "{prod}:"}, `--redis-key-prefix (FEEDSVC_REDIS_KEY_PREFIX): "{prod}:" is not a key prefix (letters, digits, '.', '_', '-' and ':', at most 64; no '{' or '}'`},
		{[]string{"--redis-addr", "r:6379", "--redis-key-prefix", strings.Repeat("p", 65)}, `--redis-key-prefix (FEEDSVC_REDIS_KEY_PREFIX): "ppp`},
		{[]string{"--outbox-poll", "1ms"}, "--outbox-poll (FEEDSVC_OUTBOX_POLL): 1ms is not between 10ms and 1m"},
		{[]string{"--publish-wait", "11s"}, "--publish-wait (FEEDSVC_PUBLISH_WAIT): 11s is not between 0 and 10s"},
		{[]string{"--node-id", "-1"}, ""},
		{[]string{"--node-id", "0"}, ""},
		{[]string{"--node-id", "1023"}, ""},
		{[]string{"--node-id", "1024"}, "--node-id (FEEDSVC_NODE_ID): 1024 is out of range"},
		{[]string{"--feed-cap", "0"}, "--feed-cap (FEEDSVC_FEED_CAP): 0 is not positive"},
		{[]string{"--fanout-batch", "0"}, "--fanout-batch (FEEDSVC_FANOUT_BATCH): 0 is not positive"},
		{[]string{"--celebrity-threshold", "-1"}, "--celebrity-threshold (FEEDSVC_CELEBRITY_THRESHOLD): -1 is negative"},
		{[]string{"--celebrity-threshold", "0"}, ""},
		{[]string{"--feed-inactive-after", "-1s"}, "--feed-inactive-after (FEEDSVC_FEED_INACTIVE_AFTER): -1s is neither 0"},
		{[]string{"--feed-inactive-after", "500us"}, "--feed-inactive-after (FEEDSVC_FEED_INACTIVE_AFTER): 500µs is neither 0"},
		{[]string{"--feed-inactive-after", "0"}, ""},
		{[]string{"--view-cache-ttl", "2m"}, "--view-cache-ttl (FEEDSVC_VIEW_CACHE_TTL): 2m0s is not between 0 and 1m"},
		{[]string{"--view-cache-ttl", "0"}, ""},
		{[]string{"--post-cache-size", "-1"}, "--post-cache-size (FEEDSVC_POST_CACHE_SIZE): -1 is negative"},
		{[]string{"--post-cache-ttl", "-1s"}, "--post-cache-ttl (FEEDSVC_POST_CACHE_TTL): -1s is negative"},
		{[]string{"--post-cache-ttl", "0"}, "--post-cache-ttl (FEEDSVC_POST_CACHE_TTL): 0 would serve cached posts forever"},
		{[]string{"--post-cache-ttl", "0", "--post-cache-size", "0"}, ""},
		{[]string{"--http-addr", "localhost"}, `--http-addr (FEEDSVC_HTTP_ADDR): "localhost" is not host:port`},
		{[]string{"--http-addr", ":99999"}, `--http-addr (FEEDSVC_HTTP_ADDR): ":99999": port "99999" is not a number 0-65535`},
		{[]string{"--http-addr", ":0"}, ""},
		{[]string{"--admin-addr", "localhost"}, `--admin-addr (FEEDSVC_ADMIN_ADDR): "localhost" is not host:port`},
		{[]string{"--admin-addr", "127.0.0.1:8080"}, `--admin-addr (FEEDSVC_ADMIN_ADDR): "127.0.0.1:8080" is also --http-addr`},
		{[]string{"--admin-addr", ""}, ""},
		{[]string{"--http-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"}, ""},
		{[]string{"--log-level", "loud"}, `--log-level (FEEDSVC_LOG_LEVEL): "loud" is not debug, info, warn or error`},
		{[]string{"--log-level", "debug"}, ""},
		{[]string{"--shutdown-drain", "-1s"}, "--shutdown-drain (FEEDSVC_SHUTDOWN_DRAIN): -1s is negative"},
		{[]string{"--shutdown-drain", "0"}, ""},
		{[]string{"--shutdown-timeout", "0"}, "--shutdown-timeout (FEEDSVC_SHUTDOWN_TIMEOUT): 0s is not positive"},
		{[]string{"--request-timeout", "0"}, "--request-timeout (FEEDSVC_REQUEST_TIMEOUT): 0s is out of range (0s, 30s]"},
		{[]string{"--request-timeout", "31s"}, "--request-timeout (FEEDSVC_REQUEST_TIMEOUT): 31s is out of range (0s, 30s]"},
		{[]string{"--request-timeout", "30s"}, ""},
		{[]string{"--max-feed-streams", "-1"}, "--max-feed-streams (FEEDSVC_MAX_FEED_STREAMS): -1 is negative (0: no streams)"},
		{[]string{"--jwt-secret", "short"}, "--jwt-secret (FEEDSVC_JWT_SECRET): is 5 bytes, shorter than 32"},
		{[]string{"--jwt-secret", strings.Repeat("s", 32)}, ""},
		{[]string{"--jwt-public-key", " "}, "--jwt-public-key (FEEDSVC_JWT_PUBLIC_KEY):"},
		{[]string{"--jwt-secret", strings.Repeat("s", 32), "--jwt-secret-file", "/run/secret"}, "--jwt-secret-file (FEEDSVC_JWT_SECRET_FILE): is set together with --jwt-secret"},
		{[]string{"--jwt-jwks-url", "id.example.com/jwks"}, `--jwt-jwks-url (FEEDSVC_JWT_JWKS_URL): "id.example.com/jwks" is not an http(s) URL`},
		{[]string{"--jwt-jwks-url", "https://id.example.com/.well-known/jwks.json"}, ""},
		{[]string{"--jwt-jwks-url", "http://id.example.com/jwks"}, `--jwt-jwks-url (FEEDSVC_JWT_JWKS_URL): "http://id.example.com/jwks" is plain http: give an https URL (http only to a loopback host)`},
		{[]string{"--jwt-jwks-url", "http://127.0.0.1:8080/jwks"}, ""},
		{[]string{"--jwt-leeway", "-1s"}, "--jwt-leeway (FEEDSVC_JWT_LEEWAY): -1s is out of range [0s, 5m0s]"},
		{[]string{"--jwt-leeway", "10m"}, "--jwt-leeway (FEEDSVC_JWT_LEEWAY): 10m0s is out of range"},
		{[]string{"--jwt-leeway", "0"}, ""},
		{[]string{"--jwt-max-lifetime", "0"}, "--jwt-max-lifetime (FEEDSVC_JWT_MAX_LIFETIME): 0s is not positive"},
		{[]string{"--moderation-blocklist", "spam,re:(x"}, `--moderation-blocklist (FEEDSVC_MODERATION_BLOCKLIST): pattern "re:(x" does not compile`},
		{[]string{"--moderation-blocklist", `spam,"re:bu{2,3}y"`}, ""},
		{[]string{"--moderation-max-links", "-1"}, "--moderation-max-links (FEEDSVC_MODERATION_MAX_LINKS): -1 is negative"},
		{[]string{"--moderation-rate", "-1"}, "--moderation-rate (FEEDSVC_MODERATION_RATE): -1 is negative"},
		{[]string{"--search-term-cap", "0"}, "--search-term-cap (FEEDSVC_SEARCH_TERM_CAP): 0 is not positive"},
		{[]string{"--rate-limit-posts", "off", "--rate-limit-follows", "0", "--rate-limit-searches", "10/1s", "--rate-limit-auth-failures", "5/1m"}, ""},
		{[]string{"--trusted-proxies", "10.0.0.0/8,fd00::/8"}, ""},
		{[]string{"--kafka-brokers", "k:9093", "--kafka-sasl-mechanism", "SCRAM-SHA-512", "--kafka-sasl-user", "u", "--kafka-tls-ca", "/ca.pem"}, ""},
		{[]string{"--kafka-tls"}, "--kafka-tls/--kafka-sasl-*: set for an embedded backend"},
		{[]string{"--redis-tls-ca", "/ca.pem"}, "--redis-tls/--redis-user/--redis-password: set for an embedded backend"},
		{[]string{"--cassandra-user", "c"}, "--cassandra-tls/--cassandra-user: set for an embedded backend"},
		{[]string{"--kafka-brokers", "k:9093", "--kafka-sasl-mechanism", "GSSAPI", "--kafka-sasl-user", "u"}, `--kafka-sasl-mechanism (FEEDSVC_KAFKA_SASL_MECHANISM): "GSSAPI" is not PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512`},
		{[]string{"--kafka-brokers", "k:9093", "--kafka-sasl-mechanism", "PLAIN"}, "--kafka-sasl-user (FEEDSVC_KAFKA_SASL_USER): SASL PLAIN needs a user"},
		{[]string{"--kafka-sasl-user", "u"}, "--kafka-sasl-mechanism (FEEDSVC_KAFKA_SASL_MECHANISM): a SASL user or password is set without a mechanism"},
		{[]string{"--kafka-brokers", "k:9093", "--kafka-sasl-mechanism", "PLAIN", "--kafka-sasl-user", "u", "--kafka-sasl-password", "p", "--kafka-sasl-password-file", "/pw"}, "--kafka-sasl-password-file (FEEDSVC_KAFKA_SASL_PASSWORD_FILE): is set together with a password"},
		{[]string{"--kafka-brokers", "k:9093", "--kafka-tls-cert", "/c.pem"}, "--kafka-tls-cert (FEEDSVC_KAFKA_TLS_CERT): a client certificate needs both"},
		{[]string{"--redis-addr", "r:6380", "--redis-user", "feedsvc", "--redis-password", "p", "--redis-tls"}, ""},
		{[]string{"--redis-addr", "r:6380", "--redis-password", "p", "--redis-password-file", "/pw"}, "--redis-password-file (FEEDSVC_REDIS_PASSWORD_FILE): is set together with a password"},
		{[]string{"--redis-addr", "r:6380", "--redis-tls-key", "/k.pem"}, "--redis-tls-cert (FEEDSVC_REDIS_TLS_CERT): a client certificate needs both"},
		{[]string{"--cassandra-hosts", "c1", "--cassandra-user", "c", "--cassandra-password-file", "/pw", "--cassandra-tls-ca", "/ca.pem"}, ""},
		{[]string{"--cassandra-password", "p"}, "--cassandra-user (FEEDSVC_CASSANDRA_USER): a password is set without a user name"},
		{[]string{"--trusted-proxies", "10.0.0.1"}, `--trusted-proxies (FEEDSVC_TRUSTED_PROXIES): "10.0.0.1" is not a CIDR`},
		{[]string{"--data-dir", ""}, "--data-dir (FEEDSVC_DATA_DIR): no directory configured"},
		{[]string{"--kafka-brokers", "k1:9092,k2:9092"}, ""},
		{[]string{"--kafka-brokers", "k1"}, `--kafka-brokers (FEEDSVC_KAFKA_BROKERS): "k1" is not host:port`},
		{[]string{"--kafka-brokers", ":9092"}, `--kafka-brokers (FEEDSVC_KAFKA_BROKERS): ":9092" has no host`},
		{[]string{"--kafka-partitions", "0"}, "--kafka-partitions (FEEDSVC_KAFKA_PARTITIONS): 0 is out of range 1-"},
		{[]string{"--kafka-replication", "0"}, "--kafka-replication (FEEDSVC_KAFKA_REPLICATION): 0 is out of range 1-32767"},
		{[]string{"--kafka-replication", "40000"}, "--kafka-replication (FEEDSVC_KAFKA_REPLICATION): 40000 is out of range 1-32767"},
		{[]string{"--topic-posts", "a b"}, `--topic-posts (FEEDSVC_TOPIC_POSTS): "a b" is not a Kafka topic name`},
		{[]string{"--topic-posts", ""}, `--topic-posts (FEEDSVC_TOPIC_POSTS): "" is not a Kafka topic name`},
		{[]string{"--topic-posts", ".."}, `--topic-posts (FEEDSVC_TOPIC_POSTS): ".." is not a Kafka topic name`},
		{[]string{"--topic-follows", "feedsvc.posts"}, `--topic-follows (FEEDSVC_TOPIC_FOLLOWS): "feedsvc.posts" collides with the posts topic`},
		{[]string{"--topic-follows", "feedsvc_posts"}, `--topic-follows (FEEDSVC_TOPIC_FOLLOWS): "feedsvc_posts" collides`},
		{[]string{"--topic-follows", "feedsvc.posts.dlq"}, `--topic-follows (FEEDSVC_TOPIC_FOLLOWS): "feedsvc.posts.dlq" collides`},
		{[]string{"--redis-addr", "r1:6379"}, ""},
		{[]string{"--redis-addr", "r1:6379, r2:6379"}, ""},
		{[]string{"--redis-addr", "r1"}, `--redis-addr (FEEDSVC_REDIS_ADDR): "r1" is not host:port`},
		{[]string{"--redis-addr", "r1:0"}, `--redis-addr (FEEDSVC_REDIS_ADDR): "r1:0": port "0" is not a number 1-65535`},
		{[]string{"--redis-addr", "r1:6379,r1:6379"}, `--redis-addr (FEEDSVC_REDIS_ADDR): "r1:6379" is listed twice`},
		{[]string{"--cassandra-hosts", "c1,c2:9042"}, ""},
		{[]string{"--cassandra-hosts", "c1:x"}, `--cassandra-hosts (FEEDSVC_CASSANDRA_HOSTS): "c1:x": port "x" is not a number 1-65535`},
		{[]string{"--cassandra-keyspace", "1bad"}, `--cassandra-keyspace (FEEDSVC_CASSANDRA_KEYSPACE): invalid keyspace name "1bad"`},
		{[]string{"--cassandra-keyspace", "a;DROP"}, `--cassandra-keyspace (FEEDSVC_CASSANDRA_KEYSPACE): invalid keyspace name`},
		{[]string{"--cassandra-consistency", "MOST"}, `--cassandra-consistency (FEEDSVC_CASSANDRA_CONSISTENCY): unknown consistency level "MOST"`},
		{[]string{"--cassandra-consistency", "local_quorum"}, ""},
		{[]string{"--cassandra-consistency", "local_one"}, `--cassandra-consistency (FEEDSVC_CASSANDRA_CONSISTENCY): consistency level LOCAL_ONE is weaker than LOCAL_QUORUM`},
		{[]string{"--cassandra-replication", "{'class': 'NetworkTopologyStrategy', 'dc1': 3}"}, ""},
		{[]string{"--cassandra-replication", "{'class': 'SimpleStrategy', 'replication_factor': 1}; DROP KEYSPACE x"}, "--cassandra-replication (FEEDSVC_CASSANDRA_REPLICATION): "},
		{[]string{"--cassandra-replication", "{'dc1': 3}"}, "--cassandra-replication (FEEDSVC_CASSANDRA_REPLICATION): "},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, _, err := load(t, tt.args, nil)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("want valid, got:\n%v", err)
				}
				return
			}
			msgs := messages(err)
			if len(msgs) != 1 || !strings.Contains(msgs[0], tt.want) {
				t.Fatalf("want one message containing %q, got %q", tt.want, msgs)
			}
		})
	}
}

// TestValidateTokens: outside the embedded default a token key, an issuer
// and an audience are required, each missing one named by its flag; on the
// embedded default nothing is (the data dir's secret is generated).
func TestValidateTokens(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{nil, nil},
		{[]string{"--redis-addr", "r1:6379"}, []string{
			"--jwt-secret-file (FEEDSVC_JWT_SECRET_FILE): no token key",
			"--jwt-issuer (FEEDSVC_JWT_ISSUER): is required outside the embedded default",
			"--jwt-audience (FEEDSVC_JWT_AUDIENCE): is required outside the embedded default",
		}},
		{[]string{"--kafka-brokers", "k1:9092", "--jwt-jwks-url", "https://id.example.com/jwks", "--jwt-issuer", "https://id.example.com/"}, []string{
			"--jwt-audience (FEEDSVC_JWT_AUDIENCE): is required",
		}},
		{[]string{"--cassandra-hosts", "c1", "--jwt-secret-file", "/run/s", "--jwt-issuer", "i", "--jwt-audience", "a"}, nil},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			c, _, err := load(t, tt.args, nil)
			if err != nil {
				t.Fatal(err)
			}
			msgs := messages(c.ValidateTokens())
			if len(msgs) != len(tt.want) {
				t.Fatalf("got %q, want %d messages like %q", msgs, len(tt.want), tt.want)
			}
			for i, want := range tt.want {
				if !strings.Contains(msgs[i], want) {
					t.Errorf("message %d = %q, want it to contain %q", i, msgs[i], want)
				}
			}
		})
	}
}

func TestValidateReportsEverythingAtOnce(t *testing.T) {
	_, _, err := load(t, []string{"--node-id", "5000", "--feed-cap", "0", "--kafka-partitions", "0", "--cassandra-keyspace", "1bad"},
		map[string]string{"FEEDSVC_SEARCH_TERM_CAP": "-5", "FEEDSVC_POST_CACHE_TTL": "soon"})
	msgs := messages(err)
	want := []string{
		"--node-id (FEEDSVC_NODE_ID): 5000 is out of range 0-1023",
		"--feed-cap (FEEDSVC_FEED_CAP): 0 is not positive",
		"--kafka-partitions (FEEDSVC_KAFKA_PARTITIONS): 0 is out of range",
		"--cassandra-keyspace (FEEDSVC_CASSANDRA_KEYSPACE): invalid keyspace name",
		"--search-term-cap (FEEDSVC_SEARCH_TERM_CAP): -5 is not positive",
		`--post-cache-ttl (FEEDSVC_POST_CACHE_TTL): "soon" is not a valid duration`,
	}
	if len(msgs) != len(want) {
		t.Fatalf("want %d messages, got %d:\n%s", len(want), len(msgs), strings.Join(msgs, "\n"))
	}
	for _, w := range want {
		if !slices.ContainsFunc(msgs, func(m string) bool { return strings.Contains(m, w) }) {
			t.Errorf("no message contains %q in:\n%s", w, strings.Join(msgs, "\n"))
		}
	}
}

// The embedded alternative is chosen by leaving the address list empty, so
// the adapters' "none configured" is not an error; everything else is.
func TestEmbeddedSkipsOnlyTheMissingAddresses(t *testing.T) {
	c, _, err := load(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Kafka.Validate(); err == nil || !strings.Contains(err.Error(), "Brokers") {
		t.Fatalf("the adapter alone should want brokers, got %v", err)
	}
	if err := c.Redis.Validate(); err == nil {
		t.Fatal("the adapter alone should want an address")
	}
	if err := c.Cassandra.Validate(); err == nil {
		t.Fatal("the adapter alone should want hosts")
	}
}

func TestEnvParseErrors(t *testing.T) {
	tests := []struct{ env, value, want string }{
		{"FEEDSVC_FEED_CAP", "abc", `--feed-cap (FEEDSVC_FEED_CAP): "abc" is not a valid integer`},
		{"FEEDSVC_PPROF", "maybe", `--pprof (FEEDSVC_PPROF): "maybe" is not a valid boolean`},
		{"FEEDSVC_SHUTDOWN_TIMEOUT", "15", `--shutdown-timeout (FEEDSVC_SHUTDOWN_TIMEOUT): "15" is not a valid duration`},
	}
	for _, tt := range tests {
		t.Run(tt.env, func(t *testing.T) {
			_, _, err := load(t, nil, map[string]string{tt.env: tt.value})
			msgs := messages(err)
			if len(msgs) != 1 || !strings.Contains(msgs[0], tt.want) {
				t.Fatalf("want one message containing %q, got %q", tt.want, msgs)
			}
		})
	}
}

func TestFileErrors(t *testing.T) {
	tests := []struct {
		name, text string
		want       []string
	}{
		{"bad value", "feed-cap: abc\n", []string{`--feed-cap (file %s, line 1): "abc" is not a valid integer`}},
		{"unknown keys", "http-addr: :1\nfeed_cap: 3\nfoo: 1\n", []string{
			`file %s, line 2: unknown setting "feed_cap"`, `file %s, line 3: unknown setting "foo"`,
		}},
		{"config key", "config: other.yaml\n", []string{`file %s, line 1: unknown setting "config"`}},
		{"repeated key", "feed-cap: 1\nfeed-cap: 2\n", []string{`file %s, line 2: "feed-cap" is already set on line 1`}},
		{"list for a single value", "node-id: [1, 2]\n", []string{`--node-id (file %s, line 1): a list where a single integer is wanted`}},
		{"map value", "feed-cap: {a: 1}\n", []string{`--feed-cap (file %s, line 1): want a single integer or a list`}},
		{"nested list", "kafka-brokers: [[a:1]]\n", []string{`--kafka-brokers (file %s, line 1): element 1 of the list is not a single value`}},
		{"with validation", "feed-cap: abc\nnode-id: 5000\n", []string{
			`--feed-cap (file %s, line 1): "abc" is not a valid integer`, "--node-id (FEEDSVC_NODE_ID): 5000 is out of range",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, tt.text)
			_, _, err := load(t, []string{"--config", path}, nil)
			msgs := messages(err)
			if len(msgs) != len(tt.want) {
				t.Fatalf("want %d messages, got %q", len(tt.want), msgs)
			}
			for i, w := range tt.want {
				if w = strings.ReplaceAll(w, "%s", path); !strings.Contains(msgs[i], w) {
					t.Errorf("message %d: want %q, got %q", i, w, msgs[i])
				}
			}
		})
	}
}

func TestFileUnusable(t *testing.T) {
	for name, text := range map[string]string{"not yaml": "feed-cap: [\n", "not a mapping": "- feed-cap\n"} {
		t.Run(name, func(t *testing.T) {
			path := writeFile(t, text)
			if _, _, err := load(t, []string{"--config", path}, nil); err == nil || !strings.Contains(err.Error(), path) {
				t.Fatalf("want an error naming %s, got %v", path, err)
			}
		})
	}
	if _, _, err := load(t, []string{"--config", filepath.Join(t.TempDir(), "missing.yaml")}, nil); err == nil {
		t.Fatal("a missing file should be an error")
	}
	if c, _, err := load(t, []string{"--config", writeFile(t, "# nothing\n")}, nil); err != nil || c.Feeds.Cap != 800 {
		t.Fatalf("an empty file should change nothing: %v", err)
	}
}

func TestFileLists(t *testing.T) {
	path := writeFile(t, `moderation-blocklist: ["spam", "re:bu{2,3}y"]
kafka-brokers: [k1:9092, k2:9092]
cassandra-hosts: c1,c2
redis-addr: [r1:6379, r2:6379, r3:6379]
`)
	c, fs, err := load(t, []string{"--config", path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name      string
		got, want []string
	}{
		// A YAML list sets the flag element by element: the pattern keeps
		// its comma.
		{"moderation-blocklist", c.Moderation.Blocklist, []string{"spam", "re:bu{2,3}y"}},
		{"kafka-brokers", c.Kafka.Brokers, []string{"k1:9092", "k2:9092"}},
		// A scalar is split at commas, as on the command line.
		{"cassandra-hosts", c.Cassandra.Hosts, []string{"c1", "c2"}},
		{"redis-addr", c.Redis.Addrs, []string{"r1:6379", "r2:6379", "r3:6379"}},
	} {
		if !slices.Equal(tt.got, tt.want) {
			t.Errorf("%s: got %q, want %q", tt.name, tt.got, tt.want)
		}
		if !fs.Changed(tt.name) {
			t.Errorf("%s: not marked as changed", tt.name)
		}
	}
	// And the rules work: the pattern with a comma hides a matching post.
	store := apptest.NewStore()
	mod, err := app.NewModerator(app.Moderator{Posts: store, Decisions: store, Events: &apptest.Bus{}, Rules: c.Moderation.Rules(), Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	for id, text := range map[app.ID]string{1: "please buuy this", 2: "fine words"} {
		p := app.Post{ID: id, Author: "a", Text: text, CreatedAt: id.Time()}
		if err := store.SavePost(t.Context(), p); err != nil {
			t.Fatal(err)
		}
		if err := mod.Handle(t.Context(), app.Event{Type: app.PostCreated, Post: &p}); err != nil {
			t.Fatal(err)
		}
	}
	if ds, _ := store.Decisions(t.Context(), 0, 10); len(ds) != 1 || ds[0].Post != 1 {
		t.Errorf("decisions = %+v, want post 1 hidden by re:bu{2,3}y", ds)
	}
	// A flag or variable still replaces the file's list.
	c, _, err = load(t, []string{"--config", path}, map[string]string{"FEEDSVC_MODERATION_BLOCKLIST": "ham"})
	if err != nil || !slices.Equal(c.Moderation.Blocklist, []string{"ham"}) {
		t.Fatalf("env over file list: %q, %v", c.Moderation.Blocklist, err)
	}
}

// On the command line and in the environment a list is comma-separated
// values in CSV: an entry holding a comma is double-quoted.
func TestEnvListQuoting(t *testing.T) {
	c, _, err := load(t, nil, map[string]string{"FEEDSVC_MODERATION_BLOCKLIST": `spam,"re:bu{2,3}y"`})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"spam", "re:bu{2,3}y"}; !slices.Equal(c.Moderation.Blocklist, want) {
		t.Fatalf("got %q, want %q", c.Moderation.Blocklist, want)
	}
}

func TestExampleConfigs(t *testing.T) {
	for _, name := range []string{"local.yaml", "production.yaml"} {
		t.Run(name, func(t *testing.T) {
			c, _, err := load(t, []string{"--config", name}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if name == "production.yaml" {
				if len(c.Kafka.Brokers) != 3 || len(c.Redis.Addrs) != 3 || len(c.Cassandra.Hosts) != 3 || c.Moderation.Rate != 30 {
					t.Fatalf("production settings not loaded: %+v", c)
				}
			}
		})
	}
}

// Every flag but --config sets a field the registry knows, and every path
// in the registry is a field of Config, so each error names its flag.
func TestFlagTable(t *testing.T) {
	var c Config
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	c.Bind(fs)
	mapped := map[string]bool{}
	for path, flag := range registry.Fields() {
		mapped[flag] = true
		if fs.Lookup(flag) == nil {
			t.Errorf("%s maps to unknown flag %s", path, flag)
		}
		if path == "Pebble.Dir" {
			continue // from the method Pebble
		}
		typ := reflect.TypeFor[Config]()
		for _, name := range strings.Split(path, ".") {
			f, ok := typ.FieldByName(name)
			if !ok {
				t.Errorf("%s is not a field path of Config", path)
				break
			}
			typ = f.Type
		}
	}
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Name != "config" && !mapped[f.Name] {
			t.Errorf("flag %s sets no field the registry knows", f.Name)
		}
		if _, ok := registry.Group(f.Name); !ok {
			t.Errorf("flag %s has no group", f.Name)
		}
	})
}

// Every field path a Validate can report maps to a flag: a Config with
// every flag-set field invalid (and --dev-login where it may not be) is
// refused only with messages that name a flag and its variable. Timeout
// fields, which are no flags, are left valid.
func TestValidateNamesEveryField(t *testing.T) {
	// What no Validate checks: these fields cannot be invalid (or are
	// checked together with another, reported by that one's flag).
	unchecked := map[string]bool{}
	for _, path := range []string{"Server.Pprof", "consumerGroupPrefix",
		"Kafka.SASL.Password", "Redis.Username", "Redis.Password", "Cassandra.Password",
		"RateLimits.Posts", "RateLimits.Follows", "RateLimits.Searches", "RateLimits.Likes", "RateLimits.Reads", "RateLimits.Deletes", "RateLimits.AuthFailures",
		"Kafka.TLS.Enabled", "Kafka.TLS.CAFile", "Kafka.TLS.KeyFile", "Redis.TLS.Enabled", "Redis.TLS.CAFile", "Redis.TLS.KeyFile",
		"Cassandra.TLS.Enabled", "Cassandra.TLS.CAFile", "Cassandra.TLS.KeyFile"} {
		unchecked[path] = true
	}
	c, _, err := load(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.DataDir = ""
	c.Server = ServerConfig{HTTPAddr: "x", AdminAddr: "y", LogLevel: "loud", LogFormat: "xml", ShutdownDrain: -1, ShutdownTimeout: 0,
		TrustedProxies: []string{"10.0.0.1"}, RequestTimeout: 0, MaxFeedStreams: -1, DevLogin: true}
	c.Feeds = FeedsConfig{Cap: 0, FanoutBatch: 0, MaxFollowing: -1, CelebrityThreshold: -1, InactiveAfter: -1, PostCacheSize: -1,
		PostCacheTTL: -1, NodeID: 5000, OutboxPoll: 0, PublishWait: -1, ViewCacheTTL: -1}
	c.Auth = AuthConfig{JWTSecret: "short", JWTSecretFile: " ", JWTPublicKey: " ", JWTJWKSURL: "x", JWTLeeway: -1, JWTMaxLifetime: 0}
	c.Moderation = ModerationConfig{Blocklist: []string{"re:("}, MaxLinks: -1, Rate: -1}
	c.Search = SearchConfig{TermCap: 0, Retention: -1}
	c.Kafka.Brokers = []string{"k"}
	c.Kafka.Partitions, c.Kafka.Replication, c.Kafka.ConsumerLanes = 0, 0, 0
	c.Kafka.Topics.Posts, c.Kafka.Topics.Follows = "a b", "a b"
	c.Kafka.GroupPrefix = "a b"
	c.Kafka.SASL.Mechanism, c.Kafka.SASL.Password, c.Kafka.SASL.PasswordFile = "GSSAPI", "p", "/pw"
	c.Kafka.TLS.CertFile = "/c.pem"
	c.Redis.Addrs = []string{"r", "r"}
	c.Redis.Password, c.Redis.PasswordFile, c.Redis.KeyPrefix = "p", "/pw", "{x}"
	c.Redis.TLS.KeyFile = "/k.pem"
	c.Cassandra.Hosts = []string{"c:x"}
	c.Cassandra.Keyspace, c.Cassandra.Replication, c.Cassandra.Consistency = "1bad", "x", "ONE"
	c.Cassandra.Password, c.Cassandra.PasswordFile = "p", "/pw"
	c.Cassandra.TLS.CertFile = "/c.pem"
	msgs := messages(errors.Join(c.Validate(), c.ValidateTokens()))
	if len(msgs) < 40 {
		t.Fatalf("only %d errors, want one per field at least:\n%s", len(msgs), strings.Join(msgs, "\n"))
	}
	named := map[string]bool{}
	for _, m := range msgs {
		flag, _, ok := strings.Cut(strings.TrimPrefix(m, "--"), " (FEEDSVC_")
		if !strings.HasPrefix(m, "--") || !ok {
			t.Errorf("no flag named: %s", m)
			continue
		}
		named[flag] = true
	}
	// Each field a Validate checks was reported, by its flag: the bad
	// Config above leaves out none.
	for path, flag := range registry.Fields() {
		if !named[flag] && !unchecked[path] {
			t.Errorf("%s (--%s) is not reported", path, flag)
		}
	}
}

// TestRateLimitValues: a rate limit reads as <requests>/<window> or off,
// from a flag or the environment, and anything else is refused naming the
// flag and its variable.
func TestRateLimitValues(t *testing.T) {
	c, _, err := load(t, []string{"--rate-limit-posts", "50/1m"}, map[string]string{"FEEDSVC_RATE_LIMIT_SEARCHES": "off"})
	if err != nil {
		t.Fatal(err)
	}
	if c.RateLimits.Posts != (app.Limit{Quota: 50, Window: time.Minute}) || !c.RateLimits.Searches.Off() {
		t.Fatalf("limits %+v", c.RateLimits)
	}
	if c.RateLimits.Follows != api.DefaultRateLimits().Follows {
		t.Fatalf("follows %v, want the default %v", c.RateLimits.Follows, api.DefaultRateLimits().Follows)
	}
	for _, bad := range []string{"50", "50/", "0/1m", "-1/1m", "5/0s", "5/500ms", "five/1m"} {
		_, _, err := load(t, nil, map[string]string{"FEEDSVC_RATE_LIMIT_POSTS": bad})
		if err == nil || !strings.Contains(err.Error(), "--rate-limit-posts (FEEDSVC_RATE_LIMIT_POSTS)") {
			t.Fatalf("%q: %v, want an error naming the flag", bad, err)
		}
	}
}

// TestSharingSettings: the group and key prefixes that let deployments
// share a Kafka and a Redis load from each source, and the older name of
// --group-prefix still sets it.
func TestSharingSettings(t *testing.T) {
	file := writeFile(t, "group-prefix: f-\nredis-key-prefix: \"file:\"\n")
	tests := []struct {
		name             string
		args             []string
		env              map[string]string
		group, keyPrefix string
	}{
		{"defaults", nil, nil, "", ""},
		{"flags", []string{"--group-prefix", "a-", "--redis-key-prefix", "a:"}, nil, "a-", "a:"},
		{"env", nil, map[string]string{"FEEDSVC_GROUP_PREFIX": "b-", "FEEDSVC_REDIS_KEY_PREFIX": "b:"}, "b-", "b:"},
		{"older name, env", nil, map[string]string{"FEEDSVC_CONSUMER_GROUP_PREFIX": "c-"}, "c-", ""},
		{"older name, flag", []string{"--consumer-group-prefix", "d-"}, nil, "d-", ""},
		{"file", []string{"--config", file}, nil, "f-", "file:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := load(t, tt.args, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			if c.Kafka.GroupPrefix != tt.group || c.Kafka.Group("fanout") != tt.group+"fanout" || c.Redis.KeyPrefix != tt.keyPrefix {
				t.Fatalf("group prefix %q, key prefix %q; want %q, %q", c.Kafka.GroupPrefix, c.Redis.KeyPrefix, tt.group, tt.keyPrefix)
			}
		})
	}
}

// loadGroups binds a fresh Config with groups, parses args, sets env and
// loads.
func loadGroups(t *testing.T, groups Group, args []string, env map[string]string) (*Config, *pflag.FlagSet, error) {
	t.Helper()
	clearEnv(t)
	for k, v := range env {
		t.Setenv(k, v)
	}
	c := &Config{}
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	c.BindGroups(fs, groups)
	if err := fs.Parse(args); err != nil {
		return c, fs, err
	}
	return c, fs, c.Load(fs)
}

// TestBindGroups: a command bound to some groups takes only their flags,
// reads only their variables and file keys (a file may hold every
// command's settings), validates only them, and keeps the defaults of the
// rest; the backend addresses are read anyway, since they decide what is
// embedded.
func TestBindGroups(t *testing.T) {
	file := writeFile(t, "node-id: 5000\nfeed-cap: 0\njwt-issuer: from-file\ncassandra-hosts: [c1, c2]\n")
	c, fs, err := loadGroups(t, GroupAuth, []string{"--config", file},
		map[string]string{"FEEDSVC_KAFKA_PARTITIONS": "0", "FEEDSVC_HTTP_ADDR": "nonsense", "FEEDSVC_JWT_AUDIENCE": "from-env", "FEEDSVC_REDIS_ADDR": "r1:6379"})
	if err != nil {
		t.Fatalf("settings of other groups refused: %v", err)
	}
	if fs.Lookup("kafka-brokers") != nil || fs.Lookup("node-id") != nil || fs.Lookup("jwt-issuer") == nil || fs.Lookup("data-dir") == nil {
		t.Fatal("flags of the wrong groups bound")
	}
	if c.Auth.JWTIssuer != "from-file" || c.Auth.JWTAudience != "from-env" {
		t.Fatalf("auth settings not loaded: %+v", c.Auth)
	}
	if c.Feeds.NodeID != -1 || c.Feeds.Cap != 800 || c.Kafka.Partitions != 6 || c.Server.HTTPAddr != "127.0.0.1:8080" {
		t.Fatalf("settings of unbound groups loaded: %+v %+v %+v", c.Feeds, c.Kafka, c.Server)
	}
	if c.EmbeddedStore() || c.EmbeddedRedis() || !c.EmbeddedKafka() || c.EmbeddedDefault() {
		t.Fatalf("backend addresses not read: %v %v", c.Cassandra.Hosts, c.Redis.Addrs)
	}

	// An unknown key is still refused; a bad value of a bound group too.
	bad := writeFile(t, "kafka-partitons: 3\njwt-leeway: 1h\n")
	_, _, err = loadGroups(t, GroupAuth, []string{"--config", bad}, nil)
	if got := messages(err); len(got) != 2 || !strings.Contains(got[0], `unknown setting "kafka-partitons"`) || !strings.Contains(got[1], "--jwt-leeway (FEEDSVC_JWT_LEEWAY)") {
		t.Fatalf("errors %q", got)
	}
	// Flags of other groups are not flags of this command.
	if _, _, err := loadGroups(t, GroupAuth, []string{"--kafka-brokers", "k:9092"}, nil); err == nil {
		t.Fatal("--kafka-brokers accepted by a command without Kafka settings")
	}
}

// TestValidateOnlyBoundGroups: a conflict with a setting the command does
// not take is not its problem; serve, which takes both, is refused.
func TestValidateOnlyBoundGroups(t *testing.T) {
	for _, c := range []struct {
		groups Group
		want   int
	}{{GroupCommon, 0}, {GroupServer, 1}, {AllGroups, 2}} {
		cfg, _, err := loadGroups(t, c.groups, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Server.HTTPAddr = cfg.Server.AdminAddr
		cfg.Kafka.Partitions = 0 // GroupMigrate: bound only with AllGroups
		if got := messages(cfg.Validate()); len(got) != c.want {
			t.Errorf("groups %b: %q, want %d errors", c.groups, got, c.want)
		}
	}
}

// TestGroups: every config flag has a group with a name in the help, and
// the groups partition the flags.
func TestGroups(t *testing.T) {
	all := GroupFlags(AllGroups)
	var union []string
	for _, g := range groupNames {
		names := GroupFlags(g.group)
		for _, n := range names {
			if group, _ := registry.Group(n); group == GroupCommon && g.group != GroupCommon {
				continue // every group's list includes the common ones
			}
			union = append(union, n)
			if GroupName(n) != g.name {
				t.Errorf("%s: group %q, want %q", n, GroupName(n), g.name)
			}
		}
	}
	slices.Sort(union)
	if !slices.Equal(union, all) {
		t.Fatalf("groups cover %v, want %v", union, all)
	}
	if GroupName("execute") != "" || GroupOrder("Kafka") < 0 {
		t.Fatal("GroupName or GroupOrder wrong")
	}
}

// TestDevLogin: signing in by name only on the embedded default, with the
// generated secret, on loopback.
func TestDevLogin(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want bool
	}{
		{"embedded default", nil, nil, true},
		{"localhost", []string{"--http-addr", "localhost:8080"}, nil, true},
		{"ipv6 loopback", []string{"--http-addr", "[::1]:8080"}, nil, true},
		{"every interface (the image)", []string{"--http-addr", "0.0.0.0:8080"}, nil, false},
		{"no host", []string{"--http-addr", ":8080"}, nil, false},
		{"a configured key", nil, map[string]string{"FEEDSVC_JWT_SECRET": strings.Repeat("k", 32)}, false},
		{"a real Redis", []string{"--redis-addr", "127.0.0.1:6379"}, nil, false},
		{"--dev-login on the embedded default", []string{"--dev-login"}, nil, true},
		{"--dev-login with a real Redis and a secret", []string{"--dev-login", "--redis-addr", "127.0.0.1:6379"}, map[string]string{"FEEDSVC_JWT_SECRET": strings.Repeat("k", 32)}, true},
		{"FEEDSVC_DEV_LOGIN with a secret", nil, map[string]string{"FEEDSVC_DEV_LOGIN": "true", "FEEDSVC_JWT_SECRET": strings.Repeat("k", 32)}, true},
		{"dev-login in the file with a secret", []string{"--config", "FILE"}, map[string]string{"FEEDSVC_JWT_SECRET": strings.Repeat("k", 32)}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if i := slices.Index(tt.args, "FILE"); i >= 0 {
				tt.args = slices.Clone(tt.args)
				tt.args[i] = writeFile(t, "dev-login: true\n")
			}
			c, _, err := load(t, tt.args, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
			if got := c.DevLogin(); got != tt.want {
				t.Fatalf("DevLogin() = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestDevLoginRefused: --dev-login is refused, naming the flag and why,
// wherever it would be a way around authentication: an API off loopback,
// an identity provider's key, or no secret to sign with.
func TestDevLoginRefused(t *testing.T) {
	secret := map[string]string{"FEEDSVC_JWT_SECRET": strings.Repeat("k", 32)}
	for _, tt := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"every interface", []string{"--dev-login", "--http-addr", "0.0.0.0:8080"}, nil, "needs --http-addr on loopback"},
		{"no host", []string{"--dev-login", "--http-addr", ":8080"}, secret, "needs --http-addr on loopback"},
		{"a public address", []string{"--dev-login", "--http-addr", "192.0.2.1:8080"}, secret, "needs --http-addr on loopback"},
		{"a JWKS", []string{"--dev-login", "--jwt-jwks-url", "https://idp.example/jwks"}, nil, "identity provider"},
		{"a public key", []string{"--dev-login", "--jwt-public-key", "idp.pem"}, secret, "identity provider"},
		{"no secret off the embedded default", []string{"--dev-login", "--redis-addr", "127.0.0.1:6379"}, nil, "needs an HS256 secret"},
		{"behind a reverse proxy", []string{"--dev-login", "--trusted-proxies", "10.0.0.0/8"}, nil, "--trusted-proxies"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := load(t, tt.args, tt.env)
			if err == nil {
				err = c.Validate()
			}
			if err == nil || !strings.Contains(err.Error(), "--dev-login (FEEDSVC_DEV_LOGIN): ") || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error of --dev-login with %q", err, tt.want)
			}
			if c.DevLogin() {
				t.Fatal("DevLogin() is on although refused")
			}
		})
	}
}
