// Package cli is feedsvc's command line (cobra): serve, token, migrate, the
// operator commands (feed, moderation, replay, lag, dlq), bench and version.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/configs"
	"github.com/feedsvc/feedsvc/internal/buildinfo"
	"github.com/feedsvc/feedsvc/internal/progress"
	"github.com/feedsvc/feedsvc/internal/telemetry"
	"github.com/feedsvc/feedsvc/internal/wiring"
	"github.com/feedsvc/feedsvc/roles"
	redisstore "github.com/feedsvc/feedsvc/store/redis"
)

// Exit codes.
const (
	ExitOK    = 0
	ExitError = 1 // the command failed
	ExitUsage = 2 // the command was called wrongly (flags, settings, arguments)
)

// usageError marks errors in how the command was called: exit code 2.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// ExitCode is the process exit code for err, the result of Execute.
func ExitCode(err error) int {
	var ue usageError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ue):
		return ExitUsage
	}
	return ExitError
}

// NewRoot returns the feedsvc command; table is the role table serve, bench
// and the help text read role names from.
func NewRoot(table roles.Rows, build buildinfo.Info) *cobra.Command {
	root := &cobra.Command{
		Use:   "feedsvc",
		Short: "feedsvc is a social-feed backend: posts, follows and home feeds",
		Long: `feedsvc is a social-feed backend: posts, follows and home feeds. One binary runs every role
(feedsvc serve) and the operator's commands.

` + settingsHelp,
		Example: `  feedsvc serve                              # laptop: every backend embedded, in ./data
  TOKEN=$(feedsvc token alice)                # a token the serve on ./data accepts
  feedsvc lag                                 # next to the running serve
  feedsvc serve --role=api --config /etc/feedsvc/production.yaml`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       build.Version,
	}
	root.SetVersionTemplate(build.String())
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(serveCmd(table), tokenCmd(), migrateCmd(), feedCmd(), moderationCmd(), versionCmd(build),
		replayCmd(), lagCmd(), dlqCmd(), rebuildCmd(), benchCmd(table), healthcheckCmd(), rolesCmd(table))
	// Wrong arguments, like an unknown command, are usage errors (exit 2).
	root.Args = func(_ *cobra.Command, args []string) error {
		if len(args) > 0 {
			return usageError{fmt.Errorf("unknown command %q; see feedsvc --help", args[0])}
		}
		return nil
	}
	usageArgs(root)
	useFlagSections(root)
	completeFlags(root, table)
	return root
}

// usageArgs makes the argument checks of cmd and its subcommands return
// usage errors. A command group without arguments of its own reports an
// unknown subcommand.
func usageArgs(cmd *cobra.Command) {
	for _, c := range cmd.Commands() {
		usageArgs(c)
	}
	check := cmd.Args
	if cmd.HasSubCommands() && !cmd.Runnable() {
		// Runnable, so that cobra checks its arguments; alone it prints help.
		cmd.RunE = func(c *cobra.Command, _ []string) error { return c.Help() }
		if check == nil {
			check = func(c *cobra.Command, args []string) error {
				if len(args) > 0 {
					return fmt.Errorf("unknown command %q for %q", args[0], c.CommandPath())
				}
				return nil
			}
		}
	}
	if check == nil {
		return
	}
	cmd.Args = func(c *cobra.Command, args []string) error {
		if err := check(c, args); err != nil {
			var ue usageError
			if errors.As(err, &ue) {
				return err
			}
			return usageError{err}
		}
		return nil
	}
}

// withConfig binds the flags of the config groups cmd uses to cmd, and
// before run loads env and file values and validates them: a bad setting is
// a usage error (exit 2) reported before anything opens, all bad settings
// at once.
func withConfig(cmd *cobra.Command, groups configs.Group, run func(ctx context.Context, cfg *configs.Config, log *slog.Logger, args []string) error) *cobra.Command {
	cfg := &configs.Config{}
	cfg.BindGroups(cmd.Flags(), groups)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := cfg.Load(cmd.Flags()); err != nil {
			return usageError{fmt.Errorf("bad settings:\n%w", err)}
		}
		log, err := newLogger(os.Stderr, cfg.Server.LogLevel, cfg.Server.LogFormat)
		if err != nil {
			return usageError{err}
		}
		return run(cmd.Context(), cfg, log, args)
	}
	return cmd
}

