// Package cassandra is the production store: posts, users, the follow
// graph, notifications and moderation decisions on Apache Cassandra, through
// gocql. Migrate creates the schema (migrations.go says why each table is
// shaped as it is); Open refuses a keyspace that lacks a migration.
//
// Partitions that could grow large are split: author timelines by month,
// a user's followers over hashed buckets, decisions by month, and
// notifications expire. A user's following list is one partition.
package cassandra

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gocql/gocql"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/internal/setting"
)

// DefaultReplication is the keyspace replication used when Config.Replication
// is empty. It suits a single-node development cluster only; production
// should pass a NetworkTopologyStrategy map.
const DefaultReplication = "{'class': 'SimpleStrategy', 'replication_factor': 1}"

// DefaultTimeout is Config.Timeout when it is 0: at least Cassandra's own
// read timeout (5 s), so the server gives up first and says why.
const DefaultTimeout = 5 * time.Second

// Config says how to reach the cluster and which keyspace to use.
type Config struct {
	// Hosts are the contact points, "host" or "host:port".
	Hosts []string
	// Keyspace holds all feedsvc tables; Migrate creates it.
	Keyspace string
	// Replication is a CQL replication map literal used only when Migrate
	// creates the keyspace (DefaultReplication when empty).
	Replication string
	// Consistency is the consistency level name for reads and writes:
	// LOCAL_QUORUM, QUORUM, EACH_QUORUM or ALL (QUORUM when empty). Weaker
	// levels are refused, see MinConsistency.
	Consistency string
	// Timeout bounds connecting, writing a request and waiting for its
	// answer (DefaultTimeout when 0).
	Timeout time.Duration
	// Username and Password log in to a cluster with PasswordAuthenticator;
	// the password may come from PasswordFile instead.
	Username, Password, PasswordFile string
	// TLS encrypts the connections (client_encryption_options) and
	// verifies each node's certificate for the address dialled.
	TLS setting.TLS
}

// RegisterFlags registers cfg's settings: how to reach Cassandra, in
// setting.GroupStore, and the keyspace replication, which only migrate
// uses, in setting.GroupMigrate. Timeout is no flag.
func (cfg *Config) RegisterFlags(f setting.Flags) {
	store := f.In(setting.GroupStore)
	store.StringSlice(&cfg.Hosts, "Hosts", "cassandra-hosts", nil, "Cassandra contact points host[:port],... (empty: embedded Pebble store)")
	store.String(&cfg.Keyspace, "Keyspace", "cassandra-keyspace", "feedsvc", "Cassandra keyspace")
	f.In(setting.GroupMigrate).String(&cfg.Replication, "Replication", "cassandra-replication", DefaultReplication, "keyspace replication used by migrate")
	store.String(&cfg.Consistency, "Consistency", "cassandra-consistency", "LOCAL_QUORUM", "Cassandra consistency level")
	store.String(&cfg.Username, "Username", "cassandra-user", "", "Cassandra user (PasswordAuthenticator; empty: no login)")
	store.String(&cfg.Password, "Password", "cassandra-password", "", "Cassandra password; prefer FEEDSVC_CASSANDRA_PASSWORD or --cassandra-password-file")
	store.String(&cfg.PasswordFile, "PasswordFile", "cassandra-password-file", "", "file holding the Cassandra password")
	cfg.TLS.RegisterFlags(store.Sub("TLS"), "cassandra", "Cassandra")
}

