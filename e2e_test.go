package main_test

// End-to-end tests: they build the feedsvc binary, run it as OS processes
// and talk to it over HTTP, exactly as a user would.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "feedsvc-e2e")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "feedsvc")
	build := exec.Command("go", "build", "-race", "-o", binary, ".")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build feedsvc:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is one running feedsvc process.
type proc struct {
	t       *testing.T
	cmd     *exec.Cmd
	url     string
	dataDir string
	mu      sync.Mutex
	log     bytes.Buffer
	exited  chan struct{}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// start runs `feedsvc serve --role=role` on dataDir and waits until it is ready.
func start(t *testing.T, dataDir, role string) *proc {
	t.Helper()
	addr := freeAddr(t)
	p := &proc{t: t, url: "http://" + addr, dataDir: dataDir, exited: make(chan struct{})}
	p.cmd = exec.Command(binary, "serve", "--role="+role, "--data-dir", dataDir, "--http-addr", addr, "--log-level", "debug")
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
		p.kill()
		if t.Failed() {
			t.Logf("log of %s:\n%s", role, p.logs())
		}
	})
	eventually(t, "service ready", func() error {
		select {
		case <-p.exited:
			t.Fatalf("feedsvc exited during startup:\n%s", p.logs())
		default:
		}
		resp, err := http.Get(p.url + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("readyz %d", resp.StatusCode)
		}
		return nil
	})
	return p
}

func (p *proc) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// stop shuts the process down gracefully and waits for it.
func (p *proc) stop() {
	p.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(60 * time.Second):
		p.t.Fatalf("feedsvc did not stop on SIGTERM:\n%s", p.logs())
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		p.t.Fatalf("feedsvc exited with %d:\n%s", code, p.logs())
	}
}

func (p *proc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.exited
}

var redisAddrLog = regexp.MustCompile(`"msg":"embedded redis[^"]*","addr":"([^"]+)"`)

// redisAddr is the address of the process's embedded Redis, from its log.
func (p *proc) redisAddr() string {
	p.t.Helper()
	m := redisAddrLog.FindStringSubmatch(p.logs())
	if m == nil {
		p.t.Fatal("embedded redis address not in the log")
	}
	return m[1]
}

// run runs a feedsvc CLI command and returns its stdout.
func run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(binary, args...).Output()
	if err != nil {
		var ee *exec.ExitError
		if ok := asExit(err, &ee); ok {
			t.Fatalf("feedsvc %v: %v\n%s", args, err, ee.Stderr)
		}
		t.Fatalf("feedsvc %v: %v", args, err)
	}
	return string(out)
}

func asExit(err error, target **exec.ExitError) bool { return errors.As(err, target) }

// inspect returns the post IDs cached in user's feed, via `feedsvc feed inspect`.
func (p *proc) inspect(user string) []string {
	p.t.Helper()
	return strings.Fields(run(p.t, "feed", "inspect", "--redis-addr", p.redisAddr(), user))
}

// user is an API caller.
type user struct {
	t     *testing.T
	name  string
	token string
}

func newUser(t *testing.T, dataDir, name string) *user {
	t.Helper()
	return &user{t: t, name: name, token: strings.TrimSpace(run(t, "token", "--data-dir", dataDir, name))}
}

type response struct {
	status int
	ctype  string
	body   []byte
}

func (r response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

func (u *user) do(p *proc, method, path string, body any) response {
	u.t.Helper()
	return doRaw(u.t, p, method, path, "Bearer "+u.token, "application/json", body)
}

func doRaw(t *testing.T, p *proc, method, path, auth, ctype string, body any) response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, p.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if rd != nil {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, ctype: resp.Header.Get("Content-Type"), body: b}
}

func (u *user) must(p *proc, method, path string, body any, want int) response {
	u.t.Helper()
	r := u.do(p, method, path, body)
	if r.status != want {
		u.t.Fatalf("%s %s %s: %d %s, want %d", u.name, method, path, r.status, r.body, want)
	}
	return r
}

type post struct {
	ID        string    `json:"id"`
	Author    string    `json:"author"`
	Text      string    `json:"text"`
	CreatedAt time.Time `json:"created_at"`
}

type list[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor"`
}

func (u *user) post(p *proc, text string) post {
	u.t.Helper()
	var out post
	u.must(p, "POST", "/v1/posts", map[string]string{"text": text}, 201).decode(u.t, &out)
	if out.Author != u.name || out.Text != text || out.ID == "" {
		u.t.Fatalf("created post = %+v", out)
	}
	return out
}