// newLogger logs to w at level, in format (json, text, or auto: text when
// w is a terminal, where a person reads it, else JSON for a collector). On
// stderr, log lines keep a progress line below them.
func newLogger(w *os.File, level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log-level %q: %w", level, err)
	}
	opts := &slog.HandlerOptions{Level: l, ReplaceAttr: readableDuration}
	out := io.Writer(w)
	if w == os.Stderr {
		out = progress.Stderr().Writer(w)
	}
	var h slog.Handler = slog.NewJSONHandler(out, opts)
	if format == "text" || format == "auto" && isatty.IsTerminal(w.Fd()) {
		h = slog.NewTextHandler(out, opts)
	}
	return slog.New(telemetry.LogHandler(h)), nil
}

// readableDuration writes a duration as Go prints it ("1.5s", "240ms"), as
// the text handler does, instead of the JSON handler's integer nanoseconds.
func readableDuration(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.StringValue(a.Value.Duration().String())
	}
	return a
}

func serveCmd(table roles.Rows) *cobra.Command {
	var roleSpec string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run one or more roles (all, " + strings.Join(table.Names(), ", ") + ")",
		Long: `Runs the selected roles in this process until SIGINT or SIGTERM. A process opens only the
backends its roles need, and /readyz checks only those.

On SIGTERM /readyz answers 503 at once while HTTP keeps serving for --shutdown-drain, so load
balancers stop sending; then the roles stop in reverse order (consumers commit their offsets),
and HTTP stops last. Past --shutdown-timeout the process exits 1 and logs what did not stop;
a second signal exits at once.

Every setting below is also a variable and a config file key: --kafka-brokers k1:9092,k2:9092
is FEEDSVC_KAFKA_BROKERS=k1:9092,k2:9092, or "kafka-brokers: [k1:9092, k2:9092]" in the
--config file (the flag wins over the variable, the variable over the file; see feedsvc --help).

With embedded backends (no --kafka-brokers, --redis-addr or --cassandra-hosts), serve records
the addresses of its embedded broker and Redis and of its admin listener in
<data-dir>/serve.json while it runs, so that lag, replay, dlq, feed inspect and moderation list
work next to it on the same --data-dir.`,
		Example: `  # laptop: every backend embedded, state in ./data, API on 127.0.0.1:8080
  feedsvc serve

  # one role per process, on real backends: from the environment, a file, or flags
  export FEEDSVC_KAFKA_BROKERS=k1:9092,k2:9092 FEEDSVC_REDIS_ADDR=redis:6379 FEEDSVC_CASSANDRA_HOSTS=c1,c2
  feedsvc serve --role=api --config /etc/feedsvc/production.yaml --http-addr 0.0.0.0:8080
  feedsvc serve --role=fanout --config /etc/feedsvc/production.yaml`,
		Args: cobra.NoArgs,
	}
	cmd = withConfig(cmd, configs.AllGroups, func(ctx context.Context, cfg *configs.Config, log *slog.Logger, _ []string) error {
		rows, err := table.Select(roleSpec)
		if err != nil {
			return usageError{err}
		}
		ctx, stop := signalContext(ctx, log)
		defer stop()
		return wiring.Serve(ctx, cfg, log, rows)
	})
	cmd.Flags().StringVar(&roleSpec, "role", "all", "roles to run: all, or a comma list of "+strings.Join(table.Names(), ", "))
	return cmd
}

// signalContext is cancelled by the first SIGINT/SIGTERM (graceful
// shutdown); a second one exits at once.
func signalContext(parent context.Context, log *slog.Logger) (context.Context, func()) {
	ctx, cancel := context.WithCancel(parent)
	sigs := make(chan os.Signal, 2)
	stopped := make(chan struct{})
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		select {
		case s := <-sigs:
			log.Info("shutting down", "signal", s.String())
			cancel()
		case <-ctx.Done():
			return
		}
		select {
		case s := <-sigs:
			log.Warn("second signal, exiting now", "signal", s.String())
			os.Exit(ExitError)
		case <-stopped:
		}
	}()
	return ctx, func() { signal.Stop(sigs); close(stopped); cancel() }
}

