package redis_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/internal/testenv"
	redisstore "github.com/feedsvc/feedsvc/store/redis"
)

// TestOpenUnreachable checks that a Redis that is down, or that accepts
// connections and never answers, fails Open with app.ErrUnavailable within
// the configured timeout.
func TestOpenUnreachable(t *testing.T) {
	for name, addr := range map[string]func(testing.TB) string{"refused": testenv.Refused, "silent": testenv.Silent} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cfg := redisstore.Config{Addrs: []string{addr(t)}, Timeout: 300 * time.Millisecond}
			err := testenv.Within(t, "Open", func() error {
				c, err := redisstore.Open(context.Background(), cfg, nil)
				if err == nil {
					c.Close()
				}
				return err
			})
			if !errors.Is(err, app.ErrUnavailable) {
				t.Fatalf("Open: %v, want app.ErrUnavailable", err)
			}
		})
	}
}

// TestCallErrors checks which failures of a call through the adapters are
// app.ErrUnavailable: replies that say Redis cannot serve now, a passed
// deadline and a server gone are; a cancelled call and a wrong command are
// not.
func TestCallErrors(t *testing.T) {
	ctx := context.Background()
	m := miniredis.RunT(t)
	c, err := redisstore.Open(ctx, redisstore.Config{Addrs: []string{m.Addr()}, Embedded: true, Timeout: time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	feeds := redisstore.NewFeeds(c, testCap, 0)
	user := uniqueUser(t)
	page := func(ctx context.Context) error {
		_, _, err := feeds.Page(ctx, user, 0, 10)
		return err
	}

	if err := page(ctx); err != nil {
		t.Fatalf("Page: %v", err)
	}
	if err := c.Do(ctx, c.B().Arbitrary("NOSUCHCOMMAND").Build()).Error(); err == nil || errors.Is(err, app.ErrUnavailable) {
		t.Errorf("an unknown command: %v, want an error that is not app.ErrUnavailable", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := page(cancelled); !errors.Is(err, context.Canceled) || errors.Is(err, app.ErrUnavailable) {
		t.Errorf("a cancelled Page: %v, want context.Canceled and not app.ErrUnavailable", err)
	}
	expired, cancel := context.WithDeadline(ctx, time.Now().Add(-time.Second))
	defer cancel()
	if err := page(expired); !errors.Is(err, app.ErrUnavailable) {
		t.Errorf("Page past its deadline: %v, want app.ErrUnavailable", err)
	}
	for _, reply := range []string{"LOADING Redis is loading the dataset in memory", "OOM command not allowed when used memory > 'maxmemory'"} {
		m.SetError(reply)
		if err := page(ctx); !errors.Is(err, app.ErrUnavailable) {
			t.Errorf("Page answered %q: %v, want app.ErrUnavailable", reply, err)
		}
	}
	m.SetError("")
	if err := feeds.Ping(ctx); err != nil {
		t.Fatalf("Ping after the errors cleared: %v", err)
	}
	m.Close()
	err = testenv.Within(t, "Page on a stopped Redis", func() error { return page(ctx) })
	if !errors.Is(err, app.ErrUnavailable) {
		t.Errorf("Page on a stopped Redis: %v, want app.ErrUnavailable", err)
	}
}
