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

	"github.com/feedsvc/feedsvc/internal/testenv"
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
	testenv.Until(t, "the condition", func() bool { return len(j.list()) == 6 })
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
	// The drain only has to outlast the checks below, on a loaded machine
	// too (at 2 s a stall could end it first); they wait for it.
	lc := &roles.Lifecycle{Drain: 10 * time.Second, Timeout: 30 * time.Second, Log: quiet()}
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
	testenv.Until(t, "ready before the cancel", func() bool { return status(url) == 200 })
	cancel()
	// HTTP still serves during the drain, and says it is not ready, while
	// the role still runs.
	testenv.Until(t, "not ready while draining", func() bool { return status(url) == http.StatusServiceUnavailable })
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
	testenv.Until(t, "the condition", func() bool { return status(url) == http.StatusNotFound })
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
	testenv.Until(t, "the condition", func() bool { return len(j.list()) == 3 })
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

func hiddenRow(name string, j *journal, role roles.Role) roles.Row {
	return roles.Row{Name: name, Hidden: true, Needs: roles.Needs{IDs: true}, Build: func(*roles.Deps) (roles.Role, error) {
		j.add("build " + name)
		return role, nil
	}}
}

// TestHiddenRows: a hidden row is no role: not listed, not selectable,
// and added by With only when the roles' needs cover its own.
func TestHiddenRows(t *testing.T) {
	j := &journal{}
	table := roles.Rows{
		{Name: "writer", Needs: roles.Needs{Store: true, IDs: true}},
		{Name: "reader", Needs: roles.Needs{Store: true, Consumer: true}},
		hiddenRow("lease", j, nil),
	}
	if got := table.Names(); !slices.Equal(got, []string{"writer", "reader"}) {
		t.Fatalf("Names = %v", got)
	}
	if got := table.Consumers(); !slices.Equal(got, []string{"reader"}) {
		t.Fatalf("Consumers = %v", got)
	}
	if all, _ := table.Select("all"); !slices.Equal(all.Names(), []string{"writer", "reader"}) || len(all) != 2 {
		t.Fatalf("all = %v", all.Names())
	}
	if _, err := table.Select("lease"); err == nil || !strings.Contains(err.Error(), "known roles: all, writer, reader") {
		t.Fatalf("Select(lease) = %v, want unknown role", err)
	}
	hidden := roles.Rows{hiddenRow("lease", j, nil), {Name: "relay", Hidden: true, Needs: roles.Needs{Store: true, Producer: true, IDs: true}}}
	for _, c := range []struct {
		spec string
		want []string
	}{
		{"writer", []string{"lease", "writer"}},
		{"reader", []string{"reader"}},
	} {
		rows, err := table.Select(c.spec)
		if err != nil {
			t.Fatal(err)
		}
		with := rows.With(hidden)
		var got []string
		for _, r := range with {
			got = append(got, r.Name)
		}
		if !slices.Equal(got, c.want) || !slices.Equal(with.Names(), rows.Names()) {
			t.Errorf("%s with hidden rows = %v (names %v), want %v", c.spec, got, with.Names(), c.want)
		}
	}
	for _, r := range roles.Table {
		if r.Hidden {
			t.Errorf("roles.Table has hidden row %s: hidden rows are the composition root's", r.Name)
		}
	}
}

// starter is a fakeRole with a Start.
type starter struct {
	*fakeRole
	err error
}

func (s *starter) Start(context.Context) error {
	s.j.add("started " + s.name)
	return s.err
}

