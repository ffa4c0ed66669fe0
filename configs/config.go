// Package configs holds feedsvc's configuration: the Config struct, its
// defaults, its flags, loading with precedence flags > environment
// (FEEDSVC_<FLAG>) > config file (--config, YAML) > defaults, and
// validation that reports every bad setting at once by flag and variable.
//
// Each adapter's settings are that adapter's own Config (cassandra.Config,
// redisstore.Config, events.Config), which checks itself; this package
// only binds their fields to flags, so adapters never see pflag.
package configs

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/events"
	"github.com/feedsvc/feedsvc/internal/setting"
	"github.com/feedsvc/feedsvc/roles/api"
	"github.com/feedsvc/feedsvc/store/cassandra"
	"github.com/feedsvc/feedsvc/store/pebble"
	redisstore "github.com/feedsvc/feedsvc/store/redis"
)

// Config is everything a feedsvc process can be told.
type Config struct {
	ConfigFile string
	// DataDir holds the embedded broker, the embedded store and the local
	// JWT secret.
	DataDir string

	Server     ServerConfig
	Feeds      FeedsConfig
	Auth       AuthConfig
	Moderation ModerationConfig
	Search     SearchConfig
	// RateLimits are the api's request limits, kept in Redis.
	RateLimits api.RateLimits

	// Kafka without brokers is the embedded broker.
	Kafka events.Config
	// Redis without addresses is the embedded Redis.
	Redis redisstore.Config
	// Cassandra without hosts is not used: the store is the embedded Pebble.
	Cassandra cassandra.Config

	// consumerGroupPrefix is --consumer-group-prefix, the older name of
	// --group-prefix (Kafka.GroupPrefix); Load merges it in.
	consumerGroupPrefix string

	// all holds every config flag, bound or not (it knows the file's keys);
	// groups are those the command uses, and bound names their flags: only
	// these (and the backend addresses, see selectors) are read from the
	// environment and the file, never a command's own flags (--execute).
	all    *pflag.FlagSet
	groups Group
	bound  map[string]bool
}

// ServerConfig is the process: HTTP, logging and shutdown.
type ServerConfig struct {
	HTTPAddr string
	// AdminAddr is the operator's listener (metrics, profiler, readiness
	// in detail); empty: those are served on HTTPAddr.
	AdminAddr string
	LogLevel  string
	// LogFormat is json, text, or auto: text on a terminal, else JSON.
	LogFormat string
	Pprof     bool
	// ShutdownDrain is how long /readyz answers 503 before roles stop;
	// ShutdownTimeout how long they may then take.
	ShutdownDrain   time.Duration
	ShutdownTimeout time.Duration
	// TrustedProxies are the CIDRs of the reverse proxies in front of the
	// api: a request from one is taken to come from the address in its
	// X-Forwarded-For (for per-IP limits); from anywhere else, the header
	// is ignored.
	TrustedProxies []string
	// RequestTimeout is the deadline of every HTTP request: the store,
	// Redis and Kafka calls made for it are cancelled, and the client gets
	// a 503 with Retry-After.
	RequestTimeout time.Duration
	// MaxFeedStreams bounds the open feed streams (Server-Sent Events) of
	// one api process; one more is refused with 503 (0: no streams).
	MaxFeedStreams int
	// DevLogin turns on dev login (anyone signs in as any name) outside
	// the embedded default too: on a loopback HTTPAddr with an HS256
	// secret and no identity provider, as Config.Validate checks.
	DevLogin bool
}

// Proxies are TrustedProxies parsed (Validate rejects what does not parse).
func (s ServerConfig) Proxies() []*net.IPNet {
	var nets []*net.IPNet
	for _, p := range s.TrustedProxies {
		if _, n, err := net.ParseCIDR(p); err == nil {
			nets = append(nets, n)
		}
	}
	return nets
}

// MaxRequestTimeout stays under the HTTP server's read timeout (a minute,
// in roles.Lifecycle), past which net/http cancels a request as if its
// client had gone.
const MaxRequestTimeout = 30 * time.Second

// FeedsConfig sizes home feeds, fan-out and the post cache.
type FeedsConfig struct {
	Cap         int
	FanoutBatch int
	// MaxFollowing caps the users one user may follow (0: no cap).
	MaxFollowing int
	// CelebrityThreshold: authors with more followers are not fanned out on
	// write; followers merge their recent posts on read (0: never).
	CelebrityThreshold int
	// InactiveAfter: a feed not read for this long expires, and fan-out
	// skips its owner until the next read rebuilds it (0: never).
	InactiveAfter time.Duration
	// PostCacheSize and PostCacheTTL bound the api's cache of posts for
	// feed hydration (size 0: no cache).
	PostCacheSize int
	PostCacheTTL  time.Duration
	// NodeID is the Snowflake node, 0-app.MaxNodeID, or -1 to lease one
	// from the store.
	NodeID int
	// OutboxPoll is how often the api's relay looks for outbox records it
	// was not handed (other processes', or from before a crash);
	// PublishWait how long a write waits for its event to be published
	// before it answers anyway (it is durable in the store either way).
	OutboxPoll  time.Duration
	PublishWait time.Duration
}

