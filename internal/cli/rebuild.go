package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/configs"
	"github.com/feedsvc/feedsvc/internal/progress"
	"github.com/feedsvc/feedsvc/internal/wiring"
	redisstore "github.com/feedsvc/feedsvc/store/redis"
)

func rebuildCmd() *cobra.Command {
	var (
		since   time.Duration
		workers int
	)
	cmd := &cobra.Command{
		Use:   "rebuild " + strings.Join(app.RebuildViews, "|"),
		Short: "Rebuild a view kept in Redis (the search index, the trends and stats counters) from the store",
		Long: `Writes every live post in the store into a view kept only in Redis, as its consumer would:
search, the search index; trends, the activity counters behind trends and each author's posts
per hour. Replaying a consumer group (feedsvc replay) rebuilds a view from the event log, as far
back as Kafka keeps events; this rebuilds it from the store, for a Redis loss older than that.

It reads every user's posts made since --since ago (by default as far back as the view keeps:
trends 8 days, search --search-retention), newest first, --workers users at a time. Reposts and moderated posts are skipped,
as the consumers skip or remove them. Every write is the consumer's own and idempotent: run it
beside the running consumers, and again after a failure. A progress line shows on a terminal;
the totals are printed at the end.`,
		Example: `  feedsvc rebuild search --cassandra-hosts c1,c2 --redis-addr redis1:6379
  feedsvc rebuild trends --since 24h`,
		Args:      cobra.ExactArgs(1),
		ValidArgs: app.RebuildViews, // shell completion
	}
	cmd = withConfig(cmd, configs.GroupStore|configs.GroupRedis, func(ctx context.Context, cfg *configs.Config, log *slog.Logger, args []string) error {
		view := args[0]
		if since < 0 || workers < 1 {
			return usageError{fmt.Errorf("--since must be 0 or more and --workers 1 or more (got %s and %d)", since, workers)}
		}
		// Older posts than the view keeps would be read for nothing.
		reach := since
		if reach == 0 && view == app.ViewTrends {
			reach = redisstore.AnalyticsRetention
		} else if reach == 0 && view == app.ViewSearch {
			reach = cfg.Search.Retention // 0: every post
		}
		var from time.Time
		if reach > 0 {
			from = time.Now().Add(-reach)
		}
		line := progress.Stderr()
		start := time.Now()
		res, err := wiring.RebuildView(ctx, cfg, log, view, from, workers, func(p app.RebuildProgress) {
			line.Show(fmt.Sprintf("rebuild %s: %d users, %d posts written", view, p.Users, p.Written), false)
		})
		line.Done()
		if errors.Is(err, app.ErrInvalid) {
			return usageError{err}
		}
		fmt.Fprintf(cmd.OutOrStdout(), "rebuild %s: %d users, %d posts written, %d skipped (reposts, moderated) in %s\n",
			view, res.Users, res.Written, res.Skipped, time.Since(start).Round(time.Millisecond))
		return err
	})
	cmd.Flags().DurationVar(&since, "since", 0, "rebuild from posts made this long ago (0: as far back as the view keeps: trends 8 days, search --search-retention)")
	cmd.Flags().IntVar(&workers, "workers", 4, "users read and written at a time")
	return cmd
}
