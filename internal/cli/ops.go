package cli

// Operator commands on the event log: replay (offset reset), lag and the
// dead-letter tools. They work on a real cluster, and on the embedded broker
// whether feedsvc serve runs on the data dir or not (see wiring.WithKafka).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/feedsvc/feedsvc/configs"
	"github.com/feedsvc/feedsvc/events"
	"github.com/feedsvc/feedsvc/internal/progress"
	"github.com/feedsvc/feedsvc/internal/wiring"
	"github.com/feedsvc/feedsvc/roles"
)

const embeddedNote = `Without --kafka-brokers the broker is the embedded one of --data-dir: while feedsvc serve
runs on that data dir, the command talks to the broker inside it (serve records its address
in <data-dir>/serve.json); while it does not, the command starts the embedded broker itself.`

func replayCmd() *cobra.Command {
	var (
		group, toDatetime    string
		byDuration           time.Duration
		toEarliest, toLatest bool
		toOffset             int64
		topicList            []string
		execute              bool
		output               string
	)
	cmd := &cobra.Command{
		Use:   "replay --group G (--to-datetime T | --by-duration D | --to-earliest | --to-latest | --to-offset N) [--topic T ...] [--execute]",
		Short: "Move a consumer group's committed offsets so it re-processes (or skips) events; prints the plan unless --execute",
		Long: `Resets the committed offsets of a consumer group, like kafka-consumer-groups --reset-offsets.
Without --execute (a dry run) it prints the plan per partition, also while the group runs;
with --execute it commits the new offsets. The group must then have no live members: stop its
consumers first (the command refuses otherwise). Default topics: those the group has committed
offsets on, else the configured topics. On a terminal it shows its progress on stderr.

` + embeddedNote,
		Example: `  feedsvc replay --group search --to-earliest                 # dry run: the plan
  feedsvc replay --group fanout --by-duration 2h --execute    # fanout's consumers stopped
  feedsvc replay --group analytics --to-datetime 2025-01-31T12:00:00Z --topic feedsvc.posts --execute`,
		Args: cobra.NoArgs,
	}
	cmd = withConfig(cmd, kafkaGroups, func(ctx context.Context, cfg *configs.Config, log *slog.Logger, _ []string) error {
		if group == "" {
			return usageError{errors.New("replay needs --group")}
		}
		if err := checkGroup(group); err != nil {
			return err
		}
		target, err := resetTarget(cmd, toDatetime, byDuration, toEarliest, toLatest, toOffset)
		if err != nil {
			return usageError{err}
		}
		if err := checkOutput(output); err != nil {
			return err
		}
		role, group := group, cfg.Kafka.Group(group)
		return wiring.WithKafka(ctx, cfg, log, func(cl events.Cluster) error {
			line := progress.Stderr()
			plan, err := wiring.PlanReplay(ctx, cl, cfg, group, topicList, target, events.PlanOptions{
				// A dry run shows the plan while the group runs, too.
				Preview:  !execute,
				Progress: func(done, total int) { line.Count("replay: planning partitions", done, total) },
			})
			line.Done()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if output == "json" {
				r := wiring.NewReplay(role, plan)
				if execute {
					if err := events.ApplyReset(ctx, cl, plan); err != nil {
						return err
					}
					r.Executed = true
				}
				return printJSON(out, r)
			}
			if err := printPlan(out, plan); err != nil {
				return err
			}
			if !execute {
				fmt.Fprintln(out, "dry run: nothing changed; add --execute to commit these offsets")
				if plan.Live != "" {
					fmt.Fprintf(out, "note: --execute refuses now: %s\n", plan.Live)
				}
				return nil
			}
			if err := events.ApplyReset(ctx, cl, plan); err != nil {
				return err
			}
			fmt.Fprintf(out, "committed the new offsets of group %s\n", group)
			return nil
		})
	})
	f := cmd.Flags()
	f.StringVar(&group, "group", "", "consumer group: a role's name (fanout, search, ...; --group-prefix goes before it; required)")
	f.StringVar(&toDatetime, "to-datetime", "", "first event at or after this time: RFC 3339, or YYYY-MM-DDTHH:MM:SS[.sss] in local time")
	f.DurationVar(&byDuration, "by-duration", 0, "first event at or after now minus this duration, e.g. 2h")
	f.BoolVar(&toEarliest, "to-earliest", false, "the oldest event still in the log")
	f.BoolVar(&toLatest, "to-latest", false, "the log end (skip everything not yet processed)")
	f.Int64Var(&toOffset, "to-offset", 0, "this offset on every partition (clamped to the log)")
	f.StringSliceVar(&topicList, "topic", nil, "topic to reset (repeatable; default: the group's topics)")
	f.BoolVar(&execute, "execute", false, "commit the new offsets (default: print the plan only)")
	outputFlag(cmd, &output)
	return cmd
}