func tokenCmd() *cobra.Command {
	var ttl time.Duration
	cmd := &cobra.Command{
		Use:   "token USER",
		Short: "Print a bearer token for USER that the service with the same config accepts (development)",
		Long: `Prints an HS256 bearer token for USER, signed and claimed as serve with the same settings
verifies it.

On the embedded default (no FEEDSVC_KAFKA_BROKERS, FEEDSVC_REDIS_ADDR or FEEDSVC_CASSANDRA_HOSTS
in the environment or the --config file) and no key given, the key is <data-dir>/jwt.secret,
made on first use, which serve on that data dir uses too. Otherwise, as serve, it needs
--jwt-secret or --jwt-secret-file, --jwt-issuer and --jwt-audience.`,
		Example: `  TOKEN=$(feedsvc token alice)
  curl -H "Authorization: Bearer $TOKEN" localhost:8080/v1/feed

  FEEDSVC_JWT_SECRET_FILE=/run/secrets/jwt FEEDSVC_JWT_ISSUER=feedsvc FEEDSVC_JWT_AUDIENCE=feedsvc \
    feedsvc token alice --ttl 1h`,
		Args: cobra.ExactArgs(1),
	}
	cmd = withConfig(cmd, configs.GroupAuth, func(ctx context.Context, cfg *configs.Config, log *slog.Logger, args []string) error {
		tokens, err := wiring.Tokens(ctx, cfg, log)
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
		fmt.Fprintln(cmd.OutOrStdout(), tok)
		return nil
	})
	cmd.Flags().DurationVar(&ttl, "ttl", 24*time.Hour, "token lifetime")
	return cmd
}

func migrateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Create or update the Cassandra schema and the Kafka topics (idempotent)",
		Long: `Creates the Cassandra keyspace and applies the schema migrations it lacks, and creates the
Kafka topics (and their dead-letter topics) with --kafka-partitions and --kafka-replication.
Running it again changes nothing. The embedded broker and store set themselves up: with
neither --cassandra-hosts nor --kafka-brokers there is nothing to do. On a terminal it shows
its progress on stderr.`,
		Example: `  feedsvc migrate --cassandra-hosts c1,c2,c3 --cassandra-replication "{'class': 'NetworkTopologyStrategy', 'dc1': 3}" \
    --kafka-brokers k1:9092,k2:9092,k3:9092 --kafka-replication 3
  feedsvc migrate --config /etc/feedsvc/production.yaml`,
		Args: cobra.NoArgs,
	}
	return withConfig(cmd, configs.GroupKafka|configs.GroupStore|configs.GroupMigrate, func(ctx context.Context, cfg *configs.Config, log *slog.Logger, _ []string) error {
		return wiring.Migrate(ctx, cfg, log, progress.Stderr())
	})
}

