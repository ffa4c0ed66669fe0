// Package telemetry sets up OpenTelemetry tracing for a feedsvc process
// from the standard OTEL_* environment variables. It is off unless an
// exporter is configured: then spans go to an OTLP collector over
// HTTP/protobuf, and the W3C trace context propagates through HTTP
// headers and, as the CloudEvents distributed-tracing extension, through
// Kafka (see app.Event.TraceParent).
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"
)

// Enabled reports whether the environment asks for traces: OTEL_TRACES_EXPORTER
// is otlp, or unset with an OTLP endpoint given; OTEL_SDK_DISABLED=true and
// OTEL_TRACES_EXPORTER=none turn them off.
func Enabled() bool {
	if strings.EqualFold(os.Getenv("OTEL_SDK_DISABLED"), "true") {
		return false
	}
	switch exp := os.Getenv("OTEL_TRACES_EXPORTER"); exp {
	case "otlp":
		return true
	case "":
		return os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
	default:
		return false
	}
}

// Validate reports OTEL_* settings this process cannot honour, so that a
// process does not start believing it traces.
func Validate() error {
	var errs []error
	if exp := os.Getenv("OTEL_TRACES_EXPORTER"); exp != "" && exp != "otlp" && exp != "none" {
		errs = append(errs, fmt.Errorf("OTEL_TRACES_EXPORTER=%q: only otlp and none are supported", exp))
	}
	for _, v := range []string{"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"} {
		if p := os.Getenv(v); p != "" && p != "http/protobuf" {
			errs = append(errs, fmt.Errorf("%s=%q: only http/protobuf is supported", v, p))
		}
	}
	return errors.Join(errs...)
}

// Setup installs the tracer provider and the W3C trace-context propagator
// for this process (otel's globals: the instrumentation of every package
// reads them), when Enabled. roles name what the process runs, a resource
// attribute of its spans (service.name is "feedsvc" unless OTEL_SERVICE_NAME
// says otherwise). shutdown flushes the spans not sent yet.
func Setup(ctx context.Context, roles []string, log *slog.Logger) (shutdown func(context.Context) error, err error) {
	// The propagator is set even without an exporter: a trace context that
	// came in with a request still travels on with its events.
	otel.SetTextMapPropagator(propagation.TraceContext{})
	if err := Validate(); err != nil {
		return nil, err
	}
	if !Enabled() {
		return func(context.Context) error { return nil }, nil
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("tracing: OTLP exporter: %w", err)
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(semconv.ServiceName("feedsvc"), attribute.StringSlice("feedsvc.roles", roles)),
		resource.WithFromEnv(), resource.WithTelemetrySDK())
	if err != nil {
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { log.Warn("tracing", "err", err) }))
	log.Info("tracing to an OTLP collector", "roles", roles)
	return tp.Shutdown, nil
}

// LogHandler adds the trace_id and span_id of the context's span, if any,
// to every record h handles, so a log line leads to its trace.
func LogHandler(h slog.Handler) slog.Handler { return traceHandler{h} }

type traceHandler struct{ slog.Handler }

func (t traceHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return t.Handler.Handle(ctx, r)
}

func (t traceHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return traceHandler{t.Handler.WithAttrs(attrs)}
}

func (t traceHandler) WithGroup(name string) slog.Handler {
	return traceHandler{t.Handler.WithGroup(name)}
}
