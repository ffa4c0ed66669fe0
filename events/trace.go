package events

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/feedsvc/feedsvc/app"
)

// Events carry their trace context as the CloudEvents distributed-tracing
// extension: ce_traceparent and ce_tracestate headers (app.Event.TraceParent).
const (
	hTraceParent = "ce_traceparent"
	hTraceState  = "ce_tracestate"
)

func tracer() trace.Tracer { return otel.Tracer("github.com/feedsvc/feedsvc/events") }

// publishSpans starts a producer span for each event that carries a trace
// context (or, with inherit, whose ctx has a span: a consumer publishing
// an event of its own), under that context, and returns the events
// carrying their span's context instead, so the consumers' spans hang
// under the publish. end ends the spans with the send's error.
func publishSpans(ctx context.Context, topic func(app.Event) string, evs []app.Event, inherit bool) (_ []app.Event, end func(error)) {
	out := make([]app.Event, len(evs))
	var spans []trace.Span
	for i, ev := range evs {
		out[i] = ev
		parent := ev.TraceContext(ctx)
		if ev.TraceParent == "" && !(inherit && trace.SpanContextFromContext(ctx).IsValid()) {
			continue // nothing to continue: no root spans for untraced writes
		}
		sctx, span := tracer().Start(parent, "publish "+topic(ev), trace.WithSpanKind(trace.SpanKindProducer),
			trace.WithAttributes(attribute.String("messaging.system", "kafka"),
				attribute.String("messaging.destination.name", topic(ev)),
				attribute.String("messaging.message.id", ev.ID),
				attribute.String("cloudevents.event_type", ev.Type)))
		out[i] = app.WithTrace(sctx, ev)
		spans = append(spans, span)
	}
	return out, func(err error) {
		for _, s := range spans {
			if err != nil {
				s.RecordError(err)
				s.SetStatus(codes.Error, err.Error())
			}
			s.End()
		}
	}
}

// consumeSpan starts the span of a consumer group's handling of ev, a
// child of the span that published it (in another process, across Kafka).
func consumeSpan(ctx context.Context, group, topic string, ev app.Event) (context.Context, trace.Span) {
	return tracer().Start(ev.TraceContext(ctx), group+" process "+ev.Type, trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(attribute.String("messaging.system", "kafka"),
			attribute.String("messaging.consumer.group.name", group),
			attribute.String("messaging.destination.name", topic),
			attribute.String("messaging.message.id", ev.ID),
			attribute.String("cloudevents.event_type", ev.Type)))
}
