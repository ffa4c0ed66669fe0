package deploy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Every metric the dashboard and the alerting rules use is exported by a
// running feedsvc: `serve --role=all` on the embedded default (every role
// in one process), after a follow and a post went through the API, the
// fan-out and the other consumers, so the labelled series exist.
func TestMetricsExported(t *testing.T) {
	want := map[string][]string{} // metric name -> where it is used
	for where, expr := range dashboardExprs(t) {
		for _, m := range metricNames(t, where, expr) {
			want[m] = append(want[m], where)
		}
	}
	for where, expr := range ruleExprs(t) {
		for _, m := range metricNames(t, where, expr) {
			if m == "up" {
				continue // Prometheus's own series of each target
			}
			want[m] = append(want[m], where)
		}
	}

	p := startAll(t)
	alice, bob := p.token(t, "alice"), p.token(t, "bob")
	// Both exist and bob's feed is cached (fan-out writes cached feeds only).
	p.do(t, "GET", "/v1/feed", alice, nil, 200)
	p.do(t, "GET", "/v1/feed", bob, nil, 200)
	p.do(t, "PUT", "/v1/following/alice", bob, nil, 204)
	var post struct {
		ID string `json:"id"`
	}
	json.Unmarshal(p.do(t, "POST", "/v1/posts", alice, map[string]string{"text": "hello #deploy"}, 201), &post)
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(string(p.do(t, "GET", "/v1/feed", bob, nil, 200)), post.ID) {
		if time.Now().After(deadline) {
			t.Fatalf("the post %s never reached bob's feed:\n%s", post.ID, p.logs())
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Every consumer has handled the events (their series exist), then scrape.
	var fams map[string]*dto.MetricFamily
	for {
		fams = p.scrape(t)
		if missing := missingMetrics(fams, want); len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if missing := missingMetrics(fams, want); len(missing) > 0 {
		var lines []string
		for _, m := range missing {
			lines = append(lines, fmt.Sprintf("  %s (used by %s)", m, strings.Join(want[m], "; ")))
		}
		t.Errorf("metrics used by the dashboard or the rules that feedsvc does not export:\n%s", strings.Join(lines, "\n"))
	}

	// The check itself: a name nobody exports is reported, and the
	// histogram suffixes need a histogram.
	if got := missingMetrics(fams, map[string][]string{"feedsvc_no_such_metric_total": nil, "feedsvc_http_requests_total_bucket": nil,
		"feedsvc_http_request_duration_seconds_bucket": nil}); !slices.Equal(got, []string{"feedsvc_http_requests_total_bucket", "feedsvc_no_such_metric_total"}) {
		t.Errorf("the check reports %v for a made-up metric, a counter's _bucket and a histogram's _bucket", got)
	}
}

// missingMetrics returns the names in want that fams does not export,
// sorted. A histogram's series are name_bucket, name_sum and name_count;
// a summary's name_sum and name_count (and name itself, its quantiles).
func missingMetrics(fams map[string]*dto.MetricFamily, want map[string][]string) []string {
	var missing []string
	for name := range want {
		if !exported(fams, name) {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	return missing
}

func exported(fams map[string]*dto.MetricFamily, name string) bool {
	if f, ok := fams[name]; ok && len(f.GetMetric()) > 0 {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(name, suffix)
		if !ok {
			continue
		}
		f, ok := fams[base]
		if !ok || len(f.GetMetric()) == 0 {
			return false
		}
		switch f.GetType() {
		case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
			return true
		case dto.MetricType_SUMMARY:
			return suffix != "_bucket"
		}
		return false
	}
	return false
}

// allProcess is `feedsvc serve --role=all` on a data dir of its own.
type allProcess struct {
	cmd    *exec.Cmd
	dir    string
	url    string
	admin  string
	mu     sync.Mutex
	log    bytes.Buffer
	exited chan struct{}
}

func (p *allProcess) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// startAll starts the process and waits until it is ready; it is stopped
// (SIGTERM, then killed) when the test ends. Its listeners bind port 0 and
// its "feedsvc started" log line says which ports they got: a port picked
// free beforehand could be taken by another process before the child binds
// it.
func startAll(t *testing.T) *allProcess {
	t.Helper()
	p := &allProcess{dir: t.TempDir(), exited: make(chan struct{})}
	p.cmd = exec.Command(binary, "serve", "--role=all", "--data-dir", p.dir, "--http-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0",
		"--shutdown-drain", "0", "--log-format", "json")
	p.cmd.Dir = p.dir
	p.cmd.Env = childEnv()
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.log.Write(append(sc.Bytes(), '\n'))
			p.mu.Unlock()
		}
		_ = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(30 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("log of feedsvc serve --role=all:\n%s", p.logs())
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-p.exited:
			t.Fatalf("feedsvc serve exited during startup:\n%s", p.logs())
		default:
		}
		if p.url == "" {
			if addr, admin, ok := startedAddrs(p.logs()); ok {
				p.url, p.admin = "http://"+addr, "http://"+admin
			}
		}
		if p.url != "" {
			if resp, err := http.Get(p.url + "/readyz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					return p
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("feedsvc serve not ready after a minute:\n%s", p.logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// token issues a token for user with the process's configuration (its
// data dir's secret), as `feedsvc token` does.
func (p *allProcess) token(t *testing.T, user string) string {
	t.Helper()
	cmd := feedsvcCmd("token", user, "--data-dir", p.dir)
	cmd.Dir = p.dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("feedsvc token %s: %v", user, err)
	}
	return strings.TrimSpace(string(out))
}

// do sends a request to the API and checks its status; it returns the body.
func (p *allProcess) do(t *testing.T, method, path, token string, body any, want int) []byte {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, p.url+path, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %d, want %d: %s", method, path, resp.StatusCode, want, b)
	}
	return b
}

// scrape reads the admin listener's /metrics in the text format.
func (p *allProcess) scrape(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(p.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /metrics on the admin address: %s", resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// startedAddrs reads, from a `feedsvc serve` JSON log, the addresses its
// listeners bound, as its "feedsvc started" line records them (the
// service's module has the same helper in internal/testenv); ok is false
// until that line is in log.
func startedAddrs(log string) (http, admin string, ok bool) {
	for line := range strings.Lines(log) {
		if !strings.Contains(line, `"feedsvc started"`) {
			continue
		}
		var l struct {
			Msg   string `json:"msg"`
			HTTP  string `json:"http"`
			Admin string `json:"admin"`
		}
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "feedsvc started" && l.HTTP != "" {
			return l.HTTP, l.Admin, true
		}
	}
	return "", "", false
}
