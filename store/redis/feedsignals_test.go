package redis_test

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	redisstore "github.com/feedsvc/feedsvc/store/redis"
)

// TestFeedSignals: a signal reaches a watcher as the users it named, on
// every backend (PUBLISH is forwarded to every node of a cluster), and
// Watch returns when its context ends.
func TestFeedSignals(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			client := open(t)
			sig := redisstore.NewFeedSignals(client, nil)
			ctx, cancel := context.WithCancel(context.Background())
			got := make(chan []string, 100)
			done := make(chan error, 1)
			go func() { done <- sig.Watch(ctx, func(users []string) { got <- users }) }()

			// The subscription is made some time after Watch starts: send
			// until one arrives.
			u := uniqueUser(t)
			want := []string{u + "_a", u + "_b"}
			// The deadline only bounds a broken run.
			deadline := time.After(time.Minute)
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
		wait:
			for {
				select {
				case users := <-got:
					// The real Redis is shared with the other packages'
					// tests, whose signals arrive here too.
					if !slices.ContainsFunc(users, func(u string) bool { return slices.Contains(want, u) }) {
						continue
					}
					if !slices.Equal(users, want) {
						t.Fatalf("signal of %q, want %q", users, want)
					}
					break wait
				case <-tick.C:
					must(t, sig.Signal(ctx, want))
				case <-deadline:
					t.Fatal("no signal within a minute")
				}
			}
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(time.Minute):
				t.Fatal("Watch did not return within a minute of its context ending")
			}
		})
	}
}

// TestFeedSignalsResubscribe: after Redis went away and came back, Watch
// subscribes again and signals arrive again.
func TestFeedSignalsResubscribe(t *testing.T) {
	m := miniredis.RunT(t)
	// Watch logs a warning each time its subscription breaks.
	broke := make(chan struct{}, 100)
	log := slog.New(handlerFunc(func(r slog.Record) {
		if strings.Contains(r.Message, "the subscription broke") {
			broke <- struct{}{}
		}
	}))
	sig := redisstore.NewFeedSignals(dial(t, m.Addr(), true), log)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan []string, 100)
	go func() { _ = sig.Watch(ctx, func(users []string) { got <- users }) }()
	// until signals user until a signal of that user arrives. Each phase
	// signals a user of its own: a signal of the first phase still on its
	// way proves nothing about the second.
	until := func(what, user string) {
		t.Helper()
		deadline := time.After(time.Minute)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case users := <-got:
				if slices.Equal(users, []string{user}) {
					return
				}
			case <-tick.C:
				_ = sig.Signal(ctx, []string{user}) // fails while Redis is away
			case <-deadline:
				t.Fatalf("no signal %s within a minute", what)
			}
		}
	}
	until("at first", "alice")
	m.Close()
	// Redis came back only after Watch saw it go.
	select {
	case <-broke:
	case <-time.After(time.Minute):
		t.Fatal("Watch did not see its subscription break within a minute of Redis going away")
	}
	if err := m.Restart(); err != nil {
		t.Fatal(err)
	}
	until("after Redis came back", "bob")
}

// handlerFunc is a slog.Handler that passes every record to its function.
type handlerFunc func(slog.Record)

func (h handlerFunc) Enabled(context.Context, slog.Level) bool { return true }

func (h handlerFunc) Handle(_ context.Context, r slog.Record) error {
	h(r)
	return nil
}

func (h handlerFunc) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h handlerFunc) WithGroup(string) slog.Handler      { return h }
