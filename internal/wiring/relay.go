package wiring

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/configs"
	"github.com/feedsvc/feedsvc/roles"
)

// outboxRelay is the relay of a process whose roles write changes (the
// api), a hidden row of its lifecycle: it publishes their outbox records
// from before the roles start until after HTTP stopped, so what the last
// requests wrote goes out too.
type outboxRelay struct {
	relay *app.Relay
}

// newRelay builds the relay on the store's outbox. On a store several
// processes share (Cassandra), shards are leased; the embedded store
// belongs to this process alone, which relays every shard.
func newRelay(cfg *configs.Config, log *slog.Logger, b *Backends, reg prometheus.Registerer) (*outboxRelay, error) {
	if b.Store == nil || b.Publisher == nil {
		return nil, errors.New("no store or no producer")
	}
	owner, err := leaseOwner()
	if err != nil {
		return nil, err
	}
	r := &app.Relay{Outbox: b.Store, Publisher: b.Publisher, Owner: owner, Poll: cfg.Feeds.OutboxPoll,
		Log: log.With("component", "outbox")}
	if leases, ok := b.Store.(app.ShardLeases); ok {
		r.Leases = leases
	}
	registerRelayMetrics(reg, r)
	return &outboxRelay{relay: r}, nil
}

// Run relays until ctx ends, then publishes what is left (briefly) and
// releases the shards. After a shutdown timeout (ctx's cause) the backends
// may hang, so it returns at once and leaves the rest to the exit.
func (r *outboxRelay) Run(ctx context.Context) error {
	rctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	done := make(chan error, 1)
	go func() { done <- r.relay.Run(rctx) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	if errors.Is(context.Cause(ctx), roles.ErrShutdownTimeout) {
		return nil
	}
	stop()
	return <-done
}

func registerRelayMetrics(reg prometheus.Registerer, r *app.Relay) {
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "feedsvc_outbox_pending",
			Help: "Outbox records waiting to be published in the shards this process relays."},
			func() float64 { return float64(r.Stats().Pending) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "feedsvc_outbox_oldest_pending_seconds",
			Help: "Age of the oldest outbox record waiting in the shards this process relays (0: none)."},
			func() float64 {
				if o := r.Stats().Oldest; !o.IsZero() {
					return max(0, time.Since(o).Seconds())
				}
				return 0
			}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "feedsvc_outbox_shards",
			Help: "Outbox shards this process relays."},
			func() float64 { return float64(r.Stats().Shards) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "feedsvc_outbox_published_total",
			Help: "Outbox records published to Kafka."},
			func() float64 { return float64(r.Stats().Published) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "feedsvc_outbox_completed_total",
			Help: "Outbox records whose change the relay wrote again before publishing, not knowing it had landed (a write that failed or crashed after its record, or another process's)."},
			func() float64 { return float64(r.Stats().Completed) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "feedsvc_outbox_dropped_total",
			Help: "Outbox records marked done unpublished because their change did not happen (a follow of an edge that existed, or whose write failed)."},
			func() float64 { return float64(r.Stats().Dropped) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "feedsvc_outbox_publish_failures_total",
			Help: "Failed publishes of outbox records (each retried with backoff)."},
			func() float64 { return float64(r.Stats().Failures) }),
	)
}
