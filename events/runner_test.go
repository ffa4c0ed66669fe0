package events_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/events"
	"github.com/feedsvc/feedsvc/internal/testenv"
)

// outage is a handler whose dependency is down while down is set: every
// event fails (or panics, with panics), as a store or Redis call would.
// Once down is cleared it records events.
type outage struct {
	recorder
	down     atomic.Bool
	panics   bool
	failures atomic.Int64
}

func (o *outage) Handle(ctx context.Context, ev app.Event) error {
	if o.down.Load() {
		o.failures.Add(1)
		if o.panics {
			var m map[string]int
			m[ev.ID]++ // a nil map write: a real runtime panic
		}
		return errors.New("redis: dial tcp 127.0.0.1:6379: connection refused")
	}
	return o.recorder.Handle(ctx, ev)
}

// logBuffer collects log lines from the runner's goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// retrying runs a Runner that retries quickly and logs a stuck partition
// only once (StuckLogEvery is an hour), until stop, which fails the test
// unless Run returns.
func retrying(t *testing.T, f fixture, group string, h app.Handler, reg *prometheus.Registry, logs *logBuffer, backoff time.Duration) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &events.Runner{
		Cluster: f.cluster, Group: group, Topics: f.topics.All(), Handler: h,
		Log:     slog.New(slog.NewTextHandler(logs, nil)),
		Metrics: events.NewMetrics(reg),
		Backoff: backoff, MaxBackoff: 5 * time.Millisecond, StuckLogEvery: time.Hour,
		Healthy: func(context.Context) error { return errors.New("redis: down") },
	}
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	return func() {
		t.Helper()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("runner: %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Fatal("the runner did not return after its context was cancelled")
		}
	}
}

