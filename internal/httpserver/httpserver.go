// Package httpserver is the HTTP server every feedsvc process runs: health,
// readiness and Prometheus metrics for all roles, problem+json errors, and
// the router the api role adds its routes to.
package httpserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/feedsvc/feedsvc/app"
)

// Problem is an RFC 9457 problem details body.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
}

// ProblemContentType is the media type of error responses.
const ProblemContentType = "application/problem+json"

// DefaultRequestTimeout is the deadline of a request when New is given none.
const DefaultRequestTimeout = 5 * time.Second

// RetryAfter is the Retry-After of a 503: long enough not to hammer a
// dependency that is down, short enough for a blip to pass unnoticed.
const RetryAfter = 2 * time.Second

// StatusClientClosedRequest is the status recorded (nginx's 499) for a
// request whose client left before the answer: nobody reads it.
const StatusClientClosedRequest = 499

// Option changes how New builds the router.
type Option func(*options)

type options struct {
	requestTimeout time.Duration
	trusted        []*net.IPNet
	operator       bool // WithOperatorRoutes
	pprof          bool
	streams        []string // WithStreams
}

// WithOperatorRoutes puts the operator's routes on the router too:
// /metrics, /readyz with the cause of a failure, and, with pprof, the
// profiler. For a process with one listener (no --admin-addr), which then
// must not face the internet.
func WithOperatorRoutes(pprof bool) Option {
	return func(o *options) { o.operator, o.pprof = true, pprof }
}

// WithRequestTimeout sets the deadline of every request's context (not of
// the profiler's, which samples for as long as it is asked): store, cache
// and broker calls made for the request are cancelled when it passes, and
// the client gets a 503. A non-positive d keeps DefaultRequestTimeout.
func WithRequestTimeout(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.requestTimeout = d
		}
	}
}

// WithStreams exempts the requests to paths from the request deadline:
// they are long-lived streams (Server-Sent Events) that end when their
// client leaves or the process stops, not after a few seconds.
func WithStreams(paths ...string) Option {
	return func(o *options) { o.streams = append(o.streams, paths...) }
}

// WithTrustedProxies makes the router take a request's client address from
// its X-Forwarded-For when the request comes from one of nets (reverse
// proxies), walking the header from the right past trusted addresses.
// Without it the peer address is the client: the header, which any client
// can write, is ignored.
func WithTrustedProxies(nets []*net.IPNet) Option {
	return func(o *options) { o.trusted = nets }
}

// New returns the public router, which roles add their routes to, with
// /healthz and /readyz (ready must return nil when the process's
// dependencies answer; a failure answers 503 without its cause, which is
// logged at debug level and shown on the operator's router). Requests are
// counted in reg.
func New(log *slog.Logger, reg *prometheus.Registry, ready func(context.Context) error, opts ...Option) *echo.Echo {
	o := options{requestTimeout: DefaultRequestTimeout}
	for _, opt := range opts {
		opt(&o)
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.IPExtractor = echo.ExtractIPDirect()
	if len(o.trusted) > 0 {
		trust := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
		for _, n := range o.trusted {
			trust = append(trust, echo.TrustIPRange(n))
		}
		e.IPExtractor = echo.ExtractIPFromXFFHeader(trust...)
	}
	e.HTTPErrorHandler = errorHandler(log)
	e.Use(tracing, requestID, accessLog(log))
	e.Use(metrics(reg))
	e.Use(recoverPanics(log, reg))
	e.Use(middleware.ContextTimeoutWithConfig(middleware.ContextTimeoutConfig{
		Timeout: o.requestTimeout,
		Skipper: func(c echo.Context) bool {
			p := c.Request().URL.Path
			return strings.HasPrefix(p, pprofPrefix) || slices.Contains(o.streams, p)
		},
		// Answer now, while the request's context is still the one the
		// handler saw: once this middleware returns it is cancelled, and
		// errorHandler would take every error for a client that left.
		// errorHandler maps the deadline with the other errors.
		ErrorHandler: func(err error, c echo.Context) error {
			c.Error(err)
			return nil
		},
	}))

	health(e, log, ready, o.operator)
	if o.operator {
		operatorRoutes(e, reg, o.pprof)
	}
	return e
}

// NewAdmin returns the operator's router, for the admin listener:
// /healthz, /readyz with the cause of a failure, /metrics from reg and,
// with pprof, Go's profiler.
func NewAdmin(log *slog.Logger, reg *prometheus.Registry, ready func(context.Context) error, pprof bool) *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = errorHandler(log)
	// Not recoverPanics: its counter is the API's, registered by New.
	e.Use(middleware.Recover())
	health(e, log, ready, true)
	operatorRoutes(e, reg, pprof)
	return e
}