// keyspacePattern is what Cassandra accepts as an unquoted keyspace name. The
// name is spliced into CQL text (identifiers cannot be bind markers), so it
// must be checked to rule out injection.
var keyspacePattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,47}$`)

// replicationPattern is a CQL map literal of quoted keys and quoted or
// numeric values. Replication is spliced into CREATE KEYSPACE as it is, so
// anything else (a semicolon, a second statement) is rejected.
var replicationPattern = regexp.MustCompile(`^\{\s*'[^']*'\s*:\s*(?:'[^']*'|\d+)(?:\s*,\s*'[^']*'\s*:\s*(?:'[^']*'|\d+))*\s*\}$`)

// Validate checks cfg as given (an empty Replication or Consistency means
// the default) and reports every invalid field, as *setting.Error values
// joined with errors.Join.
func (cfg Config) Validate() error {
	var errs []error
	if len(cfg.Hosts) == 0 {
		errs = append(errs, setting.Errorf("Hosts", "no hosts configured"))
	}
	for _, h := range cfg.Hosts {
		if err := validHost(h); err != nil {
			errs = append(errs, setting.Errorf("Hosts", "%v", err))
		}
	}
	if !keyspacePattern.MatchString(cfg.Keyspace) {
		errs = append(errs, setting.Errorf("Keyspace", "invalid keyspace name %q (letters, digits and _, starting with a letter, at most 48)", cfg.Keyspace))
	}
	if r := strings.TrimSpace(cfg.Replication); r != "" {
		if !replicationPattern.MatchString(r) || !strings.Contains(r, "'class'") {
			errs = append(errs, setting.Errorf("Replication", "%q is not a CQL replication map such as %s", cfg.Replication, DefaultReplication))
		}
	}
	if cfg.Consistency != "" {
		c, err := parseConsistency(cfg.Consistency)
		switch {
		case err != nil:
			errs = append(errs, setting.Errorf("Consistency", "unknown consistency level %q (%s)", cfg.Consistency, quorumLevels))
		case !quorumLevel(c):
			errs = append(errs, setting.Errorf("Consistency", "consistency level %s is weaker than %s: consumers must tell a deleted post from "+
				"one not replicated yet, which needs quorum writes and reads (%s)", c, MinConsistency, quorumLevels))
		}
	}
	if cfg.Timeout < 0 {
		errs = append(errs, setting.Errorf("Timeout", "%s is negative", cfg.Timeout))
	}
	if cfg.Password != "" && cfg.PasswordFile != "" {
		errs = append(errs, setting.Errorf("PasswordFile", "is set together with a password; give one"))
	}
	if (cfg.Password != "" || cfg.PasswordFile != "") && cfg.Username == "" {
		errs = append(errs, setting.Errorf("Username", "a password is set without a user name"))
	}
	if err := cfg.TLS.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// validHost accepts "host" and "host:port" (as gocql does), with a port
// 1-65535.
func validHost(h string) error {
	if strings.TrimSpace(h) == "" || strings.ContainsAny(h, " \t,") {
		return fmt.Errorf("%q is not a host or host:port", h)
	}
	if _, port, err := net.SplitHostPort(h); err == nil {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%q: port %q is not a number 1-65535", h, port)
		}
	}
	return nil
}

// MinConsistency is the weakest consistency level the store accepts.
//
// Consumers read what the api wrote (a post, its deletion record) and
// must not take "not there yet" for "deleted". A read sees a write only
// when the two overlap on a replica: R + W > RF, which quorum levels give
// and ONE, TWO, THREE, LOCAL_ONE and ANY do not. Raising only the
// consumers' reads would not be enough while writes could land on a single
// replica, so the level, which serves both, is refused instead.
const MinConsistency = gocql.LocalQuorum

const quorumLevels = "LOCAL_QUORUM, QUORUM, EACH_QUORUM or ALL"

// quorumLevel reports whether c is at least MinConsistency.
func quorumLevel(c gocql.Consistency) bool {
	switch c {
	case gocql.LocalQuorum, gocql.Quorum, gocql.EachQuorum, gocql.All:
		return true
	}
	return false
}

func parseConsistency(s string) (gocql.Consistency, error) {
	return gocql.ParseConsistencyWrapper(strings.ToUpper(strings.TrimSpace(s)))
}

// newCluster builds the gocql configuration shared by Open and Migrate.
// keyspace may be empty for a session that is not bound to a keyspace.
func newCluster(cfg Config, keyspace string, log *slog.Logger) (*gocql.ClusterConfig, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("cassandra: %w", err)
	}
	c := gocql.NewCluster(cfg.Hosts...)
	c.Keyspace = keyspace
	if log != nil {
		c.Logger = gocqlLogger{log}
	}
	c.Consistency = gocql.Quorum
	if cfg.Consistency != "" {
		c.Consistency, _ = parseConsistency(cfg.Consistency) // checked by Validate
	}
	// Lightweight transactions (Follow, Unfollow, EnsureUser) must stay in
	// the local data center when the regular consistency does, or a remote
	// DC outage would block them even though LOCAL_* reads still work.
	c.SerialConsistency = gocql.Serial
	if c.Consistency == gocql.LocalQuorum {
		c.SerialConsistency = gocql.LocalSerial
	}
	// gocql waits 11 s by default; a node that stopped answering must fail
	// a request within seconds (and with it an api request, as a 503).
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	c.Timeout = timeout
	c.ConnectTimeout = timeout
	c.WriteTimeout = timeout
	// Every plain statement this package runs is idempotent, so retrying on
	// another host is safe, and so is sending it there as well when its
	// coordinator is slow to answer (speculation, set by Store.query: this
	// timeout is as long as an api request's whole deadline, so a retry
	// after it comes too late). LWTs opt out of both (see lwt), because a
	// retried CAS could report "not applied" for a change its first attempt
	// made.
	c.RetryPolicy = &gocql.SimpleRetryPolicy{NumRetries: 2}
	// Replicas in random order: without it every statement of a partition
	// goes first to the same replica. When that node has just restarted
	// and is slow (cold, replaying hints), plain statements move on
	// (retry, speculation), but an LWT is neither retried nor speculated,
	// so a lease renewal or a follow of that partition failed for minutes
	// (issue #28: an outbox shard's events waited 2m20s after the heal).
	c.PoolConfig.HostSelectionPolicy = newQuorumGuard(gocql.TokenAwareHostPolicy(gocql.RoundRobinHostPolicy(), gocql.ShuffleReplicas()))
	// A node seen down is tried again this often (gocql: every 60 s), in
	// case its "up" event was missed: the guard counts it down meanwhile.
	c.ReconnectInterval = 5 * time.Second
	if cfg.Username != "" {
		password, err := setting.Secret(cfg.Password, cfg.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("cassandra: %w", err)
		}
		c.Authenticator = gocql.PasswordAuthenticator{Username: cfg.Username, Password: password}
	}
	tlsConfig, err := cfg.TLS.Config()
	if err != nil {
		return nil, fmt.Errorf("cassandra: %w", err)
	}
	if tlsConfig != nil {
		c.SslOpts = &gocql.SslOptions{Config: tlsConfig, EnableHostVerification: true}
	}
	return c, nil
}

// Store implements app.PostStore, app.Graph, app.NotificationStore and
// app.ModerationLog. It is safe for concurrent use.
type Store struct {
	session *gocql.Session
	log     *slog.Logger
	// consistency is the configured level, which Ping reads at.
	consistency gocql.Consistency
	// serial is the level of the LWTs, which completeEdge reads at (a
	// SerialConsistency has the protocol code of the Consistency).
	serial gocql.Consistency
	// guard cuts short the api's requests when a quorum is lost (bound).
	guard *quorumGuard
}

// Open connects to cfg.Keyspace and checks that every migration has been
// applied, so that a missing `feedsvc migrate` is reported at startup rather
// than as a query error on the first request.
func Open(ctx context.Context, cfg Config, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c, err := newCluster(cfg, cfg.Keyspace, log)
	if err != nil {
		return nil, err
	}
	session, err := c.CreateSession()
	if err != nil {
		err = fmt.Errorf("cassandra: connect to %s: %w", strings.Join(cfg.Hosts, ","), err)
		if refusedLogin(err) {
			// A setting to fix, not an outage to wait out.
			return nil, fmt.Errorf("%w (the cluster refused this client's login or TLS settings: check --cassandra-user, the password and --cassandra-tls-ca)", err)
		}
		// gocql reports a missing keyspace only as "no connections were
		// made" (the per-host USE errors go to its log), so ask the
		// cluster directly to give the operator the actual fix.
		if missing, probeErr := keyspaceMissing(ctx, cfg, log); probeErr == nil && missing {
			return nil, fmt.Errorf("cassandra: keyspace %q does not exist; run `feedsvc migrate` first (%w)", cfg.Keyspace, err)
		}
		// gocql flattens the cause into text (%v), so any other failure to
		// connect counts as the cluster being unavailable.
		return nil, fmt.Errorf("%w (%w)", err, app.ErrUnavailable)
	}
	guard := c.PoolConfig.HostSelectionPolicy.(*quorumGuard)
	s := &Store{session: session, log: log, consistency: c.Consistency, serial: gocql.Consistency(c.SerialConsistency), guard: guard}
	if err := s.checkMigrated(ctx, cfg.Keyspace); err != nil {
		session.Close()
		return nil, err
	}
	if err := guard.watch(ctx, session, cfg.Keyspace); err != nil {
		log.Warn("cassandra: keyspace replication unknown: requests wait for the coordinator's timeout when too few nodes are up", "err", err)
	}
	log.Info("cassandra: connected", "hosts", cfg.Hosts, "keyspace", cfg.Keyspace)
	return s, nil
}

// refusedLogin reports whether a failure to connect was the cluster
// refusing the credentials (or asking for some), or a certificate that did
// not verify. gocql flattens the cause into text, so the text decides.
func refusedLogin(err error) bool {
	msg := strings.ToLower(err.Error())
	for _, s := range []string{"authentication", "password are incorrect", "x509:", "certificate"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// keyspaceMissing reports whether the cluster is reachable but lacks
// cfg.Keyspace.
func keyspaceMissing(ctx context.Context, cfg Config, log *slog.Logger) (bool, error) {
	c, err := newCluster(cfg, "", log)
	if err != nil {
		return false, err
	}
	session, err := c.CreateSession()
	if err != nil {
		return false, err
	}
	defer session.Close()
	var name string
	err = session.Query(`SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = ?`, cfg.Keyspace).
		WithContext(ctx).Scan(&name)
	if errors.Is(err, gocql.ErrNotFound) {
		return true, nil
	}
	return false, err
}

// checkMigrated compares the versions recorded in schema_migrations with the
// migrations this binary knows.
func (s *Store) checkMigrated(ctx context.Context, keyspace string) error {
	applied, err := appliedVersions(ctx, s.session, keyspace)
	if err != nil {
		return failf("cassandra: read schema version of keyspace %q (run `feedsvc migrate`): %w", keyspace, err)
	}
	for _, m := range migrations {
		if !applied[m.version] {
			return fmt.Errorf("cassandra: keyspace %q lacks migration %d (%s); run `feedsvc migrate`", keyspace, m.version, m.name)
		}
	}
	return nil
}

// Close releases the connections.
func (s *Store) Close() error {
	s.session.Close()
	return nil
}

// bound cuts ctx short when a quorum is lost while a request of the api
// runs (see quorumGuard.bound); consumers and the relay retry anyway.
func (s *Store) bound(ctx context.Context) (context.Context, func(error) error) {
	if s.guard == nil {
		return ctx, func(err error) error { return err }
	}
	return s.guard.bound(ctx)
}

// Ping reads a row of the keyspace at the configured consistency, as the
// handlers do: a node-local read would pass while the replicas cannot reach
// that consistency (a LOCAL_QUORUM with two of three nodes down). A missing
// row still proves the read was served.
func (s *Store) Ping(ctx context.Context) error {
	var v int
	err := s.query(`SELECT version FROM schema_migrations WHERE version = ?`, migrations[0].version).
		WithContext(ctx).Consistency(s.consistency).Scan(&v)
	if err != nil && !errors.Is(err, gocql.ErrNotFound) {
		return failf("cassandra: ping: read at %s: %w", s.consistency, err)
	}
	return nil
}

// gocqlLogger sends gocql's log lines (connection failures, host up/down) to
// slog as warnings instead of the process-wide standard logger.
type gocqlLogger struct{ log *slog.Logger }

func (l gocqlLogger) Print(v ...any) {
	l.log.Warn(strings.TrimSpace(fmt.Sprint(v...)), "component", "gocql")
}
func (l gocqlLogger) Printf(format string, v ...any) {
	l.log.Warn(strings.TrimSpace(fmt.Sprintf(format, v...)), "component", "gocql")
}
func (l gocqlLogger) Println(v ...any) {
	l.log.Warn(strings.TrimSpace(fmt.Sprintln(v...)), "component", "gocql")
}
