package wiring

// The operator's view: a page at /ops on the operator's listener (the
// admin listener; without --admin-addr, the one listener, as /metrics),
// its files (opsview/: HTML, CSS, ES modules) and the JSON it reads under
// /ops/api/. It reads what the operator commands read, with the functions
// they use, on the backends this process opened: events.GroupsLag
// (`feedsvc lag`), app.ReadOutboxBacklog (lag's outbox line),
// events.ListDeadLetters (`feedsvc dlq list`) and PlanReplay (the dry run
// of `feedsvc replay`). It changes nothing: every route is a GET that
// reads. To change something the operator runs the command the page shows.

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/configs"
	"github.com/feedsvc/feedsvc/events"
	"github.com/feedsvc/feedsvc/internal/buildinfo"
	"github.com/feedsvc/feedsvc/internal/httpserver"
	"github.com/feedsvc/feedsvc/roles"
)

// opsFiles are the operator's view: plain HTML, CSS and ES modules.
//
//go:embed opsview
var opsFiles embed.FS

// The operator's view's paths.
const (
	OpsPath      = "/ops"
	opsFilesPath = "/ops/app/"
	// OpsAPIPath is where the JSON the page reads is served.
	OpsAPIPath = "/ops/api/"
)

const (
	// opsTimeout bounds what one poll of the overview waits for.
	opsTimeout = 5 * time.Second
	// opsReadTimeout bounds a dead-letter list or a replay plan, which
	// read more.
	opsReadTimeout = 30 * time.Second
	// outboxEvery is how often the outbox is read at most, whoever asks:
	// a read scans the outbox's recent records, on Cassandra too.
	outboxEvery = 5 * time.Second
	// maxDeadLetters bounds one dead-letter list.
	maxDeadLetters = 1000
	// defaultDeadLetters is `feedsvc dlq list`'s default --limit.
	defaultDeadLetters = 100
)

// opsView serves the operator's view of one process.
type opsView struct {
	cfg     *configs.Config
	log     *slog.Logger
	b       *Backends
	rows    roles.Rows // this process's roles
	ready   func(context.Context) error
	checks  *checkLog
	started time.Time

	outboxMu   sync.Mutex // one outbox read at a time
	outboxRead time.Time
	outbox     OutboxState
}

// opsRoutes adds the operator's view to the operator's router e.
func opsRoutes(e *echo.Echo, v *opsView) error {
	files, err := fs.Sub(opsFiles, "opsview")
	if err != nil {
		return fmt.Errorf("operator's view: %w", err)
	}
	page, err := fs.ReadFile(files, "index.html")
	if err != nil {
		return fmt.Errorf("operator's view: %w", err)
	}
	e.GET(OpsPath, func(c echo.Context) error {
		httpserver.PageHeaders(c.Response().Header())
		return c.HTMLBlob(http.StatusOK, page)
	})
	e.GET(OpsPath+"/", func(c echo.Context) error { return c.Redirect(http.StatusMovedPermanently, OpsPath) })
	static := http.StripPrefix(opsFilesPath, http.FileServerFS(files))
	e.GET(opsFilesPath+"*", func(c echo.Context) error {
		name := strings.TrimPrefix(c.Request().URL.Path, opsFilesPath)
		if name == "" || strings.HasSuffix(name, "/") {
			return echo.NewHTTPError(http.StatusNotFound, "not found")
		}
		httpserver.PageHeaders(c.Response().Header())
		static.ServeHTTP(c.Response(), c.Request())
		return nil
	})
	e.GET(OpsAPIPath+"overview", v.overview, httpserver.AddressedHost)
	e.GET(OpsAPIPath+"dlq", v.deadLetters, httpserver.AddressedHost)
	e.GET(OpsAPIPath+"replay", v.replayPlan, httpserver.AddressedHost)
	return nil
}

// consumerRoles are the roles with a consumer group, in table order: the
// groups of the deployment, whichever process runs them.
func consumerRoles() []string { return roles.Table.Consumers() }

// overviewJSON is what the page polls: this process, every group's lag
// and the outbox, each with its own error.
type overviewJSON struct {
	At      time.Time   `json:"at"`
	Process processJSON `json:"process"`
	Lag     lagJSON     `json:"lag"`
	Outbox  OutboxState `json:"outbox"`
}

type processJSON struct {
	PID       int         `json:"pid"`
	Version   string      `json:"version"`
	Commit    string      `json:"commit,omitempty"`
	StartedAt time.Time   `json:"started_at"`
	Ready     bool        `json:"ready"`
	Cause     string      `json:"cause,omitempty"` // why not, as the admin /readyz says
	Checks    []checkJSON `json:"checks"`
	Roles     []roleJSON  `json:"roles"`
}

