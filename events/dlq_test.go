package events_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/events"
	"github.com/feedsvc/feedsvc/internal/testenv"
)

func TestDeadLetters(t *testing.T) {
	for name, open := range brokers() {
		t.Run(name, func(t *testing.T) { testDeadLetters(t, newFixture(t, open(t), 1)) })
	}
}

func testDeadLetters(t *testing.T, f fixture) {
	ctx := context.Background()
	at := time.Now().Truncate(time.Millisecond)
	evs := postEvents(3, "dave", at)
	f.publish(t, evs)
	group, other := unique("g"), unique("o")
	posts := []string{f.topics.Posts}

	// Two groups whose handler refuses every event as invalid dead-letter
	// every event at once.
	stopG := startRunner(t, f, group, &recorder{invalid: true}, time.Millisecond)
	stopO := startRunner(t, f, other, &recorder{invalid: true}, time.Millisecond)
	list := func(g string, limit int) []events.DLQEntry {
		t.Helper()
		entries, err := events.ListDeadLetters(ctx, f.cluster, g, posts, limit)
		if err != nil {
			t.Fatal(err)
		}
		return entries
	}
	testenv.Until(t, "dead letters of both groups", func() bool { return len(list(group, 0)) >= 3 && len(list(other, 0)) >= 3 })
	stopG()
	stopO()

	entries := list(group, 0)
	if len(entries) != len(evs) {
		t.Fatalf("listed %d dead letters of %s, want %d: %+v", len(entries), group, len(evs), entries)
	}
	for i, e := range entries {
		want := events.DLQEntry{
			DLQTopic: events.DeadLetter(f.topics.Posts), DLQPartition: 0, DLQOffset: e.DLQOffset,
			Topic: f.topics.Posts, Partition: 0, Offset: int64(i), Group: group,
			EventID: evs[i].ID, EventType: app.PostCreated, Time: e.Time, Error: e.Error,
		}
		if e.DLQOffset < 0 || !e.Time.Equal(at) || !strings.Contains(e.Error, "handler crashed on "+evs[i].ID) {
			t.Errorf("entry %d: dlq offset %d, time %v (want %v), error %q", i, e.DLQOffset, e.Time, at, e.Error)
		}
		if !sameEntry(e, want) {
			t.Errorf("entry %d = %+v, want %+v", i, e, want)
		}
	}
	if got := list(group, 2); len(got) != 2 || got[0].EventID != evs[0].ID {
		t.Fatalf("limit 2 listed %+v", got)
	}

	cases := []struct {
		name      string
		execute   bool
		want      []string // event IDs re-published
		postsEnd  int64    // posts topic end offset afterwards
		replayed  bool     // entries listed as replayed afterwards
		otherLeft int      // dead letters of the other group still to replay
	}{
		{"dry run publishes nothing", false, wantIDs(evs), 3, false, 3},
		{"execute re-publishes once", true, wantIDs(evs), 6, true, 3},
		{"second execute does nothing", true, nil, 6, true, 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := events.ReplayDeadLetters(ctx, f.cluster, group, posts, c.execute)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, e := range got {
				ids = append(ids, e.EventID)
			}
			if !slices.Equal(ids, c.want) {
				t.Fatalf("replayed %v, want %v", ids, c.want)
			}
			assertLag(t, f, group, []events.PartitionLag{{Topic: f.topics.Posts, Committed: 3, End: c.postsEnd, Lag: c.postsEnd - 3}})
			for _, e := range list(group, 0) {
				if e.Replayed != c.replayed {
					t.Fatalf("entry %s replayed = %v, want %v", e.EventID, e.Replayed, c.replayed)
				}
			}
			left, err := events.ReplayDeadLetters(ctx, f.cluster, other, posts, false)
			if err != nil || len(left) != c.otherLeft {
				t.Fatalf("other group has %d to replay (%v), want %d", len(left), err, c.otherLeft)
			}
		})
	}

	// The group handles the replayed events again, and nothing else.
	consumeExactly(t, f, group, wantIDs(evs))
}

