// Package wiring is the composition root: the only place that knows which
// adapter backs which port and what decorates it (the post cache, the
// counted and signaling feeds). It opens what the selected roles need (the
// embedded backend when no address is configured, the production one
// otherwise), builds the roles from the table, with the hidden rows they
// need (the node lease, the outbox relay), and runs their lifecycle.
package wiring

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/rueidis"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/configs"
	"github.com/feedsvc/feedsvc/events"
	"github.com/feedsvc/feedsvc/internal/buildinfo"
	"github.com/feedsvc/feedsvc/internal/httpserver"
	"github.com/feedsvc/feedsvc/internal/progress"
	"github.com/feedsvc/feedsvc/internal/telemetry"
	"github.com/feedsvc/feedsvc/roles"
	"github.com/feedsvc/feedsvc/roles/api"
	"github.com/feedsvc/feedsvc/store/cassandra"
	"github.com/feedsvc/feedsvc/store/pebble"
	"github.com/feedsvc/feedsvc/store/postcache"
	redisstore "github.com/feedsvc/feedsvc/store/redis"
)

// Store is what the service needs from a store adapter.
type Store interface {
	roles.Store
	app.NodeLeases
	app.UserScanner
	Ping(context.Context) error
	Close() error
}

// Backends are the open connections of one process: only those its roles
// need are set.
type Backends struct {
	Store  Store
	Redis  rueidis.Client
	Caches roles.Caches
	// Kafka is the cluster the process talks to (the embedded broker's
	// when none is configured).
	Kafka     events.Cluster
	Publisher *events.Producer
	// Checkpoints is set for a real Redis (see openRedis).
	Checkpoints *redisstore.Checkpoints

	// What runs in this process (recorded in the serve file): the
	// embedded broker's and Redis's addresses, whether the embedded store
	// is open, and whether the data dir is locked.
	embeddedKafka []string
	embeddedRedis string
	embeddedStore bool
	locked        bool

	closers []func() // run in reverse order
	checks  map[string]func(context.Context) error
}

// Close closes everything that was opened, last opened first.
func (b *Backends) Close() {
	for _, c := range slices.Backward(b.closers) {
		c()
	}
}

// Check is the outcome of one readiness check: a backend ("store",
// "redis", "kafka") and its error, nil when it answered.
type Check struct {
	Name string
	Err  error
}

// Checks checks every dependency that was opened, in name order.
func (b *Backends) Checks(ctx context.Context) []Check {
	var out []Check
	for _, name := range slices.Sorted(maps.Keys(b.checks)) {
		out = append(out, Check{Name: name, Err: b.checks[name](ctx)})
	}
	return out
}

// Ready checks every dependency that was opened.
func (b *Backends) Ready(ctx context.Context) error { return checksErr(b.Checks(ctx)) }

// checksErr joins the failed checks' errors, each named by its backend.
func checksErr(cs []Check) error {
	var errs []error
	for _, c := range cs {
		if c.Err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c.Name, c.Err))
		}
	}
	return errors.Join(errs...)
}

// Topics are the configured topics.
func Topics(cfg *configs.Config) events.Topics { return cfg.Kafka.Topics }

