package roles

import (
	"log/slog"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/events"
)

// Consumer is the row of a consumer role: consumer group `name` on every
// topic, each event handed to the handler newHandler builds. The group
// dead-letters only events that can never succeed (undecodable, or refused
// with app.ErrInvalid), retries any other failure with backoff until it
// succeeds, exports lag and stuck partitions, and works with replay, lag and
// dlq.
func Consumer(name string, needs Needs, newHandler func(d *Deps) (app.Handler, error)) Row {
	needs.Consumer = true
	return Row{Name: name, Needs: needs, Build: func(d *Deps) (Role, error) {
		h, err := newHandler(d)
		if err != nil {
			return nil, err
		}
		return newRunner(name, needs, h, d.Consumers, d.Log), nil
	}}
}

// newRunner is the consumer group that runs the handler of the row name.
func newRunner(name string, needs Needs, h app.Handler, c ConsumerDeps, log *slog.Logger) *events.Runner {
	r := &events.Runner{
		Cluster: c.Kafka,
		Group:   c.GroupPrefix + name,
		Topics:  c.Topics.All(),
		Handler: h,
		Log:     log.With("role", name),
		Metrics: c.Events,
		Healthy: c.Healthy,
		Lanes:   c.Lanes,
	}
	if needs.Redis {
		// A Redis that loses writes would otherwise be trusted forever:
		// the offsets of what it lost are committed.
		r.Checkpoints = c.Checkpoints
	}
	return r
}

// MemoryConsumer is a Consumer whose output lives only in Redis: when Redis
// is the embedded, in-memory one, its group is rewound to the start of the
// log at startup, so its state is recomputed.
func MemoryConsumer(name string, needs Needs, newHandler func(d *Deps) (app.Handler, error)) Row {
	needs.Redis, needs.RebuildFromLog = true, true
	return Consumer(name, needs, newHandler)
}
