package wiring_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/configs"
	"github.com/feedsvc/feedsvc/internal/wiring"
	"github.com/feedsvc/feedsvc/roles"
)

type roleFunc func(ctx context.Context) error

func (f roleFunc) Run(ctx context.Context) error { return f(ctx) }

func defaults(t *testing.T) *configs.Config {
	t.Helper()
	var cfg configs.Config
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	cfg.Bind(fs)
	if err := fs.Parse([]string{"--data-dir", t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	return &cfg
}

// TestFailingBuildStartsNothing: a row whose constructor fails, after one
// that built fine, means no role runs and nothing is served.
func TestFailingBuildStartsNothing(t *testing.T) {
	var started atomic.Bool
	rows := roles.Rows{
		{Name: "fine", Build: func(*roles.Deps) (roles.Role, error) {
			return roleFunc(func(ctx context.Context) error {
				started.Store(true)
				<-ctx.Done()
				return nil
			}), nil
		}},
		{Name: "broken", Build: func(*roles.Deps) (roles.Role, error) { return nil, errors.New("cannot build") }},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	err = wiring.Run(context.Background(), defaults(t), slog.New(slog.DiscardHandler), &wiring.Backends{}, rows, ln, nil)
	if err == nil || !strings.Contains(err.Error(), "build role broken: cannot build") {
		t.Fatalf("Run = %v, want the build error of role broken", err)
	}
	if started.Load() {
		t.Fatal("role fine ran although role broken failed to build")
	}
	if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		c.Close()
		t.Fatal("the HTTP listener still accepts connections")
	}
}

// TestNodeLease: a role that issues IDs gets a generator on a node leased
// from the store, released after the lifecycle ends, when the generator
// refuses; a node given by --node-id is leased (and released) the same way.
func TestNodeLease(t *testing.T) {
	for _, c := range []struct {
		name   string
		nodeID int
		lease  bool
	}{
		{"leased", -1, true},
		{"from --node-id", 9, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := defaults(t)
			cfg.Feeds.NodeID, cfg.Server.ShutdownDrain = c.nodeID, 0
			var logs syncBuffer
			log := slog.New(slog.NewJSONHandler(&logs, nil))
			ctx, cancel := context.WithCancel(context.Background())
			b, err := wiring.Open(ctx, cfg, log, roles.Needs{Store: true})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			ids := make(chan *app.IDGen, 1)
			rows := roles.Rows{{Name: "issuer", Needs: roles.Needs{Store: true, IDs: true}, Build: func(d *roles.Deps) (roles.Role, error) {
				gen := d.API.IDs
				// Built before anything runs; by the time the roles run, the
				// node is leased.
				return roleFunc(func(ctx context.Context) error { ids <- gen; <-ctx.Done(); return nil }), nil
			}}}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- wiring.Run(ctx, cfg, log, b, rows, ln, nil) }()
			var gen *app.IDGen
			select {
			case gen = <-ids:
			case err := <-done:
				t.Fatalf("Run returned before running the role: %v", err)
			}
			id, err := gen.Next()
			if err != nil {
				t.Fatal(err)
			}
			if !c.lease && id.Node() != 9 {
				t.Fatalf("ID on node %d, want 9", id.Node())
			}
			// --node-id is leased too: no other process may lease it meanwhile.
			if !strings.Contains(logs.String(), fmt.Sprintf(`"msg":"node lease acquired","node":%d`, id.Node())) {
				t.Fatalf("ID on node %d, but the log says:\n%s", id.Node(), logs.String())
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			_, err = gen.Next()
			released := strings.Contains(logs.String(), `"msg":"node lease released"`)
			if !errors.Is(err, app.ErrUnavailable) || !released {
				t.Fatalf("after Run: Next err = %v, released = %v; want ErrUnavailable and released", err, released)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for a logger and a test to share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// TestAdminListener: with an admin listener, the public one answers 404
// for /metrics and /debug/pprof/ and the admin one serves them; without
// one, the public listener serves them (httpserver's tests cover /readyz).
func TestAdminListener(t *testing.T) {
	listen := func() net.Listener {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		return ln
	}
	get := func(ln net.Listener, path string) int {
		resp, err := http.Get("http://" + ln.Addr().String() + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, split := range []bool{true, false} {
		t.Run(fmt.Sprintf("admin listener %v", split), func(t *testing.T) {
			cfg := defaults(t)
			cfg.Server.Pprof, cfg.Server.ShutdownDrain = true, 0
			rows := roles.Rows{{Name: "idle", Build: func(*roles.Deps) (roles.Role, error) {
				return roleFunc(func(ctx context.Context) error { <-ctx.Done(); return nil }), nil
			}}}
			public, operator := listen(), listen()
			var admin net.Listener
			if split {
				admin = operator
			} else {
				operator.Close()
				operator = public
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				done <- wiring.Run(ctx, cfg, slog.New(slog.DiscardHandler), &wiring.Backends{}, rows, public, admin)
			}()
			defer func() {
				cancel()
				if err := <-done; err != nil {
					t.Error(err)
				}
			}()
			for _, path := range []string{"/metrics", "/debug/pprof/"} {
				if split {
					if code := get(public, path); code != http.StatusNotFound {
						t.Errorf("public %s: %d, want 404", path, code)
					}
				}
				if code := get(operator, path); code != http.StatusOK {
					t.Errorf("operator's %s: %d, want 200", path, code)
				}
			}
			if code := get(public, "/healthz"); code != http.StatusOK {
				t.Errorf("public /healthz: %d", code)
			}
			resp, err := http.Get("http://" + operator.Addr().String() + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if want := `feedsvc_build_info{commit=`; !strings.Contains(string(body), want) {
				t.Errorf("/metrics has no %s...} line", want)
			}
			if split {
				// The admin listener is on loopback: a request by a name
				// (as a DNS-rebinding page sends) is refused, by
				// localhost answered.
				for host, want := range map[string]int{"rebound.example:9090": http.StatusForbidden, "localhost": http.StatusOK} {
					if code := statusWithHost(t, "http://"+operator.Addr().String()+"/metrics", host); code != want {
						t.Errorf("admin /metrics with Host %s: %d, want %d", host, code, want)
					}
				}
			}
		})
	}
}

// writerRows is an api-like row (it issues IDs and writes the outbox, so
// the node lease and the relay run with it) that, when it is asked to
// stop, writes a post; and, when broken, a row that cannot be built.
func writerRows(wrote chan<- error, broken bool) roles.Rows {
	rows := roles.Rows{{Name: "writer", Needs: roles.Needs{Store: true, Producer: true, IDs: true}, Build: func(d *roles.Deps) (roles.Role, error) {
		svc := &app.Service{Posts: d.Store, IDs: d.API.IDs, Dispatch: d.API.Dispatch, DispatchWait: 10 * time.Second}
		return roleFunc(func(ctx context.Context) error {
			<-ctx.Done()
			// As a request still served while the roles stop: it needs an
			// ID, and its event goes out through the relay.
			_, err := svc.CreatePost(context.Background(), "alice", "the last words", "")
			wrote <- err
			return nil
		}), nil
	}}}
	if broken {
		rows = append(rows, roles.Row{Name: "broken", Build: func(*roles.Deps) (roles.Role, error) { return nil, errors.New("cannot build") }})
	}
	return rows
}

// openWriter opens what writerRows need on the embedded backends (closed
// when the test ends) and a listener, with the log in logs.
func openWriter(t *testing.T) (*configs.Config, *wiring.Backends, net.Listener, *syncBuffer, *slog.Logger) {
	t.Helper()
	cfg := defaults(t)
	cfg.Server.ShutdownDrain = 0
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	b, err := wiring.Open(context.Background(), cfg, log, roles.Needs{Store: true, Producer: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return cfg, b, ln, logs, log
}

// TestHiddenRowsOutliveTheRoles: the relay publishes what the api wrote
// while it stopped, and the node lease is released last.
func TestHiddenRowsOutliveTheRoles(t *testing.T) {
	cfg, b, ln, logs, log := openWriter(t)
	ctx, cancel := context.WithCancel(context.Background())
	wrote := make(chan error, 1)
	done := make(chan error, 1)
	go func() { done <- wiring.Run(ctx, cfg, log, b, writerRows(wrote, false), ln, nil) }()
	for !strings.Contains(logs.String(), `"msg":"feedsvc started"`) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := <-wrote; err != nil {
		t.Fatalf("write while the roles stopped: %v", err)
	}
	backlog, err := app.ReadOutboxBacklog(context.Background(), b.Store)
	if err != nil || backlog.Pending != 0 {
		t.Fatalf("outbox backlog after Run = %+v, %v; want the last write published", backlog, err)
	}
	if !strings.Contains(logs.String(), `"msg":"node lease released"`) {
		t.Fatalf("node lease not released:\n%s", logs.String())
	}
}

// TestFailedBuildRunsNothing: when a row cannot be built, the hidden rows
// its neighbours imply do not run either: no node is leased.
func TestFailedBuildRunsNothing(t *testing.T) {
	cfg, b, ln, logs, log := openWriter(t)
	wrote := make(chan error, 1)
	err := wiring.Run(context.Background(), cfg, log, b, writerRows(wrote, true), ln, nil)
	if err == nil || !strings.Contains(err.Error(), "build role broken: cannot build") {
		t.Fatalf("Run = %v, want the build error of role broken", err)
	}
	for _, msg := range []string{"node lease acquired", "feedsvc started"} {
		if strings.Contains(logs.String(), `"msg":"`+msg+`"`) {
			t.Errorf("%q logged although a row failed to build:\n%s", msg, logs.String())
		}
	}
	// A hidden row's own build error also comes first: no store to lease
	// a node from.
	rows := roles.Rows{{Name: "issuer", Needs: roles.Needs{IDs: true}, Build: func(*roles.Deps) (roles.Role, error) {
		t.Error("role issuer built although the node lease could not be")
		return nil, nil
	}}}
	ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rows[0].Needs.Store = true
	err = wiring.Run(context.Background(), cfg, log, &wiring.Backends{}, rows, ln, nil)
	if err == nil || !strings.Contains(err.Error(), "build node-lease: no store to lease a node from") {
		t.Fatalf("Run = %v, want the node lease's build error", err)
	}
}