// AuthConfig says how bearer tokens are verified (and issued); see
// api.TokenConfig.
type AuthConfig struct {
	JWTSecret      string
	JWTSecretFile  string
	JWTPublicKey   string
	JWTJWKSURL     string
	JWTIssuer      string
	JWTAudience    string
	JWTLeeway      time.Duration
	JWTMaxLifetime time.Duration
}

// ModerationConfig are the moderation rules (see app.ModerationRules).
type ModerationConfig struct {
	Blocklist []string
	MaxLinks  int
	Rate      int
}

// SearchConfig sizes the search index.
type SearchConfig struct {
	TermCap int
}

// EmbeddedKafka reports whether the broker runs in-process (no brokers given).
func (c *Config) EmbeddedKafka() bool { return len(c.Kafka.Brokers) == 0 }

// EmbeddedRedis reports whether Redis runs in-process (no address given).
func (c *Config) EmbeddedRedis() bool { return len(c.Redis.Addrs) == 0 }

// EmbeddedStore reports whether the store is the embedded Pebble one (no
// Cassandra hosts given).
func (c *Config) EmbeddedStore() bool { return len(c.Cassandra.Hosts) == 0 }

// Pebble is the embedded store's configuration: it lives in the data dir.
func (c *Config) Pebble() pebble.Config { return pebble.Config{Dir: c.DataDir} }

// Bind registers every config flag on target, writing into c: what serve
// takes.
func (c *Config) Bind(target *pflag.FlagSet) { c.BindGroups(target, AllGroups) }