type checkJSON struct {
	Name  string `json:"name"`
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

type roleJSON struct {
	Name  string   `json:"name"`
	Group string   `json:"group,omitempty"` // a consumer's group
	Uses  []string `json:"uses"`            // the backends it needs that readiness checks
	OK    bool     `json:"ok"`
	Error string   `json:"error,omitempty"` // its failing backends
}

type lagJSON struct {
	// Available is false when this process does not talk to Kafka;
	// Reason says so. Error is a failure to read the lag.
	Available bool       `json:"available"`
	Reason    string     `json:"reason,omitempty"`
	Error     string     `json:"error,omitempty"`
	Groups    []LagGroup `json:"groups"`
}

func (v *opsView) overview(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), opsTimeout)
	defer cancel()
	var out overviewJSON
	var wg sync.WaitGroup
	wg.Go(func() { out.Process = v.process(ctx) })
	wg.Go(func() { out.Lag = v.lag(ctx) })
	wg.Go(func() { out.Outbox = v.readOutbox(ctx) })
	wg.Wait()
	out.At = time.Now().UTC()
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return c.JSON(http.StatusOK, out)
}

// process is this process's roles and health: its readiness as /readyz
// answers it, and the outcome of each backend's check.
func (v *opsView) process(ctx context.Context) processJSON {
	info := buildinfo.Read()
	p := processJSON{PID: os.Getpid(), Version: info.Version, Commit: info.Commit, StartedAt: v.started, Ready: true,
		Checks: []checkJSON{}, Roles: []roleJSON{}}
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second) // as /readyz
	defer cancel()
	if err := v.ready(rctx); err != nil {
		_, degraded := err.(*httpserver.Degraded)
		p.Ready, p.Cause = degraded, err.Error()
	}
	failed := map[string]string{}
	for _, ch := range v.checks.latest() {
		cj := checkJSON{Name: ch.Name, OK: ch.Err == nil}
		if ch.Err != nil {
			cj.Error = ch.Err.Error()
			failed[ch.Name] = cj.Error
		}
		p.Checks = append(p.Checks, cj)
	}
	for _, r := range v.rows {
		rj := roleJSON{Name: r.Name, Uses: []string{}, OK: true}
		if r.Needs.Consumer {
			rj.Group = v.cfg.Kafka.Group(r.Name)
		}
		var errs []string
		for _, b := range uses(r.Needs) {
			if !slices.ContainsFunc(p.Checks, func(c checkJSON) bool { return c.Name == b }) {
				continue // not checked in this process (as the test's rows)
			}
			rj.Uses = append(rj.Uses, b)
			if e, ok := failed[b]; ok {
				errs = append(errs, b+": "+e)
			}
		}
		if len(errs) > 0 {
			rj.OK, rj.Error = false, strings.Join(errs, "; ")
		}
		p.Roles = append(p.Roles, rj)
	}
	return p
}

// uses names the backends whose readiness checks a role depends on: a
// consumer's Kafka, not the api's producer (its events wait in the outbox
// while Kafka is down).
func uses(n roles.Needs) []string {
	var out []string
	if n.Store {
		out = append(out, "store")
	}
	if n.Redis {
		out = append(out, "redis")
	}
	if n.Consumer {
		out = append(out, "kafka")
	}
	return out
}

// kafka is the cluster this process talks to, false when none.
func (v *opsView) kafka() (events.Cluster, bool) {
	return v.b.Kafka, len(v.b.Kafka.Brokers) > 0
}

// noKafka says why the view has no Kafka to read.
const noKafka = "this process does not connect to Kafka"

// lag is every consumer group's lag per partition of the configured
// topics, as `feedsvc lag` prints it.
func (v *opsView) lag(ctx context.Context) lagJSON {
	out := lagJSON{Groups: []LagGroup{}}
	names := consumerRoles()
	groups := make([]string, len(names))
	for i, r := range names {
		groups[i] = v.cfg.Kafka.Group(r)
	}
	cl, ok := v.kafka()
	var lags map[string][]events.PartitionLag
	if !ok {
		out.Reason = noKafka
	} else {
		out.Available = true
		var err error
		if lags, err = events.GroupsLag(ctx, cl, groups, Topics(v.cfg).All()); err != nil {
			out.Error = err.Error()
		}
	}
	for i, r := range names {
		g := NewLagGroup(r, groups[i], lags[groups[i]])
		g.Here = slices.ContainsFunc(v.rows, func(row roles.Row) bool { return row.Name == r })
		out.Groups = append(out.Groups, g)
	}
	return out
}

// readOutbox is the outbox's backlog, read at most every outboxEvery.
func (v *opsView) readOutbox(ctx context.Context) OutboxState {
	if v.b.Store == nil {
		return OutboxState{Reason: "this process does not open the store, which holds the outbox"}
	}
	v.outboxMu.Lock()
	defer v.outboxMu.Unlock()
	if !v.outboxRead.IsZero() && time.Since(v.outboxRead) < outboxEvery {
		return v.outbox
	}
	b, err := app.ReadOutboxBacklog(ctx, v.b.Store)
	if err != nil {
		return OutboxState{Available: true, Error: err.Error()} // not kept: the next poll reads again
	}
	v.outboxRead = time.Now()
	v.outbox = OutboxState{Available: true, Pending: b.Pending, ReadAt: v.outboxRead.UTC()}
	if !b.Oldest.IsZero() {
		oldest := b.Oldest.UTC()
		v.outbox.Oldest = &oldest
	}
	return v.outbox
}

