package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"

	"github.com/feedsvc/feedsvc/configs"
	"github.com/feedsvc/feedsvc/internal/wiring"
	"github.com/feedsvc/feedsvc/roles"
)

// benchRoles runs the service's roles in the bench process on shared
// backends: the api role for the whole run, and the fanout role on its own,
// as a separate fanout process would run, so that scenarios can stop it (to
// build a backlog, or to rewind its group) and start it again.
type benchRoles struct {
	cfg         *configs.Config
	log         *slog.Logger
	b           *wiring.Backends
	api, fanout roles.Rows
	apiRun      *roleRun
	fanoutRun   *roleRun
}

// roleRun is one wiring.Run call running in the background.
type roleRun struct {
	names  []string
	addr   string // its HTTP server (health, metrics; the API for api)
	cancel context.CancelFunc
	done   chan struct{} // closed when wiring.Run returned, after err is set
	err    error
}

// run starts wiring.Run for rows on a listener of its own (each run serves
// HTTP, and two cannot share an address).
func (s *benchRoles) run(ctx context.Context, rows roles.Rows) (*roleRun, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	cfg := *s.cfg
	cfg.Server.ShutdownDrain = 0 // nothing balances load onto the bench's roles
	rctx, cancel := context.WithCancel(ctx)
	rr := &roleRun{names: rows.Names(), addr: ln.Addr().String(), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(rr.done)
		rr.err = wiring.Run(rctx, &cfg, s.log, s.b, rows, ln, nil)
	}()
	return rr, nil
}

// stop cancels the roles and waits until they have shut down (for a
// consumer: committed its offsets and left its group).
func (rr *roleRun) stop() error {
	rr.cancel()
	<-rr.done
	if rr.err != nil {
		return fmt.Errorf("roles %s: %w", strings.Join(rr.names, ","), rr.err)
	}
	return nil
}

// exited returns an error if the roles stopped without being asked to.
func (rr *roleRun) exited() error {
	select {
	case <-rr.done:
		if rr.err != nil {
			return fmt.Errorf("roles %s stopped: %w", strings.Join(rr.names, ","), rr.err)
		}
		return fmt.Errorf("roles %s stopped unexpectedly", strings.Join(rr.names, ","))
	default:
		return nil
	}
}

// startAPI starts the api role and waits until it is ready.
func (s *benchRoles) startAPI(ctx context.Context) error {
	rr, err := s.run(ctx, s.api)
	if err != nil {
		return err
	}
	s.apiRun = rr
	if err := waitReady(ctx, "http://"+rr.addr, rr.done); err != nil {
		select {
		case <-rr.done: // rr.err is set
			return errors.Join(err, rr.err)
		default:
			return err
		}
	}
	return nil
}

// startFanout starts the fanout role (a no-op while it runs). It does not
// wait for the consumer to join its group.
func (s *benchRoles) startFanout(ctx context.Context) error {
	if s.fanoutRun != nil {
		return nil
	}
	rr, err := s.run(ctx, s.fanout)
	if err != nil {
		return err
	}
	s.fanoutRun = rr
	return nil
}

// stopFanout stops the fanout role (a no-op while it is stopped).
func (s *benchRoles) stopFanout() error {
	if s.fanoutRun == nil {
		return nil
	}
	err := s.fanoutRun.stop()
	s.fanoutRun = nil
	return err
}

// check returns an error if a running role stopped unexpectedly.
func (s *benchRoles) check() error {
	for _, rr := range []*roleRun{s.apiRun, s.fanoutRun} {
		if rr == nil {
			continue
		}
		if err := rr.exited(); err != nil {
			return err
		}
	}
	return nil
}

// stopAll stops every running role.
func (s *benchRoles) stopAll() {
	_ = s.stopFanout()
	if s.apiRun != nil {
		_ = s.apiRun.stop()
		s.apiRun = nil
	}
}