// BindGroups registers the flags of groups (and GroupCommon's) on target,
// writing into c. The other settings keep their defaults, but for the
// backend addresses, which Load reads anyway (see selectors); Validate
// checks only groups.
func (c *Config) BindGroups(target *pflag.FlagSet, groups Group) {
	fs := pflag.NewFlagSet("config", pflag.ContinueOnError)
	defer func() {
		c.all, c.groups, c.bound = fs, groups|GroupCommon, map[string]bool{}
		fs.VisitAll(func(f *pflag.Flag) {
			if c.groups&groupOf(f.Name) != 0 {
				c.bound[f.Name] = true
				target.AddFlag(f)
			}
		})
	}()
	fs.StringVar(&c.ConfigFile, "config", "", "YAML config file whose keys are the flag names, as in \"kafka-brokers: [k1:9092]\" (also FEEDSVC_CONFIG)")
	fs.StringVar(&c.DataDir, "data-dir", "./data", "directory of the embedded broker, store and local JWT secret")

	fs.StringVar(&c.Server.HTTPAddr, "http-addr", "127.0.0.1:8080", "HTTP listen address of the API, /healthz and /readyz")
	fs.StringVar(&c.Server.AdminAddr, "admin-addr", "127.0.0.1:9090", "listen address of the operator's HTTP: /metrics, /debug/pprof (with --pprof), /readyz with the cause of a failure (empty: on --http-addr, which then must not face the internet)")
	fs.StringVar(&c.Server.LogLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&c.Server.LogFormat, "log-format", "auto", "log format: json, text, or auto (text when stderr is a terminal, else JSON)")
	fs.BoolVar(&c.Server.Pprof, "pprof", false, "serve Go's profiler under /debug/pprof/ on the admin address")
	fs.DurationVar(&c.Server.ShutdownDrain, "shutdown-drain", 5*time.Second, "on SIGTERM, how long /readyz answers 503 while HTTP still serves, before roles stop")
	fs.DurationVar(&c.Server.ShutdownTimeout, "shutdown-timeout", 15*time.Second, "after the drain, how long roles and HTTP may take to stop before the process exits non-zero")
	fs.DurationVar(&c.Server.RequestTimeout, "request-timeout", 5*time.Second, "deadline of each HTTP request; past it the client gets 503 with Retry-After")
	fs.BoolVar(&c.Server.DevLogin, "dev-login", false, "let anyone sign in as any user name (POST /v1/dev/login, the web app's \"pick a name\") on configured backends too; only with --http-addr on loopback, an HS256 secret and no identity provider (always on for the embedded default on loopback); never in production")
	fs.IntVar(&c.Server.MaxFeedStreams, "max-feed-streams", 1000, "open feed streams (GET /v1/feed/stream, the web app's live updates) one api process holds; one more gets 503 (0: none)")

	fs.IntVar(&c.Feeds.NodeID, "node-id", -1, "Snowflake node number 0-1023, unique per api process (default: any free one; either way leased from the store and renewed while the process runs)")
	fs.DurationVar(&c.Feeds.OutboxPoll, "outbox-poll", app.DefaultRelayPoll, "how often the api's outbox relay looks for events it was not handed (other api processes', or left by a crash)")
	fs.DurationVar(&c.Feeds.PublishWait, "publish-wait", app.DefaultDispatchWait, "how long a write waits for its event to reach Kafka before answering anyway (the write and its event are durable in the store either way)")
	fs.IntVar(&c.Feeds.Cap, "feed-cap", 800, "posts kept per home feed")
	fs.IntVar(&c.Feeds.FanoutBatch, "fanout-batch", 1000, "followers read and feed writes pipelined per batch")
	fs.IntVar(&c.Feeds.MaxFollowing, "max-following", app.DefaultMaxFollowing, "users one user may follow; a follow past it gets 409 (0: no cap)")
	fs.IntVar(&c.Feeds.CelebrityThreshold, "celebrity-threshold", 10000, "followers above which an author's posts are merged into feeds on read instead of fanned out (0: never)")
	fs.IntVar(&c.Feeds.PostCacheSize, "post-cache-size", 100000, "posts the api keeps in memory for feed hydration (0: no cache)")
	fs.DurationVar(&c.Feeds.PostCacheTTL, "post-cache-ttl", 5*time.Second, "how long a cached post may be served; bounds how late a delete or moderation made by another process shows")
	fs.DurationVar(&c.Feeds.InactiveAfter, "feed-inactive-after", 30*24*time.Hour, "a feed unread for this long expires and gets no fan-out until its owner returns (0: never)")

	fs.StringSliceVar(&c.Kafka.Brokers, "kafka-brokers", nil, "Kafka bootstrap brokers host:port,... (empty: embedded broker)")
	fs.IntVar(&c.Kafka.Partitions, "kafka-partitions", events.DefaultPartitions, "partitions of topics created by migrate")
	fs.IntVar(&c.Kafka.Replication, "kafka-replication", events.DefaultReplication, "replication factor of topics created by migrate")
	fs.StringVar(&c.Kafka.Topics.Posts, "topic-posts", events.DefaultTopicPosts, "topic of post events")
	fs.StringVar(&c.Kafka.Topics.Follows, "topic-follows", events.DefaultTopicFollows, "topic of follow events")
	fs.IntVar(&c.Kafka.ConsumerLanes, "consumer-lanes", events.DefaultLanes, "events of one partition a consumer handles at once, one key's (author's, follower's) in order")
	fs.StringVar(&c.Kafka.GroupPrefix, "group-prefix", "", "put before every consumer group name (the role's: fanout, search, ...), so deployments can share a Kafka cluster (give each its own topics too); the operator commands' --group takes the role's name")
	fs.StringVar(&c.consumerGroupPrefix, "consumer-group-prefix", "", "the older name of --group-prefix, still accepted")

	fs.StringVar(&c.Kafka.SASL.Mechanism, "kafka-sasl-mechanism", "", "SASL mechanism to log in to Kafka: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (empty: no SASL)")
	fs.StringVar(&c.Kafka.SASL.User, "kafka-sasl-user", "", "Kafka SASL user")
	fs.StringVar(&c.Kafka.SASL.Password, "kafka-sasl-password", "", "Kafka SASL password; prefer FEEDSVC_KAFKA_SASL_PASSWORD or --kafka-sasl-password-file, since a flag shows in the process list")
	fs.StringVar(&c.Kafka.SASL.PasswordFile, "kafka-sasl-password-file", "", "file holding the Kafka SASL password")
	bindTLS(fs, &c.Kafka.TLS, "kafka", "Kafka")

	fs.Var((*addrList)(&c.Redis.Addrs), "redis-addr", "Redis host:port, or Redis Cluster nodes host:port,... (empty: embedded)")
	fs.StringVar(&c.Redis.Username, "redis-user", "", "Redis ACL user (empty: the default user)")
	fs.StringVar(&c.Redis.Password, "redis-password", "", "Redis password (requirepass or the ACL user's); prefer FEEDSVC_REDIS_PASSWORD or --redis-password-file")
	fs.StringVar(&c.Redis.PasswordFile, "redis-password-file", "", "file holding the Redis password")
	fs.StringVar(&c.Redis.KeyPrefix, "redis-key-prefix", "", "put before every Redis key, outside its {hash tag} (prod: gives prod:feed:{alice}), so deployments can share a Redis or Redis Cluster; letters, digits, '.', '_', '-' and ':', at most 64 (empty: no prefix, the keys of before)")
	bindTLS(fs, &c.Redis.TLS, "redis", "Redis")

	fs.StringSliceVar(&c.Cassandra.Hosts, "cassandra-hosts", nil, "Cassandra contact points host[:port],... (empty: embedded Pebble store)")
	fs.StringVar(&c.Cassandra.Keyspace, "cassandra-keyspace", "feedsvc", "Cassandra keyspace")
	fs.StringVar(&c.Cassandra.Replication, "cassandra-replication", cassandra.DefaultReplication, "keyspace replication used by migrate")
	fs.StringVar(&c.Cassandra.Consistency, "cassandra-consistency", "LOCAL_QUORUM", "Cassandra consistency level")
	fs.StringVar(&c.Cassandra.Username, "cassandra-user", "", "Cassandra user (PasswordAuthenticator; empty: no login)")
	fs.StringVar(&c.Cassandra.Password, "cassandra-password", "", "Cassandra password; prefer FEEDSVC_CASSANDRA_PASSWORD or --cassandra-password-file")
	fs.StringVar(&c.Cassandra.PasswordFile, "cassandra-password-file", "", "file holding the Cassandra password")
	bindTLS(fs, &c.Cassandra.TLS, "cassandra", "Cassandra")
	// Not a flag: bounds connecting and each request.
	c.Cassandra.Timeout = cassandra.DefaultTimeout

	fs.StringVar(&c.Auth.JWTSecret, "jwt-secret", "", "HS256 secret for bearer tokens, at least 32 bytes; prefer FEEDSVC_JWT_SECRET or --jwt-secret-file, since a flag shows in the process list (default on the embedded default only: generated in the data dir)")
	fs.StringVar(&c.Auth.JWTSecretFile, "jwt-secret-file", "", "file holding the HS256 secret (surrounding whitespace ignored)")
	fs.StringVar(&c.Auth.JWTPublicKey, "jwt-public-key", "", "PEM file of an RSA/ECDSA/Ed25519 public key to verify tokens")
	fs.StringVar(&c.Auth.JWTJWKSURL, "jwt-jwks-url", "", "an identity provider's JWKS endpoint: keys are fetched, cached and refreshed hourly and on an unknown kid")
	fs.StringVar(&c.Auth.JWTIssuer, "jwt-issuer", "", "the iss tokens must carry (required outside the embedded default)")
	fs.StringVar(&c.Auth.JWTAudience, "jwt-audience", "", "an aud tokens must carry (required outside the embedded default)")
	fs.DurationVar(&c.Auth.JWTLeeway, "jwt-leeway", 30*time.Second, "clock skew allowed on a token's exp, nbf and iat")
	fs.DurationVar(&c.Auth.JWTMaxLifetime, "jwt-max-lifetime", 24*time.Hour, "the longest a token may be valid for, iat to exp")

	fs.StringSliceVar(&c.Moderation.Blocklist, "moderation-blocklist", nil, `blocked terms, phrases or re:<regexp> patterns (case- and accent-insensitive); quote an entry holding a comma as in CSV: 'spam,"re:bu{2,3}y"'`)
	fs.IntVar(&c.Moderation.MaxLinks, "moderation-max-links", 3, "links a post may carry before it counts as link spam (0: no limit)")
	fs.IntVar(&c.Moderation.Rate, "moderation-rate", 0, "posts an author may publish per minute before further ones are hidden (0: no limit)")

	fs.IntVar(&c.Search.TermCap, "search-term-cap", 10000, "newest posts kept per search term")

	c.RateLimits = api.DefaultRateLimits()
	fs.Var((*limitValue)(&c.RateLimits.Posts), "rate-limit-posts", "posts one user may create: <requests>/<window>, all at once after a quiet spell, then at that rate (off: no limit)")
	fs.Var((*limitValue)(&c.RateLimits.Follows), "rate-limit-follows", "follows and unfollows one user may make, together (off: no limit)")
	fs.Var((*limitValue)(&c.RateLimits.Searches), "rate-limit-searches", "searches one user may make (off: no limit)")
	fs.Var((*limitValue)(&c.RateLimits.AuthFailures), "rate-limit-auth-failures", "requests without a valid token one client IP may make before it gets 429 instead of 401 (off: no limit)")
	fs.StringSliceVar(&c.Server.TrustedProxies, "trusted-proxies", nil, "CIDRs of the reverse proxies in front of the api, whose X-Forwarded-For names the client (for per-IP limits); empty: the peer address is the client")
}