// Open connects to (or starts) what needs asks for.
func Open(ctx context.Context, cfg *configs.Config, log *slog.Logger, needs roles.Needs) (_ *Backends, err error) {
	b := &Backends{checks: map[string]func(context.Context) error{}}
	defer func() {
		if err != nil {
			b.Close() // what was opened before the failure
		}
	}()
	// The data dir first: a second process on the same dir fails here,
	// before touching anything else.
	if (needs.Store && cfg.EmbeddedStore()) || (needs.Kafka() && cfg.EmbeddedKafka()) {
		unlock, err := LockDataDir(cfg.DataDir)
		if err != nil {
			return nil, err
		}
		b.closers = append(b.closers, unlock)
		b.locked = true
		// Holding the lock, no serve runs here: a serve file left by a
		// killed one would name its dead ports until this process (if a
		// serve) writes its own.
		_ = os.Remove(filepath.Join(cfg.DataDir, ServeFileName))
	}
	if needs.Store {
		if b.Store, err = OpenStore(ctx, cfg, log); err != nil {
			return nil, err
		}
		b.embeddedStore = cfg.EmbeddedStore()
		b.closers = append(b.closers, func() { _ = b.Store.Close() })
		b.checks["store"] = b.Store.Ping
	}
	if needs.Redis {
		if err := b.openRedis(ctx, cfg, log); err != nil {
			return nil, err
		}
	}
	if needs.Kafka() {
		if err := b.openKafka(ctx, cfg, log, needs.Producer, needs.Consumer); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func (b *Backends) openRedis(ctx context.Context, cfg *configs.Config, log *slog.Logger) error {
	rc := cfg.Redis
	if cfg.EmbeddedRedis() {
		m := miniredis.NewMiniRedis()
		if err := m.StartAddr("127.0.0.1:0"); err != nil {
			return fmt.Errorf("start embedded redis: %w", err)
		}
		b.closers = append(b.closers, m.Close)
		rc = redisstore.Config{Addrs: []string{m.Addr()}, Embedded: true, KeyPrefix: cfg.Redis.KeyPrefix}
		b.embeddedRedis = m.Addr()
		log.Info("embedded redis (in memory; feeds are rebuilt from the store after a restart)", "addr", m.Addr())
	}
	client, err := redisstore.Open(ctx, rc, log)
	if err != nil {
		return err
	}
	b.closers = append(b.closers, client.Close)
	b.Redis = client
	f := cfg.Feeds
	feeds := redisstore.NewFeeds(client, f.Cap, f.InactiveAfter)
	b.Caches = roles.Caches{
		Feeds:        feeds,
		ListFeeds:    feeds,
		Unfollows:    feeds,
		RebuildLocks: feeds,
		Timelines:    redisstore.NewTimelines(client, f.Cap, f.InactiveAfter),
		Celebrities:  redisstore.NewCelebrities(client, f.InactiveAfter),
		Analytics:    redisstore.NewAnalytics(client),
		Search:       redisstore.NewSearch(client, cfg.Search.TermCap, cfg.Search.Retention),
		Limiter:      redisstore.NewRateLimiter(client),
		Tickets:      redisstore.NewTickets(client),
		Signals:      redisstore.NewFeedSignals(client, log),
	}
	b.checks["redis"] = feeds.Ping
	if !cfg.EmbeddedRedis() {
		// The embedded Redis lives and dies with this process: nothing can
		// bring back an older copy of it, and it starts empty, which
		// RebuildFromLog and the rebuild of a missing feed on read cover.
		b.Checkpoints = redisstore.NewCheckpoints(client)
	}
	return nil
}

func (b *Backends) openKafka(ctx context.Context, cfg *configs.Config, log *slog.Logger, producer, consumer bool) error {
	kc := cfg.Kafka
	if cfg.EmbeddedKafka() {
		k, err := events.StartEmbedded(cfg.DataDir)
		if err != nil {
			return err
		}
		b.closers = append(b.closers, k.Close)
		kc.Brokers = k.Addrs()
		b.embeddedKafka = kc.Brokers
		// The embedded broker is this process's own: create its topics
		// now, on its single node.
		kc.Replication = 1
		if err := events.EnsureTopics(events.Cluster{Brokers: kc.Brokers}, kc.Topics, kc.TopicSpec()); err != nil {
			return err
		}
		log.Info("embedded kafka", "addr", kc.Brokers, "dir", cfg.DataDir)
	}
	cluster, err := kc.Cluster()
	if err != nil {
		return err
	}
	// A wrong password or CA fails startup; Kafka being down does not.
	if err := events.CheckLogin(cluster, 5*time.Second); err != nil {
		return err
	}
	b.Kafka = cluster
	if consumer {
		// Only consumers need Kafka to work: the api's writes wait in the
		// outbox while it is down, so an api process stays ready (and in
		// its load balancer's rotation) through a Kafka outage.
		health, err := events.NewHealth(b.Kafka)
		if err != nil {
			return err
		}
		b.closers = append(b.closers, func() { _ = health.Close() })
		b.checks["kafka"] = health.Ping
	}
	if producer {
		p, err := events.OpenProducer(ctx, kc, log)
		if err != nil {
			return err
		}
		// Closed after the roles stopped (closers run in reverse), so it
		// flushes what they published.
		b.closers = append(b.closers, func() { _ = p.Close() })
		b.Publisher = p
	}
	return nil
}

// OpenStore opens the embedded Pebble store or connects to Cassandra.
func OpenStore(ctx context.Context, cfg *configs.Config, log *slog.Logger) (Store, error) {
	if !cfg.EmbeddedStore() {
		s, err := cassandra.Open(ctx, cfg.Cassandra, log)
		if err != nil {
			return nil, err // not a nil *cassandra.Store inside a non-nil Store
		}
		return s, nil
	}
	s, err := pebble.Open(ctx, cfg.Pebble(), log)
	if err != nil {
		return nil, fmt.Errorf("%w (is another feedsvc running on data dir %s?)", err, cfg.DataDir)
	}
	log.Info("embedded store", "dir", cfg.DataDir)
	return s, nil
}

// Serve runs the selected rows until ctx ends: it opens what they need,
// listens on the configured HTTP address and runs their lifecycle.
func Serve(ctx context.Context, cfg *configs.Config, log *slog.Logger, rows roles.Rows) (err error) {
	stopTracing, err := telemetry.Setup(ctx, rows.Names(), log)
	if err != nil {
		return err
	}
	defer func() {
		// The spans of the last moments go out before the process exits.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if serr := stopTracing(sctx); serr != nil {
			log.Warn("tracing: spans not flushed", "err", serr)
		}
	}()
	if rows.Needs().HTTP {
		// A bad key file fails here, before anything is opened. Run builds
		// the checker it serves with; this one's JWKS refreshes stop now.
		vctx, cancel := context.WithCancel(ctx)
		_, err := Tokens(vctx, cfg, log)
		cancel()
		if err != nil {
			return err
		}
	}
	b, err := Open(ctx, cfg, log, rows.Needs())
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Server.HTTPAddr)
	if err != nil {
		b.Close()
		return fmt.Errorf("http: listen %s: %w", cfg.Server.HTTPAddr, err)
	}
	var admin net.Listener
	if cfg.Server.AdminAddr == "" && !loopbackListener(ln) {
		// Said at start, not found later: whoever reaches the public port
		// reads the metrics, the operator's view and the readiness causes.
		log.Warn("no --admin-addr: /metrics, /ops and the detailed /readyz are served on the public listener",
			"http", ln.Addr().String())
	}
	if cfg.Server.AdminAddr != "" {
		if admin, err = net.Listen("tcp", cfg.Server.AdminAddr); err != nil {
			ln.Close()
			b.Close()
			return fmt.Errorf("admin http: listen %s: %w", cfg.Server.AdminAddr, err)
		}
	}
	removeServeFile := func() {}
	if b.locked || b.embeddedRedis != "" || b.embeddedStore {
		// The operator commands on this data dir reach what runs here
		// through the addresses it records.
		f := ServeFile{PID: os.Getpid(), StartedAt: time.Now().UTC(), Roles: rows.Names(), Locked: b.locked,
			KafkaBrokers: b.embeddedKafka, RedisAddr: b.embeddedRedis, Store: b.embeddedStore,
			HTTPAddr: ln.Addr().String(), AdminAddr: ln.Addr().String()}
		if admin != nil {
			f.AdminAddr = admin.Addr().String()
		}
		if remove, err := writeServeFile(cfg.DataDir, f); err != nil {
			log.Warn("the operator commands will not find this process's embedded backends", "err", err)
		} else {
			removeServeFile = remove
		}
	}
	err = Run(ctx, cfg, log, b, rows, ln, admin)
	// Before the backends close: once they are gone, no command finds
	// their addresses.
	removeServeFile()
	if errors.Is(err, roles.ErrShutdownTimeout) {
		// Something may still be running on the backends: closing them
		// under it could hang again or panic; the process exits instead.
		return err
	}
	b.Close()
	return err
}

