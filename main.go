// Command feedsvc is the social-feed service: one binary, run per role.
//
//	feedsvc serve --role=all           # laptop: embedded Kafka, Redis and store
//	feedsvc serve --role=api           # production: one role per process
//	feedsvc serve --role=fanout
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/configs"
	"github.com/feedsvc/feedsvc/roles"
	"github.com/feedsvc/feedsvc/roles/analytics"
	"github.com/feedsvc/feedsvc/roles/api"
	"github.com/feedsvc/feedsvc/roles/fanout"
	"github.com/feedsvc/feedsvc/roles/moderation"
	"github.com/feedsvc/feedsvc/roles/notifications"
	"github.com/feedsvc/feedsvc/roles/search"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// usageError marks errors in how the command was called: exit code 2.
type usageError struct{ error }

func main() {
	registry := roles.Registry{
		"api": func(d *roles.Deps) (roles.Role, error) {
			return api.New(d.HTTP, api.Deps{Service: d.Service, Graph: d.Graph, Analytics: d.Analytics, Search: d.Search, Posts: d.Posts, Verify: d.Verify})
		},
		"fanout":        fanout.New,
		"notifications": notifications.New,
		"analytics":     analytics.New,
		"search":        search.New,
		"moderation":    moderation.New,
	}
	err := newRoot(registry).Execute()
	if err == nil {
		return
	}
	fmt.Fprintln(os.Stderr, "feedsvc:", err)
	var ue usageError
	if errors.As(err, &ue) {
		os.Exit(2)
	}
	os.Exit(1)
}

func newRoot(registry roles.Registry) *cobra.Command {
	root := &cobra.Command{
		Use:           "feedsvc",
		Short:         "feedsvc is a social-feed backend: posts, follows and home feeds",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(serveCmd(registry), tokenCmd(), migrateCmd(), feedCmd(), moderationCmd(), versionCmd(), replayCmd(), lagCmd(), dlqCmd(), benchCmd(registry))
	return root
}

// withConfig binds the config flags to cmd and loads env and file values
// before run.
func withConfig(cmd *cobra.Command, run func(ctx context.Context, cfg *configs.Config, log *slog.Logger, args []string) error) *cobra.Command {
	cfg := &configs.Config{}
	cfg.Bind(cmd.Flags())
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := configs.Load(cmd.Flags()); err != nil {
			return usageError{err}
		}
		log, err := newLogger(cfg.LogLevel)
		if err != nil {
			return usageError{err}
		}
		return run(cmd.Context(), cfg, log, args)
	}
	return cmd
}

func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log-level %q: %w", level, err)
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}

func serveCmd(registry roles.Registry) *cobra.Command {
	var roleSpec string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run one or more roles (" + strings.Join(append([]string{"all"}, registry.Names()...), ", ") + ")",
		Args:  cobra.NoArgs,
	}
	cmd = withConfig(cmd, func(ctx context.Context, cfg *configs.Config, log *slog.Logger, _ []string) error {
		names, err := registry.Resolve(roleSpec)
		if err != nil {
			return usageError{err}
		}
		ctx, stop := signalContext(ctx, log)
		defer stop()
		return serve(ctx, cfg, log, registry, names)
	})
	cmd.Flags().StringVar(&roleSpec, "role", "all", "roles to run: all, or a comma list of "+strings.Join(registry.Names(), ", "))
	return cmd
}

// signalContext is cancelled by the first SIGINT/SIGTERM (graceful
// shutdown); a second one exits at once.
func signalContext(parent context.Context, log *slog.Logger) (context.Context, func()) {
	ctx, cancel := context.WithCancel(parent)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		select {
		case s := <-sigs:
			log.Info("shutting down", "signal", s.String())
			cancel()
		case <-ctx.Done():
			return
		}
		if s, ok := <-sigs; ok {
			log.Warn("second signal, exiting now", "signal", s.String())
			os.Exit(1)
		}
	}()
	return ctx, func() { signal.Stop(sigs); cancel() }
}

func tokenCmd() *cobra.Command {
	var ttl time.Duration
	cmd := &cobra.Command{
		Use:   "token USER",
		Short: "Print a bearer token for USER that the service with the same config accepts (development)",
		Args:  cobra.ExactArgs(1),
	}
	cmd = withConfig(cmd, func(_ context.Context, cfg *configs.Config, _ *slog.Logger, args []string) error {
		tokens, err := newTokens(cfg)
		if err != nil {
			return err
		}
		tok, err := tokens.Issue(args[0], ttl)
		if errors.Is(err, app.ErrInvalid) {
			return usageError{err}
		}
		if err != nil {
			return err
		}
		fmt.Println(tok)
		return nil
	})
	cmd.Flags().DurationVar(&ttl, "ttl", 24*time.Hour, "token lifetime")
	return cmd
}

func migrateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Create or update the Cassandra schema and the Kafka topics (idempotent)",
		Args:  cobra.NoArgs,
	}
	return withConfig(cmd, migrate)
}

func feedCmd() *cobra.Command {
	feed := &cobra.Command{Use: "feed", Short: "Operator tools for cached home feeds"}
	inspect := &cobra.Command{
		Use:   "inspect USER",
		Short: "Print the post IDs cached in USER's feed in Redis, newest first, one per line (no rebuild)",
		Args:  cobra.ExactArgs(1),
	}
	feed.AddCommand(withConfig(inspect, inspectFeed))
	return feed
}

func moderationCmd() *cobra.Command {
	mod := &cobra.Command{Use: "moderation", Short: "Operator tools for moderation"}
	var limit int
	var cursor string
	list := &cobra.Command{
		Use:   "list",
		Short: "List moderation decisions, newest first (reads the store; stop an embedded service first)",
		Args:  cobra.NoArgs,
	}
	list = withConfig(list, func(ctx context.Context, cfg *configs.Config, log *slog.Logger, _ []string) error {
		return listDecisions(ctx, cfg, log, limit, cursor)
	})
	list.Flags().IntVar(&limit, "limit", 50, "decisions to show")
	list.Flags().StringVar(&cursor, "cursor", "", "continue after this post ID")
	mod.AddCommand(list)
	return mod
}

func versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run:   func(cmd *cobra.Command, _ []string) { fmt.Fprintln(cmd.OutOrStdout(), "feedsvc", version) },
	}
}