func feedCmd() *cobra.Command {
	feed := &cobra.Command{Use: "feed", Short: "Operator tools for cached home feeds"}
	inspect := &cobra.Command{
		Use:   "inspect USER | --list ID",
		Short: "Print the post IDs cached in USER's feed in Redis, newest first, one per line (no rebuild)",
		Long: `Prints the post IDs cached in USER's home feed in Redis, newest first, one per line, as fan-out
wrote them: nothing is rebuilt and the feed's expiry is not renewed. A feed not cached prints
nothing. With --list ID and no USER it prints list ID's feed instead. With --floor it prints only the feed's floor: the highest post ID the cap has cut from
it (0: none). Posts at or below the floor are not part of the feed, by design: the feed is a
window of the newest posts. With --json it prints both as one JSON object, for scripts.

Without --redis-addr it reads the embedded Redis of the feedsvc serve running on --data-dir
(the embedded Redis is in memory, inside that process; serve records its address in
<data-dir>/serve.json).`,
		Example: `  feedsvc feed inspect alice                          # next to feedsvc serve on ./data
  feedsvc feed inspect alice --redis-addr redis1:6379
  feedsvc feed inspect alice --floor
  feedsvc feed inspect alice --json                   # {"feed":"alice","floor":"0","ids":[...]}
  feedsvc feed inspect --list 388313398405763095`,
	}
	var (
		floor, asJSON bool
		list          string
	)
	inspect.Args = func(cmd *cobra.Command, args []string) error {
		if list != "" {
			if _, err := app.ParseID(list); err != nil {
				return fmt.Errorf("--list %q: %w", list, err)
			}
			return cobra.NoArgs(cmd, args)
		}
		return cobra.ExactArgs(1)(cmd, args)
	}
	inspect = withConfig(inspect, configs.GroupRedis, func(ctx context.Context, cfg *configs.Config, log *slog.Logger, args []string) error {
		client, err := wiring.OpenRedis(ctx, cfg, log)
		if err != nil {
			return err
		}
		defer client.Close()
		feeds := redisstore.NewFeeds(client, cfg.Feeds.Cap, 0)
		name := ""
		if list != "" {
			id, _ := app.ParseID(list) // checked by Args
			name = app.ListFeed(id)
		} else {
			name = args[0]
		}
		var fl app.ID
		if floor || asJSON {
			f, err := feeds.Floor(ctx, name)
			if err != nil {
				return err
			}
			if !asJSON {
				fmt.Fprintln(inspect.OutOrStdout(), f)
				return nil
			}
			fl = f
		}
		ids, err := feeds.Inspect(ctx, name)
		if err != nil {
			return err
		}
		if asJSON {
			// IDs as strings, as the API writes them (they pass 2^53).
			out := struct {
				Feed  string   `json:"feed"`
				Floor string   `json:"floor"`
				IDs   []string `json:"ids"`
			}{Feed: name, Floor: fl.String(), IDs: make([]string, len(ids))}
			for i, id := range ids {
				out.IDs[i] = id.String()
			}
			return json.NewEncoder(inspect.OutOrStdout()).Encode(out)
		}
		for _, id := range ids {
			fmt.Fprintln(inspect.OutOrStdout(), id)
		}
		return nil
	})
	inspect.Flags().StringVar(&list, "list", "", "inspect the feed of list ID instead of a user's home feed")
	inspect.Flags().BoolVar(&floor, "floor", false, "print only the feed's floor: the highest post ID the cap has cut from it (0: none)")
	inspect.Flags().BoolVar(&asJSON, "json", false, `print one JSON object: the feed's name, its floor and its post IDs ({"feed","floor","ids"})`)
	inspect.MarkFlagsMutuallyExclusive("floor", "json")
	feed.AddCommand(inspect)
	return feed
}

func moderationCmd() *cobra.Command {
	mod := &cobra.Command{Use: "moderation", Short: "Operator tools for moderation"}
	var limit int
	var cursor string
	list := &cobra.Command{
		Use:   "list",
		Short: "List moderation decisions, newest first",
		Long: `Lists the moderation decisions in the store, newest first: the post, its author, the rule it
broke and when. Next to a running embedded serve on --data-dir, which holds the embedded store,
the decisions come from serve's admin listener.`,
		Example: `  feedsvc moderation list --limit 20
  feedsvc moderation list --cursor 7301234567890123456      # the next page
  feedsvc moderation list --cassandra-hosts c1,c2`,
		Args: cobra.NoArgs,
	}
	list = withConfig(list, configs.GroupStore, func(ctx context.Context, cfg *configs.Config, log *slog.Logger, _ []string) error {
		ds, next, err := wiring.ModerationDecisions(ctx, cfg, log, cursor, limit)
		if errors.Is(err, app.ErrInvalid) {
			return usageError{err}
		}
		if err != nil {
			return err
		}
		return printDecisions(list.OutOrStdout(), ds, next)
	})
	list.Flags().IntVar(&limit, "limit", 50, "decisions to show")
	list.Flags().StringVar(&cursor, "cursor", "", "continue after this post ID")
	mod.AddCommand(list)
	return mod
}

func printDecisions(out io.Writer, ds []app.Decision, next string) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "POST\tAUTHOR\tRULE\tDETAIL\tDECIDED AT")
	for _, d := range ds {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", d.Post, d.Author, d.Rule, d.Detail, d.DecidedAt.Format(time.RFC3339))
	}
	if next != "" {
		fmt.Fprintf(w, "(more: --cursor %s)\n", next)
	}
	return w.Flush()
}

func versionCmd(build buildinfo.Info) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit, build time and Go version",
		Args:  cobra.NoArgs,
		Run:   func(cmd *cobra.Command, _ []string) { fmt.Fprint(cmd.OutOrStdout(), build.String()) },
	}
}
