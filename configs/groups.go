package configs

import (
	"strings"

	"github.com/spf13/pflag"
)

// Group is a set of settings that go together; a command binds the groups
// it uses (BindGroups), shows only their flags, reads only their variables
// and file keys, and validates only them.
type Group uint

// The groups of settings.
const (
	// GroupCommon is --config, --data-dir, --log-level and --log-format:
	// every command binds it.
	GroupCommon Group = 1 << iota
	// GroupServer is the HTTP listeners, the request deadline and the
	// shutdown of a serving process.
	GroupServer
	// GroupRoles is how the roles behave: feeds, fan-out, IDs, the outbox
	// relay, moderation, search and consumer lanes.
	GroupRoles
	// GroupRateLimits is the api's request limits.
	GroupRateLimits
	// GroupAuth is how bearer tokens are verified and issued (--jwt-*).
	GroupAuth
	// GroupKafka is how to reach Kafka (brokers, TLS, SASL) and the topic
	// names.
	GroupKafka
	// GroupConsumerGroups is --group-prefix (and its older name
	// --consumer-group-prefix), for the commands that name consumer groups.
	GroupConsumerGroups
	// GroupRedis is how to reach Redis, and --feed-cap, which reading a
	// cached feed needs.
	GroupRedis
	// GroupStore is how to reach Cassandra (without hosts: the embedded
	// store in the data dir).
	GroupStore
	// GroupMigrate is how migrate creates the topics and the keyspace:
	// partitions and replication.
	GroupMigrate

	// AllGroups is every setting: what serve takes.
	AllGroups = GroupMigrate<<1 - 1
)

// groupNames name the groups in the help, in this order.
var groupNames = []struct {
	group Group
	name  string
}{
	{GroupCommon, "Common"},
	{GroupServer, "Server"},
	{GroupRoles, "Role"},
	{GroupRateLimits, "Rate limit"},
	{GroupAuth, "Token"},
	{GroupKafka, "Kafka"},
	{GroupConsumerGroups, "Consumer group"},
	{GroupRedis, "Redis"},
	{GroupStore, "Store (Cassandra)"},
	{GroupMigrate, "Topic and keyspace creation"},
}

// groupOf is the group of a config flag. Flags are grouped by name, so a new
// --redis-... flag is a Redis setting without further ado; what matches no
// rule is a setting of the roles.
func groupOf(flag string) Group {
	switch flag {
	case "config", "data-dir", "log-level", "log-format":
		return GroupCommon
	case "http-addr", "admin-addr", "pprof", "shutdown-drain", "shutdown-timeout", "request-timeout", "trusted-proxies", "dev-login":
		return GroupServer
	case "kafka-partitions", "kafka-replication", "cassandra-replication":
		return GroupMigrate
	case "group-prefix", "consumer-group-prefix":
		return GroupConsumerGroups
	case "feed-cap":
		return GroupRedis
	}
	for _, r := range []struct {
		prefix string
		group  Group
	}{
		{"kafka-", GroupKafka}, {"topic-", GroupKafka},
		{"redis-", GroupRedis},
		{"cassandra-", GroupStore},
		{"jwt-", GroupAuth},
		{"rate-limit-", GroupRateLimits},
	} {
		if strings.HasPrefix(flag, r.prefix) {
			return r.group
		}
	}
	return GroupRoles
}

// GroupName is the name of flag's group for the help ("Kafka"), or "" if
// flag is not a config flag.
func GroupName(flag string) string {
	if !isConfigFlag(flag) {
		return ""
	}
	g := groupOf(flag)
	for _, n := range groupNames {
		if n.group == g {
			return n.name
		}
	}
	return ""
}

// GroupOrder is the position of a group's name in the help (-1: unknown).
func GroupOrder(name string) int {
	for i, n := range groupNames {
		if n.name == name {
			return i
		}
	}
	return -1
}

// GroupFlags lists the names of the config flags of groups, sorted.
func GroupFlags(groups Group) []string {
	var c Config
	fs := pflag.NewFlagSet("groups", pflag.ContinueOnError)
	c.BindGroups(fs, groups)
	var names []string
	fs.VisitAll(func(f *pflag.Flag) { names = append(names, f.Name) })
	return names
}

// isConfigFlag reports whether name is a config flag (of any group).
func isConfigFlag(name string) bool {
	_, ok := configFlags[name]
	return ok
}

// configFlags are the names of every config flag.
var configFlags = func() map[string]struct{} {
	var c Config
	fs := pflag.NewFlagSet("all", pflag.ContinueOnError)
	c.Bind(fs)
	m := map[string]struct{}{}
	fs.VisitAll(func(f *pflag.Flag) { m[f.Name] = struct{}{} })
	return m
}()

// selectors are the backend addresses: whether each backend is the
// embedded one. They are read from the environment and the file by every
// command, also one that does not take them as flags, because they decide
// what else is required: outside the embedded default, `feedsvc token` needs
// a key, an issuer and an audience, as serve does.
var selectors = map[string]bool{"kafka-brokers": true, "redis-addr": true, "cassandra-hosts": true}

// uses reports whether the command c is bound for uses group g (every
// group when c was not bound).
func (c *Config) uses(g Group) bool { return c.groups == 0 || c.groups&g != 0 }
