package cli

import (
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/feedsvc/feedsvc/roles"
)

// roleInfo is one role as `feedsvc roles --output json` prints it: what
// deployment files and scripts derive from the role table.
type roleInfo struct {
	Name string `json:"name"`
	// ConsumerGroup is the group's name without --consumer-group-prefix;
	// empty for a role that consumes nothing.
	ConsumerGroup  string `json:"consumer_group,omitempty"`
	Store          bool   `json:"store"`
	Redis          bool   `json:"redis"`
	Producer       bool   `json:"producer"`
	HTTP           bool   `json:"http"`
	IDs            bool   `json:"ids"`
	RebuildFromLog bool   `json:"rebuild_from_log"`
}

func rolesCmd(table roles.Rows) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "roles [--output text|json]",
		Short: "List the roles serve can run, with what each needs",
		Long: `Lists the rows of the role table in start order: the backends each role opens, its consumer
group and whether its output is rebuilt from the log on an embedded Redis. The deployment files
under deploy/ are generated from --output json (cd deploy && go generate).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var infos []roleInfo
			for _, r := range table {
				if r.Hidden {
					continue
				}
				i := roleInfo{Name: r.Name, Store: r.Needs.Store, Redis: r.Needs.Redis, Producer: r.Needs.Producer,
					HTTP: r.Needs.HTTP, IDs: r.Needs.IDs, RebuildFromLog: r.Needs.RebuildFromLog}
				if r.Needs.Consumer {
					i.ConsumerGroup = r.Name
				}
				infos = append(infos, i)
			}
			if err := checkOutput(output); err != nil {
				return err
			}
			if output == "json" {
				return printJSON(cmd.OutOrStdout(), infos)
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ROLE\tCONSUMER GROUP\tOPENS")
			for _, i := range infos {
				fmt.Fprintf(w, "%s\t%s\t%s\n", i.Name, orDash(i.ConsumerGroup), opens(i))
			}
			return w.Flush()
		},
	}
	outputFlag(cmd, &output)
	return cmd
}

// opens names what a role opens, for the text listing.
func opens(i roleInfo) string {
	var parts []string
	for _, p := range []struct {
		on   bool
		what string
	}{{i.Store, "store"}, {i.Redis, "redis"}, {i.Producer, "producer"}, {i.ConsumerGroup != "", "consumer"}, {i.HTTP, "http"}, {i.IDs, "ids"}} {
		if p.on {
			parts = append(parts, p.what)
		}
	}
	return strings.Join(parts, ",")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// completeFlags teaches shell completion (`feedsvc completion bash`) the
// values of --role (a comma list of the table's roles), --group (its
// consumer groups) and --output, on every command that has them.
func completeFlags(cmd *cobra.Command, table roles.Rows) {
	for _, c := range cmd.Commands() {
		completeFlags(c, table)
	}
	fixed := func(values ...string) cobra.CompletionFunc {
		return cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp)
	}
	for name, complete := range map[string]cobra.CompletionFunc{
		"role":   roleCompletion(table),
		"group":  fixed(table.Consumers()...),
		"output": fixed("text", "json"),
	} {
		if cmd.Flags().Lookup(name) != nil {
			_ = cmd.RegisterFlagCompletionFunc(name, complete) // fails only if registered twice
		}
	}
}

// roleCompletion completes the last role of a comma list.
func roleCompletion(table roles.Rows) cobra.CompletionFunc {
	return func(_ *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		prefix := toComplete[:strings.LastIndex(toComplete, ",")+1] // the roles already chosen
		chosen := strings.Split(prefix, ",")
		var out []cobra.Completion
		if prefix == "" {
			out = append(out, "all")
		}
		for _, name := range table.Names() {
			if !slices.Contains(chosen, name) {
				out = append(out, prefix+name)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
	}
}