// TestHiddenRowsStartFirstStopLast: the hidden rows start (a Starter's
// Start done) before the roles, in order, and stop after HTTP stopped,
// in reverse: the relay after the api drained, the lease last.
func TestHiddenRowsStartFirstStopLast(t *testing.T) {
	j := &journal{}
	ln := listen(t)
	url := "http://" + ln.Addr().String() + "/"
	var httpAtRelayStop, httpAtAPIStop int
	lease := &starter{fakeRole: &fakeRole{name: "lease", j: j}}
	relay := &fakeRole{name: "relay", j: j, onStop: func() { httpAtRelayStop = status(url) }}
	apiRole := &fakeRole{name: "api", j: j, onStop: func() { httpAtAPIStop = status(url) }}
	rows := roles.Rows{{Name: "api", Needs: roles.Needs{IDs: true}, Build: func(*roles.Deps) (roles.Role, error) {
		j.add("build api")
		return apiRole, nil
	}}}.With(roles.Rows{hiddenRow("lease", j, lease), hiddenRow("relay", j, relay)})
	built, err := roles.Build(rows, &roles.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	lc := &roles.Lifecycle{Timeout: 30 * time.Second, Log: quiet()}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- lc.Run(ctx, built, ln, http.NotFoundHandler()) }()
	testenv.Until(t, "the condition", func() bool { return len(j.list()) == 7 && status(url) == http.StatusNotFound })
	got := j.list()
	if want := []string{"build lease", "build relay", "build api", "started lease"}; !slices.Equal(got[:4], want) {
		t.Fatalf("build and start = %v, want %v first", got, want)
	}
	// Run goes on in the background; only the lease's Start is in line.
	if i, k := slices.Index(got, "start lease"), slices.Index(got, "start api"); i < 0 || k < 0 || !slices.Contains(got, "start relay") {
		t.Fatalf("started %v", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got, want := j.list()[7:], []string{"stop api", "stop relay", "stop lease"}; !slices.Equal(got, want) {
		t.Fatalf("stop order = %v, want %v", got, want)
	}
	if httpAtAPIStop != http.StatusNotFound || httpAtRelayStop != 0 {
		t.Fatalf("HTTP answered %d while the api stopped and %d while the relay stopped; want 404, then stopped",
			httpAtAPIStop, httpAtRelayStop)
	}
}

// TestFailedStartRunsNothingAfter: a Starter that fails ends Run before
// the rows after it start and before HTTP serves; what started stops.
func TestFailedStartRunsNothingAfter(t *testing.T) {
	j := &journal{}
	ln := listen(t)
	lease := &starter{fakeRole: &fakeRole{name: "lease", j: j}, err: errors.New("node 9 is taken")}
	rows := roles.Rows{row("api", j, nil)}
	rows[0].Needs.IDs = true
	rows = rows.With(roles.Rows{hiddenRow("first", j, &fakeRole{name: "first", j: j}), hiddenRow("lease", j, lease)})
	built, err := roles.Build(rows, &roles.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	lc := &roles.Lifecycle{Timeout: 30 * time.Second, Log: quiet()}
	err = lc.Run(context.Background(), built, ln, http.NotFoundHandler())
	if err == nil || !strings.Contains(err.Error(), "start lease: node 9 is taken") {
		t.Fatalf("Run = %v, want the lease's start error", err)
	}
	got := j.list()
	if slices.Contains(got, "start api") || slices.Contains(got, "start lease") {
		t.Fatalf("rows after the failed start ran: %v", got)
	}
	if !slices.Contains(got, "stop first") {
		t.Fatalf("the row started before was not stopped: %v", got)
	}
	// The listener is the caller's to close; nothing serves on it.
	client := &http.Client{Timeout: 200 * time.Millisecond}
	if resp, err := client.Get("http://" + ln.Addr().String() + "/"); err == nil {
		resp.Body.Close()
		t.Fatalf("HTTP answered %d after a failed start", resp.StatusCode)
	}
}

// TestHiddenRowsAfterTimeout: when a role hangs past the timeout, the
// hidden rows are stopped with cause ErrShutdownTimeout.
func TestHiddenRowsAfterTimeout(t *testing.T) {
	j := &journal{}
	hang := make(chan struct{})
	defer close(hang)
	var cause error
	got := make(chan struct{})
	lease := roleFn(func(ctx context.Context) error {
		<-ctx.Done()
		cause = context.Cause(ctx)
		close(got)
		return nil
	})
	rows := roles.Rows{{Name: "stuck", Needs: roles.Needs{IDs: true}, Build: func(*roles.Deps) (roles.Role, error) {
		return &fakeRole{name: "stuck", j: j, hang: hang}, nil
	}}}.With(roles.Rows{hiddenRow("lease", j, lease)})
	built, _ := roles.Build(rows, &roles.Deps{})
	lc := &roles.Lifecycle{Timeout: time.Second, Log: quiet()}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- lc.Run(ctx, built, listen(t), http.NotFoundHandler()) }()
	testenv.Until(t, "the condition", func() bool { return slices.Contains(j.list(), "start stuck") })
	cancel()
	err := <-done
	if !errors.Is(err, roles.ErrShutdownTimeout) || strings.Contains(err.Error(), "lease") {
		t.Fatalf("Run = %v, want a timeout naming the stuck role only", err)
	}
	<-got
	if !errors.Is(cause, roles.ErrShutdownTimeout) {
		t.Fatalf("the lease stopped with cause %v, want ErrShutdownTimeout", cause)
	}
}

type roleFn func(ctx context.Context) error

func (f roleFn) Run(ctx context.Context) error { return f(ctx) }
