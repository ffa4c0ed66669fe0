package wiring_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/events"
	"github.com/feedsvc/feedsvc/internal/wiring"
	"github.com/feedsvc/feedsvc/roles"
)

// TestCommandsNextToServe: while Serve runs on embedded backends, the
// operator commands' connections reach what runs inside it through the
// file it records in the data dir (the broker, Redis, and the store through
// the admin listener); once it stopped, the file is gone and they open the
// data dir themselves.
func TestCommandsNextToServe(t *testing.T) {
	cfg := defaults(t)
	cfg.Server.HTTPAddr, cfg.Server.AdminAddr, cfg.Server.ShutdownDrain = "127.0.0.1:0", "127.0.0.1:0", 0
	log := slog.New(slog.DiscardHandler)
	rows := roles.Rows{{Name: "idle", Needs: roles.Needs{Store: true, Redis: true, Producer: true},
		Build: func(*roles.Deps) (roles.Role, error) {
			return roleFunc(func(ctx context.Context) error { <-ctx.Done(); return nil }), nil
		}}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- wiring.Serve(ctx, cfg, log, rows) }()
	var f *wiring.ServeFile
	for deadline := time.Now().Add(time.Minute); f == nil; {
		select {
		case err := <-done:
			t.Fatalf("Serve returned: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
		if f = wiring.RunningServe(cfg.DataDir); f == nil && time.Now().After(deadline) {
			t.Fatal("serve recorded no serve file")
		}
	}
	if f.PID != os.Getpid() || !f.Locked || !f.Store || len(f.KafkaBrokers) != 1 || f.RedisAddr == "" || !slices.Equal(f.Roles, []string{"idle"}) ||
		strings.HasSuffix(f.AdminAddr, ":0") || f.AdminAddr == f.HTTPAddr {
		t.Fatalf("serve file %+v", f)
	}

	err := wiring.WithKafka(ctx, cfg, log, func(cl events.Cluster) error {
		if !slices.Equal(cl.Brokers, f.KafkaBrokers) {
			t.Errorf("brokers %v, want serve's %v", cl.Brokers, f.KafkaBrokers)
		}
		_, err := events.GroupLag(ctx, cl, "fanout", cfg.Kafka.Topics.All())
		return err
	})
	if err != nil {
		t.Fatalf("kafka next to serve: %v", err)
	}
	client, err := wiring.OpenRedis(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := client.Do(ctx, client.B().Set().Key("k").Value("v").Build()).Error(); err != nil {
		t.Fatalf("serve's redis: %v", err)
	}
	client.Close()
	if b, err := wiring.OutboxBacklog(ctx, cfg, log); err != nil || b.Pending != 0 {
		t.Fatalf("outbox next to serve: %+v, %v", b, err)
	}
	if ds, next, err := wiring.ModerationDecisions(ctx, cfg, log, "", 10); err != nil || len(ds) != 0 || next != "" {
		t.Fatalf("decisions next to serve: %v %q %v", ds, next, err)
	}
	if _, _, err := wiring.ModerationDecisions(ctx, cfg, log, "not-an-id", 10); !errors.Is(err, app.ErrInvalid) {
		t.Fatalf("a bad cursor through serve: %v, want ErrInvalid", err)
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, wiring.ServeFileName)); !os.IsNotExist(err) {
		t.Fatalf("serve file left after Serve returned: %v", err)
	}
	// Stopped: the store and the broker are the commands' to open; the
	// in-memory Redis went with serve.
	ctx = context.Background()
	if b, err := wiring.OutboxBacklog(ctx, cfg, log); err != nil || b.Pending != 0 {
		t.Fatalf("outbox with serve stopped: %+v, %v", b, err)
	}
	if err := wiring.WithKafka(ctx, cfg, log, func(events.Cluster) error { return nil }); err != nil {
		t.Fatalf("kafka with serve stopped: %v", err)
	}
	if _, err := wiring.OpenRedis(ctx, cfg, log); err == nil || !strings.Contains(err.Error(), "--redis-addr") {
		t.Fatalf("redis with serve stopped: %v, want to be told to start serve or pass --redis-addr", err)
	}
}
