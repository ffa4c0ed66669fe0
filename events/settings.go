package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"regexp"
	"strings"

	"github.com/feedsvc/feedsvc/internal/setting"
)

// Default topic names and topic settings, used for zero fields of Config.
const (
	DefaultTopicPosts   = "feedsvc.posts"
	DefaultTopicFollows = "feedsvc.follows"
	DefaultPartitions   = 6
	DefaultReplication  = 1
)

// Config says which Kafka cluster and topics feedsvc uses.
type Config struct {
	// Brokers are the bootstrap brokers, "host:port".
	Brokers []string
	// Topics are the topic names (DefaultTopicPosts and DefaultTopicFollows
	// when empty).
	Topics Topics
	// Partitions and Replication are used when topics are created
	// (DefaultPartitions and DefaultReplication when 0).
	Partitions  int
	Replication int
	// GroupPrefix is put before every consumer group name (the role's),
	// so that deployments can share a Kafka cluster.
	GroupPrefix string
	// ConsumerLanes is how many events of one partition a consumer handles
	// at once, one key's in order (Runner.Lanes; DefaultLanes when 0).
	ConsumerLanes int
	// TLS and SASL secure the connections to the brokers.
	TLS  setting.TLS
	SASL SASL
}

// RegisterFlags registers cfg's settings: the brokers, TLS, SASL and
// topic names are how to reach Kafka; partitions and replication are how
// migrate creates the topics; the group prefix goes with the commands that
// name consumer groups, and the lanes with the roles.
func (cfg *Config) RegisterFlags(f setting.Flags) {
	kafka := f.In(setting.GroupKafka)
	kafka.StringSlice(&cfg.Brokers, "Brokers", "kafka-brokers", nil, "Kafka bootstrap brokers host:port,... (empty: embedded broker)")
	migrate := f.In(setting.GroupMigrate)
	migrate.Int(&cfg.Partitions, "Partitions", "kafka-partitions", DefaultPartitions, "partitions of topics created by migrate")
	migrate.Int(&cfg.Replication, "Replication", "kafka-replication", DefaultReplication, "replication factor of topics created by migrate")
	kafka.String(&cfg.Topics.Posts, "Topics.Posts", "topic-posts", DefaultTopicPosts, "topic of post events")
	kafka.String(&cfg.Topics.Follows, "Topics.Follows", "topic-follows", DefaultTopicFollows, "topic of follow events")
	f.In(setting.GroupRoles).Int(&cfg.ConsumerLanes, "ConsumerLanes", "consumer-lanes", DefaultLanes, "events of one partition a consumer handles at once, one key's (author's, follower's) in order")
	f.In(setting.GroupConsumerGroups).String(&cfg.GroupPrefix, "GroupPrefix", "group-prefix", "", "put before every consumer group name (the role's: fanout, search, ...), so deployments can share a Kafka cluster (give each its own topics too); the operator commands' --group takes the role's name")

	sasl := kafka.Sub("SASL")
	sasl.String(&cfg.SASL.Mechanism, "Mechanism", "kafka-sasl-mechanism", "", "SASL mechanism to log in to Kafka: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (empty: no SASL)")
	sasl.String(&cfg.SASL.User, "User", "kafka-sasl-user", "", "Kafka SASL user")
	sasl.String(&cfg.SASL.Password, "Password", "kafka-sasl-password", "", "Kafka SASL password; prefer FEEDSVC_KAFKA_SASL_PASSWORD or --kafka-sasl-password-file, since a flag shows in the process list")
	sasl.String(&cfg.SASL.PasswordFile, "PasswordFile", "kafka-sasl-password-file", "", "file holding the Kafka SASL password")
	cfg.TLS.RegisterFlags(kafka.Sub("TLS"), "kafka", "Kafka")
}

// Group is the consumer group of role.
func (cfg Config) Group(role string) string { return cfg.GroupPrefix + role }