// bindTLS registers a backend's client TLS flags: --NAME-tls,
// --NAME-tls-ca, --NAME-tls-cert and --NAME-tls-key.
func bindTLS(fs *pflag.FlagSet, t *setting.TLS, name, what string) {
	fs.BoolVar(&t.Enabled, name+"-tls", false, "connect to "+what+" over TLS (implied by --"+name+"-tls-ca or --"+name+"-tls-cert), verifying its certificate")
	fs.StringVar(&t.CAFile, name+"-tls-ca", "", "PEM file of the CAs "+what+"'s certificate must chain to (empty: the system's)")
	fs.StringVar(&t.CertFile, name+"-tls-cert", "", "PEM client certificate for "+what+" (mutual TLS), with --"+name+"-tls-key")
	fs.StringVar(&t.KeyFile, name+"-tls-key", "", "PEM key of --"+name+"-tls-cert")
}

// limitValue is a rate limit flag: "<requests>/<window>", or "off".
type limitValue app.Limit

func (l *limitValue) String() string { return app.Limit(*l).String() }
func (l *limitValue) Type() string   { return "limit" }

func (l *limitValue) Set(s string) error {
	v, err := app.ParseLimit(s)
	if err != nil {
		return err
	}
	*l = limitValue(v)
	return nil
}

