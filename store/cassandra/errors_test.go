package cassandra

import (
	"context"
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/internal/testenv"
)

// TestUnavailableErrors checks which driver errors become
// app.ErrUnavailable: outages and timeouts do, bad queries, absent rows and
// a caller's cancellation do not.
func TestUnavailableErrors(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{gocql.ErrNoConnections, true},
		{gocql.ErrTimeoutNoResponse, true},
		{gocql.ErrConnectionClosed, true},
		{gocql.ErrSessionClosed, true},
		{&gocql.RequestErrUnavailable{Consistency: gocql.LocalQuorum, Required: 2, Alive: 1}, true},
		{&gocql.RequestErrWriteTimeout{WriteType: "BATCH"}, true},
		{&gocql.RequestErrReadTimeout{}, true},
		{context.DeadlineExceeded, true},
		{&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, true},
		{gocql.ErrNotFound, false},
		{gocql.ErrNoKeyspace, false},
		{&gocql.RequestErrAlreadyExists{Table: "posts"}, false},
		{context.Canceled, false},
		{app.ErrInvalid, false},
	} {
		err := failf("cassandra: save post 7: %w", c.err)
		if got := errors.Is(err, app.ErrUnavailable); got != c.want {
			t.Errorf("%T %v: unavailable %v, want %v", c.err, c.err, got, c.want)
		}
		if !errors.Is(err, c.err) {
			t.Errorf("%v: the cause is lost: %v", c.err, err)
		}
	}
}

// TestOpenUnreachable checks that a cluster that is down, or that accepts
// connections and never answers, fails Open with app.ErrUnavailable within
// the configured timeout rather than hanging.
func TestOpenUnreachable(t *testing.T) {
	for name, addr := range map[string]func(testing.TB) string{"refused": testenv.Refused, "silent": testenv.Silent} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cfg := Config{Hosts: []string{addr(t)}, Keyspace: "feedsvc_unreachable", Timeout: 300 * time.Millisecond}
			done := make(chan error, 1)
			go func() {
				_, err := Open(context.Background(), cfg, nil)
				done <- err
			}()
			select {
			case err := <-done:
				if !errors.Is(err, app.ErrUnavailable) {
					t.Fatalf("Open: %v, want app.ErrUnavailable", err)
				}
			case <-time.After(time.Minute):
				t.Fatal("Open of an unreachable cluster still hangs after a minute")
			}
		})
	}
}

// TestQueryErrors checks, on a real cluster, that a request past its
// deadline or on a closed session is app.ErrUnavailable, and that a bad
// query (no keyspace bound) is not.
func TestQueryErrors(t *testing.T) {
	hosts := testenv.Require(t, "FEEDSVC_CASSANDRA_HOSTS")
	c, err := newCluster(secured(Config{Hosts: strings.Split(hosts, ","), Keyspace: "unused", Consistency: "LOCAL_QUORUM"}), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	session, err := c.CreateSession()
	if err != nil {
		t.Fatal(err)
	}
	s := &Store{session: session}

	if _, err := s.UserExists(context.Background(), "nobody"); err == nil || errors.Is(err, app.ErrUnavailable) {
		t.Errorf("a query without a keyspace: %v, want an error that is not app.ErrUnavailable", err)
	}
	expired, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	if err := s.Ping(expired); !errors.Is(err, app.ErrUnavailable) {
		t.Errorf("Ping past its deadline: %v, want app.ErrUnavailable", err)
	}
	session.Close()
	if err := s.Ping(context.Background()); !errors.Is(err, app.ErrUnavailable) {
		t.Errorf("Ping on a closed session: %v, want app.ErrUnavailable", err)
	}
	// The post path: its first call (the ID-conflict read) and the
	// deletion record read, so posting answers 503, not 500.
	p := app.Post{ID: 1, Author: "nobody", Text: "x", CreatedAt: time.Now()}
	if err := s.SavePost(context.Background(), p); !errors.Is(err, app.ErrUnavailable) {
		t.Errorf("SavePost on a closed session: %v, want app.ErrUnavailable", err)
	}
	if _, err := s.WasDeleted(context.Background(), p.ID); !errors.Is(err, app.ErrUnavailable) {
		t.Errorf("WasDeleted on a closed session: %v, want app.ErrUnavailable", err)
	}
}

// TestRetryUnavailable checks that migrate retries a statement Cassandra
// could not answer in time, and nothing else.
func TestRetryUnavailable(t *testing.T) {
	calls := 0
	err := retryUnavailable(t.Context(), nil, func() error {
		if calls++; calls < 2 {
			return gocql.ErrTimeoutNoResponse
		}
		return nil
	})
	if err != nil || calls != 2 {
		t.Fatalf("timeout then success: err %v after %d calls, want nil after 2", err, calls)
	}
	calls = 0
	bad := errors.New("line 1:7 no viable alternative")
	err = retryUnavailable(t.Context(), nil, func() error { calls++; return bad })
	if !errors.Is(err, bad) || calls != 1 {
		t.Fatalf("bad statement: err %v after %d calls, want it after 1", err, calls)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err = retryUnavailable(ctx, nil, func() error { return gocql.ErrTimeoutNoResponse })
	if !errors.Is(err, context.Canceled) || !errors.Is(err, gocql.ErrTimeoutNoResponse) {
		t.Fatalf("cancelled: err %v, want the timeout and the cancellation", err)
	}
}
