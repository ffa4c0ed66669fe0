package main

// `feedsvc bench`: runs the service in-process on the configured backends
// (embedded by default), seeds a synthetic graph through the store's write
// path, drives the HTTP API with constant-rate load and reports latencies.

import (
	"context"
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
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/configs"
	"github.com/feedsvc/feedsvc/events"
	"github.com/feedsvc/feedsvc/internal/bench"
	"github.com/feedsvc/feedsvc/roles"
	"github.com/feedsvc/feedsvc/roles/api"
)

// benchScenarios are the scenarios `feedsvc bench` knows, in run order.
var benchScenarios = []string{"post-latency", "feed-read", "spike", "memory"}

type benchOptions struct {
	quick    bool
	out      string
	rate     int
	duration time.Duration
}

func benchCmd(registry roles.Registry) *cobra.Command {
	var o benchOptions
	cmd := &cobra.Command{
		Use:   "bench SCENARIO",
		Short: "Measure the service: " + strings.Join(append(slices.Clone(benchScenarios), "all"), ", "),
		Long: `Runs the api and fanout roles in this process on the configured backends (embedded
by default, in a fresh data dir), seeds authors with 10, 1,000 and 100,000 followers
(--quick: 10, 100, 1,000) and drives the HTTP API at a constant rate (open loop).
Prints a table and, with --out, a JSON report.`,
		Args: cobra.ExactArgs(1),
	}
	cmd = withConfig(cmd, func(ctx context.Context, cfg *configs.Config, log *slog.Logger, args []string) error {
		scenarios := benchScenarios
		if args[0] != "all" {
			if !slices.Contains(benchScenarios, args[0]) {
				return usageError{fmt.Errorf("unknown scenario %q; known: all, %s", args[0], strings.Join(benchScenarios, ", "))}
			}
			scenarios = []string{args[0]}
		}
		if !cmd.Flags().Changed("data-dir") {
			dir, err := os.MkdirTemp("", "feedsvc-bench")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			cfg.DataDir = dir
		}
		if o.quick {
			o.rate, o.duration = min(o.rate, 50), min(o.duration, 3*time.Second)
		}
		return runBench(ctx, cfg, log, registry, scenarios, o)
	})
	cmd.Flags().BoolVar(&o.quick, "quick", false, "small graph and short attacks (a smoke test, under a minute on the embedded default)")
	cmd.Flags().StringVar(&o.out, "out", "", "write the JSON report to this file")
	cmd.Flags().IntVar(&o.rate, "rate", 200, "requests per second of each attack")
	cmd.Flags().DurationVar(&o.duration, "duration", 15*time.Second, "length of each attack")
	return cmd
}

