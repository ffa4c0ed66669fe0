package roles_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/feedsvc/feedsvc/roles"
)

// journal records what the fake roles did, in order.
type journal struct {
	mu     sync.Mutex
	events []string
}

func (j *journal) add(e string) {
	j.mu.Lock()
	j.events = append(j.events, e)
	j.mu.Unlock()
}

func (j *journal) list() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Clone(j.events)
}

// fakeRole runs until its context ends, recording start and stop.
type fakeRole struct {
	name string
	j    *journal
	// hang keeps Run from returning after cancel until released.
	hang chan struct{}
	// fail makes Run return this error at once.
	fail error
	// onStop runs when the role is asked to stop.
	onStop func()
}

func (f *fakeRole) Run(ctx context.Context) error {
	f.j.add("start " + f.name)
	if f.fail != nil {
		return f.fail
	}
	<-ctx.Done()
	if f.onStop != nil {
		f.onStop()
	}
	if f.hang != nil {
		<-f.hang
	}
	f.j.add("stop " + f.name)
	return nil
}

func row(name string, j *journal, buildErr error) roles.Row {
	return roles.Row{Name: name, Build: func(*roles.Deps) (roles.Role, error) {
		if buildErr != nil {
			return nil, buildErr
		}
		j.add("build " + name)
		return &fakeRole{name: name, j: j}, nil
	}}
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func TestBuildFailureReturnsNoRole(t *testing.T) {
	j := &journal{}
	table := roles.Rows{row("a", j, nil), row("b", j, errors.New("no backend")), row("c", j, nil)}
	built, err := roles.Build(table, &roles.Deps{})
	if err == nil || !strings.Contains(err.Error(), "build role b: no backend") {
		t.Fatalf("Build error = %v, want it to name role b", err)
	}
	if built != nil {
		t.Fatalf("Build returned %d roles after a failure", len(built))
	}
}

func TestStopInReverse(t *testing.T) {
	j := &journal{}
	built, err := roles.Build(roles.Rows{row("a", j, nil), row("b", j, nil), row("c", j, nil)}, &roles.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	lc := &roles.Lifecycle{Timeout: 30 * time.Second, Log: quiet()}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- lc.Run(ctx, built, listen(t), http.NotFoundHandler()) }()
	waitFor(t, func() bool { return len(j.list()) == 6 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got := j.list()
	if !slices.Equal(got[6:], []string{"stop c", "stop b", "stop a"}) {
		t.Fatalf("stop order = %v, want c, b, a", got[6:])
	}
}

func TestReadinessFailsWhileDraining(t *testing.T) {
	j := &journal{}
	built, _ := roles.Build(roles.Rows{row("a", j, nil)}, &roles.Deps{})
	// The drain only has to outlast the checks below; they wait for it.
	lc := &roles.Lifecycle{Drain: 2 * time.Second, Timeout: 30 * time.Second, Log: quiet()}
	ready := lc.Ready(func(context.Context) error { return nil })
	mux := http.NewServeMux()
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if ready(r.Context()) != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	ln := listen(t)
	url := "http://" + ln.Addr().String() + "/readyz"
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- lc.Run(ctx, built, ln, mux) }()
	waitFor(t, func() bool { return status(url) == 200 })
	cancel()
	// HTTP still serves during the drain, and says it is not ready, while
	// the role still runs.
	waitFor(t, func() bool { return status(url) == http.StatusServiceUnavailable })
	if err := ready(context.Background()); !errors.Is(err, roles.ErrDraining) {
		t.Fatalf("ready during drain = %v", err)
	}
	if slices.Contains(j.list(), "stop a") {
		t.Fatal("role stopped before the drain ended")
	}
	// After the drain the role stops and Run returns cleanly.
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(j.list(), "stop a") {
		t.Fatalf("role a was not stopped: %v", j.list())
	}
}

// TestHTTPStopsLast: while the roles stop, HTTP still answers (in-flight
// and late requests are served by roles that are going away).
func TestHTTPStopsLast(t *testing.T) {
	j := &journal{}
	ln := listen(t)
	url := "http://" + ln.Addr().String() + "/"
	var during int
	r := roles.Row{Name: "a", Build: func(*roles.Deps) (roles.Role, error) {
		return &fakeRole{name: "a", j: j, onStop: func() { during = status(url) }}, nil
	}}
	built, _ := roles.Build(roles.Rows{r}, &roles.Deps{})
	lc := &roles.Lifecycle{Timeout: 30 * time.Second, Log: quiet()}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- lc.Run(ctx, built, ln, http.NotFoundHandler()) }()
	waitFor(t, func() bool { return status(url) == http.StatusNotFound })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if during != http.StatusNotFound {
		t.Fatalf("HTTP during the roles' stop answered %d, want the handler's 404", during)
	}
	if c := status(url); c != 0 {
		t.Fatalf("HTTP still answers %d after Run returned", c)
	}
}

func TestShutdownTimeoutNamesWhatHangs(t *testing.T) {
	j := &journal{}
	hang := make(chan struct{})
	defer close(hang)
	stuck := roles.Row{Name: "stuck", Build: func(*roles.Deps) (roles.Role, error) {
		return &fakeRole{name: "stuck", j: j, hang: hang}, nil
	}}
	built, _ := roles.Build(roles.Rows{row("a", j, nil), stuck}, &roles.Deps{})
	// Long enough for role a to stop on a loaded machine (50 ms was not).
	lc := &roles.Lifecycle{Timeout: time.Second, Log: quiet()}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- lc.Run(ctx, built, listen(t), http.NotFoundHandler()) }()
	waitFor(t, func() bool { return len(j.list()) == 3 })
	cancel()
	err := <-done
	if err == nil || !strings.Contains(err.Error(), "still running: role stuck") {
		t.Fatalf("Run = %v, want a shutdown timeout naming role stuck", err)
	}
	if !slices.Contains(j.list(), "stop a") {
		t.Fatalf("role a was not stopped: %v", j.list())
	}
}

