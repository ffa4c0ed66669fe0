package wiring

// What the operator commands (lag, replay, dlq, feed inspect, moderation
// list) connect to. On real backends: the configured ones. On the embedded
// ones, those live inside `feedsvc serve`: while it runs, the commands use
// the addresses it recorded in the data dir (the embedded broker speaks
// Kafka, the embedded Redis speaks Redis) and ask it, on its operator's
// listener, for what only the process holding the embedded store can read;
// while it does not, they start the embedded broker and store themselves.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/redis/rueidis"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/configs"
	"github.com/feedsvc/feedsvc/events"
	"github.com/feedsvc/feedsvc/internal/httpserver"
	"github.com/feedsvc/feedsvc/roles"
	redisstore "github.com/feedsvc/feedsvc/store/redis"
)

// ErrUnavailable is returned when what a command asks for is held by a
// running serve process that cannot give it.
var ErrUnavailable = errors.New("unavailable")

// WithKafka runs fn with the configured cluster; without one, with the
// embedded broker of the serve process running on the data dir, or, when
// none runs, with the embedded broker started on the data dir for the
// duration of fn (the data dir is locked meanwhile).
func WithKafka(ctx context.Context, cfg *configs.Config, log *slog.Logger, fn func(events.Cluster) error) error {
	if !cfg.EmbeddedKafka() {
		cl, err := cfg.Kafka.Cluster()
		if err != nil {
			return err
		}
		return fn(cl)
	}
	if f := RunningServe(cfg.DataDir); f != nil && len(f.KafkaBrokers) > 0 {
		kc := cfg.Kafka
		kc.Brokers = f.KafkaBrokers
		cl, err := kc.Cluster()
		if err != nil {
			return err
		}
		log.Debug("using the embedded broker of "+f.describe(cfg.DataDir), "addr", f.KafkaBrokers)
		return fn(cl)
	}
	b, err := Open(ctx, cfg, log, roles.Needs{Consumer: true})
	if err != nil {
		return err
	}
	defer b.Close()
	if err := ctx.Err(); err != nil {
		return err
	}
	return fn(b.Kafka)
}

// PlanReplay plans the offset reset of `feedsvc replay` (and of the
// operator's view's dry run) for group on cl: on topics, or by default the
// topics the group has committed offsets on, else the configured topics.
// It changes nothing.
func PlanReplay(ctx context.Context, cl events.Cluster, cfg *configs.Config, group string, topics []string, target events.ResetTarget, o events.PlanOptions) (*events.ResetPlan, error) {
	if len(topics) == 0 {
		var err error
		if topics, err = events.CommittedTopics(ctx, cl, group); err != nil {
			return nil, err
		}
	}
	if len(topics) == 0 {
		topics = Topics(cfg).All()
	}
	return events.PlanResetWith(ctx, cl, group, topics, target, o)
}

// OpenRedis connects to the configured Redis; without one, to the embedded
// Redis of the serve process running on the data dir. The embedded Redis is
// in memory: with no serve running, there is nothing to read.
func OpenRedis(ctx context.Context, cfg *configs.Config, log *slog.Logger) (rueidis.Client, error) {
	rc := cfg.Redis
	if cfg.EmbeddedRedis() {
		f := RunningServe(cfg.DataDir)
		if f == nil || f.RedisAddr == "" {
			return nil, fmt.Errorf("no feedsvc serve with an embedded Redis runs on data dir %s (the embedded Redis is in memory, inside the serving process): start it there, or pass --redis-addr", cfg.DataDir)
		}
		rc.Addrs, rc.Embedded = []string{f.RedisAddr}, true
		log.Debug("using the embedded redis of "+f.describe(cfg.DataDir), "addr", f.RedisAddr)
	}
	return redisstore.Open(ctx, rc, log)
}

// OutboxBacklog reads what waits in the store's outbox (for `feedsvc lag`).
// The embedded store is open in one process only: while serve holds it, the
// backlog comes from serve's operator listener.
func OutboxBacklog(ctx context.Context, cfg *configs.Config, log *slog.Logger) (app.OutboxBacklog, error) {
	if f, err := storeHolder(cfg); f != nil || err != nil {
		if err != nil {
			return app.OutboxBacklog{}, err
		}
		var out outboxJSON
		if err := getJSON(ctx, f.AdminURL()+OutboxPath, &out); err != nil {
			return app.OutboxBacklog{}, fmt.Errorf("outbox from %s: %w", f.describe(cfg.DataDir), err)
		}
		b := app.OutboxBacklog{Pending: out.Pending}
		if out.Oldest != nil {
			b.Oldest = *out.Oldest
		}
		return b, nil
	}
	b, err := Open(ctx, cfg, log, roles.Needs{Store: true})
	if err != nil {
		return app.OutboxBacklog{}, err
	}
	defer b.Close()
	return app.ReadOutboxBacklog(ctx, b.Store)
}

// ModerationDecisions is app.ModerationDecisions on the configured store,
// or, while serve holds the embedded store, from serve's operator listener.
func ModerationDecisions(ctx context.Context, cfg *configs.Config, log *slog.Logger, cursor string, limit int) ([]app.Decision, string, error) {
	if f, err := storeHolder(cfg); f != nil || err != nil {
		if err != nil {
			return nil, "", err
		}
		q := url.Values{"cursor": {cursor}, "limit": {strconv.Itoa(limit)}}
		var out decisionsJSON
		if err := getJSON(ctx, f.AdminURL()+DecisionsPath+"?"+q.Encode(), &out); err != nil {
			var bad badRequest
			if errors.As(err, &bad) {
				// The detail is app.ErrInvalid's message already.
				return nil, "", fmt.Errorf("%w: %s", app.ErrInvalid, strings.TrimPrefix(bad.detail, app.ErrInvalid.Error()+": "))
			}
			return nil, "", fmt.Errorf("moderation decisions from %s: %w", f.describe(cfg.DataDir), err)
		}
		return out.Items, out.Next, nil
	}
	b, err := Open(ctx, cfg, log, roles.Needs{Store: true})
	if err != nil {
		return nil, "", err
	}
	defer b.Close()
	return app.ModerationDecisions(ctx, b.Store, cursor, limit)
}

