package events

import (
	"context"
	"fmt"
	"time"

	"github.com/IBM/sarama"

	"github.com/feedsvc/feedsvc/app"
)

// publishTimeout bounds a Publish whose context has no earlier deadline
// (a consumer role's), so that it too fails while Kafka is down instead
// of waiting out every retry.
const publishTimeout = 10 * time.Second

// producerReadTimeout: a produce answer comes within produceTimeout, and
// the producer joins no group, so it needs no more than that and a margin.
const producerReadTimeout = produceTimeout + time.Second

// Producer publishes events to Kafka; it implements app.Publisher.
type Producer struct {
	p      sarama.SyncProducer
	topics Topics
}

var _ app.Publisher = (*Producer)(nil)

// newProducer connects an idempotent, acks=all producer to brokers.
func newProducer(brokers []string, topics Topics) (*Producer, error) {
	cfg := SaramaConfig("feedsvc-producer")
	cfg.Net.ReadTimeout = producerReadTimeout
	p, err := sarama.NewSyncProducer(brokers, cfg)
	if err != nil {
		return nil, fmt.Errorf("kafka producer: %w", markUnavailable(err))
	}
	return &Producer{p: p, topics: topics}, nil
}

// Publish implements app.Publisher: it returns once the broker acknowledged
// the event on all in-sync replicas, or when ctx ends or publishTimeout
// passes, whichever comes first. A failure because Kafka is down, too few
// replicas are in sync or the time ran out wraps app.ErrUnavailable.
func (p *Producer) Publish(ctx context.Context, ev app.Event) error {
	msg, err := Encode(p.topics.For(ev.Type), ev)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	return p.send(ctx, msg)
}

// send waits for the acknowledgement or ctx; sarama's SyncProducer has no
// context, so an abandoned send still completes in the background.
func (p *Producer) send(ctx context.Context, msg *sarama.ProducerMessage) error {
	done := make(chan error, 1)
	go func() {
		_, _, err := p.p.SendMessage(msg)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("produce to %s: %w", msg.Topic, markUnavailable(err))
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("produce to %s: %w", msg.Topic, markUnavailable(ctx.Err()))
	}
}

// Close flushes and closes the producer.
func (p *Producer) Close() error { return p.p.Close() }
