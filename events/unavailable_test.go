package events_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/events"
	"github.com/feedsvc/feedsvc/internal/testenv"
)

// TestOpenProducerUnreachable checks that a cluster that is down, or that
// accepts connections and never answers, fails OpenProducer with
// app.ErrUnavailable rather than hanging.
func TestOpenProducerUnreachable(t *testing.T) {
	for name, addr := range map[string]func(testing.TB) string{"refused": testenv.Refused, "silent": testenv.Silent} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cfg := events.Config{Brokers: []string{addr(t)}}
			err := testenv.Within(t, "OpenProducer", func() error {
				p, err := events.OpenProducer(context.Background(), cfg, nil)
				if err == nil {
					_ = p.Close()
				}
				return err
			})
			if !errors.Is(err, app.ErrUnavailable) {
				t.Fatalf("OpenProducer: %v, want app.ErrUnavailable", err)
			}
		})
	}
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
	if err := events.EnsureTopics(cfg.Brokers, cfg.Topics, cfg.TopicSpec()); err != nil {
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