func noDeadLetters(t *testing.T, f fixture, group string) {
	t.Helper()
	dead, err := events.ListDeadLetters(context.Background(), f.cluster, group, f.topics.All(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(dead) != 0 {
		t.Fatalf("dead letters of %s: %+v, want none", group, dead)
	}
}

func TestRunnerFailures(t *testing.T) {
	for name, open := range brokers() {
		t.Run(name, func(t *testing.T) {
			addrs := open(t)
			t.Run("dependency failure is retried, never dead-lettered", func(t *testing.T) {
				testOutage(t, newFixture(t, addrs, 1), false)
			})
			t.Run("handler panic is recovered and retried", func(t *testing.T) {
				testOutage(t, newFixture(t, addrs, 1), true)
			})
			t.Run("stop during retries commits nothing", func(t *testing.T) {
				testStopWhileStuck(t, newFixture(t, addrs, 1))
			})
		})
	}
}

// testOutage: while the handler fails (or panics) on every event, the
// partition waits on its first event through many attempts: nothing is
// dead-lettered, the stuck gauge is 1, one log line says why. Once the
// dependency is back, every event is processed in order and the gauge
// returns to 0.
func testOutage(t *testing.T, f fixture, panics bool) {
	evs := postEvents(5, "erin", time.Now())
	f.publish(t, evs)
	group := unique("g")
	h := &outage{panics: panics}
	h.down.Store(true)
	reg, logs := prometheus.NewRegistry(), &logBuffer{}
	stop := retrying(t, f, group, h, reg, logs, time.Millisecond)
	defer func() {
		if stop != nil {
			stop()
		}
	}()
	const attempts = 50
	testenv.Until(t, "many failed attempts", func() bool { return h.failures.Load() >= attempts })

	stuck := map[string]string{"group": group, "topic": f.topics.Posts, "partition": "0"}
	if v := testenv.Metric(t, reg, "feedsvc_consumer_stuck", stuck); v != 1 {
		t.Fatalf("feedsvc_consumer_stuck = %v while failing, want 1", v)
	}
	if v := testenv.Metric(t, reg, "feedsvc_consumer_retries_total", map[string]string{"group": group}); v < attempts-1 {
		t.Fatalf("feedsvc_consumer_retries_total = %v after %d failures", v, attempts)
	}
	panicked := testenv.Metric(t, reg, "feedsvc_consumer_panics_total", map[string]string{"group": group})
	if panics && panicked < attempts-1 || !panics && panicked != 0 {
		t.Fatalf("feedsvc_consumer_panics_total = %v (handler panics: %v)", panicked, panics)
	}
	out := logs.String()
	why := "connection refused"
	if panics {
		why = "assignment to entry in nil map"
	}
	if n := strings.Count(out, "consumer stuck"); n != 1 || !strings.Contains(out, why) || !strings.Contains(out, "health=\"redis: down\"") {
		t.Fatalf("want one stuck line saying %q with the health verdict, got %d in:\n%s", why, n, out)
	}
	if panics && !strings.Contains(out, "runtime/debug.Stack") {
		t.Fatalf("the panic is logged without its stack:\n%s", out)
	}
	if got := h.ids(); len(got) != 0 {
		t.Fatalf("handled %v during the outage", got)
	}
	noDeadLetters(t, f, group)

	h.down.Store(false)
	testenv.Until(t, "the events after the outage", func() bool { return len(h.ids()) >= len(evs) })
	stop()
	stop = nil
	checkEvents(t, "after the outage", h.events(), evs)
	if v := testenv.Metric(t, reg, "feedsvc_consumer_stuck", stuck); v != 0 {
		t.Fatalf("feedsvc_consumer_stuck = %v after recovery, want 0", v)
	}
	if !strings.Contains(logs.String(), "consumer unstuck") {
		t.Fatalf("no line says the partition moved on:\n%s", logs.String())
	}
	noDeadLetters(t, f, group)
	assertLag(t, f, group, []events.PartitionLag{{Topic: f.topics.Posts, Committed: 5, End: 5}})
}

// testStopWhileStuck: stopping a runner that waits between retries returns
// (without waiting out the backoff) and commits nothing: the next member
// gets every event again.
func testStopWhileStuck(t *testing.T, f fixture) {
	evs := postEvents(3, "fred", time.Now())
	f.publish(t, evs)
	group := unique("g")
	h := &outage{}
	h.down.Store(true)
	reg := prometheus.NewRegistry()
	stop := retrying(t, f, group, h, reg, &logBuffer{}, time.Hour)
	stuck := map[string]string{"group": group, "topic": f.topics.Posts, "partition": "0"}
	testenv.Until(t, "the partition stuck", func() bool { return testenv.Metric(t, reg, "feedsvc_consumer_stuck", stuck) == 1 })
	stop()
	if v := testenv.Metric(t, reg, "feedsvc_consumer_stuck", stuck); v != 0 {
		t.Fatalf("feedsvc_consumer_stuck = %v after stopping, want 0 (another member owns the partition now)", v)
	}
	assertLag(t, f, group, []events.PartitionLag{{Topic: f.topics.Posts, Committed: -1, End: 3, Lag: 3}})
	noDeadLetters(t, f, group)
	consumeExactly(t, f, group, wantIDs(evs))
}

// TestRunnerWaitsForKafkaAtStart: a runner started while no broker
// answers waits (and says so) instead of failing, and consumes once the
// broker is there.
func TestRunnerWaitsForKafkaAtStart(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close() // nothing listens there until the broker starts
	cfg := events.Config{Brokers: []string{l.Addr().String()}}
	topics := events.Topics{Posts: unique("t") + ".posts", Follows: unique("t") + ".follows"}
	logs := &logBuffer{}
	h := &recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	r := &events.Runner{
		Cluster: cluster(t, cfg), Group: unique("g"), Topics: topics.All(), Handler: h,
		Log: slog.New(slog.NewTextHandler(logs, nil)), Metrics: events.NewMetrics(prometheus.NewRegistry()),
		Backoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
	}
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	testenv.Until(t, "the runner to say it waits for Kafka", func() bool { return strings.Contains(logs.String(), "cannot reach Kafka") })
	select {
	case err := <-done:
		t.Fatalf("the runner returned while Kafka was unreachable: %v", err)
	default:
	}

	k, err := events.StartEmbeddedPort(t.TempDir(), port)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Close)
	f := fixture{cfg: cfg, cluster: cluster(t, cfg), topics: topics}
	if err := events.EnsureTopics(f.cluster, topics, events.TopicSpec{Partitions: 1, Replication: 1}); err != nil {
		t.Fatal(err)
	}
	evs := postEvents(3, "ann", time.Now())
	f.publish(t, evs)
	testenv.Until(t, "the events consumed", func() bool { return len(h.events()) >= len(evs) })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("runner: %v", err)
	}
}

// TestRunnerStopsWaitingForKafka: cancelled while it waits for brokers, a
// runner returns without an error.
func TestRunnerStopsWaitingForKafka(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	logs := &logBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	r := &events.Runner{
		Cluster: cluster(t, events.Config{Brokers: []string{l.Addr().String()}}), Group: unique("g"), Topics: []string{"x"}, Handler: &recorder{},
		Log: slog.New(slog.NewTextHandler(logs, nil)), Metrics: events.NewMetrics(prometheus.NewRegistry()),
	}
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	testenv.Until(t, "the runner to say it waits for Kafka", func() bool { return strings.Contains(logs.String(), "cannot reach Kafka") })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run after cancel while waiting = %v, want nil", err)
	}
}
