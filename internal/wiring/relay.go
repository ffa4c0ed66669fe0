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
// api): it publishes their outbox records, from when the process starts
// until after HTTP stopped, so what the last requests wrote goes out too.
type outboxRelay struct {
	relay   *app.Relay
	stopRun context.CancelFunc
	running chan struct{}
}

// startRelay starts the relay on the store's outbox. On a store several
// processes share (Cassandra), shards are leased; the embedded store
// belongs to this process alone, which relays every shard.
func startRelay(ctx context.Context, cfg *configs.Config, log *slog.Logger, b *Backends, needs roles.Needs, reg prometheus.Registerer) (*outboxRelay, error) {
	r := &outboxRelay{}
	if !needs.IDs || b.Store == nil || b.Publisher == nil {
		// Writes no outbox records, or cannot publish them: another
		// process's relay does.
		return r, nil
	}
	owner, err := leaseOwner()
	if err != nil {
		return nil, err
	}
	r.relay = &app.Relay{Outbox: b.Store, Publisher: b.Publisher, Owner: owner, Poll: cfg.Feeds.OutboxPoll,
		Log: log.With("component", "outbox")}
	if leases, ok := b.Store.(app.ShardLeases); ok {
		r.relay.Leases = leases
	}
	registerRelayMetrics(reg, r.relay)
	// Like the node lease, the relay outlives ctx (the signal) until the
	// lifecycle has stopped HTTP.
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r.stopRun, r.running = cancel, make(chan struct{})
	go func() {
		defer close(r.running)
		_ = r.relay.Run(rctx)
	}()
	return r, nil
}

// dispatcher is what the api hands its records to (nil without a relay).
func (r *outboxRelay) dispatcher() app.Dispatcher {
	if r.relay == nil {
		return nil
	}
	return r.relay
}

// stop publishes what is left (briefly) and releases the shards; after a
// shutdown timeout the backends may hang, so it only stops.
func (r *outboxRelay) stop(runErr error) {
	if r.relay == nil {
		return
	}
	if errors.Is(runErr, roles.ErrShutdownTimeout) {
		return
	}
	r.stopRun()
	<-r.running
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
