// Package configs holds feedsvc's configuration: the Config struct, its
// defaults, its flags, and loading with precedence flags > environment
// (FEEDSVC_<FLAG>) > config file (--config, YAML) > defaults.
package configs

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"
)

// Config is everything a feedsvc process can be told.
type Config struct {
	ConfigFile string
	DataDir    string
	HTTPAddr   string
	LogLevel   string
	Pprof      bool
	NodeID     int

	KafkaBrokers     []string
	KafkaPartitions  int
	KafkaReplication int
	TopicPosts       string
	TopicFollows     string

	RedisAddr string

	CassandraHosts       []string
	CassandraKeyspace    string
	CassandraReplication string
	CassandraConsistency string

	FeedCap     int
	FanoutBatch int
	// CelebrityThreshold: authors with more followers are not fanned out on
	// write; followers merge their recent posts on read (0: never).
	CelebrityThreshold int
	// FeedInactiveAfter: a feed not read for this long expires, and fan-out
	// skips its owner until the next read rebuilds it (0: never).
	FeedInactiveAfter time.Duration
	// PostCacheSize and PostCacheTTL bound the api's cache of posts for
	// feed hydration (size 0: no cache).
	PostCacheSize   int
	PostCacheTTL    time.Duration
	JWTSecret       string
	JWTPublicKey    string
	ShutdownDrain   time.Duration
	ShutdownTimeout time.Duration

	ModerationBlocklist []string
	ModerationMaxLinks  int
	ModerationRate      int
	SearchTermCap       int
}

// EmbeddedKafka reports whether the broker runs in-process (no brokers given).
func (c *Config) EmbeddedKafka() bool { return len(c.KafkaBrokers) == 0 }

// EmbeddedRedis reports whether Redis runs in-process (no address given).
func (c *Config) EmbeddedRedis() bool { return c.RedisAddr == "" }

// EmbeddedStore reports whether the store is the embedded Pebble one (no
// Cassandra hosts given).
func (c *Config) EmbeddedStore() bool { return len(c.CassandraHosts) == 0 }