// flagOf maps a field path of Config to the flag that sets it, so that an
// error a sub-config reports for a field names the flag and its variable.
var flagOf = map[string]string{
	"Pebble.Dir":               "data-dir",
	"Server.HTTPAddr":          "http-addr",
	"Server.AdminAddr":         "admin-addr",
	"Server.LogLevel":          "log-level",
	"Server.LogFormat":         "log-format",
	"Server.Pprof":             "pprof",
	"Server.ShutdownDrain":     "shutdown-drain",
	"Server.ShutdownTimeout":   "shutdown-timeout",
	"Server.RequestTimeout":    "request-timeout",
	"Server.MaxFeedStreams":    "max-feed-streams",
	"Server.DevLogin":          "dev-login",
	"Server.TrustedProxies":    "trusted-proxies",
	"Feeds.NodeID":             "node-id",
	"Feeds.Cap":                "feed-cap",
	"Feeds.OutboxPoll":         "outbox-poll",
	"Feeds.PublishWait":        "publish-wait",
	"Feeds.FanoutBatch":        "fanout-batch",
	"Feeds.MaxFollowing":       "max-following",
	"Feeds.CelebrityThreshold": "celebrity-threshold",
	"Feeds.PostCacheSize":      "post-cache-size",
	"Feeds.PostCacheTTL":       "post-cache-ttl",
	"Feeds.InactiveAfter":      "feed-inactive-after",
	"Kafka.Brokers":            "kafka-brokers",
	"Kafka.Partitions":         "kafka-partitions",
	"Kafka.Replication":        "kafka-replication",
	"Kafka.Topics.Posts":       "topic-posts",
	"Kafka.Topics.Follows":     "topic-follows",
	"Kafka.GroupPrefix":        "group-prefix",
	"consumerGroupPrefix":      "consumer-group-prefix",
	"Redis.KeyPrefix":          "redis-key-prefix",
	"Kafka.ConsumerLanes":      "consumer-lanes",
	"Kafka.SASL.Mechanism":     "kafka-sasl-mechanism",
	"Kafka.SASL.User":          "kafka-sasl-user",
	"Kafka.SASL.PasswordFile":  "kafka-sasl-password-file",
	"Kafka.TLS.CertFile":       "kafka-tls-cert",
	"Redis.Username":           "redis-user",
	"Redis.PasswordFile":       "redis-password-file",
	"Redis.TLS.CertFile":       "redis-tls-cert",
	"Cassandra.Username":       "cassandra-user",
	"Cassandra.PasswordFile":   "cassandra-password-file",
	"Cassandra.TLS.CertFile":   "cassandra-tls-cert",
	"Kafka.TLS.Enabled":        "kafka-tls",
	"Kafka.TLS.CAFile":         "kafka-tls-ca",
	"Kafka.TLS.KeyFile":        "kafka-tls-key",
	"Redis.TLS.Enabled":        "redis-tls",
	"Redis.TLS.CAFile":         "redis-tls-ca",
	"Redis.TLS.KeyFile":        "redis-tls-key",
	"Cassandra.TLS.Enabled":    "cassandra-tls",
	"Cassandra.TLS.CAFile":     "cassandra-tls-ca",
	"Cassandra.TLS.KeyFile":    "cassandra-tls-key",
	"Kafka.SASL.Password":      "kafka-sasl-password",
	"Redis.Password":           "redis-password",
	"Cassandra.Password":       "cassandra-password",
	"Redis.Addrs":              "redis-addr",
	"Cassandra.Hosts":          "cassandra-hosts",
	"Cassandra.Keyspace":       "cassandra-keyspace",
	"Cassandra.Replication":    "cassandra-replication",
	"Cassandra.Consistency":    "cassandra-consistency",
	"Auth.JWTSecret":           "jwt-secret",
	"Auth.JWTSecretFile":       "jwt-secret-file",
	"Auth.JWTPublicKey":        "jwt-public-key",
	"Auth.JWTJWKSURL":          "jwt-jwks-url",
	"Auth.JWTIssuer":           "jwt-issuer",
	"Auth.JWTAudience":         "jwt-audience",
	"Auth.JWTLeeway":           "jwt-leeway",
	"Auth.JWTMaxLifetime":      "jwt-max-lifetime",
	"Moderation.Blocklist":     "moderation-blocklist",
	"Moderation.MaxLinks":      "moderation-max-links",
	"Moderation.Rate":          "moderation-rate",
	"Search.TermCap":           "search-term-cap",
	"RateLimits.Posts":         "rate-limit-posts",
	"RateLimits.Follows":       "rate-limit-follows",
	"RateLimits.Searches":      "rate-limit-searches",
	"RateLimits.AuthFailures":  "rate-limit-auth-failures",
}

