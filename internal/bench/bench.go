// Package bench is `feedsvc bench`: it runs the service's api and fanout
// roles in-process on the configured backends (embedded by default), seeds a
// synthetic graph through the store's write path, drives the HTTP API with
// constant-rate, open-loop load (vegeta: requests leave on schedule whatever
// the latency, so slow answers are not hidden by coordinated omission) and
// reports latencies and rates. The scenarios live in the scenario_*.go files.
package bench

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/redis/rueidis"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/configs"
	"github.com/feedsvc/feedsvc/events"
	"github.com/feedsvc/feedsvc/internal/progress"
	"github.com/feedsvc/feedsvc/internal/wiring"
	"github.com/feedsvc/feedsvc/roles"
	"github.com/feedsvc/feedsvc/roles/api"
	redisstore "github.com/feedsvc/feedsvc/store/redis"
)

// Scenarios are the scenarios `feedsvc bench` knows, in the order `all`
// runs them: replay re-processes the events of the scenarios before it, and
// celebrity comes last because, without hybrid fan-out, its posts leave a
// backlog that nothing after it should wait for.
var Scenarios = []string{"post-latency", "feed-read", "fanout", "spike", "memory", "replay", "celebrity"}

// QuickCelebrityThreshold is the celebrity threshold of --quick runs (unless
// set explicitly), small enough for the quick celebrity to pass it.
const QuickCelebrityThreshold = 500

// fanoutGroup is the fanout role's consumer group (a consumer row's group is
// its name).
const fanoutGroup = "fanout"

// Options tune a bench run.
type Options struct {
	Quick    bool
	KeepKeys bool
	Out      string
	Rate     int
	Duration time.Duration
}

// Run opens the backends, starts the api and fanout rows of table, runs the
// scenarios and prints (and writes) the report.
func Run(ctx context.Context, cfg *configs.Config, log *slog.Logger, table roles.Rows, scenarios []string, o Options) error {
	apiRows, err := table.Select("api")
	if err != nil {
		return err
	}
	fanoutRows, err := table.Select(fanoutGroup)
	if err != nil {
		return err
	}
	b, err := wiring.Open(ctx, cfg, log, append(slices.Clone(apiRows), fanoutRows...).Needs())
	if err != nil {
		return err
	}
	defer b.Close()
	if a := &cfg.Auth; a.JWTSecret == "" && a.JWTSecretFile == "" {
		// The bench signs and checks its own tokens, in this process: a
		// secret of its own does, on real backends too.
		a.JWTSecret = rand.Text() + rand.Text()
		a.JWTIssuer = cmp.Or(a.JWTIssuer, "feedsvc-bench")
		a.JWTAudience = cmp.Or(a.JWTAudience, "feedsvc-bench")
	}
	// The bench's users post and follow far faster than a person may:
	// limits it never reaches, still checked on every request (their Redis
	// call is part of what a post costs).
	never := app.Limit{Quota: 1_000_000_000, Window: time.Second}
	cfg.RateLimits = api.RateLimits{Posts: never, Follows: never, Searches: never, AuthFailures: never, Likes: never, Reads: never, Deletes: never}
	tokens, err := wiring.Tokens(ctx, cfg, log)
	if err != nil {
		return err
	}
	// The service's own logs would drown the report; keep warnings.
	quiet := slog.New(slog.NewJSONHandler(progress.Stderr().Writer(os.Stderr), &slog.HandlerOptions{Level: slog.LevelWarn}))
	svc := &benchRoles{cfg: cfg, log: quiet, b: b, api: apiRows, fanout: fanoutRows}
	defer svc.stopAll()
	if err := svc.startAPI(ctx); err != nil {
		return err
	}
	if err := svc.startFanout(ctx); err != nil {
		return err
	}

	r := &benchRun{cfg: cfg, b: b, svc: svc, tokens: tokens, base: "http://" + svc.apiRun.addr, o: o,
		prefix: "b" + strconv.FormatInt(time.Now().UnixMilli(), 36) + "_", started: time.Now(),
		http: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}},
		report: map[string]any{"backends": backendNames(cfg), "quick": o.Quick, "user_prefix": "", "rate": o.Rate, "duration_s": o.Duration.Seconds(),
			"celebrity_threshold": cfg.Feeds.CelebrityThreshold},
		seeds: map[string]any{}}
	r.report["seed"], r.report["user_prefix"] = r.seeds, r.prefix
	r.sizes = []int{10, 1000, 100_000}
	if o.Quick {
		r.sizes = []int{10, 100, 1000}
	}
	runs := map[string]func(context.Context) error{
		"post-latency": r.postLatency, "feed-read": r.feedRead, "fanout": r.fanout, "spike": r.spike,
		"memory": r.memory, "replay": r.replay, "celebrity": r.celebrity,
	}
	var failed error
	for _, s := range scenarios {
		fmt.Fprintf(os.Stderr, "bench: %s...\n", s)
		err := runs[s](ctx)
		if err != nil {
			// Keep what the scenarios before it measured.
			failed = fmt.Errorf("bench %s: %w", s, err)
			r.report["error"] = failed.Error()
			break
		}
	}
	svc.stopAll()
	if err := r.cleanup(ctx); err != nil {
		failed = errors.Join(failed, err)
	}
	fmt.Print(strings.Join(r.lines, ""))
	if o.Out != "" {
		j, err := json.MarshalIndent(r.report, "", "  ")
		if err != nil {
			return errors.Join(failed, err)
		}
		if err := os.WriteFile(o.Out, append(j, '\n'), 0o644); err != nil {
			return errors.Join(failed, fmt.Errorf("write report: %w", err))
		}
	}
	return failed
}

