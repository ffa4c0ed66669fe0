package roles

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// stopGrace is the part of the shutdown budget kept for the roles still
// running when one of them hangs (at most a quarter of the budget).
const stopGrace = time.Second

var (
	// ErrDraining is what readiness reports once shutdown began.
	ErrDraining = errors.New("shutting down")
	// ErrShutdownTimeout: something did not stop within the budget and may
	// still be running, so the backends it uses must not be closed under it.
	ErrShutdownTimeout = errors.New("shutdown timed out")
)

// Built is a row ready to run.
type Built struct {
	Name string
	Role Role
	// Hidden: built from a hidden row (Row.Hidden), so it starts before
	// the roles and stops after HTTP.
	Hidden bool
}

// label names b in errors and logs: "role api", or a hidden row's name.
func (b Built) label() string {
	if b.Hidden {
		return b.Name
	}
	return "role " + b.Name
}

// Starter is a Role that must be up before the rows after it start (the
// node lease is held before the api issues IDs). The lifecycle calls Start
// and, only once it returned nil, Run and the next rows; a failed Start
// stops what already started, and nothing after it runs.
type Starter interface {
	Role
	Start(ctx context.Context) error
}

// Build builds every row, in order; if one fails, none is returned, so
// nothing runs.
func Build(rows Rows, d *Deps) ([]Built, error) {
	built := make([]Built, 0, len(rows))
	for _, r := range rows {
		b := Built{Name: r.Name, Hidden: r.Hidden}
		role, err := r.Build(d)
		if err != nil {
			return nil, fmt.Errorf("build %s: %w", b.label(), err)
		}
		b.Role = role
		built = append(built, b)
	}
	return built, nil
}

// Lifecycle runs one process's rows and its HTTP server, and shuts them
// down in order: readiness fails at once, HTTP keeps serving for Drain so
// load balancers see the 503 and stop sending, then the roles stop in
// reverse order (consumers commit and leave their groups), then HTTP,
// letting in-flight requests finish, then the hidden rows in reverse order
// (the relay publishes what the last requests wrote, then the node lease
// is released). Closing is bounded by Timeout.
type Lifecycle struct {
	Drain   time.Duration
	Timeout time.Duration
	Log     *slog.Logger
	// AdminListener and AdminHandler, when set, are the operator's
	// listener (metrics, profiler, readiness in detail): it serves from
	// before the rows start until after they all stopped.
	AdminListener net.Listener
	AdminHandler  http.Handler

	draining atomic.Bool
}

// Ready wraps a readiness check so that it fails once shutdown began.
func (l *Lifecycle) Ready(check func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		if l.draining.Load() {
			return ErrDraining
		}
		return check(ctx)
	}
}

// running is a started row.
type running struct {
	Built
	cancel context.CancelCauseFunc
	done   chan struct{}
	err    error
}

// start starts b (Start first, for a Starter); it runs until cancelled,
// and reports on failed when it stops on its own.
func start(ctx context.Context, b Built, failed chan<- struct{}) (*running, error) {
	if s, ok := b.Role.(Starter); ok {
		if err := s.Start(ctx); err != nil {
			return nil, fmt.Errorf("start %s: %w", b.label(), err)
		}
	}
	rctx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	r := &running{Built: b, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.err = r.Role.Run(rctx)
		if rctx.Err() == nil {
			if r.err == nil {
				r.err = errors.New("stopped unexpectedly")
			}
			failed <- struct{}{}
		}
	}()
	return r, nil
}

