package redis_test

import (
	"context"
	"slices"
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
			deadline := time.After(10 * time.Second)
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
		wait:
			for {
				select {
				case users := <-got:
					if !slices.Equal(users, want) {
						t.Fatalf("signal of %q, want %q", users, want)
					}
					break wait
				case <-tick.C:
					must(t, sig.Signal(ctx, want))
				case <-deadline:
					t.Fatal("no signal within 10 s")
				}
			}
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Watch did not return within 10 s of its context ending")
			}
		})
	}
}

// TestFeedSignalsResubscribe: after Redis went away and came back, Watch
// subscribes again and signals arrive again.
func TestFeedSignalsResubscribe(t *testing.T) {
	m := miniredis.RunT(t)
	sig := redisstore.NewFeedSignals(dial(t, m.Addr(), true), nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan []string, 100)
	go func() { _ = sig.Watch(ctx, func(users []string) { got <- users }) }()
	until := func(what string) {
		t.Helper()
		deadline := time.After(15 * time.Second)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-got:
				return
			case <-tick.C:
				_ = sig.Signal(ctx, []string{"alice"}) // fails while Redis is away
			case <-deadline:
				t.Fatalf("no signal %s within 15 s", what)
			}
		}
	}
	until("at first")
	m.Close()
	time.Sleep(100 * time.Millisecond)
	if err := m.Restart(); err != nil {
		t.Fatal(err)
	}
	until("after Redis came back")
}