func TestFailingRoleStopsTheOthers(t *testing.T) {
	j := &journal{}
	bad := roles.Row{Name: "bad", Build: func(*roles.Deps) (roles.Role, error) {
		return &fakeRole{name: "bad", j: j, fail: errors.New("lost the broker")}, nil
	}}
	built, _ := roles.Build(roles.Rows{row("a", j, nil), bad}, &roles.Deps{})
	lc := &roles.Lifecycle{Drain: time.Hour, Timeout: 30 * time.Second, Log: quiet()}
	err := lc.Run(context.Background(), built, listen(t), http.NotFoundHandler())
	if err == nil || !strings.Contains(err.Error(), "role bad: lost the broker") {
		t.Fatalf("Run = %v, want role bad's error", err)
	}
	if !slices.Contains(j.list(), "stop a") {
		t.Fatalf("role a was not stopped: %v", j.list())
	}
}

func TestSelect(t *testing.T) {
	all, err := roles.Table.Select("all")
	if err != nil || !slices.Equal(all.Names(), roles.Table.Names()) {
		t.Fatalf("all = %v, %v", all.Names(), err)
	}
	some, err := roles.Table.Select(" search , api,search")
	if err != nil || !slices.Equal(some.Names(), []string{"api", "search"}) {
		t.Fatalf("select = %v, %v; want table order, no duplicates", some.Names(), err)
	}
	for _, bad := range []string{"nope", "api,nope", "", " , "} {
		if _, err := roles.Table.Select(bad); err == nil || !strings.Contains(err.Error(), "known roles: all, api") {
			t.Errorf("Select(%q) = %v, want an error listing the roles", bad, err)
		}
	}
}

func TestNeeds(t *testing.T) {
	for _, c := range []struct {
		spec string
		want roles.Needs
	}{
		{"analytics", roles.Needs{Redis: true, Consumer: true, RebuildFromLog: true}},
		{"notifications", roles.Needs{Store: true, Redis: true, Consumer: true}},
		{"moderation", roles.Needs{Store: true, Producer: true, Consumer: true}},
		{"api", roles.Needs{Store: true, Redis: true, Producer: true, HTTP: true, IDs: true}},
		{"moderation,analytics", roles.Needs{Store: true, Redis: true, Producer: true, Consumer: true, RebuildFromLog: true}},
	} {
		rows, err := roles.Table.Select(c.spec)
		if err != nil {
			t.Fatal(err)
		}
		if got := rows.Needs(); got != c.want {
			t.Errorf("needs of %s = %+v, want %+v", c.spec, got, c.want)
		}
	}
}

func status(url string) int {
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// waitFor polls cond; the deadline only bounds a broken run.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 30s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
