package events_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/events"
	"github.com/feedsvc/feedsvc/internal/testenv"
)

// startRunner runs a Runner in group on the fixture's topics until stop.
func startRunner(t *testing.T, f fixture, group string, h app.Handler, backoff time.Duration) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &events.Runner{
		Cluster: f.cluster, Group: group, Topics: f.topics.All(), Handler: h,
		Log:     slog.New(slog.DiscardHandler),
		Metrics: events.NewMetrics(prometheus.NewRegistry()),
		Backoff: backoff,
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

// consumeExactly runs a Runner in group until it handled len(want) events,
// and checks they are exactly want, in order.
func consumeExactly(t *testing.T, f fixture, group string, want []string) {
	t.Helper()
	var rec recorder
	stop := startRunner(t, f, group, &rec, 0)
	testenv.Until(t, "events in "+group, func() bool { return len(rec.ids()) >= len(want) })
	stop()
	if got := rec.ids(); !slices.Equal(got, want) {
		t.Fatalf("group %s consumed %v, want exactly %v", group, got, want)
	}
}

func TestReplayOffsets(t *testing.T) {
	for name, open := range brokers() {
		t.Run(name, func(t *testing.T) {
			addrs := open(t)
			t.Run("plan and execute", func(t *testing.T) { testResetPlan(t, newFixture(t, addrs, 1)) })
			t.Run("refused while the group runs", func(t *testing.T) { testResetRefused(t, newFixture(t, addrs, 1)) })
			t.Run("lag", func(t *testing.T) { testLag(t, newFixture(t, addrs, 1)) })
		})
	}
}

func testResetPlan(t *testing.T, f fixture) {
	ctx := context.Background()
	now := time.Now()
	t0 := now.Add(-2 * time.Hour).Truncate(time.Millisecond)
	t1 := t0.Add(time.Hour)
	early, late := postEvents(4, "carol", t0), postEvents(3, "carol", t1)
	f.publish(t, early)
	f.publish(t, late)
	group := unique("g")

	if got, err := events.CommittedTopics(ctx, f.cluster, group); err != nil || len(got) != 0 {
		t.Fatalf("topics of a new group = %v, %v; want none", got, err)
	}
	consumeExactly(t, f, group, wantIDs(append(slices.Clone(early), late...)))
	// The follows topic had no events, so the group committed only on posts.
	if got, err := events.CommittedTopics(ctx, f.cluster, group); err != nil || !slices.Equal(got, []string{f.topics.Posts}) {
		t.Fatalf("committed topics = %v, %v; want [%s]", got, err, f.topics.Posts)
	}

	cases := []struct {
		name   string
		target events.ResetTarget
		want   int64
	}{
		{"to-datetime", events.ResetTarget{Kind: events.ResetToTime, Time: t1}, 4},
		{"to-datetime between", events.ResetTarget{Kind: events.ResetToTime, Time: t0.Add(time.Minute)}, 4},
		{"to-datetime before all", events.ResetTarget{Kind: events.ResetToTime, Time: t0.Add(-time.Minute)}, 0},
		{"to-datetime after all", events.ResetTarget{Kind: events.ResetToTime, Time: now.Add(time.Minute)}, 7},
		{"by-duration 90m", events.ResetTarget{Kind: events.ResetToTime, Time: time.Now().Add(-90 * time.Minute)}, 4},
		{"by-duration 3h", events.ResetTarget{Kind: events.ResetToTime, Time: time.Now().Add(-3 * time.Hour)}, 0},
		{"to-earliest", events.ResetTarget{Kind: events.ResetToEarliest}, 0},
		{"to-latest", events.ResetTarget{Kind: events.ResetToLatest}, 7},
		{"to-offset", events.ResetTarget{Kind: events.ResetToOffset, Offset: 2}, 2},
		{"to-offset past the end", events.ResetTarget{Kind: events.ResetToOffset, Offset: 100}, 7},
		{"to-offset negative", events.ResetTarget{Kind: events.ResetToOffset, Offset: -5}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			plan, err := events.PlanReset(ctx, f.cluster, group, []string{f.topics.Posts}, c.target)
			if err != nil {
				t.Fatal(err)
			}
			want := []events.PartitionReset{{Topic: f.topics.Posts, Partition: 0, Current: 7, New: c.want, Start: 0, End: 7}}
			if !slices.Equal(plan.Partitions, want) {
				t.Fatalf("plan %+v, want %+v", plan.Partitions, want)
			}
			if p := plan.Partitions[0]; p.Reprocess() != 7-c.want || p.Skip() != 0 || p.Pending() != 7-c.want {
				t.Fatalf("reprocess %d skip %d pending %d, want %d 0 %d", p.Reprocess(), p.Skip(), p.Pending(), 7-c.want, 7-c.want)
			}
		})
	}
	// A partition without a commit: the group would start at the log start.
	plan, err := events.PlanReset(ctx, f.cluster, group, []string{f.topics.Follows}, events.ResetTarget{Kind: events.ResetToLatest})
	if err != nil {
		t.Fatal(err)
	}
	if want := []events.PartitionReset{{Topic: f.topics.Follows, Current: -1}}; !slices.Equal(plan.Partitions, want) {
		t.Fatalf("plan on follows %+v, want %+v", plan.Partitions, want)
	}
	// Planning changed nothing.
	assertLag(t, f, group, []events.PartitionLag{{Topic: f.topics.Posts, Committed: 7, End: 7}})

	// Execute: the group handles exactly the events from the new offset on.
	execute := []struct {
		target events.ResetTarget
		want   []app.Event
	}{
		{events.ResetTarget{Kind: events.ResetToTime, Time: t1}, late},
		{events.ResetTarget{Kind: events.ResetToOffset, Offset: 5}, late[1:]},
		{events.ResetTarget{Kind: events.ResetToEarliest}, append(slices.Clone(early), late...)},
	}
	for _, c := range execute {
		plan, err := events.PlanReset(ctx, f.cluster, group, []string{f.topics.Posts}, c.target)
		if err != nil {
			t.Fatal(err)
		}
		if err := events.ApplyReset(ctx, f.cluster, plan); err != nil {
			t.Fatalf("apply %v: %v", c.target, err)
		}
		assertLag(t, f, group, []events.PartitionLag{{Topic: f.topics.Posts, Committed: 7 - int64(len(c.want)), End: 7, Lag: int64(len(c.want))}})
		consumeExactly(t, f, group, wantIDs(c.want))
	}
}

