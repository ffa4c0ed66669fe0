package events_test

import (
	"context"
	"errors"
	"log/slog"
	"maps"
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

// memCheckpoints is a checkpoint store that can go back in time like a
// Redis restored from a snapshot (restore) or flushed (flush).
type memCheckpoints struct {
	mu   sync.Mutex
	held map[string]map[int32]int64
	down atomic.Bool // every call fails, as when Redis is down
	// restarted marks the partitions whose writes since their checkpoint
	// a restart lost (restart): the next Save that knows one reports it,
	// as Redis does from its run ID.
	restarted map[string]map[int32]bool
}

var _ events.Checkpoints = (*memCheckpoints)(nil)

func newMemCheckpoints() *memCheckpoints {
	return &memCheckpoints{held: map[string]map[int32]int64{}}
}

func (m *memCheckpoints) Save(_ context.Context, _ string, prev, next map[string]map[int32]int64) (map[string]map[int32]int64, error) {
	if m.down.Load() {
		return nil, errors.New("redis: connection refused")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	lost := map[string]map[int32]int64{}
	for topic, parts := range next {
		for p := range parts {
			known, ok := prev[topic][p]
			if !ok {
				continue
			}
			if cur, has := m.held[topic][p]; !has || cur < known || m.restarted[topic][p] {
				if !has {
					cur = -1
				}
				delete(m.restarted[topic], p)
				if lost[topic] == nil {
					lost[topic] = map[int32]int64{}
				}
				lost[topic][p] = cur
			}
		}
	}
	if len(lost) > 0 {
		return lost, nil
	}
	for topic, parts := range next {
		for p, off := range parts {
			if m.held[topic] == nil {
				m.held[topic] = map[int32]int64{}
			}
			if cur, has := m.held[topic][p]; !has || cur < off {
				m.held[topic][p] = off
			}
		}
	}
	return lost, nil
}

func (m *memCheckpoints) Load(_ context.Context, _ string, parts map[string][]int32) (map[string]map[int32]int64, error) {
	if m.down.Load() {
		return nil, errors.New("redis: connection refused")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]map[int32]int64{}
	for topic, ps := range parts {
		for _, p := range ps {
			if off, ok := m.held[topic][p]; ok {
				if out[topic] == nil {
					out[topic] = map[int32]int64{}
				}
				out[topic][p] = off
			}
		}
	}
	return out, nil
}

// at is the checkpoint of topic's partition 0 (-1: none).
func (m *memCheckpoints) at(topic string) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if off, ok := m.held[topic][0]; ok {
		return off
	}
	return -1
}

func (m *memCheckpoints) snapshot() map[string]map[int32]int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]map[int32]int64{}
	for t, parts := range m.held {
		out[t] = maps.Clone(parts)
	}
	return out
}

func (m *memCheckpoints) restore(snap map[string]map[int32]int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.held = snap
}

func (m *memCheckpoints) flush() { m.restore(map[string]map[int32]int64{}) }

// restart keeps every checkpoint but loses the writes made after them, as
// a Redis restarted from a snapshot taken at the checkpoint.
func (m *memCheckpoints) restart() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.restarted = map[string]map[int32]bool{}
	for t, parts := range m.held {
		m.restarted[t] = map[int32]bool{}
		for p := range parts {
			m.restarted[t][p] = true
		}
	}
}

