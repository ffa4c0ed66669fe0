package events

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the consumer-side Prometheus metrics, labelled by group.
type Metrics struct {
	handled      *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	deadLettered *prometheus.CounterVec
	lag          *prometheus.GaugeVec
	stuck        *prometheus.GaugeVec
	retries      *prometheus.CounterVec
	panics       *prometheus.CounterVec
	redisRewinds *prometheus.CounterVec
	copies       *prometheus.CounterVec
}

// NewMetrics registers the consumer metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		handled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "feedsvc_events_handled_total", Help: "Events handled, by consumer group, event type and outcome.",
		}, []string{"group", "type", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "feedsvc_event_handle_seconds", Help: "Time to handle one event.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, []string{"group"}),
		deadLettered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "feedsvc_events_dead_lettered_total", Help: "Events sent to a dead-letter topic.",
		}, []string{"group", "topic"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "feedsvc_consumer_lag", Help: "Events behind the partition end, as last seen by the consumer.",
		}, []string{"group", "topic", "partition"}),
		stuck: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "feedsvc_consumer_stuck",
			Help: "Events of the partition whose handler keeps failing (each retried until it succeeds; its key's later events wait), else 0.",
		}, []string{"group", "topic", "partition"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "feedsvc_consumer_retries_total", Help: "Failed handler attempts that will be retried, by consumer group.",
		}, []string{"group"}),
		panics: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "feedsvc_consumer_panics_total", Help: "Handler panics recovered (each retried like a failure), by consumer group.",
		}, []string{"group"}),
		redisRewinds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "feedsvc_consumer_redis_rewinds_total",
			Help: "Partitions rewound because Redis held less than the group had committed (its writes were lost), by consumer group.",
		}, []string{"group"}),
		copies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "feedsvc_events_skipped_copies_total",
			Help: "Events not handled because the consumer handled the same event ID lately (a copy published again), by consumer group.",
		}, []string{"group"}),
	}
	reg.MustRegister(m.handled, m.duration, m.deadLettered, m.lag, m.stuck, m.retries, m.panics, m.redisRewinds, m.copies)
	return m
}

// initGroup makes the per-group series of group start at 0, so rates and
// alerts on them (dead letters, retries) have a series before the first
// event: the dead letters of each of topics, the retries, panics and
// Redis rewinds.
func (m *Metrics) initGroup(group string, topics []string) {
	if m == nil {
		return
	}
	for _, t := range topics {
		m.deadLettered.WithLabelValues(group, t)
	}
	m.retries.WithLabelValues(group)
	m.panics.WithLabelValues(group)
	m.redisRewinds.WithLabelValues(group)
	m.copies.WithLabelValues(group)
}

// skippedCopy counts an event not handled again (see Metrics.copies).
func (m *Metrics) skippedCopy(group string) {
	if m != nil {
		m.copies.WithLabelValues(group).Inc()
	}
}

// claimed makes the stuck gauge of a partition the group was assigned
// exist at 0, so a healthy consumer exports it too.
func (m *Metrics) claimed(group, topic string, partition int32) {
	if m == nil {
		return
	}
	m.stuck.WithLabelValues(group, topic, itoa(partition))
}

func (m *Metrics) observeHandled(group, typ string, err error, d time.Duration) {
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	m.handled.WithLabelValues(group, typ, outcome).Inc()
	m.duration.WithLabelValues(group).Observe(d.Seconds())
}

func (m *Metrics) observeOffset(group, topic string, partition int32, offset, highWater int64) {
	m.lag.WithLabelValues(group, topic, itoa(partition)).Set(float64(highWater - offset - 1))
}

func itoa(n int32) string { return strconv.FormatInt(int64(n), 10) }
