package httpserver

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// maxRequestIDLen bounds an X-Request-ID taken from a client or proxy.
const maxRequestIDLen = 128

// requestID gives every request an ID, in the X-Request-ID response header
// and in its log lines: the one a proxy or client sent, if it is short and
// printable ASCII, else a new random one.
func requestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := c.Request().Header.Get(echo.HeaderXRequestID)
		if !validRequestID(id) {
			b := make([]byte, 12)
			_, _ = rand.Read(b)
			id = hex.EncodeToString(b)
		}
		c.Response().Header().Set(echo.HeaderXRequestID, id)
		return next(c)
	}
}

func validRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := range len(id) {
		if id[i] < 0x21 || id[i] > 0x7e {
			return false
		}
	}
	return true
}

// requestIDOf is the request's ID (see requestID).
func requestIDOf(c echo.Context) string { return c.Response().Header().Get(echo.HeaderXRequestID) }

// probeRoutes are logged at debug level only: load balancers and
// Prometheus call them every few seconds.
var probeRoutes = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

// accessLog writes one line per request, once its response is written:
// method, route, path, status, duration, response bytes, client IP and
// request ID.
func accessLog(log *slog.Logger) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			err := next(c)
			if err != nil {
				c.Error(err) // write the response now so its status is known
			}
			route, level := c.Path(), slog.LevelInfo
			if probeRoutes[route] {
				level = slog.LevelDebug
			}
			req, res := c.Request(), c.Response()
			log.LogAttrs(req.Context(), level, "request",
				slog.String("method", req.Method), slog.String("route", route), slog.String("path", req.URL.Path),
				slog.Int("status", res.Status), slog.Duration("duration", time.Since(start)),
				slog.Int64("bytes", res.Size), slog.String("ip", c.RealIP()), slog.String("request_id", requestIDOf(c)))
			return nil
		}
	}
}

// tracing makes each request a server span, continuing the caller's trace
// when a traceparent header came with it (with the propagator telemetry
// installed); handlers and the log lines of the request see it in the
// request's context.
func tracing(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		ctx := otel.GetTextMapPropagator().Extract(req.Context(), propagation.HeaderCarrier(req.Header))
		ctx, span := otel.Tracer("github.com/feedsvc/feedsvc/internal/httpserver").Start(ctx, req.Method,
			trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("http.request.method", req.Method), attribute.String("url.path", req.URL.Path)))
		defer span.End()
		c.SetRequest(req.WithContext(ctx))
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		status := c.Response().Status
		span.SetName(req.Method + " " + c.Path())
		span.SetAttributes(attribute.String("http.route", c.Path()), attribute.Int("http.response.status_code", status))
		if status >= 500 {
			span.SetStatus(codes.Error, http.StatusText(status))
		}
		return nil
	}
}
