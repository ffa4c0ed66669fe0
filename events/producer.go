package events

import (
	"context"
	"fmt"

	"github.com/IBM/sarama"

	"github.com/feedsvc/feedsvc/app"
)

// Producer publishes events to Kafka; it implements app.Publisher.
type Producer struct {
	p      sarama.SyncProducer
	topics Topics
}

var _ app.Publisher = (*Producer)(nil)

// newProducer connects an idempotent, acks=all producer to brokers.
func newProducer(brokers []string, topics Topics) (*Producer, error) {
	p, err := sarama.NewSyncProducer(brokers, SaramaConfig("feedsvc-producer"))
	if err != nil {
		return nil, fmt.Errorf("kafka producer: %w", err)
	}
	return &Producer{p: p, topics: topics}, nil
}

// Publish implements app.Publisher: it returns once the broker acknowledged
// the event on all in-sync replicas.
func (p *Producer) Publish(ctx context.Context, ev app.Event) error {
	msg, err := Encode(p.topics.For(ev.Type), ev)
	if err != nil {
		return err
	}
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
			return fmt.Errorf("produce to %s: %w", msg.Topic, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("produce to %s: %w", msg.Topic, ctx.Err())
	}
}

// Close flushes and closes the producer.
func (p *Producer) Close() error { return p.p.Close() }
