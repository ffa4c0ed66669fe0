package events_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/internal/testenv"
)

// traced records the span context each event's handling ran under.
type traced struct {
	mu    sync.Mutex
	spans map[string]trace.SpanContext
	evs   map[string]app.Event
}

func (h *traced) Handle(ctx context.Context, ev app.Event) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.spans[ev.ID], h.evs[ev.ID] = trace.SpanContextFromContext(ctx), ev
	return nil
}

// TestTraceThroughKafka: an event written under a request's span carries
// its trace context in ce_traceparent; publishing makes a producer span
// under it, and the consumer's handling a consumer span under that, in
// the same trace. An event without a trace context is handled in a trace
// of its own.
func TestTraceThroughKafka(t *testing.T) {
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	t.Cleanup(func() { otel.SetTracerProvider(prev) })

	for name, open := range brokers() {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, open(t), 1)
			evs := postEvents(2, "tina", time.Now())
			ctx, request := tp.Tracer("test").Start(context.Background(), "POST /v1/posts")
			evs[0] = app.WithTrace(ctx, evs[0])
			request.End()
			f.publishBatch(t, evs) // as the relay does, later and with a context of its own
			h := &traced{spans: map[string]trace.SpanContext{}, evs: map[string]app.Event{}}
			stop := f.consume(t, unique("g"), h)
			testenv.Until(t, "both events", func() bool { h.mu.Lock(); defer h.mu.Unlock(); return len(h.spans) == 2 })
			stop()

			got := h.spans[evs[0].ID]
			if got.TraceID() != request.SpanContext().TraceID() {
				t.Fatalf("the handler ran in trace %s, want the request's %s", got.TraceID(), request.SpanContext().TraceID())
			}
			if h.evs[evs[0].ID].TraceParent == "" {
				t.Fatal("the consumed event has no ce_traceparent")
			}
			if other := h.spans[evs[1].ID]; !other.IsValid() || other.TraceID() == got.TraceID() {
				t.Fatalf("an event written without a trace is handled in trace %s (the request's: %s), want a trace of its own", other.TraceID(), got.TraceID())
			}
			byID := map[trace.SpanID]sdktrace.ReadOnlySpan{}
			for _, s := range spans.Ended() {
				byID[s.SpanContext().SpanID()] = s
			}
			consumer, ok := byID[got.SpanID()]
			if !ok || consumer.SpanKind() != trace.SpanKindConsumer {
				t.Fatalf("the handler's span %s is not an ended consumer span", got.SpanID())
			}
			producer, ok := byID[consumer.Parent().SpanID()]
			if !ok || producer.SpanKind() != trace.SpanKindProducer || producer.Parent().SpanID() != request.SpanContext().SpanID() {
				t.Fatalf("the consumer span's parent %s is not a producer span under the request", consumer.Parent().SpanID())
			}
		})
	}
}
