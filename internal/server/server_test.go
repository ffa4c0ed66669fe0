package server_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/spf13/pflag"

	"github.com/feedsvc/feedsvc/configs"
	"github.com/feedsvc/feedsvc/internal/server"
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
	err = server.Run(context.Background(), defaults(t), slog.New(slog.DiscardHandler), &server.Backends{}, rows, ln)
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