// cleanup deletes this run's keys (feeds, timelines, celebrity state) from
// a real Redis, unless asked to keep them; the embedded one goes away with
// the process.
func (r *benchRun) cleanup(ctx context.Context) error {
	if r.cfg.EmbeddedRedis() || r.o.KeepKeys {
		return nil
	}
	n, err := DeleteMatching(context.WithoutCancel(ctx), r.b.Redis, redisstore.KeysOf(r.b.Redis).Prefixed("*{"+r.prefix+"*"))
	if err != nil {
		return fmt.Errorf("delete this run's Redis keys: %w", err)
	}
	fmt.Fprintf(os.Stderr, "bench: deleted this run's %d Redis keys (--keep-keys keeps them)\n", n)
	return nil
}

// waitReady polls base's /readyz until it answers 200, the service dies or
// a minute passed.
func waitReady(ctx context.Context, base string, died <-chan struct{}) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-died:
			return errors.New("service stopped during startup")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if resp, err := http.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return errors.New("service not ready within 60s")
}

func backendNames(cfg *configs.Config) map[string]string {
	k, r, s := cfg.EmbeddedKafka(), cfg.EmbeddedRedis(), cfg.EmbeddedStore()
	name := func(embedded bool, emb, real string) string {
		if embedded {
			return emb
		}
		return real
	}
	redis := "redis"
	if len(cfg.Redis.Addrs) > 1 {
		redis = "redis cluster"
	}
	return map[string]string{"kafka": name(k, "kfake (embedded)", "kafka"), "redis": name(r, "miniredis (embedded)", redis), "store": name(s, "pebble (embedded)", "cassandra")}
}

// benchRun is one bench invocation's state.
type benchRun struct {
	cfg    *configs.Config
	b      *wiring.Backends
	svc    *benchRoles
	tokens *api.Tokens
	base   string
	o      Options
	// prefix makes this run's user names unique on shared servers.
	prefix string
	// started is when the run began: replay rewinds the fanout group here.
	started time.Time
	http    *http.Client
	sizes   []int
	// seeded records which graphs are seeded; seeds is their report.
	seeded  map[string]bool
	fanoutG *fanoutGraph
	seeds   map[string]any
	report  map[string]any
	lines   []string
}

