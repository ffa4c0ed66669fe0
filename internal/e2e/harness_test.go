package e2e_test

// The end-to-end harness: it builds the feedsvc binary and runs it as OS
// processes in one of two deployments, and talks to it over HTTP exactly as
// a user would.
//
//   - embedded: one `serve --role=all` process on a data dir (the laptop default).
//   - real: `serve --role=api`, `serve --role=fanout` and each consumer role
//     as separate processes against the real Kafka, Cassandra and Redis named
//     by FEEDSVC_KAFKA_BROKERS, FEEDSVC_CASSANDRA_HOSTS and FEEDSVC_REDIS_ADDR
//     (scripts/testinfra up). Tests share one keyspace and topic pair, created
//     once by `feedsvc migrate`, and isolate themselves by user names.
//   - cluster: the real deployment on Redis Cluster (FEEDSVC_REDIS_ADDR set to
//     the node list in FEEDSVC_REDIS_CLUSTER_ADDRS), same keyspace and topics.
//
// Without a server's variable a real test is skipped on a laptop; under CI
// it fails (testenv.Require), so CI never passes on what it did not run.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/feedsvc/feedsvc/internal/testenv"
	"github.com/feedsvc/feedsvc/roles"
	redisstore "github.com/feedsvc/feedsvc/store/redis"
)

var binary string

// testVersion is stamped into the test binary, so `feedsvc version` is
// checked against a known value.
const testVersion = "e2e-test"

// testCommit is stamped as the build's commit, as the Dockerfile stamps its
// COMMIT build argument.
const testCommit = "0123456789abcdef0123456789abcdef01234567"

func TestMain(m *testing.M) {
	os.Exit(testenv.RunWithBinary(m, &binary, true, "-X github.com/feedsvc/feedsvc/internal/buildinfo.Version="+testVersion+
		" -X github.com/feedsvc/feedsvc/internal/buildinfo.Commit="+testCommit))
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// deployment is one way of running feedsvc.
type deployment struct {
	name     string
	real     bool   // separate role processes on real Kafka, Cassandra and Redis
	redisEnv string // the variable naming the real Redis (single node or cluster)
}

var (
	depEmbedded = deployment{name: "embedded"}
	depReal     = deployment{name: "real", real: true, redisEnv: "FEEDSVC_REDIS_ADDR"}
	depCluster  = deployment{name: "cluster", real: true, redisEnv: "FEEDSVC_REDIS_CLUSTER_ADDRS"}

	deployments = []deployment{depEmbedded, depReal}
	// withCluster adds Redis Cluster, for the flows whose keys must all
	// live in one slot per operation.
	withCluster = []deployment{depEmbedded, depReal, depCluster}
)

// realEnvs holds, per deployment name, the environments of processes on
// the real Kafka and Cassandra (the Redis is per deployment) that no running
// test holds: a keyspace, topics and consumer groups each. A test takes one
// for as long as it runs (setupReal), so tests and their deployments run side
// by side (forDeployments) and never join each other's groups, publish from
// each other's outbox or read each other's events. There are as many as ever
// ran at once (go test -parallel); a test after another reuses its
// environment, with fresh user names.
var realEnvs = struct {
	sync.Mutex
	free map[string][][]string
}{free: map[string][][]string{}}

func setupReal(t *testing.T, name string) []string {
	t.Helper()
	vars := []string{}
	for _, v := range []string{"FEEDSVC_KAFKA_BROKERS", "FEEDSVC_CASSANDRA_HOSTS"} {
		vars = append(vars, v+"="+testenv.Require(t, v))
	}
	realEnvs.Lock()
	var env []string
	if free := realEnvs.free[name]; len(free) > 0 {
		env, realEnvs.free[name] = free[len(free)-1], free[:len(free)-1]
	}
	realEnvs.Unlock()
	if env == nil {
		var err error
		if env, err = migrateReal(vars); err != nil {
			t.Fatal(err)
		}
	}
	// Registered before the test starts its processes, so it runs after
	// they stopped.
	t.Cleanup(func() {
		realEnvs.Lock()
		defer realEnvs.Unlock()
		realEnvs.free[name] = append(realEnvs.free[name], env)
	})
	return env
}

// migrateReal names a keyspace, topics and groups after a random ID and
// creates them with `feedsvc migrate`.
func migrateReal(vars []string) ([]string, error) {
	id := randHex(4)
	env := append(slices.Clip(vars),
		"FEEDSVC_CASSANDRA_KEYSPACE=feedsvc_e2e_"+id,
		"FEEDSVC_TOPIC_POSTS=e2e"+id+".posts",
		"FEEDSVC_TOPIC_FOLLOWS=e2e"+id+".follows",
		// Groups of their own: another run on the same Kafka (CI's
		// fault suite, a developer's) never joins them.
		"FEEDSVC_CONSUMER_GROUP_PREFIX=e2e"+id+"-",
		// Redis keys of their own: trends and search are global within a
		// deployment, and other packages' tests post their own tags to
		// the same Redis at the same time (a tag counted once fell out of
		// a top 100 of other tests' tags when the runs overlapped).
		"FEEDSVC_REDIS_KEY_PREFIX=e2e"+id+":",
		// Outside the embedded default tokens need a key, an issuer
		// and an audience (nothing is generated).
		"FEEDSVC_JWT_SECRET="+randHex(24), "FEEDSVC_JWT_ISSUER=feedsvc-e2e", "FEEDSVC_JWT_AUDIENCE=feedsvc-e2e",
	)
	// The secured servers (scripts/testinfra --secure) need the client's
	// TLS and credentials.
	env = append(env, testenv.SecurityEnv("KAFKA", "CASSANDRA")...)
	cmd := exec.Command(binary, "migrate")
	cmd.Env = childEnv(env)
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("feedsvc migrate: %v\n%s", err, out)
	}
	return env, nil
}

