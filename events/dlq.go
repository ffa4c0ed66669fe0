package events

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/IBM/sarama"
)

// HeaderDLQReplayedFrom is added to an event re-published from a dead-letter
// topic: "dlq-topic/partition@offset", so the copy can be traced back.
const HeaderDLQReplayedFrom = "x-dlq-replayed-from"

// DLQEntry is one dead-lettered event.
type DLQEntry struct {
	// Where the dead letter itself is.
	DLQTopic     string
	DLQPartition int32
	DLQOffset    int64
	// Where the event was when it failed, and the group that gave up on it.
	Topic     string
	Partition int32
	Offset    int64
	Group     string
	// The event (CloudEvents attributes) and why it failed.
	EventID   string
	EventType string
	Time      time.Time // the event's time (ce_time, else the record timestamp)
	Error     string
	// Replayed reports whether a DLQ replay of the group already
	// re-published this entry.
	Replayed bool

	key, value []byte
	headers    []*sarama.RecordHeader
}

// ReplayGroup is the consumer group whose committed offsets on the
// dead-letter topics mark how far dead letters of group were replayed. It
// never has members: only ReplayDeadLetters commits for it.
func ReplayGroup(group string) string { return group + ".dlq-replay" }

// ListDeadLetters reads the dead-letter topics of topics from the beginning
// (with a plain consumer, not a group, so reading changes nothing) and
// returns the entries group dead-lettered, oldest first per partition. limit
// > 0 keeps only the first limit entries.
func ListDeadLetters(ctx context.Context, cl Cluster, group string, topics []string, limit int) ([]DLQEntry, error) {
	c, err := dialOps(cl)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	replayed, err := c.committed(ReplayGroup(group), dlqTopics(topics))
	if err != nil {
		return nil, err
	}
	var out []DLQEntry
	for _, topic := range sortedUnique(topics) {
		err := c.readDLQ(ctx, topic, nil, func(e DLQEntry) bool {
			if e.Group != group {
				return true
			}
			if off, ok := replayed[e.DLQTopic][e.DLQPartition]; ok && e.DLQOffset < off {
				e.Replayed = true
			}
			out = append(out, e)
			return limit <= 0 || len(out) < limit
		})
		if err != nil {
			return nil, err
		}
		if limit > 0 && len(out) >= limit {
			break
		}
	}
	return out, nil
}

// ReplayDeadLetters re-publishes group's dead letters that were not replayed
// yet to their original topics, so the group handles them again (handlers are
// idempotent, and the key keeps each on its original partition). Without
// execute it only returns what it would re-publish. With execute it then
// commits, for ReplayGroup(group), the dead-letter offsets it got past, so the
// same dead letter is never re-driven twice; a new failure dead-letters the
// event again as a new entry.
func ReplayDeadLetters(ctx context.Context, cl Cluster, group string, topics []string, execute bool) ([]DLQEntry, error) {
	c, err := dialOps(cl)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	replayGroup := ReplayGroup(group)
	if err := c.requireInactive(replayGroup); err != nil {
		return nil, err
	}
	done, err := c.committed(replayGroup, dlqTopics(topics))
	if err != nil {
		return nil, err
	}
	var producer sarama.SyncProducer
	if execute {
		producer, err = sarama.NewSyncProducer(cl.Brokers, cl.Config("feedsvc-dlq-replay"))
		if err != nil {
			return nil, fmt.Errorf("dlq replay producer: %w", err)
		}
		defer producer.Close()
	}
	var out []DLQEntry
	for _, topic := range sortedUnique(topics) {
		// progress is the next dead-letter offset per partition: commit it
		// even after a failure, so a rerun does not re-publish what went out.
		progress := map[int32]int64{}
		var sendErr error
		readErr := c.readDLQ(ctx, topic, done[DeadLetter(topic)], func(e DLQEntry) bool {
			if e.Group == group {
				if execute {
					if _, _, err := producer.SendMessage(replayMessage(e)); err != nil {
						sendErr = fmt.Errorf("re-publish %s/%d@%d to %s: %w", e.DLQTopic, e.DLQPartition, e.DLQOffset, e.Topic, err)
						return false
					}
				}
				out = append(out, e)
			}
			progress[e.DLQPartition] = e.DLQOffset + 1
			return true
		})
		if execute && len(progress) > 0 {
			if err := c.commit(replayGroup, map[string]map[int32]int64{DeadLetter(topic): progress}); err != nil {
				return out, err
			}
		}
		if sendErr != nil {
			return out, sendErr
		}
		if readErr != nil {
			return out, readErr
		}
	}
	return out, nil
}

