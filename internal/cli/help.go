package cli

import (
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/feedsvc/feedsvc/configs"
)

// settingsHelp is the root's explanation of where settings come from. The
// mapping is configs.EnvName and the file's keys (configs.Load).
const settingsHelp = `Settings: every setting is a flag, and can also be given as an environment variable or as
a key of a YAML config file. The variable is FEEDSVC_ and the flag's name in upper case, with
'_' for '-'; the file, named by --config or FEEDSVC_CONFIG, has the flag's name without the
dashes as its key. A flag on the command line wins over the variable, the variable over the
file, the file over the default. These three set the same:

  feedsvc serve --kafka-brokers k1:9092,k2:9092
  FEEDSVC_KAFKA_BROKERS=k1:9092,k2:9092 feedsvc serve
  feedsvc serve --config feedsvc.yaml         # feedsvc.yaml holds: kafka-brokers: [k1:9092, k2:9092]

A list is comma-separated in a flag or a variable, and a YAML list or a comma-separated string
in the file. Each command takes only the settings it uses (see feedsvc COMMAND --help) and
ignores the variables and file keys of the others, so one environment and one file serve every
command; a key that is no setting at all is an error. A command's own flags, such as replay's
--execute, are given on the command line only.

Without --kafka-brokers, --redis-addr and --cassandra-hosts the backends are embedded: a
Kafka-protocol broker, an in-memory Redis and a Pebble store, in --data-dir (./data). The
operator commands (lag, replay, dlq, feed inspect, moderation list) work next to a running
embedded serve on the same --data-dir: serve records where its embedded backends listen in
<data-dir>/serve.json.`

// settingsFooter ends the usage of a command with settings.
const settingsFooter = `Settings can also be given as variables or in the --config file: --data-dir ./data is
FEEDSVC_DATA_DIR=./data, or "data-dir: ./data" in the file (see feedsvc --help).`

// useFlagSections makes the usage of root and its subcommands list a
// command's own flags, then its settings by group ("Kafka settings:").
func useFlagSections(root *cobra.Command) {
	const flags = "Flags:\n{{.LocalFlags.FlagUsages | trimTrailingWhitespaces}}"
	tmpl := root.UsageTemplate()
	if !strings.Contains(tmpl, flags) {
		return // another cobra's template: keep it as it is
	}
	cobra.AddTemplateFunc("flagSections", flagSections)
	root.SetUsageTemplate(strings.Replace(tmpl, flags, "{{flagSections .}}", 1))
}

// flagSections is the flags part of cmd's usage.
func flagSections(cmd *cobra.Command) string {
	own := pflag.NewFlagSet("own", pflag.ContinueOnError)
	groups := map[string]*pflag.FlagSet{}
	cmd.LocalFlags().VisitAll(func(f *pflag.Flag) {
		name := configs.GroupName(f.Name)
		if name == "" {
			own.AddFlag(f)
			return
		}
		if groups[name] == nil {
			groups[name] = pflag.NewFlagSet(name, pflag.ContinueOnError)
		}
		groups[name].AddFlag(f)
	})
	var parts []string
	if own.HasAvailableFlags() {
		parts = append(parts, "Flags:\n"+strings.TrimRight(own.FlagUsages(), " \n"))
	}
	names := make([]string, 0, len(groups))
	for name := range groups {
		names = append(names, name)
	}
	slices.SortFunc(names, func(a, b string) int { return configs.GroupOrder(a) - configs.GroupOrder(b) })
	for _, name := range names {
		parts = append(parts, name+" settings:\n"+strings.TrimRight(groups[name].FlagUsages(), " \n"))
	}
	if len(names) > 0 {
		parts = append(parts, settingsFooter)
	}
	return strings.Join(parts, "\n\n")
}