// feed pages through the whole home feed and returns the post IDs.
func (u *user) feed(p *proc) []string {
	u.t.Helper()
	var ids []string
	cursor := ""
	for {
		var page list[post]
		u.must(p, "GET", "/v1/feed?limit=100&cursor="+cursor, nil, 200).decode(u.t, &page)
		for _, it := range page.Items {
			ids = append(ids, it.ID)
		}
		if page.NextCursor == "" {
			return ids
		}
		cursor = page.NextCursor
	}
}

func (u *user) users(p *proc, path string) []string {
	u.t.Helper()
	var l list[string]
	u.must(p, "GET", path, nil, 200).decode(u.t, &l)
	return l.Items
}

// eventually retries check until it succeeds; fan-out is asynchronous by
// design. The deadline only bounds a broken run.
func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func sameSet(got, want []string) error {
	g, w := slices.Clone(got), slices.Clone(want)
	slices.Sort(g)
	slices.Sort(w)
	if !slices.Equal(g, w) {
		return fmt.Errorf("got %d IDs %v, want %d %v", len(got), abbreviate(g), len(want), abbreviate(w))
	}
	if len(slices.Compact(g)) != len(got) {
		return fmt.Errorf("duplicates in %v", got)
	}
	return nil
}

func abbreviate(s []string) []string {
	if len(s) > 6 {
		return append(slices.Clone(s[:6]), "...")
	}
	return s
}

func newestFirst(ids []string) error {
	for i := 1; i < len(ids); i++ {
		if len(ids[i]) > len(ids[i-1]) || (len(ids[i]) == len(ids[i-1]) && ids[i] >= ids[i-1]) {
			return fmt.Errorf("feed not newest first at %d: %v", i, ids)
		}
	}
	return nil
}

func TestPostFollowFeedDelete(t *testing.T) {
	dir := t.TempDir()
	svc := start(t, dir, "all")
	a, b, c := newUser(t, dir, "a"), newUser(t, dir, "b"), newUser(t, dir, "c")
	a.must(svc, "GET", "/v1/feed", nil, 200) // a exists from its first request
	b.must(svc, "PUT", "/v1/following/a", nil, 204)
	b.must(svc, "PUT", "/v1/following/a", nil, 204) // idempotent
	c.must(svc, "PUT", "/v1/following/a", nil, 204)

	p := a.post(svc, "hello from a")
	var got post
	b.must(svc, "GET", "/v1/posts/"+p.ID, nil, 200).decode(t, &got)
	if got != p {
		t.Fatalf("GET post = %+v, want %+v", got, p)
	}
	for _, u := range []*user{b, c} {
		eventually(t, u.name+" sees a's post in redis", func() error { return sameSet(svc.inspect(u.name), []string{p.ID}) })
		if err := sameSet(u.feed(svc), []string{p.ID}); err != nil {
			t.Fatalf("%s's feed: %v", u.name, err)
		}
	}
	if err := sameSet(a.users(svc, "/v1/users/a/followers"), []string{"b", "c"}); err != nil {
		t.Fatalf("a's followers: %v", err)
	}
	if err := sameSet(b.users(svc, "/v1/users/b/following"), []string{"a"}); err != nil {
		t.Fatalf("b's following: %v", err)
	}

	a.must(svc, "DELETE", "/v1/posts/"+p.ID, nil, 204)
	a.must(svc, "GET", "/v1/posts/"+p.ID, nil, 404)
	for _, u := range []*user{b, c} {
		eventually(t, "deleted post leaves "+u.name+"'s feed", func() error { return sameSet(svc.inspect(u.name), nil) })
		if ids := u.feed(svc); len(ids) != 0 {
			t.Fatalf("%s's feed after delete: %v", u.name, ids)
		}
	}

	p1, p2 := a.post(svc, "one"), a.post(svc, "two")
	var mine list[post]
	a.must(svc, "GET", "/v1/users/a/posts", nil, 200).decode(t, &mine)
	if len(mine.Items) != 2 || mine.Items[0].ID != p2.ID || mine.Items[1].ID != p1.ID {
		t.Fatalf("a's posts = %+v, want two, newest first", mine.Items)
	}
	for _, u := range []*user{b, c} {
		eventually(t, u.name+" sees both posts", func() error { return sameSet(svc.inspect(u.name), []string{p1.ID, p2.ID}) })
	}
	b.must(svc, "DELETE", "/v1/following/a", nil, 204)
	eventually(t, "unfollow empties b's feed", func() error { return sameSet(svc.inspect("b"), nil) })
	if ids := b.feed(svc); len(ids) != 0 {
		t.Fatalf("b's feed after unfollow: %v", ids)
	}
	if err := sameSet(c.feed(svc), []string{p1.ID, p2.ID}); err != nil {
		t.Fatalf("c's feed: %v", err)
	}
	if err := sameSet(a.users(svc, "/v1/users/a/followers"), []string{"c"}); err != nil {
		t.Fatalf("a's followers after unfollow: %v", err)
	}

	// Following again merges a's recent posts back in.
	b.must(svc, "PUT", "/v1/following/a", nil, 204)
	eventually(t, "refollow refills b's feed", func() error { return sameSet(svc.inspect("b"), []string{p1.ID, p2.ID}) })
	svc.stop()
}