// Run builds the rows on open backends and runs them, serving HTTP on ln,
// until ctx ends. The hidden rows the roles need (hiddenRows: the node
// lease, the outbox relay) run with them. If any row cannot be built,
// nothing runs. admin, when not nil, serves the operator's routes
// (metrics, profiler, readiness in detail); without it they are on ln.
func Run(ctx context.Context, cfg *configs.Config, log *slog.Logger, b *Backends, rows roles.Rows, ln, admin net.Listener) (err error) {
	defer ln.Close()
	if admin != nil {
		defer admin.Close()
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildinfo.Read().Collector())
	if b.Publisher != nil {
		b.Publisher.Instrument(reg) // feedsvc_publish_seconds and _errors_total
	}
	h := &hidden{cfg: cfg, log: log, b: b, reg: reg}
	lc := &roles.Lifecycle{Drain: cfg.Server.ShutdownDrain, Timeout: cfg.Server.ShutdownTimeout, Log: log}
	// A process that serves the api is ready while it can take posts: with
	// its store (and node lease, h.ready). Its Redis or Kafka down only
	// degrades it: posts wait in the outbox, reads fail, and dropping out
	// of rotation would stop posting as well. A process of consumers alone
	// needs each backend it opened.
	serves := rows.Needs().HTTP
	checks := newCheckLog(b.Checks, func(name string) bool { return !serves || name == "store" }, reg)
	ready := lc.Ready(h.ready(checks.ready))
	opts := []httpserver.Option{httpserver.WithRequestTimeout(cfg.Server.RequestTimeout),
		httpserver.WithTrustedProxies(cfg.Server.Proxies()), httpserver.WithStreams(api.StreamPath)}
	if admin == nil {
		opts = append(opts, httpserver.WithOperatorRoutes(cfg.Server.Pprof))
	}
	router := httpserver.New(log, reg, ready, opts...)
	operator := router
	if admin != nil {
		operator = httpserver.NewAdmin(log, reg, ready, cfg.Server.Pprof)
		if loopbackListener(admin) {
			// On loopback (the default) a web page the operator visits
			// could reach the admin routes by DNS rebinding; scrapers on
			// this host name it by address or localhost. Elsewhere the
			// network decides (deploy/k8s: a NetworkPolicy).
			operator.Use(httpserver.AddressedHost)
		}
		lc.AdminListener, lc.AdminHandler = admin, operator
	}
	if b.embeddedStore {
		storeRoutes(operator, b.Store)
	}
	view := &opsView{cfg: cfg, log: log, b: b, rows: rows, ready: ready, checks: checks, started: time.Now().UTC()}
	if err := opsRoutes(operator, view); err != nil {
		return err
	}
	needs := rows.Needs()
	d := &roles.Deps{
		Log: log,
		Settings: roles.Settings{
			FeedCap: cfg.Feeds.Cap, FanoutBatch: cfg.Feeds.FanoutBatch, CelebrityThreshold: cfg.Feeds.CelebrityThreshold,
			PublishWait: cfg.Feeds.PublishWait, MaxFollowing: cfg.Feeds.MaxFollowing, ViewCacheTTL: cfg.Feeds.ViewCacheTTL, Moderation: cfg.Moderation.Rules(),
			RateLimits: cfg.RateLimits, MaxFeedStreams: feedStreams(cfg.Server.MaxFeedStreams),
		},
		Metrics: reg,
		Caches:  decorate(b.Caches, reg, log),
		API:     roles.APIDeps{HTTP: router},
		Consumers: roles.ConsumerDeps{
			Kafka:       b.Kafka,
			Topics:      Topics(cfg),
			GroupPrefix: cfg.Kafka.GroupPrefix,
			Lanes:       cfg.Kafka.ConsumerLanes,
			Healthy:     b.Ready,
		},
	}
	// Assigned only when opened: a nil pointer in an interface is not nil.
	if b.Store != nil {
		d.Store = b.Store
		if needs.HTTP && cfg.Feeds.PostCacheSize > 0 {
			// The api hydrates feeds from memory first.
			d.API.Posts = postcache.New(b.Store, cfg.Feeds.PostCacheSize, cfg.Feeds.PostCacheTTL)
		}
	}
	if b.Publisher != nil {
		d.Publisher = b.Publisher
	}
	if b.Checkpoints != nil {
		d.Consumers.Checkpoints = b.Checkpoints
	}
	if needs.Consumer {
		d.Consumers.Events = events.NewMetrics(reg)
	}
	if needs.HTTP {
		tokens, err := Tokens(ctx, cfg, log)
		if err != nil {
			return err
		}
		d.API.Verify = tokens.Verify
		if cfg.DevLogin() {
			// The laptop default on loopback, or --dev-login (loopback, a
			// secret, no identity provider: configs.Validate): anyone may
			// sign in as anyone (the web app's "pick a name").
			if cfg.Server.DevLogin {
				log.Warn("DEV LOGIN IS ON (--dev-login): anyone who reaches "+cfg.Server.HTTPAddr+" may sign in as any user, POST "+api.DevLoginPath+"; never run this in production",
					"http_addr", cfg.Server.HTTPAddr)
			}
			d.API.DevLogin = func(user string) (string, error) { return tokens.Issue(user, devLoginTTL(cfg.Auth.JWTMaxLifetime)) }
		}
	}
	built, err := roles.Build(rows.With(h.rows()), d)
	if err != nil {
		return err
	}
	if needs.RebuildFromLog && cfg.EmbeddedRedis() {
		if err := rebuildMemorySinks(ctx, b.Kafka, cfg.Kafka, rows, log); err != nil {
			return err
		}
	}
	return lc.Run(ctx, built, ln, router)
}

