package events

import (
	"time"

	"github.com/IBM/sarama"

	"github.com/feedsvc/feedsvc/app"
)

// Topics names the topics feedsvc uses.
type Topics struct {
	Posts   string // post.* events, keyed by author
	Follows string // app.UserFollowed / app.UserUnfollowed (by follower), app.UserBlocked / app.UserUnblocked (by blocker), app.UserMuted / app.UserUnmuted (by muter), app.PostLiked / app.PostUnliked (by liker)
}

// For returns the topic an event type belongs to.
func (t Topics) For(eventType string) string {
	switch eventType {
	case app.UserFollowed, app.UserUnfollowed, app.UserBlocked, app.UserUnblocked, app.UserMuted, app.UserUnmuted, app.PostLiked, app.PostUnliked:
		return t.Follows
	}
	return t.Posts
}

// All lists the topics.
func (t Topics) All() []string { return []string{t.Posts, t.Follows} }

// DeadLetter returns the dead-letter topic of topic.
func DeadLetter(topic string) string { return topic + ".dlq" }

// kafkaVersion is the protocol version sarama speaks: supported by Kafka 4.x
// (which dropped pre-2.1 protocols) and by the embedded broker.
var kafkaVersion = sarama.V3_6_0_0

// Network timeouts of every Kafka client. sarama's defaults (30 s to dial,
// write and read, metadata retried without a deadline) let a frozen
// broker hold a caller for minutes.
const (
	dialTimeout  = 3 * time.Second
	writeTimeout = 3 * time.Second
	// readTimeout must outlast what a broker may hold a request for:
	// produceTimeout, and a JoinGroup while the group rebalances (sarama,
	// unlike the Java client, does not stretch the read deadline for it).
	// The producer, which never joins a group, reads with less (see
	// newProducer).
	readTimeout = 10 * time.Second
	// metadataTimeout bounds a metadata refresh, all its retries included.
	metadataTimeout = 5 * time.Second
	// adminTimeout bounds an admin request (topic creation, offsets).
	adminTimeout = 5 * time.Second
	// produceTimeout is how long a leader waits for the in-sync replicas
	// to acknowledge (acks=all) before it answers with a timeout.
	produceTimeout = 3 * time.Second
)

// SaramaConfig returns the sarama configuration every feedsvc Kafka client
// uses. The producer is idempotent with acks=all, so an acknowledged event is
// on every in-sync replica exactly once; consumers start at the oldest event
// and commit only offsets the handler marked (after it succeeded). Every
// network wait is bounded within seconds.
func SaramaConfig(clientID string) *sarama.Config {
	c := sarama.NewConfig()
	c.Version = kafkaVersion
	c.ClientID = clientID
	c.Net.DialTimeout = dialTimeout
	c.Net.WriteTimeout = writeTimeout
	c.Net.ReadTimeout = readTimeout
	c.Metadata.RefreshFrequency = 30 * time.Second
	c.Metadata.Timeout = metadataTimeout
	c.Admin.Timeout = adminTimeout
	c.Producer.Idempotent = true
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Return.Successes = true
	c.Producer.Timeout = produceTimeout
	// Enough retries, 500 ms apart, to ride out a leader election (a few
	// seconds); few enough that a send to a dead cluster ends within about
	// a minute even when every attempt waits out its timeouts. Publish
	// returns sooner (publishTimeout).
	c.Producer.Retry.Max = 5
	c.Producer.Retry.Backoff = 500 * time.Millisecond
	c.Producer.Flush.Frequency = time.Millisecond
	c.Net.MaxOpenRequests = 1 // required by the idempotent producer
	c.Consumer.Offsets.Initial = sarama.OffsetOldest
	c.Consumer.Offsets.AutoCommit.Enable = true
	c.Consumer.Offsets.AutoCommit.Interval = time.Second
	c.Consumer.Return.Errors = true
	c.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategySticky()}
	return c
}
