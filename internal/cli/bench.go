package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/feedsvc/feedsvc/configs"
	"github.com/feedsvc/feedsvc/internal/bench"
	"github.com/feedsvc/feedsvc/roles"
)

func benchCmd(table roles.Rows) *cobra.Command {
	var (
		o          bench.Options
		cpuProfile string
	)
	cmd := &cobra.Command{
		Use:   "bench SCENARIO",
		Short: "Measure the service: " + strings.Join(append(slices.Clone(bench.Scenarios), "all"), ", "),
		Long: `Runs the api and fanout roles in this process on the configured backends (embedded
by default, in a fresh data dir), seeds a synthetic graph through the store's write path
and drives the HTTP API at a constant rate (open loop). Prints a table per scenario and,
with --out, a JSON report. Backends mix and match: --redis-addr alone uses that Redis
with the embedded broker and store.

  post-latency  POST /v1/posts for authors with 10, 1,000 and 100,000 followers
                (--quick: 10, 100, 1,000), next to a synchronous save-then-fan-out baseline
  feed-read     GET /v1/feed of a user following those authors
  fanout        feed inserts per second of one fanout process working off a backlog,
                next to a bare pipelined-ZADD loop and redis-benchmark on the same Redis
  spike         posts at 10x the rate: failures, peak lag, catch-up, every feed complete
  memory        Redis bytes per feed entry with feeds at the cap (real Redis only)
  replay        events per second re-processed by the fanout group rewound to the run's start
  celebrity     an author with 1,000,000 followers (--quick: 2,000; threshold 500):
                post latency, time until followers see a post, feed reads of a follower
                of several celebrities`,
		Example: `  feedsvc bench all --quick                                  # a smoke test on the embedded default
  feedsvc bench fanout --redis-addr 127.0.0.1:6379 --out fanout.json
  feedsvc bench post-latency --rate 500 --duration 30s --cpuprofile cpu.out`,
		Args: cobra.ExactArgs(1),
	}
	// Its HTTP is its own (the API on a port of its own, no admin
	// listener), and it lifts the rate limits.
	cmd = withConfig(cmd, configs.AllGroups&^configs.GroupServer&^configs.GroupRateLimits, func(ctx context.Context, cfg *configs.Config, log *slog.Logger, args []string) error {
		scenarios := bench.Scenarios
		if args[0] != "all" {
			if !slices.Contains(bench.Scenarios, args[0]) {
				return usageError{fmt.Errorf("unknown scenario %q; known: all, %s", args[0], strings.Join(bench.Scenarios, ", "))}
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
		if o.Quick {
			o.Rate, o.Duration = min(o.Rate, 50), min(o.Duration, 2*time.Second)
			if !cmd.Flags().Changed("celebrity-threshold") {
				cfg.Feeds.CelebrityThreshold = bench.QuickCelebrityThreshold
			}
		}
		ctx, stop := signalContext(ctx, log)
		defer stop()
		if cpuProfile != "" {
			f, err := os.Create(cpuProfile)
			if err != nil {
				return fmt.Errorf("cpu profile: %w", err)
			}
			defer f.Close()
			if err := pprof.StartCPUProfile(f); err != nil {
				return fmt.Errorf("cpu profile: %w", err)
			}
			defer pprof.StopCPUProfile()
		}
		return bench.Run(ctx, cfg, log, table, scenarios, o)
	})
	f := cmd.Flags()
	f.BoolVar(&o.Quick, "quick", false, "small graph and short attacks (a smoke test, under a minute on the embedded default)")
	f.StringVar(&o.Out, "out", "", "write the JSON report to this file")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the run to this file (go tool pprof); api, fanout and load generator share the process")
	f.BoolVar(&o.KeepKeys, "keep-keys", false, "keep this run's keys in a real Redis (deleted at the end by default)")
	f.IntVar(&o.Rate, "rate", 200, "requests per second of each attack")
	f.DurationVar(&o.Duration, "duration", 15*time.Second, "length of each attack")
	return cmd
}
