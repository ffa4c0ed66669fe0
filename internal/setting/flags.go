package setting

import (
	"fmt"
	"time"

	"github.com/spf13/pflag"
)

// Group is a set of settings that go together; a command binds the groups
// it uses (configs.Config.BindGroups), shows only their flags, reads only
// their variables and file keys, and validates only them. Each flag
// belongs to one group, given where it is registered (Flags.In).
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

// Registry records, as flags are registered through Flags, the field each
// flag sets and the group each belongs to: what turns an *Error's Field
// into its flag, and what decides which commands take a flag.
type Registry struct {
	flagOf  map[string]string // field path -> flag name
	groupOf map[string]Group  // flag name -> group
}

// NewRegistry returns an empty Registry.
func NewRegistry() *Registry {
	return &Registry{flagOf: map[string]string{}, groupOf: map[string]Group{}}
}

// Flag is the flag that sets the field at path (a path of the struct
// registered at the root, e.g. "Kafka.Topics.Posts").
func (r *Registry) Flag(path string) (string, bool) {
	name, ok := r.flagOf[path]
	return name, ok
}

// Group is the group of the flag name (0 and false: not registered).
func (r *Registry) Group(name string) (Group, bool) {
	g, ok := r.groupOf[name]
	return g, ok
}

// Fields returns a copy of the field path -> flag mapping.
func (r *Registry) Fields() map[string]string {
	m := make(map[string]string, len(r.flagOf))
	for path, name := range r.flagOf {
		m[path] = name
	}
	return m
}

// Flags registers a configuration struct's settings as flags, recording
// in a Registry the field each sets and its group. A Config registers its
// own fields beside its struct (a RegisterFlags method), so an adapter
// names its flags without knowing pflag's FlagSet or the process's
// configuration: it is given a Flags for its place in the whole (Sub) and
// says which group each of its flags belongs to (In).
//
// Each method sets the field to the default, as pflag's do; the path is
// the Go field path relative to the struct being registered ("TLS.CAFile"
// or, with Sub("TLS"), "CAFile"), the one its Validate reports in an
// *Error. An empty path registers a flag that sets no field Validate
// reports.
type Flags struct {
	fs     *pflag.FlagSet
	reg    *Registry
	prefix string
	group  Group
}

// NewFlags registers on fs, recording in reg. Its flags have no group
// until In gives one.
func NewFlags(fs *pflag.FlagSet, reg *Registry) Flags {
	return Flags{fs: fs, reg: reg}
}

// Sub returns f for the nested struct in field: its paths are put after
// field+".".
func (f Flags) Sub(field string) Flags {
	f.prefix = f.path(field)
	return f
}

// In returns f registering its flags in group g.
func (f Flags) In(g Group) Flags {
	f.group = g
	return f
}

func (f Flags) path(field string) string {
	if f.prefix == "" || field == "" {
		return f.prefix + field
	}
	return f.prefix + "." + field
}

// record notes that name sets field and belongs to f's group. It panics on
// a flag without a group or a field set by two flags: both are mistakes
// in the code that registers them, as pflag's panic on a name given twice.
func (f Flags) record(field, name string) {
	if f.group == 0 {
		panic(fmt.Sprintf("setting: flag --%s registered without a group (Flags.In)", name))
	}
	f.reg.groupOf[name] = f.group
	if field == "" {
		return
	}
	path := f.path(field)
	if prev, ok := f.reg.flagOf[path]; ok {
		panic(fmt.Sprintf("setting: field %s is set by --%s and --%s", path, prev, name))
	}
	f.reg.flagOf[path] = name
}

// String registers a string flag.
func (f Flags) String(p *string, field, name, value, usage string) {
	f.fs.StringVar(p, name, value, usage)
	f.record(field, name)
}

// Int registers an integer flag.
func (f Flags) Int(p *int, field, name string, value int, usage string) {
	f.fs.IntVar(p, name, value, usage)
	f.record(field, name)
}

// Bool registers a boolean flag.
func (f Flags) Bool(p *bool, field, name string, value bool, usage string) {
	f.fs.BoolVar(p, name, value, usage)
	f.record(field, name)
}

// Duration registers a duration flag.
func (f Flags) Duration(p *time.Duration, field, name string, value time.Duration, usage string) {
	f.fs.DurationVar(p, name, value, usage)
	f.record(field, name)
}

// StringSlice registers a list flag: comma-separated values in CSV.
func (f Flags) StringSlice(p *[]string, field, name string, value []string, usage string) {
	f.fs.StringSliceVar(p, name, value, usage)
	f.record(field, name)
}

// Var registers a flag of a custom type; its default is v's value as
// registered. A list type should be a pflag.SliceValue too, so that a YAML
// list in the config file sets it element by element.
func (f Flags) Var(v pflag.Value, field, name, usage string) {
	f.fs.Var(v, name, usage)
	f.record(field, name)
}