// RebuildView rebuilds view (one of app.RebuildViews) from the configured
// store into the configured Redis: every live post made at or after since
// (zero: all), workers users at a time (see app.RebuildView).
func RebuildView(ctx context.Context, cfg *configs.Config, log *slog.Logger, view string, since time.Time, workers int, progress func(app.RebuildProgress)) (app.RebuildProgress, error) {
	if !slices.Contains(app.RebuildViews, view) {
		return app.RebuildProgress{}, fmt.Errorf("%w: no view %q to rebuild (views: %s)", app.ErrInvalid, view, strings.Join(app.RebuildViews, ", "))
	}
	if cfg.EmbeddedRedis() {
		return app.RebuildProgress{}, fmt.Errorf("nothing to rebuild without --redis-addr: the embedded Redis lives in memory inside feedsvc serve, which rebuilds its views from the event log at every start")
	}
	if f, err := storeHolder(cfg); f != nil || err != nil {
		if err == nil {
			err = fmt.Errorf("the embedded store is %w: %s holds it (one process at a time); stop it, or rebuild from Cassandra (--cassandra-hosts)", ErrUnavailable, f.describe(cfg.DataDir))
		}
		return app.RebuildProgress{}, err
	}
	b, err := Open(ctx, cfg, log, roles.Needs{Store: true, Redis: true})
	if err != nil {
		return app.RebuildProgress{}, err
	}
	defer b.Close()
	write := app.IndexPost(b.Caches.Search)
	if view == app.ViewTrends {
		write = app.CountPost(b.Caches.Analytics)
	}
	return app.RebuildView(ctx, b.Store, write, since, workers, progress)
}

// storeHolder is the serve process that holds the embedded store, if the
// store is the embedded one and one runs; an error if one holds the data
// dir without having the store open (nothing can read it then).
func storeHolder(cfg *configs.Config) (*ServeFile, error) {
	if !cfg.EmbeddedStore() {
		return nil, nil
	}
	f := RunningServe(cfg.DataDir)
	switch {
	case f == nil:
		return nil, nil
	case f.Store:
		return f, nil
	case f.Locked:
		return nil, fmt.Errorf("the embedded store is %w: %s holds the data dir but does not open the store (roles %s)",
			ErrUnavailable, f.describe(cfg.DataDir), strings.Join(f.Roles, ","))
	}
	return nil, nil // the store is free
}

// outboxJSON is OutboxPath's answer.
type outboxJSON struct {
	Pending int        `json:"pending"`
	Oldest  *time.Time `json:"oldest,omitempty"`
}

// decisionsJSON is DecisionsPath's answer.
type decisionsJSON struct {
	Items []app.Decision `json:"items"`
	Next  string         `json:"next_cursor"`
}

// storeRoutes add to the operator's router of a process holding the
// embedded store what the operator commands would read from the store.
func storeRoutes(e *echo.Echo, st Store) {
	// Like the operator's view: not readable by DNS rebinding.
	e.GET(OutboxPath, func(c echo.Context) error {
		b, err := app.ReadOutboxBacklog(c.Request().Context(), st)
		if err != nil {
			return err
		}
		out := outboxJSON{Pending: b.Pending}
		if !b.Oldest.IsZero() {
			out.Oldest = &b.Oldest
		}
		return c.JSON(http.StatusOK, out)
	}, httpserver.AddressedHost)
	// maxDecisions bounds one page of decisions.
	const maxDecisions = 1000
	e.GET(DecisionsPath, func(c echo.Context) error {
		limit, err := strconv.Atoi(c.QueryParam("limit"))
		if err != nil || limit < 1 || limit > maxDecisions {
			return echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf("limit must be a number from 1 to %d", maxDecisions))
		}
		ds, next, err := app.ModerationDecisions(c.Request().Context(), st, c.QueryParam("cursor"), limit)
		if errors.Is(err, app.ErrInvalid) {
			return echo.NewHTTPError(http.StatusBadRequest, err.Error())
		}
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, decisionsJSON{Items: ds, Next: next})
	}, httpserver.AddressedHost)
}

// badRequest is a 400 answer: the request was wrong (a usage error).
type badRequest struct{ detail string }

func (b badRequest) Error() string { return b.detail }

// getJSON GETs url and decodes its JSON answer into v.
func getJSON(ctx context.Context, url string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		// A problem+json body: its detail says why.
		var p struct {
			Detail string `json:"detail"`
			Title  string `json:"title"`
		}
		_ = json.Unmarshal(body, &p)
		msg := p.Detail
		if msg == "" {
			msg = p.Title
		}
		if resp.StatusCode == http.StatusBadRequest {
			return badRequest{msg}
		}
		if resp.StatusCode == http.StatusNotFound {
			// An older serve, without these routes.
			return fmt.Errorf("%w: %s answers 404 (a serve of an older version?)", ErrUnavailable, url)
		}
		return fmt.Errorf("%s: %s %s", url, resp.Status, msg)
	}
	return json.Unmarshal(body, v)
}
