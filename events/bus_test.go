package events_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/events"
	"github.com/feedsvc/feedsvc/internal/testenv"
)

// brokers are the event buses the same cases run against: the embedded
// kfake broker and a real Kafka (secured when the environment says so).
func brokers() map[string]func(t *testing.T) events.Config {
	return map[string]func(t *testing.T) events.Config{
		"kfake": func(t *testing.T) events.Config {
			k, err := events.StartEmbedded(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(k.Close)
			return events.Config{Brokers: k.Addrs()}
		},
		"kafka": func(t *testing.T) events.Config {
			return testenv.KafkaConfig(testenv.Require(t, "FEEDSVC_KAFKA_BROKERS"))
		},
	}
}

// cluster is cfg's cluster, its security files read.
func cluster(t testing.TB, cfg events.Config) events.Cluster {
	t.Helper()
	c, err := cfg.Cluster()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func unique(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// fixture is one isolated pair of topics on a bus.
type fixture struct {
	cfg     events.Config
	cluster events.Cluster
	topics  events.Topics
}

func newFixture(t *testing.T, cfg events.Config, partitions int32) fixture {
	t.Helper()
	p := unique("t")
	f := fixture{cfg: cfg, cluster: cluster(t, cfg), topics: events.Topics{Posts: p + ".posts", Follows: p + ".follows"}}
	if err := events.EnsureTopics(f.cluster, f.topics, events.TopicSpec{Partitions: partitions, Replication: 1}); err != nil {
		t.Fatal(err)
	}
	// Idempotent: a second run changes nothing and does not fail.
	if err := events.EnsureTopics(f.cluster, f.topics, events.TopicSpec{Partitions: partitions, Replication: 1}); err != nil {
		t.Fatalf("EnsureTopics again: %v", err)
	}
	return f
}

func (f fixture) producer(t *testing.T) *events.Producer {
	t.Helper()
	cfg := f.cfg
	cfg.Topics = f.topics
	p, err := events.OpenProducer(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// publishBatch publishes evs in one PublishBatch, as the outbox relay does.
func (f fixture) publishBatch(t *testing.T, evs []app.Event) {
	t.Helper()
	p := f.producer(t)
	defer p.Close()
	if err := p.PublishBatch(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
}

func (f fixture) publish(t *testing.T, evs []app.Event) {
	t.Helper()
	p := f.producer(t)
	defer p.Close()
	for _, ev := range evs {
		if err := p.Publish(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
}

// testIDs makes the test events' post IDs: one generator, so that events
// made by different calls never share an ID (the runner takes an event ID
// it has seen for a copy).
var testIDs = app.NewIDGen(3)

func postEvents(n int, author string, at time.Time) []app.Event {
	ids := testIDs
	var out []app.Event
	for i := range n {
		id, _ := ids.Next()
		p := &app.Post{ID: id, Author: author, Text: fmt.Sprint("post ", i), CreatedAt: at}
		out = append(out, app.Event{ID: "post.created:" + id.String(), Type: app.PostCreated, Time: at, Post: p})
	}
	return out
}

// retyped is ev as an event of another type about the same post.
func retyped(ev app.Event, typ string) app.Event {
	ev.Type, ev.ID = typ, typ+":"+ev.Post.ID.String()
	return ev
}

// recorder is a handler that records events; fail makes it fail instead
// (as when a dependency is down), invalid makes it refuse every event as one
// that can never succeed.
type recorder struct {
	mu      sync.Mutex
	seen    []app.Event
	fail    bool
	invalid bool
}

func (r *recorder) Handle(_ context.Context, ev app.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = append(r.seen, ev)
	if r.invalid {
		return fmt.Errorf("handler crashed on %s: %w", ev.ID, app.ErrInvalid)
	}
	if r.fail {
		return fmt.Errorf("handler crashed on %s", ev.ID)
	}
	return nil
}

// events returns a copy of what the handler saw.
func (r *recorder) events() []app.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.seen)
}

func (r *recorder) ids() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, ev := range r.seen {
		out = append(out, ev.ID)
	}
	return out
}

// consume runs a Runner until stop is called.
func (f fixture) consume(t *testing.T, group string, h app.Handler) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &events.Runner{
		Cluster: f.cluster, Group: group, Topics: f.topics.All(), Handler: h,
		Log:     slog.New(slog.DiscardHandler),
		Metrics: events.NewMetrics(prometheus.NewRegistry()),
		Backoff: time.Hour, // a failing handler stays on its event until stopped
	}
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("runner: %v", err)
		}
	}
}

// checkEvents fails unless got is want, in order, by ID and type.
func checkEvents(t *testing.T, what string, got, want []app.Event) {
	t.Helper()
	same := func(a, b app.Event) bool { return a.ID == b.ID && a.Type == b.Type }
	if !slices.EqualFunc(got, want, same) {
		t.Fatalf("%s: consumed %d events %v, want %d in order: %v", what, len(got), idTypes(got), len(want), idTypes(want))
	}
}

func idTypes(evs []app.Event) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Type+" "+ev.ID)
	}
	return out
}