// sameEntry compares the exported fields.
func sameEntry(a, b events.DLQEntry) bool {
	return a.DLQTopic == b.DLQTopic && a.DLQPartition == b.DLQPartition && a.DLQOffset == b.DLQOffset &&
		a.Topic == b.Topic && a.Partition == b.Partition && a.Offset == b.Offset && a.Group == b.Group &&
		a.EventID == b.EventID && a.EventType == b.EventType && a.Time.Equal(b.Time) &&
		a.Error == b.Error && a.Replayed == b.Replayed
}

// poisoned refuses one event as invalid, counting its attempts, and
// records the others.
type poisoned struct {
	recorder
	poison   string
	attempts atomic.Int32
}

func (p *poisoned) Handle(ctx context.Context, ev app.Event) error {
	if ev.ID == p.poison {
		p.attempts.Add(1)
		return fmt.Errorf("%w: cannot process %s", app.ErrInvalid, ev.ID)
	}
	return p.recorder.Handle(ctx, ev)
}

// publishRaw writes a record straight to the posts topic, as a foreign or
// broken producer could.
func (f fixture) publishRaw(t *testing.T, id string, value []byte) {
	t.Helper()
	p, err := sarama.NewSyncProducer(f.cluster.Brokers, f.cluster.Config("test-raw"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	_, _, err = p.SendMessage(&sarama.ProducerMessage{
		Topic: f.topics.Posts, Key: sarama.StringEncoder("poison"), Value: sarama.ByteEncoder(value),
		Headers: []sarama.RecordHeader{
			{Key: []byte("ce_id"), Value: []byte(id)},
			{Key: []byte("ce_type"), Value: []byte(app.PostCreated)},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestPoisonEvent: events that can never succeed, one that does not decode
// and one its handler refuses as invalid, go to the dead-letter topic at
// once (one attempt; a retry would wait the hour-long backoff and time the
// test out), with their errors, and every later event of the partition is
// still processed.
func TestPoisonEvent(t *testing.T) {
	for name, open := range brokers() {
		for _, batches := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/batches=%v", name, batches), func(t *testing.T) { testPoisonEvent(t, open(t), batches) })
		}
	}
}

// batchPoisoned is poisoned as a BatchHandler: a batch with the poison in
// it fails as a whole, handling none of its events.
type batchPoisoned struct{ *poisoned }

func (b batchPoisoned) HandleBatch(ctx context.Context, evs []app.Event) error {
	for _, ev := range evs {
		if ev.ID == b.poison {
			return fmt.Errorf("%w: cannot process %s", app.ErrInvalid, ev.ID)
		}
	}
	for _, ev := range evs {
		if err := b.poisoned.Handle(ctx, ev); err != nil {
			return err
		}
	}
	return nil
}

func testPoisonEvent(t *testing.T, cfg events.Config, batches bool) {
	f := newFixture(t, cfg, 1)
	evs := postEvents(10, "poison", time.Now())
	f.publish(t, evs[:5])
	rawID := unique("raw")
	f.publishRaw(t, rawID, []byte(`{"id": "1`)) // cut short
	f.publish(t, evs[5:])
	h := &poisoned{poison: evs[3].ID}
	var handler app.Handler = h
	if batches {
		handler = batchPoisoned{h}
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &events.Runner{
		Cluster: f.cluster, Group: "p", Topics: f.topics.All(), Handler: handler,
		Log: slog.New(slog.DiscardHandler), Metrics: events.NewMetrics(prometheus.NewRegistry()),
		Backoff: time.Hour,
	}
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	want := append(wantIDs(evs[:3]), wantIDs(evs[4:])...)
	testenv.Until(t, "the events after the poison ones", func() bool { return len(h.ids()) >= len(want) })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := h.ids(); !slices.Equal(got, want) {
		t.Fatalf("processed %v, want %v", got, want)
	}
	if n := h.attempts.Load(); n != 1 {
		t.Fatalf("the invalid event was attempted %d times, want 1", n)
	}
	dead, err := events.ListDeadLetters(context.Background(), f.cluster, "p", f.topics.All(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(dead) != 2 ||
		dead[0].EventID != evs[3].ID || !strings.Contains(dead[0].Error, "cannot process") || dead[0].Offset != 3 ||
		dead[1].EventID != rawID || !strings.Contains(dead[1].Error, "decode post") || dead[1].Offset != 5 {
		t.Fatalf("dead letters = %+v", dead)
	}
}