func (r *benchRun) author(n int) string { return fmt.Sprintf("%sa%d", r.prefix, n) }
func (r *benchRun) follower(i int) string {
	return fmt.Sprintf("%sf%d", r.prefix, i)
}
func (r *benchRun) reader() string { return r.follower(0) }

func (r *benchRun) token(user string) (string, error) { return r.tokens.Issue(user, 24*time.Hour) }

// seedBase creates one author per size and makes that many users follow it
// (user f0 follows them all), through the store's write path, and warms
// the followers' feeds (once per run).
func (r *benchRun) seedBase(ctx context.Context) error {
	return r.seedOnce(ctx, "base", func(ctx context.Context) (int, error) {
		total := 0
		for _, n := range r.sizes {
			if err := r.followAll(ctx, r.author(n), n, r.follower); err != nil {
				return 0, err
			}
			total += n
		}
		// Fan-out writes only into feeds that are cached: warm every
		// follower's (the followers of the largest author include all).
		return total, r.warm(ctx, slices.Max(r.sizes), r.follower)
	})
}

func postBody(i int) []byte { return []byte(fmt.Sprintf(`{"text":"bench post %d"}`, i)) }

// postLatency measures POST /v1/posts per author size, and the synchronous
// baseline (save, fan out inline, answer) for the middle size.
func (r *benchRun) postLatency(ctx context.Context) error {
	if err := r.seedBase(ctx); err != nil {
		return err
	}
	// Warm up first (connections, JIT of the servers, caches), so the first
	// size measured does not pay for it; the figures are discarded.
	tok, err := r.token(r.author(r.sizes[0]))
	if err != nil {
		return err
	}
	Attack(ctx, "warm-up", Request{Method: "POST", URL: r.base + "/v1/posts", Token: tok}, postBody, r.o.Rate, min(r.o.Duration, 5*time.Second))
	p50, p99, p999, failed := map[string]float64{}, map[string]float64{}, map[string]float64{}, map[string]uint64{}
	var rows [][]string
	for _, n := range r.sizes {
		// Each size starts from an idle fan-out, and fan-out is paused
		// during the attack, as if it ran on other machines (it does in
		// production): here it would share the api's two cores, and
		// what it does, not the api, would set the latency. The backlog
		// drains before the next size.
		if _, err := r.waitFanout(ctx, time.Now()); err != nil {
			return err
		}
		tok, err := r.token(r.author(n))
		if err != nil {
			return err
		}
		if err := r.svc.stopFanout(); err != nil {
			return err
		}
		res := Attack(ctx, "post", Request{Method: "POST", URL: r.base + "/v1/posts", Token: tok}, postBody, r.o.Rate, r.o.Duration)
		if err := r.svc.startFanout(ctx); err != nil {
			return err
		}
		k := strconv.Itoa(n)
		p50[k], p99[k], p999[k], failed[k] = res.P50ms, res.P99ms, res.P999ms, res.Failed
		rows = append(rows, []string{"async (feedsvc)", k, f2(res.P50ms), f2(res.P99ms), f2(res.P999ms), strconv.FormatUint(res.Failed, 10)})
	}
	n := r.sizes[1]
	syncURL, stopSync, err := r.syncBaseline(ctx)
	if err != nil {
		return err
	}
	defer stopSync()
	tok, err = r.token(r.author(n))
	if err != nil {
		return err
	}
	base := Attack(ctx, "sync", Request{Method: "POST", URL: syncURL, Token: tok}, postBody, r.o.Rate, r.o.Duration)
	rows = append(rows, []string{"sync baseline", strconv.Itoa(n), f2(base.P50ms), f2(base.P99ms), f2(base.P999ms), strconv.FormatUint(base.Failed, 10)})
	r.report["post_latency"] = map[string]any{
		"p50_ms": p50, "p99_ms": p99, "p999_ms": p999, "failed": failed,
		"sync_baseline_followers": n, "sync_baseline_p50_ms": base.P50ms, "sync_baseline_p99_ms": base.P99ms, "sync_baseline_failed": base.Failed,
		"sync_baseline_codes": base.Codes, "sync_baseline_errors": base.Errors,
	}
	r.lines = append(r.lines, fmt.Sprintf("post-latency (%d/s for %s)\n", r.o.Rate, r.o.Duration),
		Table([]string{"path", "followers", "p50 ms", "p99 ms", "p99.9 ms", "failed"}, rows), "\n")
	return nil
}