func wantIDs(evs []app.Event) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, ev.ID)
	}
	return out
}

func TestBusConformance(t *testing.T) {
	for name, open := range brokers() {
		t.Run(name, func(t *testing.T) {
			addrs := open(t)
			t.Run("publish consume commit", func(t *testing.T) { testConsumeCommit(t, newFixture(t, addrs, 3)) })
			t.Run("redelivery after crash before commit", func(t *testing.T) { testRedelivery(t, newFixture(t, addrs, 1)) })
			t.Run("offsets for time", func(t *testing.T) { testOffsetsForTime(t, newFixture(t, addrs, 1)) })
		})
	}
}

func testConsumeCommit(t *testing.T, f fixture) {
	evs := postEvents(50, "alice", time.Now())
	f.publish(t, evs)
	var rec recorder
	stop := f.consume(t, "g1", &rec)
	testenv.Until(t, "50 events", func() bool { return len(rec.ids()) >= len(evs) })
	stop()
	// One author, one key, one partition: order is kept.
	checkEvents(t, "group g1", rec.events(), evs)
	// The group committed everything: a restarted member gets only new events.
	more := postEvents(5, "alice", time.Now())
	// Other post event types share the author's key and so the order: the
	// type check below then means something.
	more = append(more, retyped(more[0], app.PostModerated), retyped(more[1], app.PostDeleted))
	f.publishBatch(t, more) // a batch keeps the order of a key too
	var rec2 recorder
	stop = f.consume(t, "g1", &rec2)
	testenv.Until(t, "the new events", func() bool { return len(rec2.ids()) >= len(more) })
	stop()
	checkEvents(t, "group g1 after restart", rec2.events(), more)
	// Another group consumes independently from the start.
	var other recorder
	stop = f.consume(t, "g2", &other)
	testenv.Until(t, "all events in group g2", func() bool { return len(other.ids()) >= len(evs)+len(more) })
	stop()
	checkEvents(t, "group g2", other.events(), append(slices.Clone(evs), more...))
}

func testRedelivery(t *testing.T, f fixture) {
	evs := postEvents(10, "bob", time.Now())
	f.publish(t, evs)
	crashing := &recorder{fail: true}
	stop := f.consume(t, "g", crashing)
	testenv.Until(t, "first delivery", func() bool { return len(crashing.ids()) >= 1 })
	stop() // "crash": the handler never succeeded, so nothing was committed
	var rec recorder
	stop = f.consume(t, "g", &rec)
	testenv.Until(t, "redelivery", func() bool { return len(rec.ids()) >= len(evs) })
	stop()
	checkEvents(t, "redelivery", rec.events(), evs)
}

func testOffsetsForTime(t *testing.T, f fixture) {
	t0 := time.Now().Add(-2 * time.Hour).Truncate(time.Millisecond)
	t1 := t0.Add(time.Hour)
	f.publish(t, postEvents(4, "carol", t0))
	f.publish(t, postEvents(3, "carol", t1))
	client, err := sarama.NewClient(f.cluster.Brokers, f.cluster.Config("test"))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	cases := []struct {
		at   time.Time
		want int64
	}{
		{t0.Add(-time.Minute), 0},
		{t0.Add(time.Minute), 4},
		{t1, 4},
		{t1.Add(time.Minute), 7}, // past the last event: the log end
	}
	for _, c := range cases {
		got, err := client.GetOffset(f.topics.Posts, 0, c.at.UnixMilli())
		if err != nil {
			t.Fatal(err)
		}
		if got != c.want && !(c.want == 7 && got == -1) {
			t.Fatalf("offset at %v = %d, want %d", c.at, got, c.want)
		}
	}
}
