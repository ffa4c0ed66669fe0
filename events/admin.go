package events

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/IBM/sarama"
	"golang.org/x/sync/singleflight"
)

// TopicSpec says how to create topics.
type TopicSpec struct {
	Partitions  int32
	Replication int16
}

// configMinInsync is the topic setting that makes acks=all mean "on this
// many replicas".
const configMinInsync = "min.insync.replicas"

// MinInsyncReplicas is the min.insync.replicas of a topic with replication
// replicas: one less, at least 1. acks=all then survives one replica down
// and still means more than the leader alone once the ISR shrinks.
func MinInsyncReplicas(replication int) int { return max(1, replication-1) }

// EnsureTopics creates the topics and their dead-letter topics if missing,
// with min.insync.replicas set by MinInsyncReplicas (idempotent). On a topic
// that exists, it corrects min.insync.replicas when it is below the rule for
// the topic's actual replication or above the replication (no write could
// succeed); an operator's stricter value in between is kept. Partitions and
// replication are left as they are.
func EnsureTopics(c Cluster, topics Topics, spec TopicSpec) error {
	admin, err := sarama.NewClusterAdmin(c.Brokers, c.Config("feedsvc-admin"))
	if err != nil {
		return fmt.Errorf("kafka admin: %w", err)
	}
	defer admin.Close()
	var names []string
	for _, t := range topics.All() {
		names = append(names, t, DeadLetter(t))
	}
	minInsync := strconv.Itoa(MinInsyncReplicas(int(spec.Replication)))
	for _, name := range names {
		detail := &sarama.TopicDetail{
			NumPartitions:     spec.Partitions,
			ReplicationFactor: spec.Replication,
			ConfigEntries:     map[string]*string{configMinInsync: &minInsync},
		}
		err := admin.CreateTopic(name, detail, false)
		// A busy controller answers REQUEST_TIMED_OUT while it still
		// creates the topic: ask again, and "already exists" ends it.
		for deadline := time.Now().Add(createRetryFor); errors.Is(err, sarama.ErrRequestTimedOut) && time.Now().Before(deadline); {
			time.Sleep(time.Second)
			err = admin.CreateTopic(name, detail, false)
		}
		switch {
		case errors.Is(err, sarama.ErrTopicAlreadyExists):
			if err := ensureMinInsync(admin, name); err != nil {
				return err
			}
		case err != nil:
			return fmt.Errorf("create topic %s: %w", name, err)
		}
	}
	return nil
}

// createRetryFor bounds how long EnsureTopics asks again for a topic whose
// creation timed out.
const createRetryFor = time.Minute

// ensureMinInsync corrects min.insync.replicas on an existing topic (see
// minInsyncFix), by its smallest partition replication.
func ensureMinInsync(admin sarama.ClusterAdmin, name string) error {
	md, err := describeCreated(admin, name)
	if err != nil {
		return err
	}
	replication := len(md[0].Partitions[0].Replicas)
	for _, p := range md[0].Partitions {
		replication = min(replication, len(p.Replicas))
	}
	var entries []sarama.ConfigEntry
	// The broker that answers may not know a topic created a moment ago.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		entries, err = admin.DescribeConfig(sarama.ConfigResource{
			Type: sarama.TopicResource, Name: name, ConfigNames: []string{configMinInsync},
		})
		if !errors.Is(err, sarama.ErrUnknownTopicOrPartition) || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("describe config of topic %s: %w", name, err)
	}
	current := ""
	for _, e := range entries {
		if e.Name == configMinInsync {
			current = e.Value
		}
	}
	want, fix := minInsyncFix(current, replication)
	if !fix {
		return nil
	}
	err = admin.IncrementalAlterConfig(sarama.TopicResource, name, map[string]sarama.IncrementalAlterConfigsEntry{
		configMinInsync: {Operation: sarama.IncrementalAlterConfigsOperationSet, Value: &want},
	}, false)
	if err != nil {
		return fmt.Errorf("set %s=%s on topic %s: %w", configMinInsync, want, name, err)
	}
	return nil
}

// minInsyncFix says what min.insync.replicas a topic with replication
// replicas and the value current needs, if it needs a change: the rule's
// value when current is below it (acks=all would mean too few copies),
// above the replication (every write would fail) or unreadable.
func minInsyncFix(current string, replication int) (string, bool) {
	rule := MinInsyncReplicas(replication)
	n, err := strconv.Atoi(current)
	if err == nil && n >= rule && n <= max(replication, 1) {
		return current, false
	}
	return strconv.Itoa(rule), true
}

// describeCreated describes a topic that exists. A topic created a moment
// ago may not have reached the metadata of the broker that answers yet (it
// reports the topic unknown or without partitions), so that is retried for a
// few seconds.
func describeCreated(admin sarama.ClusterAdmin, name string) ([]*sarama.TopicMetadata, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		md, err := admin.DescribeTopics([]string{name})
		if err != nil {
			return nil, fmt.Errorf("describe topic %s: %w", name, err)
		}
		if len(md) == 1 && errors.Is(md[0].Err, sarama.ErrNoError) && len(md[0].Partitions) > 0 {
			return md, nil
		}
		propagating := len(md) == 1 && (errors.Is(md[0].Err, sarama.ErrNoError) ||
			errors.Is(md[0].Err, sarama.ErrUnknownTopicOrPartition) || errors.Is(md[0].Err, sarama.ErrLeaderNotAvailable))
		if !propagating || time.Now().After(deadline) {
			return nil, fmt.Errorf("describe topic %s: no partitions in %+v", name, md)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Health checks the cluster for readiness probes with one long-lived
// client, so a probe costs a metadata request, not a new connection.
type Health struct {
	c      sarama.Client
	flight singleflight.Group
}

// NewHealth makes the health-check client. It connects on the first Ping,
// so it never blocks on an unreachable or frozen broker.
func NewHealth(cl Cluster) (*Health, error) {
	cfg := cl.Config("feedsvc-health")
	// No metadata fetch here; and a probe is one try, bounded below the
	// 30 s network defaults, so a frozen broker frees its goroutine soon.
	cfg.Metadata.Full = false
	cfg.Metadata.Retry.Max = 0
	cfg.Net.DialTimeout = 5 * time.Second
	cfg.Net.ReadTimeout = 5 * time.Second
	cfg.Net.WriteTimeout = 5 * time.Second
	c, err := sarama.NewClient(cl.Brokers, cfg)
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	return &Health{c: c}, nil
}

// Ping checks that a broker answers a metadata request, and returns when
// ctx ends even if the broker never answers. Concurrent probes share one
// request, so probes of a frozen broker do not pile up.
func (h *Health) Ping(ctx context.Context) error {
	ch := h.flight.DoChan("metadata", func() (any, error) { return nil, h.c.RefreshMetadata() })
	select {
	case res := <-ch:
		if res.Err != nil {
			return fmt.Errorf("kafka: %w", res.Err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("kafka: metadata request: %w", context.Cause(ctx))
	}
}

// Close closes the client.
func (h *Health) Close() error { return h.c.Close() }