// groupParam is the consumer group a request names by its role (as
// --group does), or a 400.
func groupParam(c echo.Context) (string, error) {
	role := c.QueryParam("group")
	known := consumerRoles()
	if !slices.Contains(known, role) {
		return "", echo.NewHTTPError(http.StatusBadRequest,
			fmt.Sprintf("group %q is not a consumer group: give one of %s", role, strings.Join(known, ", ")))
	}
	return role, nil
}

// deadLetters is `feedsvc dlq list --group G --limit N`: group=ROLE,
// limit=1-1000 (100 when absent).
func (v *opsView) deadLetters(c echo.Context) error {
	role, err := groupParam(c)
	if err != nil {
		return err
	}
	limit := defaultDeadLetters
	if s := c.QueryParam("limit"); s != "" {
		if limit, err = strconv.Atoi(s); err != nil || limit < 1 || limit > maxDeadLetters {
			return echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf("limit must be a number from 1 to %d", maxDeadLetters))
		}
	}
	cl, ok := v.kafka()
	if !ok {
		return echo.NewHTTPError(http.StatusServiceUnavailable, noKafka)
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), opsReadTimeout)
	defer cancel()
	group := v.cfg.Kafka.Group(role)
	entries, err := events.ListDeadLetters(ctx, cl, group, Topics(v.cfg).All(), limit+1)
	if err != nil {
		return v.unavailable(c, err)
	}
	return c.JSON(http.StatusOK, NewDeadLetters(role, group, entries, limit))
}

// replayPlan is the dry run of `feedsvc replay --group G --to-datetime T`:
// group=ROLE, to_datetime=RFC 3339. It changes nothing.
func (v *opsView) replayPlan(c echo.Context) error {
	role, err := groupParam(c)
	if err != nil {
		return err
	}
	s := c.QueryParam("to_datetime")
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf("to_datetime %q: want RFC 3339, e.g. 2006-01-02T15:04:05Z", s))
	}
	cl, ok := v.kafka()
	if !ok {
		return echo.NewHTTPError(http.StatusServiceUnavailable, noKafka)
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), opsReadTimeout)
	defer cancel()
	group := v.cfg.Kafka.Group(role)
	plan, err := PlanReplay(ctx, cl, v.cfg, group, nil, events.ResetTarget{Kind: events.ResetToTime, Time: t},
		events.PlanOptions{Preview: true})
	if err != nil {
		return v.unavailable(c, err)
	}
	out := NewReplay(role, plan)
	out.Command = fmt.Sprintf("feedsvc replay --group %s --to-datetime %s --execute", role, t.Format(time.RFC3339Nano))
	return c.JSON(http.StatusOK, out)
}

// unavailable answers a failure to read Kafka: 503 with the cause, which
// the operator's listener may show.
func (v *opsView) unavailable(c echo.Context, err error) error {
	if errors.Is(err, context.Canceled) {
		return err // the client left
	}
	v.log.Warn("operator's view: kafka", "path", c.Path(), "err", err)
	return echo.NewHTTPError(http.StatusServiceUnavailable, err.Error())
}

// checkLog runs the readiness checks and keeps their latest outcome, so
// the operator's view shows which backend fails without checking twice,
// and feedsvc_backend_up counts it.
type checkLog struct {
	run func(context.Context) []Check
	// required reports whether the process is not ready without the
	// backend; a failure of another only degrades it (nil: all required).
	required func(name string) bool
	up       *prometheus.GaugeVec
	mu       sync.Mutex
	last     []Check
}

// newCheckLog makes the log of run's checks, with its gauge on reg.
func newCheckLog(run func(context.Context) []Check, required func(string) bool, reg prometheus.Registerer) *checkLog {
	up := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "feedsvc_backend_up",
		Help: "Whether the backend answered the last readiness check (1) or not (0).",
	}, []string{"backend"})
	reg.MustRegister(up)
	return &checkLog{run: run, required: required, up: up}
}

// ready is the readiness check: nil when every backend answered, an error
// when a required one did not, and *httpserver.Degraded when only others
// did not.
func (l *checkLog) ready(ctx context.Context) error {
	cs := l.run(ctx)
	l.mu.Lock()
	l.last = cs
	l.mu.Unlock()
	var required, optional []Check
	for _, c := range cs {
		if l.up != nil {
			l.up.WithLabelValues(c.Name).Set(map[bool]float64{true: 1, false: 0}[c.Err == nil])
		}
		if l.required == nil || l.required(c.Name) {
			required = append(required, c)
		} else {
			optional = append(optional, c)
		}
	}
	if err := checksErr(required); err != nil {
		return errors.Join(err, checksErr(optional))
	}
	if err := checksErr(optional); err != nil {
		return &httpserver.Degraded{Err: err}
	}
	return nil
}

// latest is the outcome of the last check.
func (l *checkLog) latest() []Check {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last
}
