package wiring_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/feedsvc/feedsvc/events"
	"github.com/feedsvc/feedsvc/internal/testenv"
	"github.com/feedsvc/feedsvc/internal/wiring"
	"github.com/feedsvc/feedsvc/roles"
)

// overview is the part of /ops/api/overview the tests read.
type overview struct {
	Process struct {
		Ready  bool
		Cause  string
		Checks []struct {
			Name string
			OK   bool
		}
		Roles []struct {
			Name, Group string
			Uses        []string
			OK          bool
		}
	}
	Lag struct {
		Available     bool
		Reason, Error string
		Groups        []struct {
			Role, Group string
			Here        bool
			Lag         int64
			Committed   int64
			Partitions  []struct{ Committed, End, Lag int64 }
		}
	}
	Outbox struct {
		Available bool
		Reason    string
		Error     string
		Pending   int
	}
}

// opsGet GETs an operator's route and returns its status, content type and body.
func opsGet(t *testing.T, base, path string) (int, string, []byte) {
	t.Helper()
	resp, err := http.Get(base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), body
}

func opsJSON(t *testing.T, base, path string, v any) {
	t.Helper()
	code, _, body := opsGet(t, base, path)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, code, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v in %s", path, err, body)
	}
}

// TestOpsView: the operator's view of a process running every role but
// fanout on the embedded backends (as a deployment whose fanout runs
// elsewhere, or is stopped). Its page and files are served with the web
// app's headers; the overview shows the process's roles and backends,
// fanout's lag rising with posts while no fanout runs and falling to 0
// once its offsets move, and the outbox; the dead-letter list and the
// replay plan answer 400 with a problem to a wrong group, limit or time,
// and a plan changes no offset.
func TestOpsView(t *testing.T) {
	cfg := defaults(t)
	cfg.Server.HTTPAddr, cfg.Server.AdminAddr, cfg.Server.ShutdownDrain = "127.0.0.1:0", "127.0.0.1:0", 0
	log := slog.New(slog.DiscardHandler)
	rows := slices.DeleteFunc(slices.Clone(roles.Table), func(r roles.Row) bool { return r.Name == "fanout" })
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
	admin, public := "http://"+f.AdminAddr, "http://"+f.HTTPAddr

	// The page and its files, as the web app's.
	for _, c := range []struct{ path, ctype, has string }{
		{wiring.OpsPath, "text/html", `<script type="module" src="/ops/app/main.js">`},
		{"/ops/app/main.js", "javascript", "/ops/api/"},
		{"/ops/app/style.css", "text/css", "font"},
	} {
		resp, err := http.Get(admin + c.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Type"), c.ctype) ||
			!strings.Contains(string(body), c.has) || !strings.HasPrefix(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") {
			t.Errorf("GET %s: %d %q CSP %q", c.path, resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Content-Security-Policy"))
		}
	}
	if code, _, _ := opsGet(t, public, wiring.OpsPath); code != http.StatusNotFound {
		t.Errorf("public listener: /ops answers %d, want 404", code)
	}
	// A name other than localhost (DNS rebinding: a page's own name
	// resolving to the loopback address) reads nothing.
	for host, want := range map[string]int{"rebind.example:80": http.StatusForbidden, "localhost": http.StatusOK, "[::1]:9": http.StatusOK} {
		if code := statusWithHost(t, admin+wiring.OpsAPIPath+"overview", host); code != want {
			t.Errorf("overview addressed to %s: %d, want %d", host, code, want)
		}
	}

	// Three posts, which no fanout handles.
	tokens, err := wiring.Tokens(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	token, err := tokens.Issue("alice", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		req, _ := http.NewRequest("POST", public+"/v1/posts", strings.NewReader(fmt.Sprintf(`{"text":"post %d"}`, i)))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("post: %d", resp.StatusCode)
		}
	}
	group := func(o overview, role string) (int64, int64, bool) {
		for _, g := range o.Lag.Groups {
			if g.Role == role {
				return g.Lag, g.Committed, g.Here
			}
		}
		t.Fatalf("no group %s in %+v", role, o.Lag.Groups)
		return 0, 0, false
	}
	var o overview
	testenv.Until(t, "fanout's lag of 3 and the others caught up", func() bool {
		o = overview{}
		opsJSON(t, admin, wiring.OpsAPIPath+"overview", &o)
		lag, _, _ := group(o, "fanout")
		caught := true
		for _, r := range []string{"notifications", "search", "analytics", "moderation"} {
			l, c, _ := group(o, r)
			caught = caught && l == 0 && c >= 3
		}
		return lag == 3 && caught && o.Outbox.Pending == 0
	})
	var names []string
	for _, r := range o.Process.Roles {
		names = append(names, r.Name)
		if !r.OK || (r.Name != "api") != (r.Group == r.Name) {
			t.Errorf("role %+v", r)
		}
	}
	if !o.Process.Ready || !slices.Equal(names, rows.Names()) || len(o.Process.Checks) != 3 || !o.Outbox.Available {
		t.Errorf("overview %+v", o)
	}
	if _, _, here := group(o, "fanout"); here {
		t.Error("fanout is said to run in this process")
	}
	if _, _, here := group(o, "search"); !here {
		t.Error("search is said not to run in this process")
	}

	// Fanout's offsets moved to the log end, as a fanout would: its lag
	// falls to 0.
	kafka := events.Cluster{Brokers: f.KafkaBrokers}
	fanout := cfg.Kafka.Group("fanout")
	plan, err := events.PlanReset(ctx, kafka, fanout, cfg.Kafka.Topics.All(), events.ResetTarget{Kind: events.ResetToLatest})
	if err != nil {
		t.Fatal(err)
	}
	if err := events.ApplyReset(ctx, kafka, plan); err != nil {
		t.Fatal(err)
	}
	testenv.Until(t, "fanout's lag 0", func() bool {
		o = overview{}
		opsJSON(t, admin, wiring.OpsAPIPath+"overview", &o)
		lag, committed, _ := group(o, "fanout")
		return lag == 0 && committed == 3
	})
	before, err := events.GroupsLag(ctx, kafka, []string{fanout}, cfg.Kafka.Topics.All())
	if err != nil {
		t.Fatal(err)
	}

	// Wrong input: 400 with a problem, whatever the route.
	for _, path := range []string{
		"dlq", "dlq?group=", "dlq?group=nope", "dlq?group=api", "dlq?group=fanout&limit=0", "dlq?group=fanout&limit=1001",
		"dlq?group=fanout&limit=ten", "replay?group=fanout", "replay?group=nope&to_datetime=2020-01-01T00:00:00Z",
		"replay?group=fanout&to_datetime=yesterday", "replay?group=fanout&to_datetime=2020-01-01",
	} {
		code, ctype, body := opsGet(t, admin, wiring.OpsAPIPath+path)
		var p struct{ Status int }
		if code != http.StatusBadRequest || ctype != "application/problem+json" || json.Unmarshal(body, &p) != nil || p.Status != 400 {
			t.Errorf("GET %s: %d %s %s, want a 400 problem", path, code, ctype, body)
		}
	}
	for _, method := range []string{"POST", "PUT", "DELETE"} {
		req, _ := http.NewRequest(method, admin+wiring.OpsAPIPath+"replay?group=fanout&to_datetime=2020-01-01T00:00:00Z", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s replay: %d, want 405", method, resp.StatusCode)
		}
	}

	// The dry run: from a time before the posts (and from before 1970,
	// which Kafka's offset lookup would take for "latest"), all three
	// again; no live member (fanout runs nowhere).
	for _, from := range []string{"2020-01-01T00:00:00Z", "1969-12-31T23:59:59.999Z"} {
		var p struct {
			Group, Target, Live, Command string
			Reprocess, Skip              int64
			Partitions                   []struct{ Current, New int64 }
		}
		opsJSON(t, admin, wiring.OpsAPIPath+"replay?"+url.Values{"group": {"fanout"}, "to_datetime": {from}}.Encode(), &p)
		if p.Group != fanout || p.Reprocess != 3 || p.Skip != 0 || p.Live != "" || len(p.Partitions) != 2*cfg.Kafka.Partitions ||
			p.Command != "feedsvc replay --group fanout --to-datetime "+from+" --execute" {
			t.Errorf("plan from %s: %+v", from, p)
		}
	}
	var dl struct {
		Group string
		Items []any
		More  bool
	}
	opsJSON(t, admin, wiring.OpsAPIPath+"dlq?group=fanout&limit=5", &dl)
	if dl.Group != fanout || len(dl.Items) != 0 || dl.More {
		t.Errorf("dead letters %+v", dl)
	}
	// Nothing changed.
	after, err := events.GroupsLag(ctx, kafka, []string{fanout}, cfg.Kafka.Topics.All())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(before[fanout], after[fanout]) {
		t.Errorf("fanout's offsets changed:\n%+v\n%+v", before[fanout], after[fanout])
	}

	// An event no consumer can decode: notifications dead-letters it, and
	// its list shows it with its error.
	if err := testenv.PublishPoison(kafka, cfg.Kafka.Topics.Posts, "poison-1"); err != nil {
		t.Fatal(err)
	}
	testenv.Until(t, "the dead letter in notifications' list", func() bool {
		var dl struct {
			Items []struct {
				EventID      string `json:"event_id"`
				Error, Topic string
			}
		}
		opsJSON(t, admin, wiring.OpsAPIPath+"dlq?group=notifications", &dl)
		return len(dl.Items) == 1 && dl.Items[0].EventID == "poison-1" && dl.Items[0].Error != "" && dl.Items[0].Topic == cfg.Kafka.Topics.Posts
	})

	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestOpsViewWithoutBackends: a process that opened no backend shows its
// roles and says the lag and the outbox are not available; the tools
// check their input first (400), then say Kafka is not available (503).
func TestOpsViewWithoutBackends(t *testing.T) {
	cfg := defaults(t)
	cfg.Server.ShutdownDrain = 0
	rows := roles.Rows{{Name: "idle", Build: func(*roles.Deps) (roles.Role, error) {
		return roleFunc(func(ctx context.Context) error { <-ctx.Done(); return nil }), nil
	}}}
	listen := func() net.Listener {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		return ln
	}
	public, admin := listen(), listen()
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
	base := "http://" + admin.Addr().String()
	var o overview
	opsJSON(t, base, wiring.OpsAPIPath+"overview", &o)
	if !o.Process.Ready || len(o.Process.Roles) != 1 || o.Process.Roles[0].Name != "idle" || !o.Process.Roles[0].OK ||
		o.Lag.Available || o.Lag.Reason == "" || len(o.Lag.Groups) != len(roles.Table.Consumers()) || o.Outbox.Available || o.Outbox.Reason == "" {
		t.Errorf("overview %+v", o)
	}
	for path, want := range map[string]int{
		"dlq?group=nope": 400, "dlq?group=fanout": 503,
		"replay?group=fanout&to_datetime=x": 400, "replay?group=fanout&to_datetime=2020-01-01T00:00:00Z": 503,
	} {
		if code, ctype, body := opsGet(t, base, wiring.OpsAPIPath+path); code != want || ctype != "application/problem+json" {
			t.Errorf("GET %s: %d %s %s, want %d", path, code, ctype, body, want)
		}
	}
}

// statusWithHost is the status of a GET of url sent with the Host header
// host, as a page whose name resolves to the listener would send it.
func statusWithHost(t *testing.T, url, host string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Host = host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
