package events_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/internal/testenv"
)

// publishSamples returns the sample count of feedsvc_publish_seconds for
// topic, and whether the series exists.
func publishSamples(t *testing.T, reg *prometheus.Registry, topic string) (uint64, bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "feedsvc_publish_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "topic" && lp.GetValue() == topic {
					return m.GetHistogram().GetSampleCount(), true
				}
			}
		}
	}
	return 0, false
}

// The producer's metrics count each event published, by topic, and each
// event whose publish failed; the series of both topics exist from the
// start.
func TestProducerMetrics(t *testing.T) {
	f := newFixture(t, brokers()["kfake"](t), 1)
	p := f.producer(t)
	reg := prometheus.NewRegistry()
	p.Instrument(reg)
	for _, topic := range f.topics.All() {
		if n, ok := publishSamples(t, reg, topic); !ok || n != 0 {
			t.Fatalf("before any publish: feedsvc_publish_seconds{topic=%q} = %d samples (exists: %v), want 0 and present", topic, n, ok)
		}
		if !hasSeries(t, reg, "feedsvc_publish_errors_total", topic) {
			t.Fatalf("feedsvc_publish_errors_total{topic=%q} is missing before any publish", topic)
		}
	}

	ctx := context.Background()
	posts := postEvents(3, "pat", time.Now())
	if err := p.Publish(ctx, posts[0]); err != nil {
		t.Fatal(err)
	}
	follow := app.Event{ID: "user.followed:pat:quinn", Type: app.UserFollowed, Time: time.Now(),
		Follow: &app.Follow{Follower: "quinn", Followee: "pat"}}
	if err := p.PublishBatch(ctx, []app.Event{posts[1], follow, posts[2]}); err != nil {
		t.Fatal(err)
	}
	if n, _ := publishSamples(t, reg, f.topics.Posts); n != 3 {
		t.Errorf("publish samples of %s = %d, want 3 (one Publish, two events of a batch)", f.topics.Posts, n)
	}
	if n, _ := publishSamples(t, reg, f.topics.Follows); n != 1 {
		t.Errorf("publish samples of %s = %d, want 1", f.topics.Follows, n)
	}
	for _, topic := range f.topics.All() {
		if n := testenv.Metric(t, reg, "feedsvc_publish_errors_total", map[string]string{"topic": topic}); n != 0 {
			t.Errorf("publish errors of %s = %v after successful publishes, want 0", topic, n)
		}
	}

	// A closed producer refuses: each event of the failed calls counts as
	// an error of its topic, and no latency is observed for them.
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Publish(ctx, follow); err == nil {
		t.Fatal("Publish on a closed producer succeeded")
	}
	if err := p.PublishBatch(ctx, []app.Event{posts[0], posts[1], follow}); err == nil {
		t.Fatal("PublishBatch on a closed producer succeeded")
	}
	if n := testenv.Metric(t, reg, "feedsvc_publish_errors_total", map[string]string{"topic": f.topics.Posts}); n != 2 {
		t.Errorf("publish errors of %s = %v, want 2", f.topics.Posts, n)
	}
	if n := testenv.Metric(t, reg, "feedsvc_publish_errors_total", map[string]string{"topic": f.topics.Follows}); n != 2 {
		t.Errorf("publish errors of %s = %v, want 2", f.topics.Follows, n)
	}
	if n, _ := publishSamples(t, reg, f.topics.Posts); n != 3 {
		t.Errorf("publish samples of %s = %d after failures, want still 3", f.topics.Posts, n)
	}
}

// A runner's per-group series exist at 0 once it runs, before any event:
// dead letters per topic, retries, panics, and the stuck gauge of each
// partition it was assigned.
func TestRunnerMetricsStartAtZero(t *testing.T) {
	f := newFixture(t, brokers()["kfake"](t), 1)
	group := unique("g")
	reg, logs := prometheus.NewRegistry(), &logBuffer{}
	stop := retrying(t, f, group, &recorder{}, reg, logs, time.Millisecond)
	defer stop()
	// The group joins first (a loaded machine takes seconds).
	testenv.Until(t, "the runner's per-group series (dead letters per topic, retries, panics, stuck per partition)", func() bool {
		ok := hasSeries(t, reg, "feedsvc_consumer_retries_total", group) && hasSeries(t, reg, "feedsvc_consumer_panics_total", group)
		for _, topic := range f.topics.All() {
			ok = ok && hasSeries(t, reg, "feedsvc_events_dead_lettered_total", group, topic)
			// Once the partition is assigned: not stuck, and saying so.
			ok = ok && hasSeries(t, reg, "feedsvc_consumer_stuck", group, topic, "0")
		}
		return ok
	})
	for _, topic := range f.topics.All() {
		if n := testenv.Metric(t, reg, "feedsvc_events_dead_lettered_total", map[string]string{"group": group, "topic": topic}); n != 0 {
			t.Errorf("dead letters of %s on %s = %v, want 0", group, topic, n)
		}
		if n := testenv.Metric(t, reg, "feedsvc_consumer_stuck", map[string]string{"group": group, "topic": topic}); n != 0 {
			t.Errorf("stuck events of %s on %s = %v, want 0", group, topic, n)
		}
	}
}

// hasSeries reports whether reg has a series of name whose label values
// include every one of values.
func hasSeries(t *testing.T, reg *prometheus.Registry, name string, values ...string) bool {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			have := map[string]bool{}
			for _, lp := range m.GetLabel() {
				have[lp.GetValue()] = true
			}
			for _, v := range values {
				if !have[v] {
					continue next
				}
			}
			return true
		}
	}
	return false
}