// EnvName is the environment variable that sets flag name.
func EnvName(flag string) string {
	return "FEEDSVC_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// Validate checks the settings of the groups bound (every setting when c was
// not bound) and returns all problems at once (joined with errors.Join),
// each naming its flag and environment variable, e.g.
// "--node-id (FEEDSVC_NODE_ID): 5000 is out of range 0-1023". A command is
// not refused for a setting it does not use.
func (c *Config) Validate() error {
	// An empty address list selects the embedded backend, so the adapter's
	// "none configured" does not apply; an empty list has no other error.
	embedded := map[string]bool{
		"Kafka.Brokers":   c.EmbeddedKafka(),
		"Redis.Addrs":     c.EmbeddedRedis(),
		"Cassandra.Hosts": c.EmbeddedStore(),
	}
	var errs []error
	// Security settings of an embedded backend would be ignored: say so
	// rather than run without what the operator asked for.
	for _, e := range []struct {
		group    Group
		embedded bool
		set      bool
		flag     string
	}{
		{GroupKafka, c.EmbeddedKafka(), c.Kafka.TLS.On() || c.Kafka.SASL.Mechanism != "", "--kafka-tls/--kafka-sasl-*"},
		{GroupRedis, c.EmbeddedRedis(), c.Redis.TLS.On() || c.Redis.Username != "" || c.Redis.Password != "" || c.Redis.PasswordFile != "", "--redis-tls/--redis-user/--redis-password"},
		{GroupStore, c.EmbeddedStore(), c.Cassandra.TLS.On() || c.Cassandra.Username != "", "--cassandra-tls/--cassandra-user"},
	} {
		if c.uses(e.group) && e.embedded && e.set {
			errs = append(errs, fmt.Errorf("%s: set for an embedded backend, which has no TLS or login; give the server's address too", e.flag))
		}
	}
	for _, g := range []struct {
		name  string
		group Group // of the errors that name no flag
		err   error
	}{
		{"Pebble", GroupCommon, c.Pebble().Validate()},
		{"Server", GroupServer, c.Server.Validate()},
		{"Feeds", GroupRoles, c.Feeds.Validate()},
		{"Auth", GroupAuth, c.Auth.Validate()},
		{"Moderation", GroupRoles, c.Moderation.Validate()},
		{"Search", GroupRoles, c.Search.Validate()},
		{"Kafka", GroupKafka, c.Kafka.Validate()},
		{"Redis", GroupRedis, c.Redis.Validate()},
		{"Cassandra", GroupStore, c.Cassandra.Validate()},
	} {
		for _, err := range setting.Flatten(setting.Prefix(g.name, g.err)) {
			var se *setting.Error
			if !errors.As(err, &se) {
				if c.uses(g.group) {
					errs = append(errs, fmt.Errorf("%s: %w", strings.ToLower(g.name), err))
				}
				continue
			}
			group := g.group
			if flag, ok := flagOf[se.Field]; ok {
				group = groupOf(flag)
			}
			if embedded[se.Field] || !c.uses(group) {
				continue
			}
			errs = append(errs, named(err))
		}
	}
	if c.uses(GroupServer) && c.Server.DevLogin {
		if err := c.validateDevLogin(); err != nil {
			errs = append(errs, named(err))
		}
	}
	return errors.Join(errs...)
}

// named rewrites the *setting.Error values in err (fields of Config) to
// name their flag and environment variable.
func named(err error) error {
	var errs []error
	for _, err := range setting.Flatten(err) {
		var se *setting.Error
		if errors.As(err, &se) {
			if flag, ok := flagOf[se.Field]; ok {
				err = fmt.Errorf("--%s (%s): %s", flag, EnvName(flag), se.Msg)
			}
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Validate reports every invalid field as *setting.Error values.
func (s ServerConfig) Validate() error {
	var errs []error
	if err := listenAddr(s.HTTPAddr); err != nil {
		errs = append(errs, setting.Errorf("HTTPAddr", "%v", err))
	}
	if s.AdminAddr != "" {
		if err := listenAddr(s.AdminAddr); err != nil {
			errs = append(errs, setting.Errorf("AdminAddr", "%v", err))
		} else if s.AdminAddr == s.HTTPAddr && !strings.HasSuffix(s.AdminAddr, ":0") {
			errs = append(errs, setting.Errorf("AdminAddr", "%q is also --http-addr; give it a port of its own, or leave it empty to serve both on one", s.AdminAddr))
		}
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(s.LogLevel)); err != nil {
		errs = append(errs, setting.Errorf("LogLevel", "%q is not debug, info, warn or error", s.LogLevel))
	}
	if !slices.Contains([]string{"auto", "json", "text"}, s.LogFormat) {
		errs = append(errs, setting.Errorf("LogFormat", "%q is not json, text or auto", s.LogFormat))
	}
	if s.ShutdownDrain < 0 {
		errs = append(errs, setting.Errorf("ShutdownDrain", "%s is negative", s.ShutdownDrain))
	}
	if s.ShutdownTimeout <= 0 {
		errs = append(errs, setting.Errorf("ShutdownTimeout", "%s is not positive", s.ShutdownTimeout))
	}
	if s.MaxFeedStreams < 0 {
		errs = append(errs, setting.Errorf("MaxFeedStreams", "%d is negative (0: no streams)", s.MaxFeedStreams))
	}
	if s.RequestTimeout <= 0 || s.RequestTimeout > MaxRequestTimeout {
		errs = append(errs, setting.Errorf("RequestTimeout", "%s is out of range (0s, %s]", s.RequestTimeout, MaxRequestTimeout))
	}
	for _, p := range s.TrustedProxies {
		if _, _, err := net.ParseCIDR(p); err != nil {
			errs = append(errs, setting.Errorf("TrustedProxies", "%q is not a CIDR such as 10.0.0.0/8", p))
		}
	}
	return errors.Join(errs...)
}

// listenAddr accepts what net.Listen("tcp") does with a numeric port: the
// host may be empty (all interfaces) and the port 0 (any free port).
func listenAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q: port %q is not a number 0-65535", addr, port)
	}
	return nil
}

// Validate reports every invalid field as *setting.Error values.
func (f FeedsConfig) Validate() error {
	var errs []error
	if f.NodeID != -1 && (f.NodeID < 0 || f.NodeID > app.MaxNodeID) {
		// app.NewIDGen would take it modulo 1024: two processes could
		// share a node and mint the same IDs.
		errs = append(errs, setting.Errorf("NodeID", "%d is out of range 0-%d (-1: lease one from the store)", f.NodeID, app.MaxNodeID))
	}
	if f.Cap <= 0 {
		errs = append(errs, setting.Errorf("Cap", "%d is not positive", f.Cap))
	}
	if f.OutboxPoll < 10*time.Millisecond || f.OutboxPoll > time.Minute {
		errs = append(errs, setting.Errorf("OutboxPoll", "%s is not between 10ms and 1m", f.OutboxPoll))
	}
	if f.PublishWait < 0 || f.PublishWait > 10*time.Second {
		errs = append(errs, setting.Errorf("PublishWait", "%s is not between 0 and 10s", f.PublishWait))
	}
	if f.FanoutBatch <= 0 {
		errs = append(errs, setting.Errorf("FanoutBatch", "%d is not positive", f.FanoutBatch))
	}
	if f.MaxFollowing < 0 {
		errs = append(errs, setting.Errorf("MaxFollowing", "%d is negative (0: no cap)", f.MaxFollowing))
	}
	if f.CelebrityThreshold < 0 {
		errs = append(errs, setting.Errorf("CelebrityThreshold", "%d is negative (0: never)", f.CelebrityThreshold))
	}
	// Redis expires keys in whole milliseconds: a shorter positive value
	// would round to 0, which the adapter takes as "never".
	if f.InactiveAfter < 0 || (f.InactiveAfter > 0 && f.InactiveAfter < time.Millisecond) {
		errs = append(errs, setting.Errorf("InactiveAfter", "%s is neither 0 (never) nor at least 1ms", f.InactiveAfter))
	}
	if f.PostCacheSize < 0 {
		errs = append(errs, setting.Errorf("PostCacheSize", "%d is negative (0: no cache)", f.PostCacheSize))
	}
	switch {
	case f.PostCacheTTL < 0:
		errs = append(errs, setting.Errorf("PostCacheTTL", "%s is negative", f.PostCacheTTL))
	case f.PostCacheTTL == 0 && f.PostCacheSize > 0:
		// The cache takes a TTL of 0 as "never expire", so deletes made
		// elsewhere would never show.
		errs = append(errs, setting.Errorf("PostCacheTTL", "0 would serve cached posts forever; turn the cache off with --post-cache-size 0 instead"))
	}
	return errors.Join(errs...)
}

// minSecret is the shortest HS256 secret accepted: RFC 7518 (3.2) asks for
// a key at least as long as the hash output.
const minSecret = 32

// maxLeeway bounds --jwt-leeway: more would accept tokens long expired.
const maxLeeway = 5 * time.Minute

// Validate reports every invalid field as *setting.Error values. Key files
// are read when the service starts, not here, so that a config written for
// another host still validates.
func (a AuthConfig) Validate() error {
	var errs []error
	if a.JWTSecret != "" && len(a.JWTSecret) < minSecret {
		errs = append(errs, setting.Errorf("JWTSecret", "is %d bytes, shorter than %d", len(a.JWTSecret), minSecret))
	}
	if a.JWTSecret != "" && a.JWTSecretFile != "" {
		errs = append(errs, setting.Errorf("JWTSecretFile", "is set together with --jwt-secret; give one"))
	}
	for field, v := range map[string]string{"JWTPublicKey": a.JWTPublicKey, "JWTSecretFile": a.JWTSecretFile} {
		if v != "" && strings.TrimSpace(v) == "" {
			errs = append(errs, setting.Errorf(field, "%q is not a file name", v))
		}
	}
	if a.JWTJWKSURL != "" {
		if u, err := url.Parse(a.JWTJWKSURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, setting.Errorf("JWTJWKSURL", "%q is not an http(s) URL", a.JWTJWKSURL))
		}
	}
	if a.JWTLeeway < 0 || a.JWTLeeway > maxLeeway {
		errs = append(errs, setting.Errorf("JWTLeeway", "%s is out of range [0s, %s]", a.JWTLeeway, maxLeeway))
	}
	if a.JWTMaxLifetime <= 0 {
		errs = append(errs, setting.Errorf("JWTMaxLifetime", "%s is not positive", a.JWTMaxLifetime))
	}
	return errors.Join(errs...)
}

// EmbeddedDefault reports whether every backend is the embedded one: the
// laptop default, the only place a token secret may be generated.
func (c *Config) EmbeddedDefault() bool {
	return c.EmbeddedKafka() && c.EmbeddedRedis() && c.EmbeddedStore()
}

// DevLogin reports whether the api may sign a token for any name asked
// (the web app's "pick a name"): on the embedded default with the
// generated secret (no key of a real identity provider configured), or
// with --dev-login, and either way listening on loopback alone, so that an
// image run with its HTTP port published (0.0.0.0) never offers it.
func (c *Config) DevLogin() bool {
	if c.Server.DevLogin {
		return c.validateDevLogin() == nil
	}
	a := c.Auth
	if !c.EmbeddedDefault() || a.JWTSecret != "" || a.JWTSecretFile != "" || a.JWTPublicKey != "" || a.JWTJWKSURL != "" ||
		len(c.Server.TrustedProxies) > 0 {
		return false
	}
	return loopback(c.Server.HTTPAddr)
}

// validateDevLogin says why --dev-login may not be on: it must never be a
// way around authentication in production, so the API must listen on
// loopback alone (a caller who reaches it could run `feedsvc token` as
// well), tokens must be signed with a secret this process holds (the
// embedded default's generated one, or --jwt-secret), and no identity
// provider may be configured (its users would sign in as anyone).
func (c *Config) validateDevLogin() error {
	a := c.Auth
	var errs []error
	if !loopback(c.Server.HTTPAddr) {
		errs = append(errs, setting.Errorf("Server.DevLogin", "needs --http-addr on loopback (127.0.0.1, ::1 or localhost), not %q: anyone who reaches the API could sign in as anyone", c.Server.HTTPAddr))
	}
	if len(c.Server.TrustedProxies) > 0 {
		errs = append(errs, setting.Errorf("Server.DevLogin", "is set with --trusted-proxies: a reverse proxy forwards to the loopback listener, so it would be reachable from wherever the proxy is"))
	}
	if a.JWTPublicKey != "" || a.JWTJWKSURL != "" {
		errs = append(errs, setting.Errorf("Server.DevLogin", "is set with an identity provider (--jwt-public-key or --jwt-jwks-url): its users sign in there, never by name"))
	} else if a.JWTSecret == "" && a.JWTSecretFile == "" && !c.EmbeddedDefault() {
		errs = append(errs, setting.Errorf("Server.DevLogin", "needs an HS256 secret to sign its tokens (--jwt-secret-file or FEEDSVC_JWT_SECRET)"))
	}
	return errors.Join(errs...)
}

// loopback reports whether addr's host is a loopback address or localhost.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ValidateTokens checks what a process that verifies or issues tokens needs
// outside the embedded default: a key given (no generated secret), an
// issuer and an audience. Each problem names its flag, all at once.
func (c *Config) ValidateTokens() error {
	if c.EmbeddedDefault() {
		return nil
	}
	a := c.Auth
	var errs []error
	if a.JWTSecret == "" && a.JWTSecretFile == "" && a.JWTPublicKey == "" && a.JWTJWKSURL == "" {
		errs = append(errs, setting.Errorf("Auth.JWTSecretFile", "no token key: outside the embedded default, give --jwt-secret-file (or FEEDSVC_JWT_SECRET), --jwt-public-key or --jwt-jwks-url; a secret is generated in the data dir only on the embedded default"))
	}
	if a.JWTIssuer == "" {
		errs = append(errs, setting.Errorf("Auth.JWTIssuer", "is required outside the embedded default"))
	}
	if a.JWTAudience == "" {
		errs = append(errs, setting.Errorf("Auth.JWTAudience", "is required outside the embedded default"))
	}
	return named(errors.Join(errs...))
}

// Validate reports every invalid field as *setting.Error values.
func (m ModerationConfig) Validate() error {
	var errs []error
	for _, entry := range m.Blocklist {
		// As app.NewModerator reads an entry.
		entry = strings.TrimSpace(entry)
		if p, ok := strings.CutPrefix(entry, "re:"); ok {
			if _, err := regexp.Compile(p); err != nil {
				errs = append(errs, setting.Errorf("Blocklist", "pattern %q does not compile: %v", entry, err))
			}
		}
	}
	if m.MaxLinks < 0 {
		errs = append(errs, setting.Errorf("MaxLinks", "%d is negative (0: no limit)", m.MaxLinks))
	}
	if m.Rate < 0 {
		errs = append(errs, setting.Errorf("Rate", "%d is negative (0: no limit)", m.Rate))
	}
	return errors.Join(errs...)
}

// Rules are the moderation rules app.NewModerator takes.
func (m ModerationConfig) Rules() app.ModerationRules {
	return app.ModerationRules{Blocklist: m.Blocklist, MaxLinks: m.MaxLinks, MaxPerMinute: m.Rate}
}

// Validate reports every invalid field as *setting.Error values.
func (s SearchConfig) Validate() error {
	if s.TermCap <= 0 {
		return setting.Errorf("TermCap", "%d is not positive", s.TermCap)
	}
	return nil
}

// addrList is --redis-addr: one string flag (its help and
// docs/configuration.md say "host:port,...") holding a list. It is a pflag.SliceValue, so a YAML
// list sets it element by element.
type addrList []string

func (a *addrList) String() string { return strings.Join(*a, ",") }
func (a *addrList) Type() string   { return "string" }

func (a *addrList) Set(s string) error {
	if strings.TrimSpace(s) == "" {
		*a = nil // embedded
		return nil
	}
	return a.Replace(strings.Split(s, ","))
}

func (a *addrList) Append(s string) error { *a = append(*a, strings.TrimSpace(s)); return nil }

func (a *addrList) Replace(list []string) error {
	*a = nil
	for _, x := range list {
		*a = append(*a, strings.TrimSpace(x))
	}
	return nil
}

func (a *addrList) GetSlice() []string { return *a }