func testResetRefused(t *testing.T, f fixture) {
	ctx := context.Background()
	f.publish(t, postEvents(3, "erin", time.Now()))
	group := unique("g")
	earliest := events.ResetTarget{Kind: events.ResetToEarliest}
	plan, err := events.PlanReset(ctx, f.cluster, group, f.topics.All(), earliest)
	if err != nil {
		t.Fatalf("plan for a group that never ran: %v", err)
	}
	var rec recorder
	stop := startRunner(t, f, group, &rec, 0)
	testenv.Until(t, "the member to consume", func() bool { return len(rec.ids()) >= 3 })
	if _, err := events.PlanReset(ctx, f.cluster, group, f.topics.All(), earliest); !errors.Is(err, events.ErrGroupActive) {
		t.Errorf("plan while a member runs: %v, want ErrGroupActive", err)
	}
	// A preview plans anyway, says why it cannot be applied, and reports
	// its progress per partition.
	var progress [][2]int
	preview, err := events.PlanResetWith(ctx, f.cluster, group, f.topics.All(), earliest,
		events.PlanOptions{Preview: true, Progress: func(done, total int) { progress = append(progress, [2]int{done, total}) }})
	if err != nil || !strings.Contains(preview.Live, "member") || len(preview.Partitions) != len(plan.Partitions) {
		t.Errorf("preview while a member runs: %+v, %v; want the plan, live", preview, err)
	}
	if n := len(plan.Partitions); len(progress) != n || progress[n-1] != [2]int{n, n} {
		t.Errorf("progress %v, want 1..%d of %d", progress, n, n)
	}
	if err := events.ApplyReset(ctx, f.cluster, preview); !errors.Is(err, events.ErrGroupActive) {
		t.Errorf("apply a preview while a member runs: %v, want ErrGroupActive", err)
	}
	if err := events.ApplyReset(ctx, f.cluster, plan); !errors.Is(err, events.ErrGroupActive) {
		t.Errorf("apply while a member runs: %v, want ErrGroupActive", err)
	}
	stop()
	// Once the member left, the group is Empty and the reset goes through.
	testenv.Until(t, "the group to empty", func() bool {
		plan, err = events.PlanReset(ctx, f.cluster, group, f.topics.All(), earliest)
		return !errors.Is(err, events.ErrGroupActive)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := events.ApplyReset(ctx, f.cluster, plan); err != nil {
		t.Fatal(err)
	}
}

func assertLag(t *testing.T, f fixture, group string, want []events.PartitionLag) {
	t.Helper()
	var topics []string
	for _, l := range want {
		topics = append(topics, l.Topic)
	}
	got, err := events.GroupLag(context.Background(), f.cluster, group, topics)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("lag of %s = %+v, want %+v", group, got, want)
	}
}

func testLag(t *testing.T, f fixture) {
	ctx := context.Background()
	f.publish(t, postEvents(10, "frank", time.Now()))
	group := unique("g")
	// Before the group ever ran, it is behind by the whole log.
	assertLag(t, f, group, []events.PartitionLag{
		{Topic: f.topics.Follows, Committed: -1},
		{Topic: f.topics.Posts, Committed: -1, End: 10, Lag: 10},
	})
	var rec recorder
	stop := startRunner(t, f, group, &rec, 0)
	testenv.Until(t, "10 events", func() bool { return len(rec.ids()) >= 10 })
	stop()
	f.publish(t, postEvents(5, "frank", time.Now()))
	assertLag(t, f, group, []events.PartitionLag{
		{Topic: f.topics.Follows, Committed: -1},
		{Topic: f.topics.Posts, Committed: 10, End: 15, Lag: 5},
	})
	groups, err := events.ListGroups(ctx, f.cluster)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(groups, group) {
		t.Fatalf("groups %v lack %s", groups, group)
	}

	// The exporter publishes the same numbers as the gauge.
	reg := prometheus.NewRegistry()
	m := events.NewMetrics(reg)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.ReportLag(ctx, f.cluster, group, f.topics.All(), 20*time.Millisecond, slog.New(slog.DiscardHandler))
	}()
	defer func() { cancel(); <-done }()
	testenv.Until(t, "the lag gauge", func() bool {
		return testenv.Metric(t, reg, "feedsvc_consumer_lag", map[string]string{"group": group, "topic": f.topics.Posts, "partition": "0"}) == 5
	})
	f.publish(t, postEvents(2, "frank", time.Now()))
	testenv.Until(t, "the lag gauge to follow new events", func() bool {
		return testenv.Metric(t, reg, "feedsvc_consumer_lag", map[string]string{"group": group, "topic": f.topics.Posts, "partition": "0"}) == 7
	})
}