// syncBaseline serves the write-up's Option A next to the service: save the
// post, fan it out to every follower inline, then answer.
func (r *benchRun) syncBaseline(ctx context.Context) (url string, stop func(), err error) {
	// Its posts go to the same store as the api's: it leases a node as
	// they do.
	ids := app.NewLeasedIDGen()
	lease := &app.NodeLease{Leases: r.b.Store, Owner: fmt.Sprintf("bench/%d/%s", os.Getpid(), r.prefix), IDs: ids,
		Log: slog.New(slog.DiscardHandler)}
	if _, err := lease.Acquire(ctx); err != nil {
		return "", nil, err
	}
	renewCtx, stopRenewing := context.WithCancel(ctx)
	go func() { _ = lease.Run(renewCtx) }()
	svc := &app.Service{Posts: r.b.Store, Graph: r.b.Store, Feeds: r.b.Caches.Feeds, Unfollows: r.b.Caches.Unfollows, IDs: ids, FeedCap: r.cfg.Feeds.Cap}
	fan := &app.Fanout{Posts: r.b.Store, Graph: r.b.Store, Feeds: r.b.Caches.Feeds, Unfollows: r.b.Caches.Unfollows, FeedCap: r.cfg.Feeds.Cap, PageSize: r.cfg.Feeds.FanoutBatch}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.POST("/sync/posts", func(c echo.Context) error {
		var req struct{ Text string }
		if err := json.NewDecoder(c.Request().Body).Decode(&req); err != nil {
			return echo.NewHTTPError(http.StatusBadRequest, err.Error())
		}
		user, err := r.tokens.Verify(strings.TrimPrefix(c.Request().Header.Get("Authorization"), "Bearer "))
		if err != nil {
			return echo.NewHTTPError(http.StatusUnauthorized, err.Error())
		}
		id, err := svc.IDs.Next()
		if err != nil {
			return err
		}
		p := app.Post{ID: id, Author: user, Text: req.Text}
		p.CreatedAt = p.ID.Time().UTC()
		if err := svc.Posts.SavePost(c.Request().Context(), p); err != nil {
			return err
		}
		ev := app.Event{ID: app.PostCreated + ":" + p.ID.String(), Type: app.PostCreated, Time: p.CreatedAt, Post: &p}
		if err := fan.Handle(c.Request().Context(), ev); err != nil {
			return err
		}
		return c.JSON(http.StatusCreated, p)
	})
	release := func() {
		stopRenewing()
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = lease.Release(rctx) // else it expires
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		release()
		return "", nil, err
	}
	srv := &http.Server{Handler: e}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String() + "/sync/posts", func() { _ = srv.Shutdown(ctx); release() }, nil
}

// feedRead measures GET /v1/feed of a user following every author.
func (r *benchRun) feedRead(ctx context.Context) error {
	if err := r.seedBase(ctx); err != nil {
		return err
	}
	tok, err := r.token(r.reader())
	if err != nil {
		return err
	}
	res := Attack(ctx, "feed", Request{Method: "GET", URL: r.base + "/v1/feed?limit=20", Token: tok}, nil, r.o.Rate, r.o.Duration)
	r.report["feed_read"] = map[string]any{"p50_ms": res.P50ms, "p99_ms": res.P99ms, "p999_ms": res.P999ms, "failed": res.Failed}
	r.lines = append(r.lines, fmt.Sprintf("feed-read (%d/s for %s)\n", r.o.Rate, r.o.Duration),
		Table([]string{"p50 ms", "p99 ms", "p99.9 ms", "failed"}, [][]string{{f2(res.P50ms), f2(res.P99ms), f2(res.P999ms), strconv.FormatUint(res.Failed, 10)}}), "\n")
	return nil
}

