package events_test

import (
	"context"
	"hash/fnv"
	"slices"
	"testing"
	"time"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/events"
	"github.com/feedsvc/feedsvc/internal/testenv"
)

// holdKey is a handler that holds every event of one key until its context
// ends, and records the others.
type holdKey struct {
	recorder
	key string
}

func (h *holdKey) Handle(ctx context.Context, ev app.Event) error {
	if ev.Key() == h.key {
		<-ctx.Done()
		return ctx.Err()
	}
	return h.recorder.Handle(ctx, ev)
}

// otherLane returns a key whose lane (FNV-1a of the key, modulo lanes) is
// not key's.
func otherLane(key string, lanes uint32) string {
	lane := func(k string) uint32 {
		h := fnv.New32a()
		_, _ = h.Write([]byte(k))
		return h.Sum32() % lanes
	}
	for i := 0; ; i++ {
		if k := key + string(rune('a'+i)); lane(k) != lane(key) {
			return k
		}
	}
}

// TestRunnerLanes: on one partition, an author whose events cannot be
// handled yet holds back only its own events: another author's, behind it
// in the partition, are handled meanwhile. No offset is committed past the
// held event, so a runner stopped then redelivers everything, in order per
// author.
func TestRunnerLanes(t *testing.T) {
	for name, open := range brokers() {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, open(t), 1)
			slow := "sid"
			fast := otherLane(slow, events.DefaultLanes)
			now := time.Now()
			held := postEvents(2, slow, now)
			passed := postEvents(5, fast, now.Add(time.Second))
			f.publish(t, append(slices.Clone(held), passed...))
			group := unique("g")
			h := &holdKey{key: slow}
			stop := startRunner(t, f, group, h, time.Millisecond)
			testenv.Until(t, "the other author's events", func() bool { return len(h.ids()) >= len(passed) })
			stop()
			checkEvents(t, "while "+slow+" is held", h.events(), passed)
			assertLag(t, f, group, []events.PartitionLag{{Topic: f.topics.Posts, Committed: -1, End: 7, Lag: 7}})

			var again recorder
			stop = startRunner(t, f, group, &again, 0)
			testenv.Until(t, "every event again", func() bool { return len(again.ids()) >= len(held)+len(passed) })
			stop()
			byAuthor := map[string][]app.Event{}
			for _, ev := range again.events() {
				byAuthor[ev.Key()] = append(byAuthor[ev.Key()], ev)
			}
			checkEvents(t, slow+"'s events", byAuthor[slow], held)
			checkEvents(t, fast+"'s events", byAuthor[fast], passed)
			assertLag(t, f, group, []events.PartitionLag{{Topic: f.topics.Posts, Committed: 7, End: 7}})
		})
	}
}

// TestRunnerSkipsCopies: an event published again (the same ID: Kafka kept
// a send it reported failed, and the relay sent it again) is not handled
// again by the consumer that handled it, unless it is marked resent (to
// keep its key's order).
func TestRunnerSkipsCopies(t *testing.T) {
	for name, open := range brokers() {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, open(t), 1)
			evs := postEvents(6, "cora", time.Now())
			f.publish(t, evs[:4])
			f.publish(t, evs[1:3]) // copies
			resent := evs[2]
			resent.Resent = true
			f.publish(t, []app.Event{resent})
			f.publish(t, evs[4:])
			var rec recorder
			stop := startRunner(t, f, unique("g"), &rec, 0)
			// One author: one lane, in log order; the last event comes
			// after the copies.
			testenv.Until(t, "the last event", func() bool { return slices.Contains(rec.ids(), evs[5].ID) })
			stop()
			checkEvents(t, "handled", rec.events(), append(slices.Clone(evs[:4]), append([]app.Event{evs[2]}, evs[4:]...)...))
		})
	}
}