// realRedis is the configuration of a client of the real Redis at addr,
// with the security of the environment, whose keys carry prefix.
func realRedis(addr, prefix string) redisstore.Config {
	cfg := redisstore.Config{Addrs: strings.Split(addr, ","), TLS: testenv.TLS("REDIS"), KeyPrefix: prefix}
	cfg.Username, cfg.Password = testenv.Credentials("REDIS")
	return cfg
}

// childEnv is this process's environment without any FEEDSVC_ setting, plus vars.
func childEnv(vars []string) []string { return testenv.ChildEnv(vars...) }

// forEach runs test once per deployment.
func forEach(t *testing.T, test func(t *testing.T, s *system)) {
	forDeployments(t, deployments, test)
}

// forDeployments runs test once per deployment. The test and its
// deployments run in parallel with the other tests that use it (go test
// -parallel at a time; tests that do not use it run first, alone): a real
// deployment holds its own keyspace, topics and groups (setupReal), and every
// process binds port 0. Most of a test is waiting for consumers, not CPU, so
// this about halves the package's time.
func forDeployments(t *testing.T, deps []deployment, test func(t *testing.T, s *system)) {
	t.Parallel()
	for _, d := range deps {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			s := &system{t: t, dep: d, dir: t.TempDir(), suffix: randHex(3), roles: map[string]*proc{}}
			if d.real {
				s.redis = testenv.Require(t, d.redisEnv)
				s.env = append(slices.Clip(setupReal(t, d.name)), "FEEDSVC_REDIS_ADDR="+s.redis)
				if d.redisEnv == "FEEDSVC_REDIS_ADDR" {
					s.env = append(s.env, testenv.SecurityEnv("REDIS")...)
				}
			}
			s.env = append(slices.Clip(s.env), "FEEDSVC_MODERATION_BLOCKLIST="+blockedTerm)
			s.env = append(s.env, harnessLimits...)
			test(t, s)
		})
	}
}

// system is feedsvc under test: its processes and how to reach them.
type system struct {
	t      *testing.T
	dep    deployment
	dir    string           // data dir (embedded state, or only the JWT secret)
	env    []string         // FEEDSVC_ variables of every process
	suffix string           // makes user names unique on shared real servers
	redis  string           // the real Redis, if any
	api    *proc            // the process serving HTTP (the "all" process when embedded)
	roles  map[string]*proc // consumer role processes (real deployment)
	procs  []*proc
}

// consumerRoles run in their own processes in the real deployment, beside
// api and fanout, which the harness starts by themselves.
var consumerRoles = slices.DeleteFunc(roles.Table.Names(), func(r string) bool { return r == "api" || r == "fanout" })

// harnessLimits are rate limits the tests never reach (all of their
// clients share one IP, and some post fast), still checked on every
// request; TestRateLimits sets low ones.
var harnessLimits = testenv.UnlimitedRates

// blockedTerm is on every test process's moderation blocklist.
const blockedTerm = "forbiddenword"

// up starts the whole service: one "all" process, or api, fanout and each
// consumer role as separate processes.
func (s *system) up() {
	s.t.Helper()
	if s.dep.real {
		s.startAPI()
		s.startFanout()
		for _, r := range consumerRoles {
			s.roles[r] = s.start(r)
		}
		return
	}
	s.api = s.start("all")
}

// startAPI starts a process with only the api role.
func (s *system) startAPI() { s.api = s.start("api") }

// startFanout starts a fanout-only process (real deployment).
func (s *system) startFanout(flags ...string) *proc { return s.start("fanout", flags...) }

