package main

// The composition root: the only place that knows which adapter backs which
// port. Everything below picks the embedded backend when no address is
// configured, and the production one otherwise.

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"os"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/rueidis"
	"golang.org/x/sync/errgroup"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/configs"
	"github.com/feedsvc/feedsvc/events"
	"github.com/feedsvc/feedsvc/roles"
	"github.com/feedsvc/feedsvc/roles/api"
	"github.com/feedsvc/feedsvc/roles/httpserver"
	"github.com/feedsvc/feedsvc/store/cassandra"
	"github.com/feedsvc/feedsvc/store/pebble"
	"github.com/feedsvc/feedsvc/store/postcache"
	redisfeeds "github.com/feedsvc/feedsvc/store/redis"
)

// store is what the service needs from a store adapter.
type store interface {
	app.PostStore
	app.Graph
	app.NotificationStore
	app.ModerationLog
	Ping(context.Context) error
	Close() error
}

// backends are the open connections of one process.
type backends struct {
	store store
	redis rueidis.Client
	feeds *redisfeeds.Feeds
	// timelines and celebs serve hybrid fan-out (celebrities' posts are
	// merged into feeds on read).
	timelines *redisfeeds.Feeds
	celebs    *redisfeeds.Celebrities
	brokers   []string
	closers   []func() // run in reverse order
	checks    map[string]func(context.Context) error
}

func (b *backends) close() {
	for _, c := range slices.Backward(b.closers) {
		c()
	}
}