// resetTarget turns the one given target flag into a reset target.
func resetTarget(cmd *cobra.Command, toDatetime string, byDuration time.Duration, toEarliest, toLatest bool, toOffset int64) (events.ResetTarget, error) {
	var given []string
	for _, name := range []string{"to-datetime", "by-duration", "to-earliest", "to-latest", "to-offset"} {
		if cmd.Flags().Changed(name) {
			given = append(given, "--"+name)
		}
	}
	if len(given) != 1 {
		return events.ResetTarget{}, fmt.Errorf("give exactly one of --to-datetime, --by-duration, --to-earliest, --to-latest, --to-offset (got %d: %s)", len(given), strings.Join(given, " "))
	}
	switch given[0] {
	case "--to-datetime":
		t, err := parseTime(toDatetime)
		if err != nil {
			return events.ResetTarget{}, err
		}
		return events.ResetTarget{Kind: events.ResetToTime, Time: t}, nil
	case "--by-duration":
		if byDuration <= 0 {
			return events.ResetTarget{}, fmt.Errorf("--by-duration must be positive, got %s", byDuration)
		}
		return events.ResetTarget{Kind: events.ResetToTime, Time: time.Now().Add(-byDuration)}, nil
	case "--to-earliest":
		return events.ResetTarget{Kind: events.ResetToEarliest}, nil
	case "--to-latest":
		return events.ResetTarget{Kind: events.ResetToLatest}, nil
	}
	if toOffset < 0 {
		return events.ResetTarget{}, fmt.Errorf("--to-offset must not be negative, got %d", toOffset)
	}
	return events.ResetTarget{Kind: events.ResetToOffset, Offset: toOffset}, nil
}

// parseTime accepts RFC 3339 and, as kafka-consumer-groups does, a local
// time without zone.
func parseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("--to-datetime %q: want RFC 3339 (2006-01-02T15:04:05Z07:00) or local 2006-01-02T15:04:05", s)
}

func printPlan(out io.Writer, plan *events.ResetPlan) error {
	fmt.Fprintf(out, "group %s, reset to %s\n", plan.Group, plan.Target)
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "TOPIC\tPARTITION\tCURRENT\t\tNEW\tEND\tREPROCESS\tSKIP")
	var reprocess, skip int64
	for _, p := range plan.Partitions {
		fmt.Fprintf(w, "%s\t%d\t%s\t->\t%d\t%d\t%d\t%d\n", p.Topic, p.Partition, offset(p.Current), p.New, p.End, p.Reprocess(), p.Skip())
		reprocess += p.Reprocess()
		skip += p.Skip()
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "%d events to reprocess, %d to skip\n", reprocess, skip)
	return nil
}

// offset prints "-" for no committed offset, as kafka-consumer-groups does.
func offset(n int64) string {
	if n < 0 {
		return "-"
	}
	return fmt.Sprint(n)
}

// checkGroup refuses a --group that names no consumer role (as the
// operator's view does): its lag, dead letters or replay would be of a
// group nothing runs.
func checkGroup(group string) error {
	if known := roles.Table.Consumers(); !slices.Contains(known, group) {
		return usageError{fmt.Errorf("--group %q is not a consumer group: give one of %s", group, strings.Join(known, ", "))}
	}
	return nil
}