// PageHeaders are the headers of a page embedded in the binary and of its
// files (the web app, the operator's view): their files change only with
// the binary, so a browser revalidates each load, and the page runs
// nothing but its own files (no inline script or style, no frames).
func PageHeaders(h http.Header) {
	h.Set(echo.HeaderCacheControl, "no-cache")
	h.Set(echo.HeaderContentSecurityPolicy, "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
	h.Set(echo.HeaderXContentTypeOptions, "nosniff")
}

// Degraded is what a readiness check returns when the process does its
// work, so it stays ready (200), while a part of it fails: an api whose
// Redis or Kafka is down still takes posts (they wait in the outbox), and
// dropping it out of a load balancer's rotation would stop posting too.
// The operator's /readyz names the cause; the public one says ready.
type Degraded struct{ Err error }

func (d *Degraded) Error() string { return "degraded: " + d.Err.Error() }

// Unwrap returns the cause.
func (d *Degraded) Unwrap() error { return d.Err }

// health adds /healthz and /readyz; detail shows why the process is not
// ready, or degraded (backend names and errors: for operators only).
func health(e *echo.Echo, log *slog.Logger, ready func(context.Context) error, detail bool) {
	e.GET("/healthz", func(c echo.Context) error {
		return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
	})
	e.GET("/readyz", func(c echo.Context) error {
		ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
		defer cancel()
		err := ready(ctx)
		if d, ok := err.(*Degraded); ok {
			if detail {
				return c.JSON(http.StatusOK, map[string]string{"status": "ready", "degraded": d.Err.Error()})
			}
			return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
		}
		if err != nil {
			if detail {
				return echo.NewHTTPError(http.StatusServiceUnavailable, err.Error())
			}
			log.Debug("not ready", "err", err)
			return echo.NewHTTPError(http.StatusServiceUnavailable, "not ready")
		}
		return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
	})
}

func operatorRoutes(e *echo.Echo, reg *prometheus.Registry, pprof bool) {
	e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})))
	if pprof {
		EnablePprof(e)
	}
}

// ProblemTypeBase is where the problem types are explained (docs/problems.md).
const ProblemTypeBase = "https://github.com/feedsvc/feedsvc/blob/main/docs/problems.md#"

// problemTypes name each status feedsvc answers with an error.
var problemTypes = map[int]string{
	http.StatusBadRequest: "invalid-request", http.StatusUnauthorized: "unauthorized",
	http.StatusForbidden: "forbidden", http.StatusNotFound: "not-found",
	http.StatusMethodNotAllowed: "method-not-allowed", http.StatusConflict: "conflict", http.StatusGone: "gone",
	http.StatusRequestEntityTooLarge: "body-too-large", http.StatusUnsupportedMediaType: "unsupported-media-type",
	http.StatusUnprocessableEntity: "idempotency-key-reused", http.StatusTooManyRequests: "rate-limited",
	http.StatusInternalServerError: "internal-error", http.StatusServiceUnavailable: "unavailable",
}

// ProblemType is the problem+json type of an error answered with status:
// a documented URI, or about:blank (RFC 9457: the status says it all) for
// a status feedsvc does not document.
func ProblemType(status int) string {
	if name, ok := problemTypes[status]; ok {
		return ProblemTypeBase + name
	}
	return "about:blank"
}

// domainStatuses maps app's sentinel errors to HTTP statuses. This is the
// one place they are mapped: handlers return app errors as they come.
var domainStatuses = []struct {
	err    error
	status int
}{
	{app.ErrInvalid, http.StatusBadRequest},
	{app.ErrNotFound, http.StatusNotFound},
	{app.ErrForbidden, http.StatusForbidden},
	// A key reused with another request (the Idempotency-Key draft's 422).
	{app.ErrKeyReused, http.StatusUnprocessableEntity},
	// A key whose post was deleted since: what the request made is gone.
	{app.ErrKeyPostDeleted, http.StatusGone},
	// A cap reached (following): the request conflicts with the user's
	// state; it may succeed once that changes.
	{app.ErrLimit, http.StatusConflict},
}

