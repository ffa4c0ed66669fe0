package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/feedsvc/feedsvc/internal/setting"
)

// Config says how to reach Redis.
type Config struct {
	// Addrs is one "host:port", or several Redis Cluster nodes: rueidis
	// detects a cluster by itself, so the same setting serves both.
	Addrs []string
	// Embedded selects the options the in-process miniredis needs; it
	// serves a single address.
	Embedded bool
	// Timeout bounds connecting and waiting for an answer (DefaultTimeout
	// when 0).
	Timeout time.Duration
	// Username and Password authenticate (an ACL user, or only a password
	// for requirepass); the password may come from PasswordFile instead.
	Username, Password, PasswordFile string
	// TLS encrypts the connections and verifies the server.
	TLS setting.TLS
	// KeyPrefix is put before every key (see Keys), so that deployments
	// can share a Redis: "prod:" gives "prod:feed:{alice}". Empty: the
	// keys of a deployment without a prefix.
	KeyPrefix string
}

// RegisterFlags registers cfg's settings, all in setting.GroupRedis
// (Timeout is no flag).
func (cfg *Config) RegisterFlags(f setting.Flags) {
	f = f.In(setting.GroupRedis)
	f.Var((*addrList)(&cfg.Addrs), "Addrs", "redis-addr", "Redis host:port, or Redis Cluster nodes host:port,... (empty: embedded)")
	f.String(&cfg.Username, "Username", "redis-user", "", "Redis ACL user (empty: the default user)")
	f.String(&cfg.Password, "Password", "redis-password", "", "Redis password (requirepass or the ACL user's); prefer FEEDSVC_REDIS_PASSWORD or --redis-password-file")
	f.String(&cfg.PasswordFile, "PasswordFile", "redis-password-file", "", "file holding the Redis password")
	f.String(&cfg.KeyPrefix, "KeyPrefix", "redis-key-prefix", "", "put before every Redis key, outside its {hash tag} (prod: gives prod:feed:{alice}), so deployments can share a Redis or Redis Cluster; letters, digits, '.', '_', '-' and ':', at most 64 (empty: no prefix, the keys of before)")
	cfg.TLS.RegisterFlags(f.Sub("TLS"), "redis", "Redis")
}

// addrList is --redis-addr: one string flag (its help and
// docs/configuration.md say "host:port,...") holding a list. It is a
// pflag.SliceValue, so a YAML list sets it element by element.
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

// DefaultTimeout is Config.Timeout when it is 0: Redis answers in
// milliseconds, so seconds without an answer mean it is gone.
const DefaultTimeout = 3 * time.Second

// Validate reports every invalid field as *setting.Error values joined with
// errors.Join.
func (cfg Config) Validate() error {
	var errs []error
	if len(cfg.Addrs) == 0 {
		errs = append(errs, setting.Errorf("Addrs", "no address configured"))
	}
	seen := map[string]bool{}
	for _, a := range cfg.Addrs {
		if err := setting.HostPort(a); err != nil {
			errs = append(errs, setting.Errorf("Addrs", "%v", err))
		} else if seen[a] {
			errs = append(errs, setting.Errorf("Addrs", "%q is listed twice", a))
		}
		seen[a] = true
	}
	if cfg.Timeout < 0 {
		errs = append(errs, setting.Errorf("Timeout", "%s is negative", cfg.Timeout))
	}
	if cfg.Password != "" && cfg.PasswordFile != "" {
		errs = append(errs, setting.Errorf("PasswordFile", "is set together with a password; give one"))
	}
	if err := cfg.TLS.Validate(); err != nil {
		errs = append(errs, err)
	}
	if len(cfg.KeyPrefix) > MaxKeyPrefix || !keyPrefixPattern.MatchString(cfg.KeyPrefix) {
		errs = append(errs, setting.Errorf("KeyPrefix", "%q is not a key prefix (letters, digits, '.', '_', '-' and ':', at most %d; no '{' or '}', which would move keys to other cluster slots)", cfg.KeyPrefix, MaxKeyPrefix))
	}
	if cfg.Embedded && len(cfg.Addrs) > 1 {
		errs = append(errs, setting.Errorf("Addrs", "the embedded Redis has one address, got %d", len(cfg.Addrs)))
	}
	return errors.Join(errs...)
}

// Open validates cfg and connects to Redis. The client's results carry
// app.ErrUnavailable when Redis is down, cannot serve or did not answer
// within cfg.Timeout; the adapters of this package keep it when they wrap
// them. The client carries cfg.KeyPrefix: every adapter given it builds
// its keys with KeysOf(client). rueidis takes no context and
// logs nothing through slog, so ctx and log are unused; they are taken like
// every adapter's Open.
func Open(_ context.Context, cfg Config, _ *slog.Logger) (rueidis.Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	password, err := setting.Secret(cfg.Password, cfg.PasswordFile)
	if err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	tlsConfig, err := cfg.TLS.Config()
	if err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	return dial(strings.Join(cfg.Addrs, ","), cfg.Embedded, timeout, NewKeys(cfg.KeyPrefix), func(o *rueidis.ClientOption) {
		o.Username, o.Password, o.TLSConfig = cfg.Username, password, tlsConfig
	})
}
