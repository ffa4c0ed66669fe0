// Package configs holds feedsvc's configuration: the Config struct, its
// defaults, its flags, loading with precedence flags > environment
// (FEEDSVC_<FLAG>) > config file (--config, YAML) > defaults, and
// validation that reports every bad setting at once by flag and variable.
//
// Each adapter's settings are that adapter's own Config (cassandra.Config,
// redisstore.Config, events.Config, api.RateLimits), which registers its
// flags beside its struct through a setting.Flags (RegisterFlags, with the
// group of each) and checks itself (Validate); adapters never see pflag.
// This package's own structs register theirs the same way, next to them.
// The setting.Registry the flags are recorded in names the flag of a
// field an error reports and says which commands take a flag.
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

// RegisterFlags registers s's settings: the logging ones are common to
// every command, the stream limit is the api role's, the rest the
// serving process's.
func (s *ServerConfig) RegisterFlags(f setting.Flags) {
	server, common := f.In(GroupServer), f.In(GroupCommon)
	server.String(&s.HTTPAddr, "HTTPAddr", "http-addr", "127.0.0.1:8080", "HTTP listen address of the API, /healthz and /readyz")
	server.String(&s.AdminAddr, "AdminAddr", "admin-addr", "127.0.0.1:9090", "listen address of the operator's HTTP: /metrics, /debug/pprof (with --pprof), /readyz with the cause of a failure (empty: on --http-addr, which then must not face the internet)")
	common.String(&s.LogLevel, "LogLevel", "log-level", "info", "log level: debug, info, warn, error")
	common.String(&s.LogFormat, "LogFormat", "log-format", "auto", "log format: json, text, or auto (text when stderr is a terminal, else JSON)")
	server.Bool(&s.Pprof, "Pprof", "pprof", false, "serve Go's profiler under /debug/pprof/ on the admin address")
	server.Duration(&s.ShutdownDrain, "ShutdownDrain", "shutdown-drain", 5*time.Second, "on SIGTERM, how long /readyz answers 503 while HTTP still serves, before roles stop")
	server.Duration(&s.ShutdownTimeout, "ShutdownTimeout", "shutdown-timeout", 15*time.Second, "after the drain, how long roles and HTTP may take to stop before the process exits non-zero")
	server.Duration(&s.RequestTimeout, "RequestTimeout", "request-timeout", 5*time.Second, "deadline of each HTTP request; past it the client gets 503 with Retry-After")
	server.Bool(&s.DevLogin, "DevLogin", "dev-login", false, "let anyone sign in as any user name (POST /v1/dev/login, the web app's \"pick a name\") on configured backends too; only with --http-addr on loopback, an HS256 secret and no identity provider (always on for the embedded default on loopback); never in production")
	f.In(GroupRoles).Int(&s.MaxFeedStreams, "MaxFeedStreams", "max-feed-streams", 1000, "open feed streams (GET /v1/feed/stream, the web app's live updates) one api process holds; one more gets 503 (0: none)")
	server.StringSlice(&s.TrustedProxies, "TrustedProxies", "trusted-proxies", nil, "CIDRs of the reverse proxies in front of the api, whose X-Forwarded-For names the client (for per-IP limits); empty: the peer address is the client")
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
	// ViewCacheTTL is how long the api keeps a reader's blocks and mutes,
	// and posts' like and reply counts, between reads (0: read them at
	// every read).
	ViewCacheTTL time.Duration
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

// RegisterFlags registers f's settings, all of the roles but --feed-cap,
// which reading a cached feed needs: a Redis setting.
func (f *FeedsConfig) RegisterFlags(flags setting.Flags) {
	roles := flags.In(GroupRoles)
	roles.Int(&f.NodeID, "NodeID", "node-id", -1, "Snowflake node number 0-1023, unique per api process (default: any free one; either way leased from the store and renewed while the process runs)")
	roles.Duration(&f.OutboxPoll, "OutboxPoll", "outbox-poll", app.DefaultRelayPoll, "how often the api's outbox relay looks for events it was not handed (other api processes', or left by a crash)")
	roles.Duration(&f.PublishWait, "PublishWait", "publish-wait", app.DefaultDispatchWait, "how long a write waits for its event to reach Kafka before answering anyway (the write and its event are durable in the store either way)")
	flags.In(GroupRedis).Int(&f.Cap, "Cap", "feed-cap", 800, "posts kept per home feed (and list feed)")
	roles.Int(&f.FanoutBatch, "FanoutBatch", "fanout-batch", 1000, "followers read and feed writes pipelined per batch")
	roles.Int(&f.MaxFollowing, "MaxFollowing", "max-following", app.DefaultMaxFollowing, "users one user may follow; a follow past it gets 409 (0: no cap)")
	roles.Int(&f.CelebrityThreshold, "CelebrityThreshold", "celebrity-threshold", 10000, "followers above which an author's posts are merged into feeds on read instead of fanned out (0: never)")
	roles.Int(&f.PostCacheSize, "PostCacheSize", "post-cache-size", 100000, "posts the api keeps in memory for feed hydration (0: no cache)")
	roles.Duration(&f.PostCacheTTL, "PostCacheTTL", "post-cache-ttl", 5*time.Second, "how long a cached post may be served; bounds how late a delete or moderation made by another process shows")
	roles.Duration(&f.ViewCacheTTL, "ViewCacheTTL", "view-cache-ttl", 2*time.Second, "how long the api keeps a reader's blocks and mutes, and posts' like and reply counts, between reads; bounds how late a block, mute, like or reply made through another api process shows (0: read at every read)")
	roles.Duration(&f.InactiveAfter, "InactiveAfter", "feed-inactive-after", 30*24*time.Hour, "a feed unread for this long expires and gets no fan-out until its owner returns (0: never)")
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

// RegisterFlags registers a's settings, in GroupAuth.
func (a *AuthConfig) RegisterFlags(f setting.Flags) {
	f = f.In(GroupAuth)
	f.String(&a.JWTSecret, "JWTSecret", "jwt-secret", "", "HS256 secret for bearer tokens, at least 32 bytes; prefer FEEDSVC_JWT_SECRET or --jwt-secret-file, since a flag shows in the process list (default on the embedded default only: generated in the data dir)")
	f.String(&a.JWTSecretFile, "JWTSecretFile", "jwt-secret-file", "", "file holding the HS256 secret (surrounding whitespace ignored)")
	f.String(&a.JWTPublicKey, "JWTPublicKey", "jwt-public-key", "", "PEM file of an RSA/ECDSA/Ed25519 public key to verify tokens")
	f.String(&a.JWTJWKSURL, "JWTJWKSURL", "jwt-jwks-url", "", "an identity provider's JWKS endpoint: keys are fetched, cached and refreshed hourly and on an unknown kid")
	f.String(&a.JWTIssuer, "JWTIssuer", "jwt-issuer", "", "the iss tokens must carry (required outside the embedded default)")
	f.String(&a.JWTAudience, "JWTAudience", "jwt-audience", "", "an aud tokens must carry (required outside the embedded default)")
	f.Duration(&a.JWTLeeway, "JWTLeeway", "jwt-leeway", 30*time.Second, "clock skew allowed on a token's exp, nbf and iat")
	f.Duration(&a.JWTMaxLifetime, "JWTMaxLifetime", "jwt-max-lifetime", 24*time.Hour, "the longest a token may be valid for, iat to exp")
}

// ModerationConfig are the moderation rules (see app.ModerationRules).
type ModerationConfig struct {
	Blocklist []string
	MaxLinks  int
	Rate      int
}

// RegisterFlags registers m's settings, in GroupRoles.
func (m *ModerationConfig) RegisterFlags(f setting.Flags) {
	f = f.In(GroupRoles)
	f.StringSlice(&m.Blocklist, "Blocklist", "moderation-blocklist", nil, `blocked terms, phrases or re:<regexp> patterns (case- and accent-insensitive); quote an entry holding a comma as in CSV: 'spam,"re:bu{2,3}y"'`)
	f.Int(&m.MaxLinks, "MaxLinks", "moderation-max-links", 3, "links a post may carry before it counts as link spam (0: no limit)")
	f.Int(&m.Rate, "Rate", "moderation-rate", 0, "posts an author may publish per minute before further ones are hidden (0: no limit)")
}

// SearchConfig sizes the search index.
type SearchConfig struct {
	TermCap int
	// Retention bounds the index in time: posts older are not indexed,
	// nor found (0: every post, unbounded).
	Retention time.Duration
}

// RegisterFlags registers s's setting, in GroupRedis: the index is in
// Redis, and whatever writes it (the search role, feedsvc rebuild search)
// must trim it alike.
func (s *SearchConfig) RegisterFlags(f setting.Flags) {
	f = f.In(GroupRedis)
	f.Int(&s.TermCap, "TermCap", "search-term-cap", 10000, "newest posts kept per search term")
	f.Duration(&s.Retention, "Retention", "search-retention", 90*24*time.Hour, "how long a post stays searchable: older posts are not indexed, nor found, and their keys expire (0: forever, unbounded)")
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
	reg := setting.NewRegistry()
	c.registerFlags(setting.NewFlags(fs, reg))
	// Not a flag: bounds connecting and each request.
	c.Cassandra.Timeout = cassandra.DefaultTimeout
	c.all, c.groups, c.bound = fs, groups|GroupCommon, map[string]bool{}
	fs.VisitAll(func(f *pflag.Flag) {
		if g, _ := reg.Group(f.Name); c.groups&g != 0 {
			c.bound[f.Name] = true
			target.AddFlag(f)
		}
	})
}

// registerFlags registers every config flag, writing into c: c's own, and
// its parts' through their RegisterFlags, each beside its struct. The
// registry f records in is how an error of a part's Validate names its
// flag (named) and which commands take a flag (its group).
func (c *Config) registerFlags(f setting.Flags) {
	common := f.In(GroupCommon)
	common.String(&c.ConfigFile, "", "config", "", "YAML config file whose keys are the flag names, as in \"kafka-brokers: [k1:9092]\" (also FEEDSVC_CONFIG)")
	// Validate checks the data dir as the embedded store's (Pebble).
	common.String(&c.DataDir, "Pebble.Dir", "data-dir", "./data", "directory of the embedded broker, store and local JWT secret")

	c.Server.RegisterFlags(f.Sub("Server"))
	c.Feeds.RegisterFlags(f.Sub("Feeds"))

	c.Kafka.RegisterFlags(f.Sub("Kafka"))
	f.In(GroupConsumerGroups).String(&c.consumerGroupPrefix, "consumerGroupPrefix", "consumer-group-prefix", "", "the older name of --group-prefix, still accepted")
	c.Redis.RegisterFlags(f.Sub("Redis"))
	c.Cassandra.RegisterFlags(f.Sub("Cassandra"))

	c.Auth.RegisterFlags(f.Sub("Auth"))
	c.Moderation.RegisterFlags(f.Sub("Moderation"))
	c.Search.RegisterFlags(f.Sub("Search"))
	c.RateLimits.RegisterFlags(f.Sub("RateLimits"))
}

// registry records every config flag's field and group: the same for
// every Config, so one bound here serves all.
var registry = func() *setting.Registry {
	var c Config
	reg := setting.NewRegistry()
	c.registerFlags(setting.NewFlags(pflag.NewFlagSet("registry", pflag.ContinueOnError), reg))
	return reg
}()

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
			if flag, ok := registry.Flag(se.Field); ok {
				group, _ = registry.Group(flag)
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
			if flag, ok := registry.Flag(se.Field); ok {
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
	if f.ViewCacheTTL < 0 || f.ViewCacheTTL > time.Minute {
		errs = append(errs, setting.Errorf("ViewCacheTTL", "%s is not between 0 and 1m", f.ViewCacheTTL))
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
		u, err := url.Parse(a.JWTJWKSURL)
		switch {
		case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
			errs = append(errs, setting.Errorf("JWTJWKSURL", "%q is not an http(s) URL", a.JWTJWKSURL))
		case u.Scheme == "http" && !loopback(net.JoinHostPort(u.Hostname(), "0")):
			// Keys fetched in clear can be swapped on the way: whoever
			// does it signs tokens for anyone.
			errs = append(errs, setting.Errorf("JWTJWKSURL", "%q is plain http: give an https URL (http only to a loopback host)", a.JWTJWKSURL))
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
	var errs []error
	if s.TermCap <= 0 {
		errs = append(errs, setting.Errorf("TermCap", "%d is not positive", s.TermCap))
	}
	if s.Retention < 0 {
		errs = append(errs, setting.Errorf("Retention", "%s is negative (0: forever)", s.Retention))
	}
	return errors.Join(errs...)
}