// spike posts far above the fan-out rate for a short while: every post
// must be accepted, Kafka absorbs the burst, and fan-out catches up; it
// reports the accepted rate, the peak fanout lag, the time until the lag is
// zero again, and whether every follower's cached feed then holds every
// accepted post (the newest cap of them).
func (r *benchRun) spike(ctx context.Context) error {
	if err := r.seedBase(ctx); err != nil {
		return err
	}
	rate, d := 10*r.o.Rate, r.o.Duration
	n := r.sizes[1]
	if r.o.Quick {
		n = r.sizes[0] // keeps the smoke run short on the embedded Redis
	}
	tok, err := r.token(r.author(n))
	if err != nil {
		return err
	}
	// Start from an idle fan-out, so catch-up measures only the burst.
	if _, err := r.waitFanout(ctx, time.Now()); err != nil {
		return err
	}
	var peak atomic.Int64
	sampleCtx, stopSampling := context.WithCancel(ctx)
	sampled := make(chan struct{})
	go func() { // sample the fanout backlog during the burst
		defer close(sampled)
		for sampleCtx.Err() == nil {
			if lag, err := r.fanoutLag(sampleCtx); err == nil && lag > peak.Load() {
				peak.Store(lag)
			}
			select {
			case <-sampleCtx.Done():
			case <-time.After(250 * time.Millisecond):
			}
		}
	}()
	var accepted []app.ID
	var badBodies int
	req := Request{Method: "POST", URL: r.base + "/v1/posts", Token: tok, OnResponse: func(status int, body []byte) {
		if status != http.StatusCreated {
			return
		}
		var p app.Post
		if err := json.Unmarshal(body, &p); err != nil || p.ID == 0 {
			badBodies++
			return
		}
		accepted = append(accepted, p.ID)
	}}
	res := Attack(ctx, "spike", req, postBody, rate, d)
	burstEnd := time.Now()
	stopSampling()
	<-sampled
	catchUp, err := r.waitFanout(ctx, burstEnd)
	if err != nil {
		return err
	}
	followers, err := r.followersOf(ctx, r.author(n))
	if err != nil {
		return err
	}
	want := newestIDs(accepted, r.cfg.Feeds.Cap)
	check, err := r.checkFeeds(ctx, followers, func(int) []app.ID { return want })
	if err != nil {
		return err
	}
	r.report["spike"] = map[string]any{
		"target_rate": rate, "seconds": d.Seconds(), "posts": res.Requests, "failed": res.Failed,
		"accepted_per_sec": res.Throughput, "p99_ms": res.P99ms, "peak_lag": peak.Load(),
		"catch_up_s": catchUp.Seconds(), "followers": n,
		"accepted_ids": len(accepted), "unreadable_answers": badBodies,
		"feeds_checked": check.checked, "feeds_complete": check.incomplete == 0 && check.checked > 0 && badBodies == 0,
		"incomplete_feeds": check.incomplete, "missing_entries": check.missing, "expected_per_feed": len(want),
	}
	r.lines = append(r.lines, fmt.Sprintf("spike (%d/s for %s, author with %d followers)\n", rate, d, n),
		Table([]string{"posts", "failed", "accepted/s", "p99 ms", "peak fanout lag", "catch-up s", "feeds complete"}, [][]string{{
			strconv.FormatUint(res.Requests, 10), strconv.FormatUint(res.Failed, 10), f2(res.Throughput), f2(res.P99ms),
			strconv.FormatInt(peak.Load(), 10), f2(catchUp.Seconds()), fmt.Sprintf("%d/%d", check.checked-check.incomplete, check.checked),
		}}), "\n")
	return nil
}

