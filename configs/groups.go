package configs

import (
	"github.com/spf13/pflag"

	"github.com/feedsvc/feedsvc/internal/setting"
)

// Group is a set of settings that go together (see setting.Group); a
// command binds the groups it uses (BindGroups), shows only their flags,
// reads only their variables and file keys, and validates only them. Each
// flag's group is given where the flag is registered, beside its field.
type Group = setting.Group

// The groups of settings (see setting.GroupCommon and the others).
const (
	GroupCommon         = setting.GroupCommon
	GroupServer         = setting.GroupServer
	GroupRoles          = setting.GroupRoles
	GroupRateLimits     = setting.GroupRateLimits
	GroupAuth           = setting.GroupAuth
	GroupKafka          = setting.GroupKafka
	GroupConsumerGroups = setting.GroupConsumerGroups
	GroupRedis          = setting.GroupRedis
	GroupStore          = setting.GroupStore
	GroupMigrate        = setting.GroupMigrate

	// AllGroups is every setting: what serve takes.
	AllGroups = setting.AllGroups
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

// GroupName is the name of flag's group for the help ("Kafka"), or "" if
// flag is not a config flag.
func GroupName(flag string) string {
	g, ok := registry.Group(flag)
	if !ok {
		return ""
	}
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

// selectors are the backend addresses: whether each backend is the
// embedded one. They are read from the environment and the file by every
// command, also one that does not take them as flags, because they decide
// what else is required: outside the embedded default, `feedsvc token` needs
// a key, an issuer and an audience, as serve does.
var selectors = map[string]bool{"kafka-brokers": true, "redis-addr": true, "cassandra-hosts": true}

// uses reports whether the command c is bound for uses group g (every
// group when c was not bound).
func (c *Config) uses(g Group) bool { return c.groups == 0 || c.groups&g != 0 }
