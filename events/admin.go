package events

import (
	"context"
	"errors"
	"fmt"

	"github.com/IBM/sarama"
)

// TopicSpec says how to create topics.
type TopicSpec struct {
	Partitions  int32
	Replication int16
}

// EnsureTopics creates the topics and their dead-letter topics if missing
// (idempotent). Existing topics are left as they are.
func EnsureTopics(brokers []string, topics Topics, spec TopicSpec) error {
	admin, err := sarama.NewClusterAdmin(brokers, SaramaConfig("feedsvc-admin"))
	if err != nil {
		return fmt.Errorf("kafka admin: %w", err)
	}
	defer admin.Close()
	var names []string
	for _, t := range topics.All() {
		names = append(names, t, DeadLetter(t))
	}
	for _, name := range names {
		err := admin.CreateTopic(name, &sarama.TopicDetail{
			NumPartitions:     spec.Partitions,
			ReplicationFactor: spec.Replication,
		}, false)
		if err != nil && !errors.Is(err, sarama.ErrTopicAlreadyExists) {
			return fmt.Errorf("create topic %s: %w", name, err)
		}
	}
	return nil
}

// Health checks the cluster for readiness probes with one long-lived
// client, so a probe costs a metadata request, not a new connection.
type Health struct{ c sarama.Client }

// NewHealth connects the health-check client.
func NewHealth(brokers []string) (*Health, error) {
	c, err := sarama.NewClient(brokers, SaramaConfig("feedsvc-health"))
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	return &Health{c: c}, nil
}

// Ping checks that a broker answers a metadata request.
func (h *Health) Ping(context.Context) error {
	if err := h.c.RefreshMetadata(); err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	return nil
}

// Close closes the client.
func (h *Health) Close() error { return h.c.Close() }