// down stops every process gracefully.
func (s *system) down() {
	s.t.Helper()
	for _, p := range s.procs {
		p.stop()
	}
	s.procs, s.api = nil, nil
	clear(s.roles)
}

// command is a feedsvc command with the system's configuration.
func (s *system) command(args ...string) *exec.Cmd {
	cmd := exec.Command(binary, append(args, "--data-dir", s.dir)...)
	cmd.Env = childEnv(s.env)
	return cmd
}

// cli runs a feedsvc command with the system's configuration.
func (s *system) cli(args ...string) string {
	s.t.Helper()
	out, err := s.command(args...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			s.t.Fatalf("feedsvc %v: %v\n%s", args, err, ee.Stderr)
		}
		s.t.Fatalf("feedsvc %v: %v", args, err)
	}
	return string(out)
}

func (s *system) user(name string) *user {
	s.t.Helper()
	full := name + "_" + s.suffix
	return &user{t: s.t, name: full, token: strings.TrimSpace(s.cli("token", full))}
}

// inspect returns the post IDs cached in user's feed, via `feedsvc feed inspect`.
func (s *system) inspect(u *user) []string {
	s.t.Helper()
	return s.inspectFeed(u.name)
}

// inspectList is `feedsvc feed inspect --list` of list id: its feed as
// stored.
func (s *system) inspectList(id string) []string {
	s.t.Helper()
	return s.inspectFeed("--list", id)
}

// inspectFeed runs `feedsvc feed inspect --json` with feed, the feed's
// arguments, and returns its post IDs.
func (s *system) inspectFeed(feed ...string) []string {
	s.t.Helper()
	addr := s.redis
	if addr == "" {
		addr = s.api.redisAddr()
	}
	args := append([]string{"feed", "inspect", "--json", "--redis-addr", addr}, feed...)
	var vars []string
	if p := s.envValue("FEEDSVC_REDIS_KEY_PREFIX"); p != "" {
		vars = append(vars, "FEEDSVC_REDIS_KEY_PREFIX="+p) // the deployment's keys
	}
	if s.redis != "" {
		// A real Redis may be the secured one: its client settings too.
		vars = append(vars, testenv.SecurityEnv("REDIS")...)
	}
	var out struct {
		Feed  string   `json:"feed"`
		Floor string   `json:"floor"`
		IDs   []string `json:"ids"`
	}
	if err := json.Unmarshal([]byte(runEnv(s.t, vars, args...)), &out); err != nil {
		s.t.Fatalf("feed inspect --json %v: %v", feed, err)
	}
	if want := feed[len(feed)-1]; !strings.HasSuffix(out.Feed, want) || out.Floor == "" {
		s.t.Fatalf("feed inspect --json %v: feed %q, floor %q", feed, out.Feed, out.Floor)
	}
	return out.IDs
}

// proc is one running feedsvc process.
type proc struct {
	t      *testing.T
	role   string
	cmd    *exec.Cmd
	url    string
	admin  string // the operator's listener: /metrics
	mu     sync.Mutex
	log    bytes.Buffer
	exited chan struct{}
	killed bool
	// groupPrefix is put before its consumer groups' names.
	groupPrefix string
}

// start runs `feedsvc serve --role=role [flags]` and waits until it is
// ready. Its listeners bind port 0 and the process's "feedsvc started" log
// line says which ports they got: a port picked free beforehand could be
// taken by another process (tests of other packages run at the same time)
// before the child binds it.
func (s *system) start(role string, flags ...string) *proc {
	s.t.Helper()
	return s.startUntil(role, nil, flags...)
}