// decorate wraps the caches as the roles use them: every feed write
// counted in feedsvc_feed_writes_total (registered on reg), and fan-out's
// feed writes waking the feed streams of their owners.
func decorate(c roles.Caches, reg prometheus.Registerer, log *slog.Logger) roles.Caches {
	c = roles.CountFeedWrites(c, reg)
	c.SignalingFeeds = c.Feeds
	if c.Feeds != nil && c.Signals != nil {
		c.SignalingFeeds = app.SignalingFeeds(c.Feeds, c.Signals, log)
	}
	return c
}

// hidden builds the hidden rows of a process (roles.Row.Hidden): what its
// roles rely on that is not a role. roles.Rows.With adds those the roles'
// needs cover; each is built before the roles and sets what they use.
type hidden struct {
	cfg *configs.Config
	log *slog.Logger
	b   *Backends
	reg prometheus.Registerer

	ids   *nodeIDs        // once built
	clock *app.ClockGuard // the node lease's, which the relay heeds too
}

// rows are the hidden rows in start order: the node lease of the roles
// that issue IDs, then the relay of the outbox records they write. They
// stop in reverse, after HTTP: the relay publishes what the last requests
// wrote, and the node is released last.
func (h *hidden) rows() roles.Rows {
	return roles.Rows{
		{Name: "node-lease", Hidden: true, Needs: roles.Needs{Store: true, IDs: true}, Build: h.buildIDs},
		{Name: "outbox-relay", Hidden: true, Needs: roles.Needs{Store: true, Producer: true, IDs: true}, Build: h.buildRelay},
	}
}

