package events

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/feedsvc/feedsvc/app"
)

// publishTimeout bounds a Publish whose context has no earlier deadline
// (a consumer role's), so that it too fails while Kafka is down instead
// of waiting out every retry.
const publishTimeout = 10 * time.Second

// producerReadTimeout: a produce answer comes within produceTimeout, and
// the producer joins no group, so it needs no more than that and a margin.
const producerReadTimeout = produceTimeout + time.Second

// Producer publishes events to Kafka; it implements app.Publisher. It
// connects on first use and again after a failed connection, so a process
// whose writes wait in the outbox starts and serves while Kafka is down.
type Producer struct {
	cluster Cluster
	topics  Topics

	mu     sync.Mutex
	p      sarama.SyncProducer // nil until connected
	closed bool

	metrics atomic.Pointer[publishMetrics] // nil until Instrument
}

var (
	_ app.Publisher      = (*Producer)(nil)
	_ app.BatchPublisher = (*Producer)(nil)
)

// newProducer prepares an idempotent, acks=all producer for the cluster.
func newProducer(c Cluster, topics Topics) *Producer {
	return &Producer{cluster: c, topics: topics}
}

// producer returns the connected sarama producer, connecting first.
func (p *Producer) producer() (sarama.SyncProducer, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errors.New("kafka producer: closed")
	}
	if p.p == nil {
		cfg := p.cluster.Config("feedsvc-producer")
		cfg.Net.ReadTimeout = producerReadTimeout
		sp, err := sarama.NewSyncProducer(p.cluster.Brokers, cfg)
		if err != nil {
			return nil, fmt.Errorf("kafka producer: %w", markUnavailable(err))
		}
		p.p = sp
	}
	return p.p, nil
}

// Publish implements app.Publisher: it returns once the broker acknowledged
// the event on all in-sync replicas, or when ctx ends or publishTimeout
// passes, whichever comes first. A failure because Kafka is down, too few
// replicas are in sync or the time ran out wraps app.ErrUnavailable.
func (p *Producer) Publish(ctx context.Context, ev app.Event) (err error) {
	defer p.observe(time.Now(), []app.Event{ev}, &err)
	evs, end := publishSpans(ctx, p.topic, []app.Event{ev}, true)
	defer func() { end(err) }()
	msg, err := Encode(p.topic(ev), evs[0])
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	return p.send(ctx, msg)
}

func (p *Producer) topic(ev app.Event) string { return p.topics.For(ev.Type) }

// PublishBatch implements app.BatchPublisher: one round trip per broker
// for the whole batch; the idempotent producer (one request in flight per
// broker) keeps the order of events with the same key. On error some
// events may have been published: the caller publishes them all again,
// which consumers tolerate (they dedupe by event ID or are idempotent).
//
// Unlike Publish it has no deadline of its own: it returns once Kafka
// acknowledged or refused every event (sarama's retries bound that to
// about a minute) or ctx ends. A send given up on goes on in the
// background, and the relay's next attempt would queue behind it: after
// an outage, abandoned batches of the whole backlog, sent again every few
// seconds, took 40 s to drain before anything new went out.
func (p *Producer) PublishBatch(ctx context.Context, evs []app.Event) (err error) {
	defer p.observe(time.Now(), evs, &err)
	evs, end := publishSpans(ctx, p.topic, evs, false)
	defer func() { end(err) }()
	msgs := make([]*sarama.ProducerMessage, len(evs))
	for i, ev := range evs {
		m, err := Encode(p.topic(ev), ev)
		if err != nil {
			return err
		}
		msgs[i] = m
	}
	err = wait(ctx, fmt.Sprintf("produce %d events", len(msgs)), func() error {
		sp, err := p.producer()
		if err != nil {
			return err
		}
		return sp.SendMessages(msgs)
	})
	return partialOf(err, msgs)
}

// partialOf turns the error of a batch that sarama delivered in part into
// an app.PartialPublishError naming the events it did not deliver, so that
// the caller publishes only those again.
func partialOf(err error, msgs []*sarama.ProducerMessage) error {
	var pes sarama.ProducerErrors
	if err == nil || !errors.As(err, &pes) || len(pes) == 0 || len(pes) >= len(msgs) {
		return err
	}
	at := make(map[*sarama.ProducerMessage]int, len(msgs))
	for i, m := range msgs {
		at[m] = i
	}
	failed := make([]int, 0, len(pes))
	for _, pe := range pes {
		i, ok := at[pe.Msg]
		if !ok {
			return err // not ours: the outcome of each event is unknown
		}
		failed = append(failed, i)
	}
	slices.Sort(failed)
	return &app.PartialPublishError{Failed: failed, Err: err}
}

// send waits for the acknowledgement or ctx.
func (p *Producer) send(ctx context.Context, msg *sarama.ProducerMessage) error {
	return wait(ctx, "produce to "+msg.Topic, func() error {
		sp, err := p.producer()
		if err != nil {
			return err
		}
		_, _, err = sp.SendMessage(msg)
		return err
	})
}

// wait runs send and waits for it or ctx; sarama's SyncProducer has no
// context, so an abandoned send still completes in the background.
func wait(ctx context.Context, what string, send func() error) error {
	done := make(chan error, 1)
	go func() { done <- send() }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("%s: %w", what, markUnavailable(err))
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s: %w", what, markUnavailable(ctx.Err()))
	}
}

// publishMetrics are the producer's Prometheus metrics, by topic.
type publishMetrics struct {
	seconds *prometheus.HistogramVec
	errors  *prometheus.CounterVec
}

// Instrument registers the producer's metrics on reg and records every
// publish from then on: feedsvc_publish_seconds, the time from a Publish
// or PublishBatch call to the broker's acknowledgement, observed once per
// event acknowledged (a batch's events share its time), and
// feedsvc_publish_errors_total, the events whose publish failed (the
// caller publishes them again). Both
// are labelled by topic, and start at 0 for the configured topics.
func (p *Producer) Instrument(reg prometheus.Registerer) {
	m := &publishMetrics{
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "feedsvc_publish_seconds",
			Help: "Time from publishing an event to the broker's acknowledgement on all in-sync replicas (a batch's events share its time), by topic.",
			// 1 ms to about 33 s: sarama's retries bound a batch to about a minute.
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}, []string{"topic"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "feedsvc_publish_errors_total",
			Help: "Events whose publish failed (Kafka down, too few in-sync replicas, timed out), by topic; the outbox relay publishes them again.",
		}, []string{"topic"}),
	}
	reg.MustRegister(m.seconds, m.errors)
	for _, t := range p.topics.All() {
		m.seconds.WithLabelValues(t)
		m.errors.WithLabelValues(t)
	}
	p.metrics.Store(m)
}

// observe records a publish of evs that started at start and ended with
// *err (deferred by Publish and PublishBatch).
func (p *Producer) observe(start time.Time, evs []app.Event, err *error) {
	m := p.metrics.Load()
	if m == nil || len(evs) == 0 {
		return
	}
	d := time.Since(start).Seconds()
	failed := func(int) bool { return *err != nil }
	var pe *app.PartialPublishError
	if errors.As(*err, &pe) {
		failed = func(i int) bool { _, ok := slices.BinarySearch(pe.Failed, i); return ok }
	}
	for i, ev := range evs {
		t := p.topic(ev)
		if failed(i) {
			m.errors.WithLabelValues(t).Inc()
		} else {
			m.seconds.WithLabelValues(t).Observe(d)
		}
	}
}

// Close flushes and closes the producer.
func (p *Producer) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	if p.p == nil {
		return nil
	}
	return p.p.Close()
}
