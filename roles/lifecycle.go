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

// Built is a role ready to run.
type Built struct {
	Name string
	Role Role
}

// Build builds every row; if one fails, none is returned, so nothing runs.
func Build(rows Rows, d *Deps) ([]Built, error) {
	built := make([]Built, 0, len(rows))
	for _, r := range rows {
		role, err := r.Build(d)
		if err != nil {
			return nil, fmt.Errorf("build role %s: %w", r.Name, err)
		}
		built = append(built, Built{Name: r.Name, Role: role})
	}
	return built, nil
}

// Lifecycle runs one process's roles and its HTTP server, and shuts them
// down in order: readiness fails at once, HTTP keeps serving for Drain so
// load balancers see the 503 and stop sending, then the roles stop in
// reverse order (consumers commit and leave their groups), and HTTP stops
// last, letting in-flight requests finish. Closing is bounded by Timeout.
type Lifecycle struct {
	Drain   time.Duration
	Timeout time.Duration
	Log     *slog.Logger
	// AdminListener and AdminHandler, when set, are the operator's
	// listener (metrics, profiler, readiness in detail): it serves from
	// before the roles start until after the API's server stopped.
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

// running is a started role.
type running struct {
	Built
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// Run starts the roles in order, then serves handler on ln, until ctx ends
// or a role or the server fails. A role that stops on its own is a failure:
// the others are stopped too, without drain, and the error returned, so the
// process exits non-zero and its orchestrator restarts it.
func (l *Lifecycle) Run(ctx context.Context, built []Built, ln net.Listener, handler http.Handler) error {
	failed := make(chan struct{}, len(built)+2)
	var admin *server
	if l.AdminListener != nil {
		admin = serve(l.AdminListener, l.AdminHandler, failed)
	}
	rs := make([]*running, len(built))
	for i, b := range built {
		rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		r := &running{Built: b, cancel: cancel, done: make(chan struct{})}
		rs[i] = r
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
	}
	api := serve(ln, handler, failed)
	attrs := []any{"roles", names(built), "http", ln.Addr().String()}
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
	// Each role in turn may use the budget but a last grace, kept for the
	// roles before one that hangs: they then stop all at once, and still
	// commit, so they do not redo work after the restart.
	grace := min(stopGrace, l.Timeout/4)
	for i := len(rs) - 1; i >= 0; i-- {
		rs[i].cancel()
		if waitUntil(rs[i].done, deadline.Add(-grace)) {
			continue
		}
		for _, r := range rs[:i] {
			r.cancel()
		}
		for _, r := range rs[:i] {
			waitUntil(r.done, deadline)
		}
		break
	}
	var hung []string
	var errs []error
	for _, r := range rs {
		select {
		case <-r.done:
			if r.err != nil {
				errs = append(errs, fmt.Errorf("role %s: %w", r.Name, r.err))
			}
		default:
			hung = append(hung, "role "+r.Name)
		}
	}
	for _, s := range []struct {
		name string
		srv  *server
	}{{"http", api}, {"admin http", admin}} {
		if s.srv == nil {
			continue
		}
		if err := s.srv.stop(deadline); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.name, err))
		}
		if !s.srv.stopped {
			hung = append(hung, s.name+" server")
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