func (h *hidden) buildIDs(d *roles.Deps) (roles.Role, error) {
	n, err := newNodeIDs(h.cfg, h.log, h.b.Store)
	if err != nil {
		return nil, err
	}
	h.ids, d.API.IDs = n, n.gen
	h.clock = n.lease.Clock
	return n, nil
}

func (h *hidden) buildRelay(d *roles.Deps) (roles.Role, error) {
	r, err := newRelay(h.cfg, h.log, h.b, h.reg)
	if err != nil {
		return nil, err
	}
	r.relay.Clock = h.clock
	d.API.Dispatch = r.relay // the api hands a saved record over at once
	return r, nil
}

// ready adds the node lease, once built, to a readiness check. The rows
// are built before HTTP serves, so no check runs meanwhile.
func (h *hidden) ready(check func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		err := check(ctx)
		if h.ids == nil {
			return err
		}
		if lerr := h.ids.Ready(ctx); lerr != nil {
			// Not ready: what only degraded it is part of the cause.
			var d *httpserver.Degraded
			if errors.As(err, &d) {
				err = d.Err
			}
			err = errors.Join(err, lerr)
		}
		return err
	}
}

// loopbackListener reports whether ln listens on a loopback address only.
func loopbackListener(ln net.Listener) bool {
	a, ok := ln.Addr().(*net.TCPAddr)
	return ok && a.IP.IsLoopback()
}