// TestDecoupling: posting never depends on fan-out. With only the api role
// running, every post is accepted; fan-out started later delivers them all.
func TestDecoupling(t *testing.T) {
	const posts, followers = 200, 3
	dir := t.TempDir()
	apiOnly := start(t, dir, "api")
	author := newUser(t, dir, "author")
	author.must(apiOnly, "GET", "/v1/feed", nil, 200)
	var fans []*user
	for i := range followers {
		u := newUser(t, dir, fmt.Sprintf("fan%d", i))
		u.must(apiOnly, "PUT", "/v1/following/author", nil, 204)
		fans = append(fans, u)
	}
	var want []string
	for i := range posts {
		want = append(want, author.post(apiOnly, fmt.Sprintf("post %d", i)).ID)
	}
	apiOnly.stop()

	svc := start(t, dir, "all")
	for _, u := range fans {
		eventually(t, "fan-out reaches "+u.name, func() error { return sameSet(svc.inspect(u.name), want) })
	}
	for _, u := range fans {
		ids := u.feed(svc)
		if err := sameSet(ids, want); err != nil {
			t.Fatalf("%s's feed: %v", u.name, err)
		}
		if err := newestFirst(ids); err != nil {
			t.Fatal(err)
		}
	}
	svc.stop()
}

// TestRestart: posts and follows survive a restart of the embedded service,
// and feeds lost with the in-memory Redis come back, rebuilt on read.
func TestRestart(t *testing.T) {
	dir := t.TempDir()
	svc := start(t, dir, "all")
	a, b := newUser(t, dir, "a"), newUser(t, dir, "b")
	a.must(svc, "GET", "/v1/feed", nil, 200)
	b.must(svc, "PUT", "/v1/following/a", nil, 204)
	var want []string
	for i := range 30 {
		want = append(want, a.post(svc, fmt.Sprintf("before restart %d", i)).ID)
	}
	eventually(t, "fan-out before restart", func() error { return sameSet(svc.inspect("b"), want) })
	svc.stop()

	svc = start(t, dir, "all")
	if ids := svc.inspect("b"); len(ids) != 0 {
		t.Fatalf("embedded redis kept %d entries across a restart; the rebuild path is untested", len(ids))
	}
	if err := sameSet(b.users(svc, "/v1/users/b/following"), []string{"a"}); err != nil {
		t.Fatalf("follows after restart: %v", err)
	}
	var mine list[post]
	a.must(svc, "GET", "/v1/users/a/posts?limit=100", nil, 200).decode(t, &mine)
	if len(mine.Items) != len(want) {
		t.Fatalf("a has %d posts after restart, want %d", len(mine.Items), len(want))
	}
	ids := b.feed(svc)
	if err := sameSet(ids, want); err != nil {
		t.Fatalf("b's feed after restart: %v", err)
	}
	// A post after the restart joins the rebuilt feed.
	p := a.post(svc, "after restart")
	want = append(want, p.ID)
	eventually(t, "fan-out after restart", func() error { return sameSet(b.feed(svc), want) })
	svc.stop()
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	svc := start(t, dir, "all")
	a, b := newUser(t, dir, "a"), newUser(t, dir, "b")
	b.must(svc, "GET", "/v1/feed", nil, 200)
	bp := b.post(svc, "b's post")
	a.must(svc, "GET", "/v1/feed", nil, 200)

	expired := strings.TrimSpace(run(t, "token", "--data-dir", dir, "--ttl", "-1m", "a"))
	foreign := strings.TrimSpace(run(t, "token", "--data-dir", t.TempDir(), "a"))
	long := strings.Repeat("é", 501)
	cases := []struct {
		name   string
		method string
		path   string
		auth   string // default: a's token
		ctype  string
		body   any
		want   int
	}{
		{"no token", "POST", "/v1/posts", "-", "", map[string]string{"text": "x"}, 401},
		{"malformed token", "POST", "/v1/posts", "Bearer nope", "", map[string]string{"text": "x"}, 401},
		{"expired token", "POST", "/v1/posts", "Bearer " + expired, "", map[string]string{"text": "x"}, 401},
		{"token of another secret", "POST", "/v1/posts", "Bearer " + foreign, "", map[string]string{"text": "x"}, 401},
		{"not bearer", "GET", "/v1/feed", "Basic YTpi", "", nil, 401},
		{"empty text", "POST", "/v1/posts", "", "", map[string]string{"text": ""}, 400},
		{"missing text", "POST", "/v1/posts", "", "", map[string]string{}, 400},
		{"text too long", "POST", "/v1/posts", "", "", map[string]string{"text": long}, 400},
		{"invalid utf-8", "POST", "/v1/posts", "", "", []byte("{\"text\":\"\xff\xfe\"}"), 400},
		{"unknown field", "POST", "/v1/posts", "", "", map[string]any{"text": "x", "author": "b"}, 400},
		{"malformed json", "POST", "/v1/posts", "", "", []byte(`{"text":`), 400},
		{"two objects", "POST", "/v1/posts", "", "", []byte(`{"text":"x"}{"text":"y"}`), 400},
		{"text not a string", "POST", "/v1/posts", "", "", []byte(`{"text":5}`), 400},
		{"body over 16 KiB", "POST", "/v1/posts", "", "", map[string]string{"text": strings.Repeat("a", 17<<10)}, 413},
		{"not json", "POST", "/v1/posts", "", "text/plain", []byte("hello"), 415},
		{"get unknown post", "GET", "/v1/posts/12345", "", "", nil, 404},
		{"get malformed id", "GET", "/v1/posts/abc", "", "", nil, 404},
		{"delete other's post", "DELETE", "/v1/posts/" + bp.ID, "", "", nil, 403},
		{"delete unknown post", "DELETE", "/v1/posts/12345", "", "", nil, 404},
		{"follow yourself", "PUT", "/v1/following/a", "", "", nil, 400},
		{"follow unknown user", "PUT", "/v1/following/nobody", "", "", nil, 404},
		{"follow malformed user", "PUT", "/v1/following/Not-Valid", "", "", nil, 400},
		{"followers of unknown user", "GET", "/v1/users/nobody/followers", "", "", nil, 404},
		{"limit zero", "GET", "/v1/feed?limit=0", "", "", nil, 400},
		{"limit too big", "GET", "/v1/feed?limit=101", "", "", nil, 400},
		{"limit not a number", "GET", "/v1/feed?limit=x", "", "", nil, 400},
		{"bad cursor", "GET", "/v1/feed?cursor=abc", "", "", nil, 400},
		{"unknown route", "GET", "/v1/nope", "", "", nil, 404},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			auth := "Bearer " + a.token
			switch c.auth {
			case "-":
				auth = ""
			case "":
			default:
				auth = c.auth
			}
			ctype := c.ctype
			if ctype == "" {
				ctype = "application/json"
			}
			r := doRaw(t, svc, c.method, c.path, auth, ctype, c.body)
			if r.status != c.want {
				t.Fatalf("status %d (%s), want %d", r.status, r.body, c.want)
			}
			if r.ctype != "application/problem+json" {
				t.Fatalf("content type %q, want application/problem+json", r.ctype)
			}
			var prob struct {
				Title  string `json:"title"`
				Status int    `json:"status"`
				Detail string `json:"detail"`
			}
			r.decode(t, &prob)
			if prob.Status != c.want || prob.Title == "" || prob.Detail == "" {
				t.Fatalf("problem body %s", r.body)
			}
		})
	}
	// Nothing was stored: a has no posts and follows no one, b's post stands.
	if got := a.users(svc, "/v1/users/a/following"); len(got) != 0 {
		t.Fatalf("a follows %v after bad requests", got)
	}
	var mine list[post]
	a.must(svc, "GET", "/v1/users/a/posts", nil, 200).decode(t, &mine)
	if len(mine.Items) != 0 {
		t.Fatalf("bad requests stored posts: %+v", mine.Items)
	}
	b.must(svc, "GET", "/v1/posts/"+bp.ID, nil, 200)
	svc.stop()
}

// TestUnknownRole: a role name that is not registered is a usage error.
func TestUnknownRole(t *testing.T) {
	for _, role := range []string{"nope", "api,nope", "notifications", ""} {
		cmd := exec.Command(binary, "serve", "--role="+role, "--data-dir", t.TempDir())
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if !asExit(err, &ee) || ee.ExitCode() != 2 {
			t.Fatalf("--role=%s: %v, want exit code 2", role, err)
		}
		if !strings.Contains(stderr.String(), "known roles: all, api, fanout") {
			t.Fatalf("--role=%s: stderr %q does not list the known roles", role, stderr.String())
		}
	}
}