func lagCmd() *cobra.Command {
	var group, output string
	cmd := &cobra.Command{
		Use:   "lag [--group G]",
		Short: "Print the lag per consumer group and partition of the configured topics, and the outbox backlog",
		Long: `Prints, per consumer group and partition of the configured topics, the committed offset, the log end
offset and the lag (events still to process). Without --group: every group that committed on them.
Then the outbox: events the api wrote with their changes that are not yet published to Kafka, and
the age of the oldest (they wait there while Kafka is down).

` + embeddedNote + ` The outbox is in the store: next to a running embedded serve,
which holds the embedded store, it comes from serve's admin listener.`,
		Example: `  feedsvc lag                       # every group, next to feedsvc serve on ./data
  feedsvc lag --group fanout
  feedsvc lag --config /etc/feedsvc/production.yaml`,
		Args: cobra.NoArgs,
	}
	cmd = withConfig(cmd, kafkaGroups|configs.GroupStore, func(ctx context.Context, cfg *configs.Config, log *slog.Logger, _ []string) error {
		if group != "" {
			if err := checkGroup(group); err != nil {
				return err
			}
		}
		if err := checkOutput(output); err != nil {
			return err
		}
		var report lagReport
		err := wiring.WithKafka(ctx, cfg, log, func(cl events.Cluster) error {
			groups := []string{cfg.Kafka.Group(group)}
			if group == "" {
				var err error
				if groups, err = events.ListGroups(ctx, cl); err != nil {
					return err
				}
			}
			all, err := events.GroupsLag(ctx, cl, groups, wiring.Topics(cfg).All())
			if err != nil {
				return err
			}
			report.Groups = []wiring.LagGroup{}
			for _, g := range groups {
				lags := all[g]
				if group == "" && !anyCommitted(lags) {
					continue // a group of other topics
				}
				role := strings.TrimPrefix(g, cfg.Kafka.GroupPrefix)
				if !slices.Contains(roles.Table.Consumers(), role) {
					role = "" // a group of no role of feedsvc's
				}
				report.Groups = append(report.Groups, wiring.NewLagGroup(role, g, lags))
			}
			if output == "json" {
				return nil
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(w, "GROUP\tTOPIC\tPARTITION\tCOMMITTED\tEND\tLAG")
			for _, g := range report.Groups {
				for _, l := range g.Partitions {
					fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%d\t%d\n", g.Group, l.Topic, l.Partition, offset(l.Committed), l.End, l.Lag)
				}
			}
			return w.Flush()
		})
		if err != nil {
			return err
		}
		out := cmd.OutOrStdout()
		b, err := wiring.OutboxBacklog(ctx, cfg, log)
		if output == "json" {
			report.Outbox = wiring.OutboxState{Available: err == nil, Pending: b.Pending}
			if errors.Is(err, wiring.ErrUnavailable) {
				report.Outbox.Reason = err.Error()
			} else if err != nil {
				return err
			}
			if !b.Oldest.IsZero() {
				oldest := b.Oldest.UTC()
				report.Outbox.Oldest = &oldest
			}
			return printJSON(out, report)
		}
		if errors.Is(err, wiring.ErrUnavailable) {
			_, err = fmt.Fprintf(out, "\noutbox: unavailable: %v\n", err)
			return err
		}
		if err != nil {
			return err
		}
		if b.Pending == 0 {
			_, err = fmt.Fprintln(out, "\noutbox: 0 events pending")
			return err
		}
		_, err = fmt.Fprintf(out, "\noutbox: %d events pending, oldest made %s ago (%s)\n",
			b.Pending, time.Since(b.Oldest).Round(time.Millisecond), b.Oldest.UTC().Format(time.RFC3339Nano))
		return err
	})
	cmd.Flags().StringVar(&group, "group", "", "consumer group: a role's name (fanout, search, ...; --group-prefix goes before it); default: all groups")
	outputFlag(cmd, &output)
	return cmd
}

// lagReport is `feedsvc lag --output json`.
type lagReport struct {
	Groups []wiring.LagGroup  `json:"groups"`
	Outbox wiring.OutboxState `json:"outbox"`
}

func anyCommitted(lags []events.PartitionLag) bool {
	for _, l := range lags {
		if l.Committed >= 0 {
			return true
		}
	}
	return false
}

func dlqCmd() *cobra.Command {
	dlq := &cobra.Command{Use: "dlq", Short: "Inspect and re-drive dead-lettered events"}
	var (
		group     string
		topicList []string
		limit     int
		execute   bool
		output    string
	)
	scope := func(cfg *configs.Config) ([]string, error) {
		if group == "" {
			return nil, usageError{errors.New("--group is required")}
		}
		if err := checkGroup(group); err != nil {
			return nil, err
		}
		if len(topicList) > 0 {
			return topicList, nil
		}
		return wiring.Topics(cfg).All(), nil
	}

	list := &cobra.Command{
		Use:   "list --group G [--topic T] [--limit N]",
		Short: "Print the events group G dead-lettered, oldest first",
		Long:  "Reads the dead-letter topics from the beginning (without a consumer group) and prints group G's entries.\n\n" + embeddedNote,
		Example: `  feedsvc dlq list --group notifications
  feedsvc dlq list --group search --topic feedsvc.posts --limit 0`,
		Args: cobra.NoArgs,
	}
	list = withConfig(list, kafkaGroups, func(ctx context.Context, cfg *configs.Config, log *slog.Logger, _ []string) error {
		ts, err := scope(cfg)
		if err != nil {
			return err
		}
		if limit < 0 {
			return usageError{fmt.Errorf("--limit must not be negative, got %d", limit)}
		}
		if err := checkOutput(output); err != nil {
			return err
		}
		return wiring.WithKafka(ctx, cfg, log, func(cl events.Cluster) error {
			more := 0
			if limit > 0 {
				more = 1 // one past the limit says there are more
			}
			entries, err := events.ListDeadLetters(ctx, cl, cfg.Kafka.Group(group), ts, limit+more)
			if err != nil {
				return err
			}
			if output == "json" {
				return printJSON(list.OutOrStdout(), wiring.NewDeadLetters(group, cfg.Kafka.Group(group), entries, limit))
			}
			if limit > 0 && len(entries) > limit {
				entries = entries[:limit]
			}
			w := tabwriter.NewWriter(list.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(w, "TOPIC\tPARTITION\tOFFSET\tEVENT ID\tTYPE\tEVENT TIME\tREPLAYED\tERROR")
			for _, e := range entries {
				fmt.Fprintf(w, "%s\t%d\t%d\t%s\t%s\t%s\t%v\t%s\n", e.Topic, e.Partition, e.Offset, e.EventID, e.EventType,
					e.Time.UTC().Format(time.RFC3339), e.Replayed, oneLine(e.Error))
			}
			return w.Flush()
		})
	})
	list.Flags().IntVar(&limit, "limit", 100, "print at most N entries (0: all)")
	outputFlag(list, &output)

	replay := &cobra.Command{
		Use:   "replay --group G [--topic T] [--execute]",
		Short: "Re-publish group G's dead-lettered events to their original topics (prints them unless --execute)",
		Long: `Re-publishes group G's dead letters that were not replayed yet to their original topic, where G
handles them again (handlers are idempotent). How far the dead letters were replayed is kept as the
committed offsets of consumer group "G.dlq-replay" on the dead-letter topics, so a second replay
re-publishes nothing. The consumers of G may keep running.

` + embeddedNote,
		Example: `  feedsvc dlq replay --group notifications              # what would be re-published
  feedsvc dlq replay --group notifications --execute`,
		Args: cobra.NoArgs,
	}
	replay = withConfig(replay, kafkaGroups, func(ctx context.Context, cfg *configs.Config, log *slog.Logger, _ []string) error {
		ts, err := scope(cfg)
		if err != nil {
			return err
		}
		return wiring.WithKafka(ctx, cfg, log, func(cl events.Cluster) error {
			group := cfg.Kafka.Group(group)
			entries, err := events.ReplayDeadLetters(ctx, cl, group, ts, execute)
			out := replay.OutOrStdout()
			verb := "would re-publish"
			if execute {
				verb = "re-published"
			}
			for _, e := range entries {
				fmt.Fprintf(out, "%s %s %s (dead letter %s/%d@%d) to %s\n", verb, e.EventType, e.EventID, e.DLQTopic, e.DLQPartition, e.DLQOffset, e.Topic)
			}
			if err != nil {
				return err
			}
			if execute {
				fmt.Fprintf(out, "re-published %d dead-lettered events of group %s\n", len(entries), group)
			} else {
				fmt.Fprintf(out, "dry run: %d dead-lettered events of group %s to re-publish; add --execute to re-publish them\n", len(entries), group)
			}
			return nil
		})
	})
	for _, c := range []*cobra.Command{list, replay} {
		c.Flags().StringVar(&group, "group", "", "consumer group whose dead letters to use: a role's name (--group-prefix goes before it; required)")
		c.Flags().StringSliceVar(&topicList, "topic", nil, "original topic (repeatable; default: the configured topics)")
	}
	replay.Flags().BoolVar(&execute, "execute", false, "re-publish (default: print what would be re-published)")
	dlq.AddCommand(list, replay)
	return dlq
}

// kafkaGroups are the settings of the commands on the event log.
const kafkaGroups = configs.GroupKafka | configs.GroupConsumerGroups

// oneLine keeps an error message on its table row.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// outputFlag gives cmd --output (-o): text for people, json for scripts.
func outputFlag(cmd *cobra.Command, output *string) {
	cmd.Flags().StringVarP(output, "output", "o", "text", "text or json")
}

func checkOutput(output string) error {
	if output != "text" && output != "json" {
		return usageError{fmt.Errorf("--output %q: want text or json", output)}
	}
	return nil
}

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