// devLoginTTL is how long a dev login's token lasts: a day, or less when
// the configured maximum lifetime is shorter.
func devLoginTTL(max time.Duration) time.Duration {
	if max > 0 && max < 24*time.Hour {
		return max
	}
	return 24 * time.Hour
}

// feedStreams maps --max-feed-streams (0: none) to api.Deps.MaxStreams
// (0: the default, negative: none).
func feedStreams(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

// rebuildMemorySinks rewinds the groups whose output lives only in Redis to
// the start of the log when Redis is the embedded, in-memory one: it starts
// empty, so the consumers recompute counters and index from the retained
// events, and trends and search survive a restart of the laptop default.
func rebuildMemorySinks(ctx context.Context, cl events.Cluster, kc events.Config, rows roles.Rows, log *slog.Logger) error {
	for _, r := range rows {
		if !r.Needs.RebuildFromLog {
			continue
		}
		plan, err := events.PlanReset(ctx, cl, kc.Group(r.Name), kc.Topics.All(), events.ResetTarget{Kind: events.ResetToEarliest})
		if err != nil {
			return fmt.Errorf("rebuild %s from the log: %w", r.Name, err)
		}
		if err := events.ApplyReset(ctx, cl, plan); err != nil {
			return fmt.Errorf("rebuild %s from the log: %w", r.Name, err)
		}
		log.Info("embedded redis starts empty: replaying the log into "+r.Name, "group", kc.Group(r.Name))
	}
	return nil
}

// Tokens builds the token checker from cfg: outside the embedded default
// it needs a key, an issuer and an audience (configs.ValidateTokens); on
// the embedded default with no key given, the data dir's local secret is
// used (generated on first use). ctx ends the JWKS refreshes.
func Tokens(ctx context.Context, cfg *configs.Config, log *slog.Logger) (*api.Tokens, error) {
	if err := cfg.ValidateTokens(); err != nil {
		return nil, err
	}
	a := cfg.Auth
	secret := a.JWTSecret
	if a.JWTSecretFile != "" {
		b, err := os.ReadFile(a.JWTSecretFile)
		if err != nil {
			return nil, fmt.Errorf("jwt secret: %w", err)
		}
		secret = strings.TrimSpace(string(b))
	}
	if secret == "" && a.JWTPublicKey == "" && a.JWTJWKSURL == "" {
		s, err := api.LocalSecret(cfg.DataDir)
		if err != nil {
			return nil, err
		}
		secret = s
	}
	return api.NewTokens(ctx, api.TokenConfig{
		Secret: secret, PublicKeyFile: a.JWTPublicKey, JWKSURL: a.JWTJWKSURL,
		Issuer: a.JWTIssuer, Audience: a.JWTAudience,
		Leeway: a.JWTLeeway, MaxLifetime: a.JWTMaxLifetime, Log: log,
	})
}

// Migrate creates/updates the Cassandra schema and the Kafka topics,
// showing its progress on line (nil: none).
func Migrate(ctx context.Context, cfg *configs.Config, log *slog.Logger, line *progress.Line) error {
	if cfg.EmbeddedKafka() && cfg.EmbeddedStore() {
		log.Info("nothing to migrate: the embedded broker and store set themselves up")
		return nil
	}
	if !cfg.EmbeddedStore() {
		err := cassandra.MigrateWithProgress(ctx, cfg.Cassandra, log, func(done, total int, name string) {
			if total == 0 {
				return // up to date
			}
			if name != "" {
				name = " (" + name + ")"
			}
			line.Show(fmt.Sprintf("migrate: cassandra migrations %d/%d%s", done, total, name), done == total)
		})
		line.Done()
		if err != nil {
			return err
		}
		log.Info("cassandra schema up to date", "keyspace", cfg.Cassandra.Keyspace)
	}
	if !cfg.EmbeddedKafka() {
		cl, err := cfg.Kafka.Cluster()
		if err != nil {
			return err
		}
		line.Show("migrate: kafka topics", true)
		err = events.EnsureTopics(cl, cfg.Kafka.Topics, cfg.Kafka.TopicSpec())
		line.Done()
		if err != nil {
			return err
		}
		log.Info("kafka topics ready", "topics", Topics(cfg).All())
	}
	return nil
}