// Run starts the hidden rows, then the roles, in order, then serves
// handler on ln, until ctx ends or a row or the server fails. A row that
// stops on its own is a failure: the others are stopped too, without
// drain, and the error returned, so the process exits non-zero and its
// orchestrator restarts it. A Starter whose Start fails ends Run before
// the rows after it start and before HTTP serves.
func (l *Lifecycle) Run(ctx context.Context, built []Built, ln net.Listener, handler http.Handler) error {
	failed := make(chan struct{}, len(built)+2)
	var admin *server
	if l.AdminListener != nil {
		admin = serve(l.AdminListener, l.AdminHandler, failed)
	}
	var hidden, roles []Built
	for _, b := range built {
		if b.Hidden {
			hidden = append(hidden, b)
		} else {
			roles = append(roles, b)
		}
	}
	rs := make([]*running, 0, len(built))
	for _, b := range append(hidden, roles...) {
		r, err := start(ctx, b, failed)
		if err != nil {
			deadline := time.Now().Add(l.Timeout)
			stopInReverse(rs, deadline, min(stopGrace, l.Timeout/4), nil)
			if admin != nil {
				_ = admin.stop(deadline)
			}
			return errors.Join(append([]error{err}, stopErrs(rs)...)...)
		}
		rs = append(rs, r)
	}
	hrs, rrs := rs[:len(hidden)], rs[len(hidden):]
	api := serve(ln, handler, failed)
	attrs := []any{"roles", names(roles), "http", ln.Addr().String()}
	if len(hidden) > 0 {
		attrs = append(attrs, "with", names(hidden))
	}
	if admin != nil {
		attrs = append(attrs, "admin", l.AdminListener.Addr().String())
	}
	l.Log.Info("feedsvc started", attrs...)

	select {
	case <-ctx.Done():
		l.draining.Store(true)
		if l.Drain > 0 {
			l.Log.Info("draining: readiness fails, HTTP still serves", "for", l.Drain)
			select {
			case <-time.After(l.Drain):
			case <-failed:
			}
		}
	case <-failed:
		l.draining.Store(true)
	}

	deadline := time.Now().Add(l.Timeout)
	// Each row in turn may use the budget but a last grace, kept for the
	// rows before one that hangs: they then stop all at once, and still
	// commit, so they do not redo work after the restart.
	grace := min(stopGrace, l.Timeout/4)
	stopInReverse(rrs, deadline, grace, nil)
	hung := hungRows(rrs)
	errs := stopErrs(rrs)
	if err := api.stop(deadline); err != nil {
		errs = append(errs, fmt.Errorf("http: %w", err))
	}
	if !api.stopped {
		hung = append(hung, "http server")
	}
	// The hidden rows stop once no request runs any more. After a timeout
	// something may still run on the backends, which may hang: the rows
	// are told so through their context's cause (ErrShutdownTimeout) and
	// only stop, each within a last grace.
	if len(hung) > 0 {
		stopInReverse(hrs, time.Now().Add(grace), 0, ErrShutdownTimeout)
	} else {
		stopInReverse(hrs, deadline, grace, nil)
	}
	hung = append(hung, hungRows(hrs)...)
	errs = append(errs, stopErrs(hrs)...)
	if admin != nil {
		if err := admin.stop(deadline); err != nil {
			errs = append(errs, fmt.Errorf("admin http: %w", err))
		}
		if !admin.stopped {
			hung = append(hung, "admin http server")
		}
	}
	if len(hung) > 0 {
		l.Log.Error("shutdown timed out", "timeout", l.Timeout, "still_running", hung)
		errs = append(errs, fmt.Errorf("%w after %s; still running: %s", ErrShutdownTimeout, l.Timeout, strings.Join(hung, ", ")))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	l.Log.Info("feedsvc stopped")
	return nil
}

// stopInReverse stops rs last first, cancelling each with cause (nil: a
// plain stop). Each may use the budget up to deadline but grace; when one
// hangs past that, the rows before it are stopped all at once.
func stopInReverse(rs []*running, deadline time.Time, grace time.Duration, cause error) {
	for i := len(rs) - 1; i >= 0; i-- {
		rs[i].cancel(cause)
		if waitUntil(rs[i].done, deadline.Add(-grace)) {
			continue
		}
		for _, r := range rs[:i] {
			r.cancel(cause)
		}
		for _, r := range rs[:i] {
			waitUntil(r.done, deadline)
		}
		break
	}
}

// hungRows names the rows of rs that have not stopped.
func hungRows(rs []*running) []string {
	var hung []string
	for _, r := range rs {
		select {
		case <-r.done:
		default:
			hung = append(hung, r.label())
		}
	}
	return hung
}

// stopErrs is the errors the stopped rows of rs returned.
func stopErrs(rs []*running) []error {
	var errs []error
	for _, r := range rs {
		select {
		case <-r.done:
			if r.err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", r.label(), r.err))
			}
		default:
		}
	}
	return errs
}

// server is an HTTP server running in the background.
type server struct {
	srv     *http.Server
	done    chan struct{}
	err     error // why Serve failed, if it did
	stopped bool  // Shutdown finished within the deadline
}

// serve serves handler on ln in the background; a failure of Serve sends on
// failed. Reading a request (headers and body) is bounded, and so is an idle
// keep-alive connection. The read timeout must outlast any request's
// deadline (--request-timeout): when it passes, net/http cancels the
// request's context as if the client had gone. No write timeout: it would
// cut /debug/pprof/profile, which streams for as long as asked.
func serve(ln net.Listener, handler http.Handler, failed chan<- struct{}) *server {
	s := &server{done: make(chan struct{}), srv: &http.Server{Handler: handler,
		ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, IdleTimeout: 2 * time.Minute}}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			s.err = err
			failed <- struct{}{}
		}
	}()
	return s
}

// stop shuts the server down, letting requests in flight finish until
// deadline, then closes what is left; it returns Serve's failure, if any.
func (s *server) stop(deadline time.Time) error {
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	s.stopped = s.srv.Shutdown(ctx) == nil
	if !s.stopped {
		_ = s.srv.Close()
	}
	<-s.done
	return s.err
}

// waitUntil waits for done until t and reports whether it was closed.
func waitUntil(done <-chan struct{}, t time.Time) bool {
	select {
	case <-done:
		return true
	default:
	}
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-done:
		return true
	case <-timer.C:
		return false
	}
}

func names(built []Built) []string {
	out := make([]string, len(built))
	for i, b := range built {
		out[i] = b.Name
	}
	return out
}