// WithDefaults returns cfg with its zero fields set to their defaults.
func (cfg Config) WithDefaults() Config {
	if cfg.Topics.Posts == "" {
		cfg.Topics.Posts = DefaultTopicPosts
	}
	if cfg.Topics.Follows == "" {
		cfg.Topics.Follows = DefaultTopicFollows
	}
	if cfg.Partitions == 0 {
		cfg.Partitions = DefaultPartitions
	}
	if cfg.Replication == 0 {
		cfg.Replication = DefaultReplication
	}
	if cfg.ConsumerLanes == 0 {
		cfg.ConsumerLanes = DefaultLanes
	}
	return cfg
}

// topicPattern is what Kafka accepts as a topic name. The length leaves
// room for the dead-letter suffix within Kafka's 249.
var topicPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,245}$`)

var groupPrefixPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,100}$`)

// Validate checks cfg as given (call WithDefaults first to accept zero
// fields) and reports every invalid field as *setting.Error values joined
// with errors.Join.
func (cfg Config) Validate() error {
	var errs []error
	if len(cfg.Brokers) == 0 {
		errs = append(errs, setting.Errorf("Brokers", "no brokers configured"))
	}
	for _, b := range cfg.Brokers {
		if err := setting.HostPort(b); err != nil {
			errs = append(errs, setting.Errorf("Brokers", "%v", err))
		}
	}
	for _, t := range []struct{ field, name string }{{"Topics.Posts", cfg.Topics.Posts}, {"Topics.Follows", cfg.Topics.Follows}} {
		if !topicPattern.MatchString(t.name) || t.name == "." || t.name == ".." {
			errs = append(errs, setting.Errorf(t.field, "%q is not a Kafka topic name (letters, digits, '.', '_' and '-', at most 245)", t.name))
		}
	}
	// Kafka maps '.' to '_' in metric names, so topics differing only there
	// collide; and one topic must not be the other's dead-letter topic.
	p, f := cfg.Topics.Posts, cfg.Topics.Follows
	metric := func(s string) string { return strings.ReplaceAll(s, ".", "_") }
	if metric(p) == metric(f) || metric(DeadLetter(p)) == metric(f) || metric(DeadLetter(f)) == metric(p) {
		errs = append(errs, setting.Errorf("Topics.Follows", "%q collides with the posts topic %q (or its dead-letter topic)", f, p))
	}
	if cfg.GroupPrefix != "" && !groupPrefixPattern.MatchString(cfg.GroupPrefix) {
		errs = append(errs, setting.Errorf("GroupPrefix", "%q is not a group name prefix (letters, digits, '.', '_' and '-', at most 100)", cfg.GroupPrefix))
	}
	if cfg.Partitions < 1 || cfg.Partitions > math.MaxInt32 {
		errs = append(errs, setting.Errorf("Partitions", "%d is out of range 1-%d", cfg.Partitions, math.MaxInt32))
	}
	if cfg.Replication < 1 || cfg.Replication > math.MaxInt16 {
		errs = append(errs, setting.Errorf("Replication", "%d is out of range 1-%d", cfg.Replication, math.MaxInt16))
	}
	if cfg.ConsumerLanes < 1 || cfg.ConsumerLanes > maxLanes {
		errs = append(errs, setting.Errorf("ConsumerLanes", "%d is out of range 1-%d", cfg.ConsumerLanes, maxLanes))
	}
	if err := cfg.TLS.Validate(); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, cfg.SASL.validate()...)
	return errors.Join(errs...)
}

// TopicSpec is how EnsureTopics creates the topics of cfg (call after
// Validate, which keeps the conversions exact).
func (cfg Config) TopicSpec() TopicSpec {
	return TopicSpec{Partitions: int32(cfg.Partitions), Replication: int16(cfg.Replication)}
}

// OpenProducer applies the defaults, validates cfg and prepares a producer
// for its brokers and topics; it connects on first use (so it opens while
// Kafka is down). sarama takes no context and has its own
// logger, so ctx and log are unused; they are taken like every adapter's
// Open.
func OpenProducer(_ context.Context, cfg Config, _ *slog.Logger) (*Producer, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	c, err := cfg.Cluster()
	if err != nil {
		return nil, err
	}
	return newProducer(c, cfg.Topics), nil
}