// waitFanout waits until the fanout group has no backlog and returns the
// time since since. It fails if a role of the service stopped.
//
// The backlog starts in the store: an accepted post's event waits in the
// outbox until the relay publishes it, and only then counts in the
// group's lag. So the outbox must be empty first, then the lag zero (read
// in that order, an event cannot slip between them). Lag alone once read
// zero 90 ms after a spike on a loaded machine, with all 635 events still
// in the outbox: the spike scenario then found every feed incomplete.
func (r *benchRun) waitFanout(ctx context.Context, since time.Time) (time.Duration, error) {
	for {
		if err := r.svc.check(); err != nil {
			return 0, err
		}
		outbox, err := app.ReadOutboxBacklog(ctx, r.b.Store)
		if err != nil {
			return 0, fmt.Errorf("outbox backlog: %w", err)
		}
		lag := int64(outbox.Pending)
		if lag == 0 {
			if lag, err = r.fanoutLag(ctx); err != nil {
				return 0, err
			}
		}
		if lag == 0 {
			return time.Since(since), nil
		}
		if time.Since(since) > 10*time.Minute {
			return 0, fmt.Errorf("fan-out still %d events behind (in the outbox or the group's lag) after 10 minutes", lag)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// fanoutLag is the fanout group's total backlog on the service's topics.
func (r *benchRun) fanoutLag(ctx context.Context) (int64, error) {
	parts, err := events.GroupLag(ctx, r.b.Kafka, r.cfg.Kafka.Group(fanoutGroup), wiring.Topics(r.cfg).All())
	if err != nil {
		return 0, fmt.Errorf("fanout lag: %w", err)
	}
	var sum int64
	for _, p := range parts {
		sum += p.Lag
	}
	return sum, nil
}

// memory fills feeds to the cap and reports Redis memory per entry (real
// Redis only: miniredis does not account memory).
func (r *benchRun) memory(ctx context.Context) error {
	if r.cfg.EmbeddedRedis() {
		r.report["memory"] = map[string]any{"bytes_per_entry": nil, "note": "embedded miniredis does not account memory; use --redis-addr"}
		r.lines = append(r.lines, "memory: n/a on the embedded Redis (use --redis-addr)\n\n")
		return nil
	}
	feeds := 200
	if r.o.Quick {
		feeds = 20
	}
	before, err := usedMemory(ctx, r.b.Redis)
	if err != nil {
		return err
	}
	ids := app.NewIDGen(1022)
	for i := range feeds {
		batch := make([]app.ID, r.cfg.Feeds.Cap)
		for j := range batch {
			batch[j], _ = ids.Next() // a node of its own: never refuses
		}
		if err := r.b.Caches.Feeds.Fill(ctx, fmt.Sprintf("%sm%d", r.prefix, i), batch); err != nil {
			return err
		}
	}
	after, err := usedMemory(ctx, r.b.Redis)
	if err != nil {
		return err
	}
	per := float64(after-before) / float64(feeds*r.cfg.Feeds.Cap)
	r.report["memory"] = map[string]any{"bytes_per_entry": per, "feeds": feeds, "cap": r.cfg.Feeds.Cap}
	r.lines = append(r.lines, fmt.Sprintf("memory: %.2f bytes per feed entry (%d feeds at cap %d)\n\n", per, feeds, r.cfg.Feeds.Cap))
	return nil
}

func f2(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }

// usedMemory is Redis's used_memory (INFO memory).
func usedMemory(ctx context.Context, c rueidis.Client) (int64, error) {
	info, err := c.Do(ctx, c.B().Info().Section("memory").Build()).ToString()
	if err != nil {
		return 0, fmt.Errorf("redis info: %w", err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, errors.New("redis info: no used_memory")
}