// startUntil is start, but when reached is not nil it waits until reached
// is closed instead of until the process is ready (a process held by a
// gate on its way to ready).
func (s *system) startUntil(role string, reached <-chan struct{}, flags ...string) *proc {
	t := s.t
	t.Helper()
	p := &proc{t: t, role: role, exited: make(chan struct{}), groupPrefix: s.groupPrefix()}
	p.cmd = exec.Command(binary, "serve", "--role="+role, "--data-dir", s.dir, "--http-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0",
		"--log-level", "debug", "--log-format", "json", "--shutdown-timeout", "30s", "--shutdown-drain", "0")
	p.cmd.Args = append(p.cmd.Args, flags...)
	p.cmd.Env = childEnv(s.env)
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
		p.end()
		if t.Failed() {
			t.Logf("log of %s (pid %d):\n%s", role, p.cmd.Process.Pid, p.logs())
		}
	})
	testenv.Eventually(t, role+" ready", func() error {
		select {
		case <-p.exited:
			t.Fatalf("feedsvc %s exited during startup:\n%s", role, p.logs())
		default:
		}
		if reached != nil {
			select {
			case <-reached:
				return nil
			default:
				return errors.New("not reached yet")
			}
		}
		if p.url == "" {
			addr, admin, ok := testenv.StartedAddrs(p.logs())
			if !ok {
				return errors.New("not started: no \"feedsvc started\" line in its log yet")
			}
			p.url, p.admin = "http://"+addr, "http://"+admin
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
	s.procs = append(s.procs, p)
	return p
}

func (p *proc) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// stop shuts the process down gracefully and checks it exited cleanly.
func (p *proc) stop() {
	p.t.Helper()
	if p.killed {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(60 * time.Second):
		p.t.Fatalf("feedsvc %s did not stop on SIGTERM:\n%s", p.role, p.logs())
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		p.t.Fatalf("feedsvc %s exited with %d:\n%s", p.role, code, p.logs())
	}
}

// end stops a process the test left running: SIGTERM, so that an api
// releases its outbox shard leases for the next test on its environment
// (a killed one holds them for their 20 s TTL, and that test's first
// events wait), then SIGKILL if it has not exited within 10 s.
func (p *proc) end() { testenv.Stop(p.cmd.Process, p.exited, 10*time.Second, p.kill) }

// kill is kill -9.
func (p *proc) kill() {
	p.killed = true
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

// metric sums the samples of the Prometheus counter or gauge name that the
// process serves on its admin listener, of the series with all of labels.
func (p *proc) metric(name string, labels map[string]string) float64 {
	p.t.Helper()
	return testenv.ScrapedMetric(p.t, p.admin+"/metrics", name, labels)
}

// run runs a feedsvc CLI command and returns its stdout.
func run(t *testing.T, args ...string) string {
	t.Helper()
	return runEnv(t, nil, args...)
}

// runEnv runs a feedsvc CLI command with the FEEDSVC_ variables vars and
// returns its stdout.
func runEnv(t *testing.T, vars []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = childEnv(vars)
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("feedsvc %v: %v\n%s", args, err, ee.Stderr)
		}
		t.Fatalf("feedsvc %v: %v", args, err)
	}
	return string(out)
}

// user is an API caller.
type user struct {
	t     *testing.T
	name  string
	token string
}

type response struct {
	status int
	ctype  string
	header http.Header
	body   []byte
}

func (r response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

func (u *user) do(s *system, method, path string, body any) response {
	u.t.Helper()
	return doRaw(u.t, s.api.url, method, path, "Bearer "+u.token, "application/json", body)
}

func doRaw(t *testing.T, base, method, path, auth, ctype string, body any) response {
	t.Helper()
	var rd io.Reader
	var sent []byte
	switch b := body.(type) {
	case nil:
	case []byte:
		sent = b
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		sent = j
		rd = bytes.NewReader(j)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
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
	r := response{status: resp.StatusCode, ctype: resp.Header.Get("Content-Type"), header: resp.Header, body: b}
	checkContract(t, req, sent, r)
	return r
}

func (u *user) must(s *system, method, path string, body any, want int) response {
	u.t.Helper()
	r := u.do(s, method, path, body)
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

func (u *user) post(s *system, text string) post {
	u.t.Helper()
	var out post
	u.must(s, "POST", "/v1/posts", map[string]string{"text": text}, 201).decode(u.t, &out)
	if out.Author != u.name || out.Text != text || out.ID == "" {
		u.t.Fatalf("created post = %+v", out)
	}
	return out
}

func (u *user) follow(s *system, other *user) {
	u.t.Helper()
	u.must(s, "PUT", "/v1/following/"+other.name, nil, 204)
}

// feed pages through the whole home feed and returns the post IDs.
func (u *user) feed(s *system) []string { return u.feedPaged(s, 100) }

// feedPaged pages through the whole home feed, limit posts per page.
func (u *user) feedPaged(s *system, limit int) []string {
	u.t.Helper()
	var ids []string
	cursor := ""
	for {
		var page list[post]
		u.must(s, "GET", fmt.Sprintf("/v1/feed?limit=%d&cursor=%s", limit, cursor), nil, 200).decode(u.t, &page)
		for _, it := range page.Items {
			ids = append(ids, it.ID)
		}
		if page.NextCursor == "" {
			return ids
		}
		cursor = page.NextCursor
	}
}

func (u *user) users(s *system, path string) []string {
	u.t.Helper()
	var l list[string]
	u.must(s, "GET", path, nil, 200).decode(u.t, &l)
	return l.Items
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
		a, _ := strconv.ParseInt(ids[i-1], 10, 64)
		b, _ := strconv.ParseInt(ids[i], 10, 64)
		if b >= a {
			return fmt.Errorf("feed not newest first at %d: %v", i, abbreviate(ids))
		}
	}
	return nil
}