// errorHandler answers every error as problem+json. echo.HTTPErrors keep
// their status and message; app's domain errors get their status (see
// domainStatuses) with the error's message as detail; an unavailable
// dependency or a passed deadline is a 503 with Retry-After whose detail
// names no driver; anything else is an internal error, logged and not
// leaked. A client that left is not an error of ours: logged at debug,
// recorded as 499, not answered.
func errorHandler(log *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		req := c.Request()
		if errors.Is(err, context.Canceled) && errors.Is(req.Context().Err(), context.Canceled) {
			log.Debug("client went away", "method", req.Method, "path", c.Path(), "request_id", requestIDOf(c), "err", err)
			c.Response().WriteHeader(StatusClientClosedRequest)
			return
		}
		status, detail := statusOf(err)
		switch {
		// echo's own "no route" answers say only their status: name what
		// was asked.
		case status == http.StatusNotFound && errors.Is(err, echo.ErrNotFound):
			detail = fmt.Sprintf("no route for %s %s", req.Method, req.URL.Path)
		case status == http.StatusMethodNotAllowed && errors.Is(err, echo.ErrMethodNotAllowed):
			detail = fmt.Sprintf("%s %s is not served; the route takes %s", req.Method, req.URL.Path, c.Response().Header().Get(echo.HeaderAllow))
		case status == http.StatusServiceUnavailable && detail == "":
			detail = "a service this request needs is unavailable or too slow; retry later"
			log.Warn("request failed: dependency unavailable", "method", req.Method, "path", c.Path(), "request_id", requestIDOf(c), "err", err)
		case status == http.StatusInternalServerError && detail == "":
			detail = "internal error"
			log.Error("request failed", "method", req.Method, "path", c.Path(), "request_id", requestIDOf(c), "err", err)
		}
		if status == http.StatusServiceUnavailable {
			c.Response().Header().Set("Retry-After", strconv.Itoa(int(RetryAfter/time.Second)))
		}
		if status == http.StatusUnauthorized {
			c.Response().Header().Set("WWW-Authenticate", `Bearer realm="feedsvc"`)
		}
		p := Problem{Type: ProblemType(status), Title: http.StatusText(status), Status: status, Detail: detail}
		c.Response().Header().Set(echo.HeaderContentType, ProblemContentType)
		c.Response().WriteHeader(status)
		if req.Method != http.MethodHead {
			_ = c.Echo().JSONSerializer.Serialize(c, p, "")
		}
	}
}

// statusOf returns err's HTTP status and the detail safe to show the
// client; an empty detail with status 500 or 503 means err's text must not
// be shown.
func statusOf(err error) (int, string) {
	var he *echo.HTTPError
	if errors.As(err, &he) {
		if m, ok := he.Message.(string); ok {
			return he.Code, m
		}
		return he.Code, http.StatusText(he.Code)
	}
	for _, d := range domainStatuses {
		if errors.Is(err, d.err) {
			return d.status, err.Error()
		}
	}
	// Adapters wrap what they know as ErrUnavailable; a deadline that
	// passed anywhere else (the request's own) means the same to a client.
	if errors.Is(err, app.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
		return http.StatusServiceUnavailable, ""
	}
	return http.StatusInternalServerError, ""
}

// recoverPanics turns a handler panic into an error, counted and logged
// with its stack, so that one bad request answers 500 instead of taking the
// process down. It runs inside metrics, which hands the error to the error
// handler (problem+json) and counts the 500.
func recoverPanics(log *slog.Logger, reg prometheus.Registerer) echo.MiddlewareFunc {
	panics := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "feedsvc_http_panics_total", Help: "HTTP handler panics recovered (answered 500).",
	})
	reg.MustRegister(panics)
	return middleware.RecoverWithConfig(middleware.RecoverConfig{
		DisableStackAll:     true,
		DisableErrorHandler: true,
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			panics.Inc()
			log.Error("handler panic", "method", c.Request().Method, "path", c.Path(), "request_id", requestIDOf(c), "panic", err, "stack", string(stack))
			return fmt.Errorf("handler panic: %w", err)
		},
	})
}

func metrics(reg prometheus.Registerer) echo.MiddlewareFunc {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "feedsvc_http_requests_total",
		Help: "HTTP requests by route and status code.",
	}, []string{"method", "route", "code"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "feedsvc_http_request_duration_seconds",
		Help:    "HTTP request latency by route.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
	}, []string{"method", "route"})
	reg.MustRegister(requests, duration)
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			err := next(c)
			if err != nil {
				c.Error(err) // write the response now so its status is known
			}
			route := c.Path()
			if route == "" {
				route = "unmatched"
			}
			requests.WithLabelValues(c.Request().Method, route, strconv.Itoa(c.Response().Status)).Inc()
			duration.WithLabelValues(c.Request().Method, route).Observe(time.Since(start).Seconds())
			return nil
		}
	}
}

// Serve listens on addr and serves e until ctx ends, then shuts down,
// letting in-flight requests finish within timeout. ready is closed once the
// listener is bound.
func Serve(ctx context.Context, e *echo.Echo, addr string, timeout time.Duration, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("http: listen %s: %w", addr, err)
	}
	// As roles.Lifecycle's server (see there).
	srv := &http.Server{Handler: e, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, IdleTimeout: 2 * time.Minute}
	log.Info("http listening", "addr", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("http: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("http: shutdown: %w", err)
	}
	return nil
}

// AddressedHost refuses (403) a request whose Host names neither an IP
// address nor localhost. For routes without authentication that are served
// on loopback (the operator's view, dev login): a web page the user visits
// could otherwise reach them by DNS rebinding, its own name resolving to
// 127.0.0.1 and so being same-origin with them.
func AddressedHost(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		host := c.Request().Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
		if _, err := netip.ParseAddr(host); err != nil && !strings.EqualFold(host, "localhost") {
			return echo.NewHTTPError(http.StatusForbidden, fmt.Sprintf("this route answers requests addressed to an IP address or localhost, not %q", host))
		}
		return next(c)
	}
}
