package events

import (
	"time"

	"github.com/IBM/sarama"

	"github.com/feedsvc/feedsvc/app"
)

// Topics names the topics feedsvc uses.
type Topics struct {
	Posts   string // post.* events, keyed by author
	Follows string // app.UserFollowed / app.UserUnfollowed, keyed by follower
}

// For returns the topic an event type belongs to.
func (t Topics) For(eventType string) string {
	switch eventType {
	case app.UserFollowed, app.UserUnfollowed:
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

// SaramaConfig returns the sarama configuration every feedsvc Kafka client
// uses. The producer is idempotent with acks=all, so an acknowledged event is
// on every in-sync replica exactly once; consumers start at the oldest event
// and commit only offsets the handler marked (after it succeeded).
func SaramaConfig(clientID string) *sarama.Config {
	c := sarama.NewConfig()
	c.Version = kafkaVersion
	c.ClientID = clientID
	c.Metadata.RefreshFrequency = 30 * time.Second
	c.Producer.Idempotent = true
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Return.Successes = true
	c.Producer.Retry.Max = 10
	c.Producer.Retry.Backoff = 200 * time.Millisecond
	c.Producer.Flush.Frequency = time.Millisecond
	c.Net.MaxOpenRequests = 1 // required by the idempotent producer
	c.Consumer.Offsets.Initial = sarama.OffsetOldest
	c.Consumer.Offsets.AutoCommit.Enable = true
	c.Consumer.Offsets.AutoCommit.Interval = time.Second
	c.Consumer.Return.Errors = true
	c.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategySticky()}
	return c
}
