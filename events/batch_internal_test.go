package events

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/feedsvc/feedsvc/app"
)

// batchRecorder records the batches it is given.
type batchRecorder struct {
	mu      sync.Mutex
	batches [][]string
}

func (b *batchRecorder) Handle(ctx context.Context, ev app.Event) error {
	return b.HandleBatch(ctx, []app.Event{ev})
}

func (b *batchRecorder) HandleBatch(_ context.Context, evs []app.Event) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	var ids []string
	for _, ev := range evs {
		ids = append(ids, ev.ID)
	}
	b.batches = append(b.batches, ids)
	return nil
}

// TestLaneBatches: a BatchHandler gets the events waiting on a lane in one
// batch (up to maxBatch), in order; a plain Handler gets them one by one.
func TestLaneBatches(t *testing.T) {
	var items []*laneItem
	var want []string
	for i := range maxBatch + 3 {
		id, _ := app.NewIDGen(1).Next()
		ev := app.Event{ID: fmt.Sprintf("post.created:%d", i), Type: app.PostCreated, Time: time.Now(),
			Post: &app.Post{ID: id, Author: "ann", Text: "x", CreatedAt: time.Now()}}
		msg, err := Encode("posts", ev)
		if err != nil {
			t.Fatal(err)
		}
		value, _ := msg.Value.Encode()
		key, _ := msg.Key.Encode()
		cm := &sarama.ConsumerMessage{Topic: "posts", Key: key, Value: value, Offset: int64(i)}
		for _, h := range msg.Headers {
			cm.Headers = append(cm.Headers, &sarama.RecordHeader{Key: h.Key, Value: h.Value})
		}
		items = append(items, &laneItem{msg: cm})
		want = append(want, ev.ID)
	}
	lane := func() chan *laneItem {
		q := make(chan *laneItem, len(items))
		for _, it := range items[1:] {
			q <- it
		}
		return q
	}
	rec := &batchRecorder{}
	h := &groupHandler{r: &Runner{Group: "g", Handler: rec, Log: slog.New(slog.DiscardHandler), Metrics: NewMetrics(prometheus.NewRegistry())}}
	q := lane()
	var got []string
	for it := items[0]; it != nil; {
		batch := h.gather(it, q)
		if err := h.processBatch(context.Background(), batch); err != nil {
			t.Fatal(err)
		}
		select {
		case it = <-q:
		default:
			it = nil
		}
	}
	for _, b := range rec.batches {
		got = append(got, b...)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("handled %v, want %v", got, want)
	}
	if len(rec.batches) != 2 || len(rec.batches[0]) != maxBatch {
		t.Fatalf("batches of %v, want %d then 3", lens(rec.batches), maxBatch)
	}

	// A plain handler: one at a time.
	plain := &recorderHandler{}
	h.r.Handler = plain
	if batch := h.gather(items[0], lane()); len(batch) != 1 {
		t.Fatalf("a plain handler was given %d events at once", len(batch))
	}
}

type recorderHandler struct{ n int }

func (r *recorderHandler) Handle(context.Context, app.Event) error { r.n++; return nil }

func lens(bs [][]string) []int {
	var out []int
	for _, b := range bs {
		out = append(out, len(b))
	}
	return out
}
