package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/IBM/sarama"

	"github.com/feedsvc/feedsvc/app"
)

// Runner consumes topics as one consumer group and feeds every event to a
// handler, at least once: an offset is marked (and so committed) only after
// the handler succeeded. A failing event is retried with exponential
// backoff; after MaxAttempts it goes to the topic's dead-letter topic and the
// partition moves on, so one bad event never blocks a partition. While
// Healthy reports a dead dependency, retries do not count toward
// MaxAttempts: an outage is not the event's fault and dead-letters nothing.
type Runner struct {
	Brokers []string
	Group   string
	Topics  []string
	Handler app.Handler
	Log     *slog.Logger
	Metrics *Metrics
	// MaxAttempts before dead-lettering (default 6).
	MaxAttempts int
	// Backoff is the first retry delay, doubled per attempt up to 10s (default 100ms).
	Backoff time.Duration
	// Healthy, if set, reports whether the handler's dependencies are up.
	Healthy func(context.Context) error
}

// Run consumes until ctx is cancelled, then commits what was processed and
// leaves the group.
func (r *Runner) Run(ctx context.Context) error {
	cfg := SaramaConfig("feedsvc-" + r.Group)
	group, err := sarama.NewConsumerGroup(r.Brokers, r.Group, cfg)
	if err != nil {
		return fmt.Errorf("consumer group %s: %w", r.Group, err)
	}
	defer group.Close()
	dlq, err := sarama.NewSyncProducer(r.Brokers, SaramaConfig("feedsvc-"+r.Group+"-dlq"))
	if err != nil {
		return fmt.Errorf("consumer group %s: dead-letter producer: %w", r.Group, err)
	}
	defer dlq.Close()
	go func() {
		for err := range group.Errors() {
			r.Log.Warn("consumer group error", "group", r.Group, "err", err)
		}
	}()
	// Lag is also exported from committed offsets on a timer, so the gauge
	// stays true while a handler is stuck or no events arrive.
	lagCtx, stopLag := context.WithCancel(ctx)
	defer stopLag()
	go r.Metrics.ReportLag(lagCtx, r.Brokers, r.Group, r.Topics, 15*time.Second, r.Log)
	h := &groupHandler{r: r, dlq: dlq}
	for ctx.Err() == nil {
		// Consume returns at every rebalance; loop to rejoin.
		if err := group.Consume(ctx, r.Topics, h); err != nil {
			if errors.Is(err, sarama.ErrClosedConsumerGroup) {
				return nil
			}
			r.Log.Warn("consume", "group", r.Group, "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
	return nil
}

// groupHandler is what sarama calls for each session of the group.
type groupHandler struct {
	r   *Runner
	dlq sarama.SyncProducer
}

var _ sarama.ConsumerGroupHandler = (*groupHandler)(nil)

func (h *groupHandler) Setup(s sarama.ConsumerGroupSession) error {
	h.r.Log.Info("partitions assigned", "group", h.r.Group, "claims", s.Claims())
	return nil
}

func (h *groupHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (h *groupHandler) ConsumeClaim(s sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	ctx := s.Context()
	for {
		select {
		case <-ctx.Done():
			return nil
		case msg, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			if err := h.process(ctx, msg); err != nil {
				// Only a cancelled session ends here: the offset stays
				// unmarked and the event is redelivered to the next owner.
				return nil
			}
			s.MarkMessage(msg, "")
			h.r.Metrics.observeOffset(h.r.Group, msg.Topic, msg.Partition, msg.Offset, claim.HighWaterMarkOffset())
		}
	}
}

// process handles one message until it succeeds or is dead-lettered; it
// returns an error only when ctx ended first.
func (h *groupHandler) process(ctx context.Context, msg *sarama.ConsumerMessage) error {
	r := h.r
	ev, err := Decode(msg)
	if err != nil {
		// Undecodable: retrying cannot help.
		return h.deadLetter(ctx, msg, err)
	}
	maxAttempts, delay := r.MaxAttempts, r.Backoff
	if maxAttempts <= 0 {
		maxAttempts = 6
	}
	if delay <= 0 {
		delay = 100 * time.Millisecond
	}
	for attempt := 1; ; {
		start := time.Now()
		err := r.Handler.Handle(ctx, ev)
		r.Metrics.observeHandled(r.Group, ev.Type, err, time.Since(start))
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		outage := r.Healthy != nil && r.Healthy(ctx) != nil
		r.Log.Warn("handler failed", "group", r.Group, "type", ev.Type, "event", ev.ID,
			"attempt", attempt, "dependency_down", outage, "err", err)
		if !outage {
			if attempt >= maxAttempts {
				return h.deadLetter(ctx, msg, err)
			}
			attempt++
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		delay = min(delay*2, 10*time.Second)
	}
}

// deadLetter copies msg, with the error, to the dead-letter topic. It keeps
// trying until the copy is acknowledged: the original offset must not be
// committed before the event is safe somewhere.
func (h *groupHandler) deadLetter(ctx context.Context, msg *sarama.ConsumerMessage, cause error) error {
	headers := make([]sarama.RecordHeader, 0, len(msg.Headers)+5)
	for _, hd := range msg.Headers {
		headers = append(headers, *hd)
	}
	headers = append(headers,
		sarama.RecordHeader{Key: []byte(HeaderDLQError), Value: []byte(cause.Error())},
		sarama.RecordHeader{Key: []byte(HeaderDLQGroup), Value: []byte(h.r.Group)},
		sarama.RecordHeader{Key: []byte(HeaderDLQTopic), Value: []byte(msg.Topic)},
		sarama.RecordHeader{Key: []byte(HeaderDLQPartition), Value: []byte(fmt.Sprint(msg.Partition))},
		sarama.RecordHeader{Key: []byte(HeaderDLQOffset), Value: []byte(fmt.Sprint(msg.Offset))},
	)
	out := &sarama.ProducerMessage{
		Topic:     DeadLetter(msg.Topic),
		Key:       sarama.ByteEncoder(msg.Key),
		Value:     sarama.ByteEncoder(msg.Value),
		Headers:   headers,
		Timestamp: msg.Timestamp,
	}
	for {
		_, _, err := h.dlq.SendMessage(out)
		if err == nil {
			h.r.Metrics.deadLettered.WithLabelValues(h.r.Group, msg.Topic).Inc()
			h.r.Log.Error("event dead-lettered", "group", h.r.Group, "topic", msg.Topic,
				"partition", msg.Partition, "offset", msg.Offset, "err", cause)
			return nil
		}
		h.r.Log.Error("dead-letter publish failed; retrying", "group", h.r.Group, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// Headers added to dead-lettered events.
const (
	HeaderDLQError     = "x-dlq-error"
	HeaderDLQGroup     = "x-dlq-group"
	HeaderDLQTopic     = "x-dlq-topic"
	HeaderDLQPartition = "x-dlq-partition"
	HeaderDLQOffset    = "x-dlq-offset"
)
