package app

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Tracing uses OpenTelemetry's API only: the composition root installs the
// SDK and exporter (internal/telemetry), and without them spans cost
// nothing.

// tracer is this package's tracer, from the provider installed at startup.
func tracer() trace.Tracer { return otel.Tracer("github.com/feedsvc/feedsvc/app") }

// traceContext is the W3C format events carry (the CloudEvents
// distributed-tracing extension), whatever propagator HTTP uses.
var traceContext propagation.TraceContext

// WithTrace returns ev carrying the trace context of ctx (unchanged when
// ctx has no span).
func WithTrace(ctx context.Context, ev Event) Event {
	c := propagation.MapCarrier{}
	traceContext.Inject(ctx, c)
	ev.TraceParent, ev.TraceState = c["traceparent"], c["tracestate"]
	return ev
}

// TraceContext returns ctx with ev's trace context as the remote parent
// of the spans started from it (ctx as is when ev carries none).
func (ev Event) TraceContext(ctx context.Context) context.Context {
	if ev.TraceParent == "" {
		return ctx
	}
	return traceContext.Extract(ctx, propagation.MapCarrier{"traceparent": ev.TraceParent, "tracestate": ev.TraceState})
}

// startSpan starts the span name under ctx; end ends it, recording err.
func startSpan(ctx context.Context, name string, attrs ...attribute.KeyValue) (_ context.Context, end func(error)) {
	ctx, span := tracer().Start(ctx, name, trace.WithAttributes(attrs...))
	return ctx, func(err error) {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}
}