// replayMessage is the original event again: key, value and CloudEvents
// headers, without the dead-letter headers (a new failure adds fresh ones).
func replayMessage(e DLQEntry) *sarama.ProducerMessage {
	msg := &sarama.ProducerMessage{
		Topic: e.Topic,
		Value: sarama.ByteEncoder(e.value),
		// The record is appended now: a later time-based replay must see it
		// where it sits in the log. The event's own time stays in ce_time.
		Timestamp: time.Now(),
	}
	if e.key != nil {
		msg.Key = sarama.ByteEncoder(e.key)
	}
	for _, h := range e.headers {
		if !strings.HasPrefix(string(h.Key), "x-dlq-") {
			msg.Headers = append(msg.Headers, *h)
		}
	}
	msg.Headers = append(msg.Headers, sarama.RecordHeader{
		Key:   []byte(HeaderDLQReplayedFrom),
		Value: fmt.Appendf(nil, "%s/%d@%d", e.DLQTopic, e.DLQPartition, e.DLQOffset),
	})
	return msg
}

func dlqTopics(topics []string) []string {
	var out []string
	for _, t := range sortedUnique(topics) {
		out = append(out, DeadLetter(t))
	}
	return out
}

// readDLQ calls fn with every entry of topic's dead-letter topic, from the
// offsets in from (the log start where absent) up to the log end as of the
// call, partition by partition, until fn returns false.
func (c *opsConn) readDLQ(ctx context.Context, topic string, from map[int32]int64, fn func(DLQEntry) bool) error {
	dlq := DeadLetter(topic)
	parts, err := c.client.Partitions(dlq)
	if err != nil {
		return fmt.Errorf("partitions of %s: %w", dlq, err)
	}
	slices.Sort(parts)
	consumer, err := sarama.NewConsumerFromClient(c.client)
	if err != nil {
		return fmt.Errorf("consumer for %s: %w", dlq, err)
	}
	defer consumer.Close()
	for _, p := range parts {
		start, end, err := c.bounds(dlq, p)
		if err != nil {
			return err
		}
		if off, ok := from[p]; ok {
			start = max(start, off)
		}
		if start >= end {
			continue
		}
		more, err := readPartition(ctx, consumer, topic, dlq, p, start, end, fn)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// readPartition reads [start, end) of one dead-letter partition; it reports
// false when fn asked to stop.
func readPartition(ctx context.Context, consumer sarama.Consumer, topic, dlq string, p int32, start, end int64, fn func(DLQEntry) bool) (bool, error) {
	pc, err := consumer.ConsumePartition(dlq, p, start)
	if err != nil {
		return false, fmt.Errorf("read %s/%d from %d: %w", dlq, p, start, err)
	}
	defer pc.Close()
	for {
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case err := <-pc.Errors():
			return false, fmt.Errorf("read %s/%d: %w", dlq, p, err)
		case msg := <-pc.Messages():
			if !fn(parseDLQ(topic, msg)) {
				return false, nil
			}
			if msg.Offset+1 >= end {
				return true, nil
			}
		}
	}
}

// parseDLQ reads the dead-letter headers the Runner adds. The last
// occurrence wins: it is the most recent failure.
func parseDLQ(topic string, msg *sarama.ConsumerMessage) DLQEntry {
	e := DLQEntry{
		DLQTopic: msg.Topic, DLQPartition: msg.Partition, DLQOffset: msg.Offset,
		Topic: topic, Partition: -1, Offset: -1, Time: msg.Timestamp,
		key: msg.Key, value: msg.Value, headers: msg.Headers,
	}
	for _, h := range msg.Headers {
		v := string(h.Value)
		switch string(h.Key) {
		case HeaderDLQGroup:
			e.Group = v
		case HeaderDLQError:
			e.Error = v
		case HeaderDLQPartition:
			if n, err := strconv.ParseInt(v, 10, 32); err == nil {
				e.Partition = int32(n)
			}
		case HeaderDLQOffset:
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				e.Offset = n
			}
		case hID:
			e.EventID = v
		case hType:
			e.EventType = v
		case hTime:
			if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
				e.Time = t
			}
		}
	}
	return e
}