// ready checks every dependency.
func (b *backends) ready(ctx context.Context) error {
	var errs []error
	for name, check := range b.checks {
		if err := check(ctx); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

func topics(cfg *configs.Config) events.Topics {
	return events.Topics{Posts: cfg.TopicPosts, Follows: cfg.TopicFollows}
}

func cassandraConfig(cfg *configs.Config) cassandra.Config {
	return cassandra.Config{
		Hosts:       cfg.CassandraHosts,
		Keyspace:    cfg.CassandraKeyspace,
		Replication: cfg.CassandraReplication,
		Consistency: cfg.CassandraConsistency,
		Timeout:     5 * time.Second,
	}
}

// open connects to (or starts) the store, the feed cache and the broker.
func open(ctx context.Context, cfg *configs.Config, log *slog.Logger) (_ *backends, err error) {
	b := &backends{checks: map[string]func(context.Context) error{}}
	defer func() {
		if err != nil {
			b.close() // what was opened before the failure
		}
	}()
	embKafka, embRedis, _ := cfg.Embedded()

	// The store first: Pebble locks the data dir, so a second embedded
	// process on the same dir fails here, before touching anything else.
	if b.store, err = openStore(ctx, cfg, log); err != nil {
		return nil, err
	}
	b.closers = append(b.closers, func() { _ = b.store.Close() })
	b.checks["store"] = b.store.Ping

	redisAddr := cfg.RedisAddr
	if embRedis {
		m := miniredis.NewMiniRedis()
		if err := m.StartAddr("127.0.0.1:0"); err != nil {
			return nil, fmt.Errorf("start embedded redis: %w", err)
		}
		b.closers = append(b.closers, m.Close)
		redisAddr = m.Addr()
		log.Info("embedded redis (in memory; feeds are rebuilt from the store after a restart)", "addr", redisAddr)
	}
	client, err := redisfeeds.Dial(redisAddr, embRedis)
	if err != nil {
		return nil, err
	}
	b.closers = append(b.closers, client.Close)
	b.redis = client
	b.feeds = redisfeeds.NewFeeds(client, cfg.FeedCap, cfg.FeedInactiveAfter)
	b.timelines = redisfeeds.NewTimelines(client, cfg.FeedCap, cfg.FeedInactiveAfter)
	b.celebs = redisfeeds.NewCelebrities(client, cfg.FeedInactiveAfter)
	b.checks["redis"] = b.feeds.Ping

	b.brokers = cfg.KafkaBrokers
	if embKafka {
		k, err := events.StartEmbedded(cfg.DataDir)
		if err != nil {
			return nil, err
		}
		b.closers = append(b.closers, k.Close)
		b.brokers = k.Addrs()
		// The embedded broker is this process's own: create its topics now.
		spec := events.TopicSpec{Partitions: int32(cfg.KafkaPartitions), Replication: 1}
		if err := events.EnsureTopics(b.brokers, topics(cfg), spec); err != nil {
			return nil, err
		}
		log.Info("embedded kafka", "addr", b.brokers, "dir", cfg.DataDir)
	}
	health, err := events.NewHealth(b.brokers)
	if err != nil {
		return nil, err
	}
	b.closers = append(b.closers, func() { _ = health.Close() })
	b.checks["kafka"] = health.Ping
	return b, nil
}

// openStore opens the embedded Pebble store or connects to Cassandra.
func openStore(ctx context.Context, cfg *configs.Config, log *slog.Logger) (store, error) {
	if _, _, embStore := cfg.Embedded(); !embStore {
		return cassandra.Open(ctx, cassandraConfig(cfg), log)
	}
	s, err := pebble.Open(cfg.DataDir, log)
	if err != nil {
		return nil, fmt.Errorf("%w (is another feedsvc running on data dir %s?)", err, cfg.DataDir)
	}
	log.Info("embedded store", "dir", cfg.DataDir)
	return s, nil
}

// serve runs the named roles and the HTTP server until ctx ends.
func serve(ctx context.Context, cfg *configs.Config, log *slog.Logger, registry roles.Registry, names []string) error {
	b, err := open(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer b.close()
	return runRoles(ctx, cfg, log, b, registry, names)
}

// runRoles runs the named roles and the HTTP server on open backends until
// ctx ends.
func runRoles(ctx context.Context, cfg *configs.Config, log *slog.Logger, b *backends, registry roles.Registry, names []string) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	router := httpserver.New(log, reg, b.ready)
	if cfg.Pprof {
		httpserver.EnablePprof(router)
	}

	tokens, err := newTokens(cfg)
	if err != nil {
		return err
	}
	deps := &roles.Deps{
		Posts: b.store,
		Graph: b.store,
		Feeds: b.feeds,

		Timelines:          b.timelines,
		Celebrities:        b.celebs,
		CelebrityThreshold: cfg.CelebrityThreshold,

		Notifications: b.store,
		Analytics:     redisfeeds.NewAnalytics(b.redis),
		Search:        redisfeeds.NewSearch(b.redis, cfg.SearchTermCap),
		Moderation:    b.store,
		ModerationRules: app.ModerationRules{
			Blocklist: cfg.ModerationBlocklist, MaxLinks: cfg.ModerationMaxLinks, MaxPerMinute: cfg.ModerationRate,
		},

		HTTP:    router,
		Verify:  tokens.Verify,
		Brokers: b.brokers,
		Topics:  topics(cfg),
		Events:  events.NewMetrics(reg),
		Metrics: reg,
		Healthy: b.ready,
		FeedCap: cfg.FeedCap,
		Batch:   cfg.FanoutBatch,
		Log:     log,
	}
	if slices.Contains(names, "api") || slices.Contains(names, "moderation") {
		producer, err := events.NewProducer(b.brokers, deps.Topics)
		if err != nil {
			return err
		}
		defer producer.Close() // after the roles stopped (defers run last-in first-out)
		deps.Publisher = producer
		var posts app.PostStore = b.store
		if cfg.PostCacheSize > 0 {
			posts = postcache.New(b.store, cfg.PostCacheSize, cfg.PostCacheTTL)
		}
		deps.Service = &app.Service{
			Posts: posts, Graph: b.store, Feeds: b.feeds, Timelines: b.timelines, Celebrities: b.celebs,
			Events: producer, Notes: b.store, IDs: app.NewIDGen(nodeID(cfg)), FeedCap: cfg.FeedCap, Log: log,
		}
	}

	if _, embRedis, _ := cfg.Embedded(); embRedis {
		if err := rebuildMemorySinks(ctx, b.brokers, deps.Topics, names, log); err != nil {
			return err
		}
	}

	g, gctx := errgroup.WithContext(ctx)
	for _, name := range names {
		role, err := registry[name](deps)
		if err != nil {
			return fmt.Errorf("role %s: %w", name, err)
		}
		g.Go(func() error {
			if err := role.Run(gctx); err != nil {
				return fmt.Errorf("role %s: %w", name, err)
			}
			return nil
		})
	}
	g.Go(func() error { return httpserver.Serve(gctx, router, cfg.HTTPAddr, cfg.ShutdownTimeout, log) })
	log.Info("feedsvc started", "roles", names, "version", version)
	// Until shutdown: a role that fails stops the others (errgroup cancels
	// gctx), so the process exits non-zero and the orchestrator restarts it.
	<-gctx.Done()
	if ctx.Err() != nil {
		// Graceful shutdown: give roles the timeout to finish.
		done := make(chan error, 1)
		go func() { done <- g.Wait() }()
		select {
		case err := <-done:
			return err
		case <-time.After(cfg.ShutdownTimeout):
			return errors.New("shutdown timed out")
		}
	}
	return g.Wait()
}

// memorySinkGroups keep their output only in Redis.
var memorySinkGroups = []string{"analytics", "search"}

// rebuildMemorySinks rewinds the groups whose output lives only in Redis to
// the start of the log when Redis is the embedded, in-memory one: it starts
// empty, so the consumers recompute counters and index from the retained
// events, and trends and search survive a restart of the laptop default.
func rebuildMemorySinks(ctx context.Context, brokers []string, topics events.Topics, names []string, log *slog.Logger) error {
	for _, group := range memorySinkGroups {
		if !slices.Contains(names, group) {
			continue
		}
		plan, err := events.PlanReset(ctx, brokers, group, topics.All(), events.ResetTarget{Kind: events.ResetToEarliest})
		if err != nil {
			return fmt.Errorf("rebuild %s from the log: %w", group, err)
		}
		if err := events.ApplyReset(ctx, brokers, plan); err != nil {
			return fmt.Errorf("rebuild %s from the log: %w", group, err)
		}
		log.Info("embedded redis starts empty: replaying the log into "+group, "group", group)
	}
	return nil
}

// nodeID is the Snowflake node: configured, or derived from host and pid so
// two api processes on one machine differ.
func nodeID(cfg *configs.Config) int {
	if cfg.NodeID >= 0 {
		return cfg.NodeID
	}
	host, _ := os.Hostname()
	h := fnv.New32a()
	fmt.Fprintf(h, "%s/%d", host, os.Getpid())
	return int(h.Sum32() % (app.MaxNodeID + 1))
}

// newTokens uses the configured secret or key, else the data dir's local
// secret (generated on first use).
func newTokens(cfg *configs.Config) (*api.Tokens, error) {
	secret := cfg.JWTSecret
	if secret == "" && cfg.JWTPublicKey == "" {
		s, err := api.LocalSecret(cfg.DataDir)
		if err != nil {
			return nil, err
		}
		secret = s
	}
	return api.NewTokens(secret, cfg.JWTPublicKey)
}

// migrate creates/updates the Cassandra schema and the Kafka topics.
func migrate(ctx context.Context, cfg *configs.Config, log *slog.Logger, _ []string) error {
	embKafka, _, embStore := cfg.Embedded()
	if embKafka && embStore {
		log.Info("nothing to migrate: the embedded broker and store set themselves up")
		return nil
	}
	if !embStore {
		if err := cassandra.Migrate(ctx, cassandraConfig(cfg), log); err != nil {
			return err
		}
		log.Info("cassandra schema up to date", "keyspace", cfg.CassandraKeyspace)
	}
	if !embKafka {
		spec := events.TopicSpec{Partitions: int32(cfg.KafkaPartitions), Replication: int16(cfg.KafkaReplication)}
		if err := events.EnsureTopics(cfg.KafkaBrokers, topics(cfg), spec); err != nil {
			return err
		}
		log.Info("kafka topics ready", "topics", topics(cfg).All())
	}
	return nil
}

// inspectFeed prints USER's cached feed exactly as Redis holds it.
func inspectFeed(ctx context.Context, cfg *configs.Config, _ *slog.Logger, args []string) error {
	if cfg.RedisAddr == "" {
		return usageError{errors.New("feed inspect needs --redis-addr (the embedded Redis lives inside the serving process)")}
	}
	client, err := redisfeeds.Dial(cfg.RedisAddr, false)
	if err != nil {
		return err
	}
	defer client.Close()
	ids, err := redisfeeds.NewFeeds(client, cfg.FeedCap, 0).Inspect(ctx, args[0])
	if err != nil {
		return err
	}
	for _, id := range ids {
		fmt.Println(id)
	}
	return nil
}

// listDecisions prints moderation decisions, newest first.
func listDecisions(ctx context.Context, cfg *configs.Config, log *slog.Logger, limit int, cursor string) error {
	s, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer s.Close()
	ds, next, err := app.ModerationDecisions(ctx, s, cursor, limit)
	if errors.Is(err, app.ErrInvalid) {
		return usageError{err}
	}
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "POST\tAUTHOR\tRULE\tDETAIL\tDECIDED AT")
	for _, d := range ds {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", d.Post, d.Author, d.Rule, d.Detail, d.DecidedAt.Format(time.RFC3339))
	}
	if next != "" {
		fmt.Fprintf(w, "(more: --cursor %s)\n", next)
	}
	return w.Flush()
}
