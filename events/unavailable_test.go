package events_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/events"
	"github.com/feedsvc/feedsvc/internal/testenv"
)

// TestProducerUnreachable checks that a producer opens while Kafka is down
// (an api starts and takes writes into its outbox), that a publish to a
// cluster that is down, or that accepts connections and never answers,
// fails with app.ErrUnavailable rather than hanging, and that the producer
// connects once a broker answers.
func TestProducerUnreachable(t *testing.T) {
	for name, addr := range map[string]func(testing.TB) string{"refused": testenv.Refused, "silent": testenv.Silent} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p, err := events.OpenProducer(context.Background(), events.Config{Brokers: []string{addr(t)}}, nil)
			if err != nil {
				t.Fatalf("OpenProducer with Kafka down: %v", err)
			}
			defer p.Close()
			ev := app.Event{ID: "down-1", Type: app.PostCreated, Time: time.Now(), Post: &app.Post{ID: 1, Author: "down", Text: "x"}}
			err = testenv.Within(t, "PublishBatch", func() error { return p.PublishBatch(context.Background(), []app.Event{ev}) })
			if !errors.Is(err, app.ErrUnavailable) {
				t.Fatalf("PublishBatch: %v, want app.ErrUnavailable", err)
			}
		})
	}
	t.Run("comes up later", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		addr := testenv.Refused(t)
		_, port, _ := net.SplitHostPort(addr)
		n, _ := strconv.Atoi(port)
		p, err := events.OpenProducer(context.Background(), events.Config{Brokers: []string{addr}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		ev := app.Event{ID: "later-1", Type: app.PostCreated, Time: time.Now(), Post: &app.Post{ID: 1, Author: "later", Text: "x"}}
		if err := p.Publish(context.Background(), ev); !errors.Is(err, app.ErrUnavailable) {
			t.Fatalf("Publish before the broker: %v", err)
		}
		k, err := events.StartEmbeddedPort(dir, n)
		if err != nil {
			t.Fatal(err)
		}
		defer k.Close()
		cfg := events.Config{Brokers: k.Addrs()}.WithDefaults()
		if err := events.EnsureTopics(events.Cluster{Brokers: cfg.Brokers}, cfg.Topics, cfg.TopicSpec()); err != nil {
			t.Fatal(err)
		}
		if err := p.Publish(context.Background(), ev); err != nil {
			t.Fatalf("Publish once the broker is up: %v", err)
		}
	})
}

// TestPublishWhenKafkaIsGone checks that Publish to a cluster that went
// away returns app.ErrUnavailable: at its context's deadline, or within
// its own bound when the context has none; and that a cancelled Publish
// is the caller's cancellation, not an outage.
func TestPublishWhenKafkaIsGone(t *testing.T) {
	k, err := events.StartEmbedded(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	cfg := events.Config{Brokers: k.Addrs()}.WithDefaults()
	if err := events.EnsureTopics(events.Cluster{Brokers: cfg.Brokers}, cfg.Topics, cfg.TopicSpec()); err != nil {
		t.Fatal(err)
	}
	p, err := events.OpenProducer(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ev := app.Event{ID: "gone-1", Type: app.PostCreated, Time: time.Now(), Post: &app.Post{ID: 1, Author: "gone", Text: "x", CreatedAt: time.Now()}}
	if err := p.Publish(context.Background(), ev); err != nil {
		t.Fatalf("Publish while up: %v", err)
	}
	k.Close()

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Publish(cancelled, ev); !errors.Is(err, context.Canceled) || errors.Is(err, app.ErrUnavailable) {
		t.Errorf("a cancelled Publish: %v, want context.Canceled and not app.ErrUnavailable", err)
	}
	short, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := testenv.Within(t, "Publish with a deadline", func() error { return p.Publish(short, ev) }); !errors.Is(err, app.ErrUnavailable) {
		t.Errorf("Publish with a deadline: %v, want app.ErrUnavailable", err)
	}
	if err := testenv.Within(t, "Publish without a deadline", func() error { return p.Publish(context.Background(), ev) }); !errors.Is(err, app.ErrUnavailable) {
		t.Errorf("Publish without a deadline: %v, want app.ErrUnavailable", err)
	}
}