// Bind registers the common flags on fs, writing into c.
func (c *Config) Bind(fs *pflag.FlagSet) {
	fs.StringVar(&c.ConfigFile, "config", "", "YAML config file (keys are flag names)")
	fs.StringVar(&c.DataDir, "data-dir", "./data", "directory of the embedded broker, store and local JWT secret")
	fs.StringVar(&c.HTTPAddr, "http-addr", "127.0.0.1:8080", "HTTP listen address (API, /healthz, /readyz, /metrics)")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.BoolVar(&c.Pprof, "pprof", false, "serve Go's profiler under /debug/pprof/ on the HTTP address")
	fs.IntVar(&c.NodeID, "node-id", -1, "Snowflake node number 0-1023, unique per api process (default: derived from host and pid)")
	fs.StringSliceVar(&c.KafkaBrokers, "kafka-brokers", nil, "Kafka bootstrap brokers host:port,... (empty: embedded broker)")
	fs.IntVar(&c.KafkaPartitions, "kafka-partitions", 6, "partitions of topics created by migrate")
	fs.IntVar(&c.KafkaReplication, "kafka-replication", 1, "replication factor of topics created by migrate")
	fs.StringVar(&c.TopicPosts, "topic-posts", "feedsvc.posts", "topic of post events")
	fs.StringVar(&c.TopicFollows, "topic-follows", "feedsvc.follows", "topic of follow events")
	fs.StringVar(&c.RedisAddr, "redis-addr", "", "Redis host:port, or Redis Cluster nodes host:port,... (empty: embedded)")
	fs.StringSliceVar(&c.CassandraHosts, "cassandra-hosts", nil, "Cassandra contact points host[:port],... (empty: embedded Pebble store)")
	fs.StringVar(&c.CassandraKeyspace, "cassandra-keyspace", "feedsvc", "Cassandra keyspace")
	fs.StringVar(&c.CassandraReplication, "cassandra-replication", "{'class': 'SimpleStrategy', 'replication_factor': 1}", "keyspace replication used by migrate")
	fs.StringVar(&c.CassandraConsistency, "cassandra-consistency", "LOCAL_QUORUM", "Cassandra consistency level")
	fs.IntVar(&c.FeedCap, "feed-cap", 800, "posts kept per home feed")
	fs.IntVar(&c.FanoutBatch, "fanout-batch", 1000, "followers read and feed writes pipelined per batch")
	fs.IntVar(&c.CelebrityThreshold, "celebrity-threshold", 10000, "followers above which an author's posts are merged into feeds on read instead of fanned out (0: never)")
	fs.IntVar(&c.PostCacheSize, "post-cache-size", 100000, "posts the api keeps in memory for feed hydration (0: no cache)")
	fs.DurationVar(&c.PostCacheTTL, "post-cache-ttl", 5*time.Second, "how long a cached post may be served; bounds how late a delete or moderation made by another process shows")
	fs.DurationVar(&c.FeedInactiveAfter, "feed-inactive-after", 30*24*time.Hour, "a feed unread for this long expires and gets no fan-out until its owner returns (0: never)")
	fs.StringVar(&c.JWTSecret, "jwt-secret", "", "HS256 secret for bearer tokens (default: generated in the data dir)")
	fs.StringVar(&c.JWTPublicKey, "jwt-public-key", "", "PEM file of an RSA/ECDSA/Ed25519 public key to verify tokens (production)")
	fs.DurationVar(&c.ShutdownDrain, "shutdown-drain", 5*time.Second, "on SIGTERM, how long /readyz answers 503 while HTTP still serves, before roles stop")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 15*time.Second, "after the drain, how long roles and HTTP may take to stop before the process exits non-zero")
	fs.StringSliceVar(&c.ModerationBlocklist, "moderation-blocklist", nil, "blocked terms, phrases or re:<regexp> patterns (case- and accent-insensitive)")
	fs.IntVar(&c.ModerationMaxLinks, "moderation-max-links", 3, "links a post may carry before it counts as link spam (0: no limit)")
	fs.IntVar(&c.ModerationRate, "moderation-rate", 0, "posts an author may publish per minute before further ones are hidden (0: no limit)")
	fs.IntVar(&c.SearchTermCap, "search-term-cap", 10000, "newest posts kept per search term")
}

// EnvName is the environment variable that sets flag name.
func EnvName(flag string) string {
	return "FEEDSVC_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// Load fills every flag the command line did not set from the environment,
// then from the config file. Call it after parsing.
func Load(fs *pflag.FlagSet) error {
	file := map[string]any{}
	path, _ := fs.GetString("config")
	if path == "" {
		path = os.Getenv(EnvName("config"))
	}
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("read config: %w", err)
		}
		if err := yaml.Unmarshal(b, &file); err != nil {
			return fmt.Errorf("parse config %s: %w", path, err)
		}
		for k := range file {
			if fs.Lookup(k) == nil {
				return fmt.Errorf("config %s: unknown setting %q", path, k)
			}
		}
	}
	var errs []string
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed {
			return
		}
		v, ok := os.LookupEnv(EnvName(f.Name))
		if !ok {
			fv, inFile := file[f.Name]
			if !inFile {
				return
			}
			v = fileValue(fv)
		}
		if err := fs.Set(f.Name, v); err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", f.Name, err))
		}
	})
	if len(errs) > 0 {
		return fmt.Errorf("bad settings: %s", strings.Join(errs, "; "))
	}
	return nil
}

func fileValue(v any) string {
	if list, ok := v.([]any); ok {
		parts := make([]string, len(list))
		for i, x := range list {
			parts[i] = fmt.Sprint(x)
		}
		return strings.Join(parts, ",")
	}
	return fmt.Sprint(v)
}