// checkpointed runs a Runner with cps that checkpoints and checks often,
// until the returned stop.
func checkpointed(t *testing.T, f fixture, group string, h app.Handler, cps events.Checkpoints, reg *prometheus.Registry, logs *logBuffer) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &events.Runner{
		Cluster: f.cluster, Group: group, Topics: f.topics.All(), Handler: h,
		Log:         slog.New(slog.NewTextHandler(logs, nil)),
		Metrics:     events.NewMetrics(reg),
		Checkpoints: cps, CheckpointEvery: 10 * time.Millisecond, StaleCheckEvery: 50 * time.Millisecond,
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

func TestRunnerStaleRedis(t *testing.T) {
	for name, open := range brokers() {
		t.Run(name, func(t *testing.T) {
			addrs := open(t)
			t.Run("restored from a snapshot while running", func(t *testing.T) {
				testRestoredWhileRunning(t, newFixture(t, addrs, 1))
			})
			t.Run("restarted at the checkpoint while running", func(t *testing.T) {
				testRestartedAtCheckpoint(t, newFixture(t, addrs, 1))
			})
			t.Run("flushed while stopped", func(t *testing.T) {
				testFlushedWhileStopped(t, newFixture(t, addrs, 1))
			})
			t.Run("redis down at assignment", func(t *testing.T) {
				testDownAtAssignment(t, newFixture(t, addrs, 1))
			})
		})
	}
}

// testRestoredWhileRunning: the store goes back to a snapshot taken after
// the first 5 events, while the runner has handled and committed 10. The
// periodic check sees it, the session ends, and the group is rewound to the
// snapshot's checkpoint: the 5 newer events are handled again, the older
// ones not, and the checkpoint is back at 10.
func testRestoredWhileRunning(t *testing.T, f fixture) {
	first, second := postEvents(5, "gina", time.Now()), postEvents(5, "hank", time.Now())
	group, h, cps := unique("g"), &recorder{}, newMemCheckpoints()
	reg, logs := prometheus.NewRegistry(), &logBuffer{}
	lossy := &lossRecorder{recorder: h}
	stop := checkpointed(t, f, group, lossy, cps, reg, logs)
	defer stop()
	f.publish(t, first)
	testenv.Until(t, "the first events checkpointed", func() bool { return cps.at(f.topics.Posts) == 5 })
	snap := cps.snapshot()
	f.publish(t, second)
	testenv.Until(t, "the second events checkpointed", func() bool { return cps.at(f.topics.Posts) == 10 })
	assertCommitted(t, f, group, 10)

	if n := lossy.lost.Load(); n != 0 {
		t.Fatalf("StoreLost ran %d times before any loss", n)
	}
	cps.restore(snap)
	testenv.Until(t, "the lost events redone", func() bool { return len(h.ids()) >= 15 && cps.at(f.topics.Posts) == 10 })
	if n := lossy.lost.Load(); n != 1 {
		t.Fatalf("StoreLost ran %d times for one loss, want once, before the replay", n)
	}
	checkEvents(t, "after the restore", h.events(), append(append(append([]app.Event{}, first...), second...), second...))
	if v := testenv.Metric(t, reg, "feedsvc_consumer_redis_rewinds_total", map[string]string{"group": group}); v != 1 {
		t.Fatalf("feedsvc_consumer_redis_rewinds_total = %v, want 1", v)
	}
	out := logs.String()
	if !strings.Contains(out, "redis lost writes") || !strings.Contains(out, "from=10 to=5") {
		t.Fatalf("no log line of the loss and of the rewind from 10 to 5:\n%s", out)
	}
}

// testRestartedAtCheckpoint: the store restarts holding the checkpoint of
// 10 events, so nothing is rewound, but the next events' Save hears of the
// restart: the session ends before their offsets are committed, they are
// handled again, and StoreLost runs once, before that.
func testRestartedAtCheckpoint(t *testing.T, f fixture) {
	first, second := postEvents(10, "iris", time.Now()), postEvents(3, "jack", time.Now())
	group, h, cps := unique("g"), &recorder{}, newMemCheckpoints()
	lossy, logs := &lossRecorder{recorder: h}, &logBuffer{}
	stop := checkpointed(t, f, group, lossy, cps, prometheus.NewRegistry(), logs)
	defer stop()
	defer func() {
		if t.Failed() {
			t.Logf("runner log:\n%s", logs.String())
		}
	}()
	f.publish(t, first)
	testenv.Until(t, "the first events checkpointed", func() bool { return cps.at(f.topics.Posts) == 10 })
	assertCommitted(t, f, group, 10)
	cps.restart()
	// The store is unreachable until the three events are handled, so
	// that one Save covers them all (with saves every 10 ms, a loaded
	// machine could otherwise save after one and redo only that one).
	cps.down.Store(true)
	f.publish(t, second)
	testenv.Until(t, "the events after the restart handled", func() bool { return len(h.ids()) >= 13 })
	cps.down.Store(false)
	testenv.Until(t, "the events after the restart redone", func() bool { return len(h.ids()) >= 16 && cps.at(f.topics.Posts) == 13 })
	if n := lossy.lost.Load(); n != 1 {
		t.Fatalf("StoreLost ran %d times for one restart, want once", n)
	}
	checkEvents(t, "after the restart", h.events(), append(append(append([]app.Event{}, first...), second...), second...))
	assertCommitted(t, f, group, 13)
}

// lossRecorder is a recorder that counts the store losses it was told of
// (events.StoreLossHandler).
type lossRecorder struct {
	*recorder
	lost atomic.Int32
}

func (l *lossRecorder) StoreLost(context.Context) error {
	l.lost.Add(1)
	return nil
}

// testFlushedWhileStopped: the store lost everything while no consumer
// ran; the next runner of the group sees it when it is assigned the
// partition and redoes the whole retained log.
func testFlushedWhileStopped(t *testing.T, f fixture) {
	evs := postEvents(4, "ida", time.Now())
	f.publish(t, evs)
	group, cps := unique("g"), newMemCheckpoints()
	h := &recorder{}
	stop := checkpointed(t, f, group, h, cps, prometheus.NewRegistry(), &logBuffer{})
	testenv.Until(t, "the events checkpointed", func() bool { return cps.at(f.topics.Posts) == 4 })
	stop()
	assertCommitted(t, f, group, 4)

	cps.flush()
	again, reg, logs := &recorder{}, prometheus.NewRegistry(), &logBuffer{}
	stop = checkpointed(t, f, group, again, cps, reg, logs)
	defer stop()
	testenv.Until(t, "the log redone", func() bool { return len(again.ids()) >= 4 && cps.at(f.topics.Posts) == 4 })
	checkEvents(t, "after the flush", again.events(), evs)
	if v := testenv.Metric(t, reg, "feedsvc_consumer_redis_rewinds_total", map[string]string{"group": group}); v != 1 {
		t.Fatalf("feedsvc_consumer_redis_rewinds_total = %v, want 1", v)
	}
	if out := logs.String(); !strings.Contains(out, "from=4 to=0") || !strings.Contains(out, "checkpoint=none") {
		t.Fatalf("no log line of the rewind from 4 to 0:\n%s", out)
	}
}

// assertCommitted waits until group committed offset want on the posts
// topic's partition 0 (commits are asynchronous, every second).
func assertCommitted(t *testing.T, f fixture, group string, want int64) {
	t.Helper()
	testenv.Until(t, "the offsets committed", func() bool {
		got, err := events.GroupLag(context.Background(), f.cluster, group, []string{f.topics.Posts})
		if err != nil {
			t.Fatal(err)
		}
		return len(got) == 1 && got[0].Committed == want
	})
}

// testDownAtAssignment: while the checkpoints cannot be read, the assigned
// partitions wait (nothing is handled, one line says why); once they can,
// the events are handled and checkpointed.
func testDownAtAssignment(t *testing.T, f fixture) {
	evs := postEvents(3, "jack", time.Now())
	f.publish(t, evs)
	group, h, cps := unique("g"), &recorder{}, newMemCheckpoints()
	cps.down.Store(true)
	logs := &logBuffer{}
	stop := checkpointed(t, f, group, h, cps, prometheus.NewRegistry(), logs)
	defer stop()
	testenv.Until(t, "the partitions waiting", func() bool { return strings.Contains(logs.String(), "partitions wait") })
	if got := h.ids(); len(got) != 0 {
		t.Fatalf("handled %v before the checkpoints could be compared", got)
	}
	cps.down.Store(false)
	testenv.Until(t, "the events checkpointed", func() bool { return cps.at(f.topics.Posts) == 3 })
	checkEvents(t, "after redis came back", h.events(), evs)
}