func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func runBench(ctx context.Context, cfg *configs.Config, log *slog.Logger, registry roles.Registry, scenarios []string, o benchOptions) error {
	addr, err := freeLoopbackAddr()
	if err != nil {
		return err
	}
	cfg.HTTPAddr = addr
	b, err := open(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer b.close()
	tokens, err := newTokens(cfg)
	if err != nil {
		return err
	}
	// The service's own logs would drown the report; keep warnings.
	quiet := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	svcCtx, stop := context.WithCancel(ctx)
	svcDone := make(chan error, 1)
	go func() { svcDone <- runRoles(svcCtx, cfg, quiet, b, registry, []string{"api", "fanout"}) }()
	defer func() { stop(); <-svcDone }()
	base := "http://" + addr
	if err := waitReady(ctx, base, svcDone); err != nil {
		return err
	}

	r := &benchRun{cfg: cfg, b: b, tokens: tokens, base: base, o: o, prefix: "b" + strconv.FormatInt(time.Now().UnixMilli()%1e6, 36) + "_",
		report: map[string]any{"backends": backendNames(cfg), "quick": o.quick, "rate": o.rate, "duration_s": o.duration.Seconds()}}
	r.sizes = []int{10, 1000, 100_000}
	if o.quick {
		r.sizes = []int{10, 100, 1000}
	}
	if err := r.seed(ctx); err != nil {
		return err
	}
	for _, s := range scenarios {
		fmt.Fprintf(os.Stderr, "bench: %s...\n", s)
		var err error
		switch s {
		case "post-latency":
			err = r.postLatency(ctx)
		case "feed-read":
			err = r.feedRead(ctx)
		case "spike":
			err = r.spike(ctx)
		case "memory":
			err = r.memory(ctx)
		}
		if err != nil {
			return fmt.Errorf("bench %s: %w", s, err)
		}
	}
	fmt.Print(strings.Join(r.lines, ""))
	if o.out != "" {
		j, err := json.MarshalIndent(r.report, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(o.out, append(j, '\n'), 0o644); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
	}
	return nil
}

func waitReady(ctx context.Context, base string, died <-chan error) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-died:
			return fmt.Errorf("service stopped during startup: %w", err)
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
	k, r, s := cfg.Embedded()
	name := func(embedded bool, emb, real string) string {
		if embedded {
			return emb
		}
		return real
	}
	return map[string]string{"kafka": name(k, "kfake (embedded)", "kafka"), "redis": name(r, "miniredis (embedded)", "redis"), "store": name(s, "pebble (embedded)", "cassandra")}
}

// benchRun is one bench invocation's state.
type benchRun struct {
	cfg    *configs.Config
	b      *backends
	tokens *api.Tokens
	base   string
	o      benchOptions
	prefix string
	sizes  []int
	report map[string]any
	lines  []string
}

func (r *benchRun) author(n int) string { return fmt.Sprintf("%sa%d", r.prefix, n) }
func (r *benchRun) reader() string      { return r.prefix + "f0" }

func (r *benchRun) token(user string) (string, error) { return r.tokens.Issue(user, time.Hour) }

// seed creates one author per size and makes that many users follow it
// (user f0 follows them all), through the store's write path.
func (r *benchRun) seed(ctx context.Context) error {
	start := time.Now()
	total := 0
	for _, n := range r.sizes {
		if err := r.b.store.EnsureUser(ctx, r.author(n)); err != nil {
			return err
		}
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(64)
		for i := range n {
			g.Go(func() error {
				_, err := r.b.store.Follow(gctx, fmt.Sprintf("%sf%d", r.prefix, i), r.author(n))
				return err
			})
		}
		if err := g.Wait(); err != nil {
			return fmt.Errorf("seed followers of %s: %w", r.author(n), err)
		}
		total += n
	}
	fmt.Fprintf(os.Stderr, "bench: seeded %d follows in %s\n", total, time.Since(start).Round(time.Millisecond))
	r.report["seed"] = map[string]any{"follows": total, "seconds": time.Since(start).Seconds()}
	return nil
}

func postBody(i int) []byte { return []byte(fmt.Sprintf(`{"text":"bench post %d"}`, i)) }

// postLatency measures POST /v1/posts per author size, and the synchronous
// baseline (save, fan out inline, answer) for the middle size.
func (r *benchRun) postLatency(ctx context.Context) error {
	p50, p99, p999, failed := map[string]float64{}, map[string]float64{}, map[string]float64{}, map[string]uint64{}
	var rows [][]string
	for _, n := range r.sizes {
		tok, err := r.token(r.author(n))
		if err != nil {
			return err
		}
		res := bench.Attack(ctx, "post", bench.Request{Method: "POST", URL: r.base + "/v1/posts", Token: tok}, postBody, r.o.rate, r.o.duration)
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
	tok, err := r.token(r.author(n))
	if err != nil {
		return err
	}
	base := bench.Attack(ctx, "sync", bench.Request{Method: "POST", URL: syncURL, Token: tok}, postBody, r.o.rate, r.o.duration)
	rows = append(rows, []string{"sync baseline", strconv.Itoa(n), f2(base.P50ms), f2(base.P99ms), f2(base.P999ms), strconv.FormatUint(base.Failed, 10)})
	r.report["post_latency"] = map[string]any{
		"p50_ms": p50, "p99_ms": p99, "p999_ms": p999, "failed": failed,
		"sync_baseline_followers": n, "sync_baseline_p50_ms": base.P50ms, "sync_baseline_p99_ms": base.P99ms, "sync_baseline_failed": base.Failed,
		"sync_baseline_codes": base.Codes, "sync_baseline_errors": base.Errors,
	}
	r.lines = append(r.lines, fmt.Sprintf("post-latency (%d/s for %s)\n", r.o.rate, r.o.duration),
		bench.Table([]string{"path", "followers", "p50 ms", "p99 ms", "p99.9 ms", "failed"}, rows), "\n")
	return nil
}

// syncBaseline serves the write-up's Option A next to the service: save the
// post, fan it out to every follower inline, then answer.
func (r *benchRun) syncBaseline(ctx context.Context) (url string, stop func(), err error) {
	svc := &app.Service{Posts: r.b.store, Graph: r.b.store, Feeds: r.b.feeds, IDs: app.NewIDGen(1023), FeedCap: r.cfg.FeedCap}
	fan := &app.Fanout{Posts: r.b.store, Graph: r.b.store, Feeds: r.b.feeds, FeedCap: r.cfg.FeedCap, PageSize: r.cfg.FanoutBatch}
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
		p := app.Post{ID: svc.IDs.Next(), Author: user, Text: req.Text}
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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: e}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String() + "/sync/posts", func() { _ = srv.Shutdown(ctx) }, nil
}

// feedRead measures GET /v1/feed of a user following every author.
func (r *benchRun) feedRead(ctx context.Context) error {
	tok, err := r.token(r.reader())
	if err != nil {
		return err
	}
	res := bench.Attack(ctx, "feed", bench.Request{Method: "GET", URL: r.base + "/v1/feed?limit=20", Token: tok}, nil, r.o.rate, r.o.duration)
	r.report["feed_read"] = map[string]any{"p50_ms": res.P50ms, "p99_ms": res.P99ms, "p999_ms": res.P999ms, "failed": res.Failed}
	r.lines = append(r.lines, fmt.Sprintf("feed-read (%d/s for %s)\n", r.o.rate, r.o.duration),
		bench.Table([]string{"p50 ms", "p99 ms", "p99.9 ms", "failed"}, [][]string{{f2(res.P50ms), f2(res.P99ms), f2(res.P999ms), strconv.FormatUint(res.Failed, 10)}}), "\n")
	return nil
}

// spike posts far above the fan-out rate for a short while: every post
// must be accepted, Kafka absorbs the burst, and fan-out catches up; it
// reports the accepted rate, the peak fanout lag and the time until the lag
// is zero again.
func (r *benchRun) spike(ctx context.Context) error {
	rate, d := 10*r.o.rate, r.o.duration
	n := r.sizes[1]
	if r.o.quick {
		n = r.sizes[0] // keeps the smoke run short on the embedded Redis
	}
	tok, err := r.token(r.author(n))
	if err != nil {
		return err
	}
	topics := topics(r.cfg).All()
	// Start from an idle fan-out, so catch-up measures only the burst.
	if _, err := waitFanout(ctx, r.b.brokers, topics, time.Now()); err != nil {
		return err
	}
	var peak atomic.Int64
	sampleCtx, stopSampling := context.WithCancel(ctx)
	sampled := make(chan struct{})
	go func() { // sample the fanout backlog during the burst
		defer close(sampled)
		for sampleCtx.Err() == nil {
			if lag, err := fanoutLag(sampleCtx, r.b.brokers, topics); err == nil && lag > peak.Load() {
				peak.Store(lag)
			}
			select {
			case <-sampleCtx.Done():
			case <-time.After(250 * time.Millisecond):
			}
		}
	}()
	res := bench.Attack(ctx, "spike", bench.Request{Method: "POST", URL: r.base + "/v1/posts", Token: tok}, postBody, rate, d)
	burstEnd := time.Now()
	stopSampling()
	<-sampled
	catchUp, err := waitFanout(ctx, r.b.brokers, topics, burstEnd)
	if err != nil {
		return err
	}
	r.report["spike"] = map[string]any{
		"target_rate": rate, "seconds": d.Seconds(), "posts": res.Requests, "failed": res.Failed,
		"accepted_per_sec": res.Throughput, "p99_ms": res.P99ms, "peak_lag": peak.Load(),
		"catch_up_s": catchUp.Seconds(), "followers": n,
	}
	r.lines = append(r.lines, fmt.Sprintf("spike (%d/s for %s, author with %d followers)\n", rate, d, n),
		bench.Table([]string{"posts", "failed", "accepted/s", "p99 ms", "peak fanout lag", "catch-up s"}, [][]string{{
			strconv.FormatUint(res.Requests, 10), strconv.FormatUint(res.Failed, 10), f2(res.Throughput), f2(res.P99ms),
			strconv.FormatInt(peak.Load(), 10), f2(catchUp.Seconds()),
		}}), "\n")
	return nil
}

// waitFanout waits until the fanout group has no backlog and returns the
// time since since.
func waitFanout(ctx context.Context, brokers, topics []string, since time.Time) (time.Duration, error) {
	for {
		lag, err := fanoutLag(ctx, brokers, topics)
		if err != nil {
			return 0, err
		}
		if lag == 0 {
			return time.Since(since), nil
		}
		if time.Since(since) > 10*time.Minute {
			return 0, fmt.Errorf("fan-out still %d events behind after 10 minutes", lag)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// fanoutLag is the fanout group's total backlog.
func fanoutLag(ctx context.Context, brokers, topics []string) (int64, error) {
	parts, err := events.GroupLag(ctx, brokers, "fanout", topics)
	if err != nil {
		return 0, err
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
	if _, embRedis, _ := r.cfg.Embedded(); embRedis {
		r.report["memory"] = map[string]any{"bytes_per_entry": nil, "note": "embedded miniredis does not account memory; use --redis-addr"}
		r.lines = append(r.lines, "memory: n/a on the embedded Redis (use --redis-addr)\n\n")
		return nil
	}
	feeds := 200
	if r.o.quick {
		feeds = 20
	}
	before, err := usedMemory(ctx, r.b.redis)
	if err != nil {
		return err
	}
	ids := app.NewIDGen(1022)
	for i := range feeds {
		batch := make([]app.ID, r.cfg.FeedCap)
		for j := range batch {
			batch[j] = ids.Next()
		}
		if err := r.b.feeds.Fill(ctx, fmt.Sprintf("%sm%d", r.prefix, i), batch); err != nil {
			return err
		}
	}
	after, err := usedMemory(ctx, r.b.redis)
	if err != nil {
		return err
	}
	per := float64(after-before) / float64(feeds*r.cfg.FeedCap)
	r.report["memory"] = map[string]any{"bytes_per_entry": per, "feeds": feeds, "cap": r.cfg.FeedCap}
	r.lines = append(r.lines, fmt.Sprintf("memory: %.2f bytes per feed entry (%d feeds at cap %d)\n\n", per, feeds, r.cfg.FeedCap))
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
