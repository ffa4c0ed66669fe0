package api

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/internal/setting"
)

// RateLimits are the api's request limits, kept in Redis so that they hold
// across api replicas. An app.Limit that is Off limits nothing.
type RateLimits struct {
	// Per user.
	Posts    app.Limit // POST /v1/posts
	Follows  app.Limit // PUT and DELETE /v1/following/:user, /v1/blocks/:user and /v1/mutes/:user, together
	Searches app.Limit // GET /v1/search
	Likes    app.Limit // PUT and DELETE /v1/posts/:id/like, together
	Reads    app.Limit // every GET of /v1 and stream tickets, together
	Deletes  app.Limit // DELETE /v1/posts/:id
	// AuthFailures is per client IP: requests with no valid token. Past
	// it the IP gets 429 instead of 401 until the quota refills.
	AuthFailures app.Limit
}

// DefaultRateLimits are what a public service would start with: Mastodon's
// limits for posts (300 per 3 hours) and follows (400 a day), Twitter's
// for search (180 per 15 minutes), Bluesky's for reads (3,000 per 5
// minutes), Mastodon's for deletes (30 per 30 minutes), and 60 failed
// authentications per 5 minutes per IP.
func DefaultRateLimits() RateLimits {
	return RateLimits{
		Posts:        app.Limit{Quota: 300, Window: 3 * time.Hour},
		Follows:      app.Limit{Quota: 400, Window: 24 * time.Hour},
		Searches:     app.Limit{Quota: 180, Window: 15 * time.Minute},
		AuthFailures: app.Limit{Quota: 60, Window: 5 * time.Minute},
		// Likes come far more often than follows: Twitter's 1,000 a day.
		Likes:   app.Limit{Quota: 1000, Window: 24 * time.Hour},
		Reads:   app.Limit{Quota: 3000, Window: 5 * time.Minute},
		Deletes: app.Limit{Quota: 30, Window: 30 * time.Minute},
	}
}

// RegisterFlags sets r to DefaultRateLimits and registers its limits, in
// setting.GroupRateLimits.
func (r *RateLimits) RegisterFlags(f setting.Flags) {
	*r = DefaultRateLimits()
	f = f.In(setting.GroupRateLimits)
	f.Var((*limitValue)(&r.Posts), "Posts", "rate-limit-posts", "posts one user may create: <requests>/<window>, all at once after a quiet spell, then at that rate (off: no limit)")
	f.Var((*limitValue)(&r.Follows), "Follows", "rate-limit-follows", "follows, unfollows, blocks, unblocks, mutes, unmutes and list writes one user may make, together (off: no limit)")
	f.Var((*limitValue)(&r.Searches), "Searches", "rate-limit-searches", "searches one user may make (off: no limit)")
	f.Var((*limitValue)(&r.Likes), "Likes", "rate-limit-likes", "likes and unlikes one user may make, together (off: no limit)")
	f.Var((*limitValue)(&r.Reads), "Reads", "rate-limit-reads", "reads one user may make: every GET of /v1 (feeds, lists, notifications, search, trends, ...) and stream tickets, together (off: no limit)")
	f.Var((*limitValue)(&r.Deletes), "Deletes", "rate-limit-deletes", "posts one user may delete (off: no limit)")
	f.Var((*limitValue)(&r.AuthFailures), "AuthFailures", "rate-limit-auth-failures", "requests without a valid token one client IP may make before it gets 429 instead of 401 (off: no limit)")
}

// limitValue is a rate limit flag: "<requests>/<window>", or "off".
type limitValue app.Limit

func (l *limitValue) String() string { return app.Limit(*l).String() }
func (l *limitValue) Type() string   { return "limit" }

func (l *limitValue) Set(s string) error {
	v, err := app.ParseLimit(s)
	if err != nil {
		return err
	}
	*l = limitValue(v)
	return nil
}

// limitBudget bounds one limiter call: a slow Redis must not slow every
// write down.
const limitBudget = 250 * time.Millisecond

// limiter applies RateLimits. When the limiter's Redis fails, requests are
// let through (and counted): a rate limit must not take the API down with
// it, and posting never fails because of Redis.
type limiter struct {
	rl      app.RateLimiter
	limits  RateLimits
	log     *slog.Logger
	refused *prometheus.CounterVec
	failed  prometheus.Counter
	lastLog atomic.Int64 // unix nanos of the last failure logged
}

func newLimiter(rl app.RateLimiter, limits RateLimits, log *slog.Logger, reg prometheus.Registerer) *limiter {
	l := &limiter{rl: rl, limits: limits, log: log,
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "feedsvc_rate_limited_total",
			Help: "Requests refused with 429 by a rate limit, by limit (posts, follows, searches, likes, reads, deletes, auth_failures)."}, []string{"limit"}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{Name: "feedsvc_rate_limit_errors_total",
			Help: "Rate limit checks that failed (Redis unavailable); those requests were let through."}),
	}
	if reg != nil {
		reg.MustRegister(l.refused, l.failed)
	}
	// Each limit's series starts at 0 (a rate over it is then 0, not absent).
	for _, name := range limitNames {
		l.refused.WithLabelValues(name)
	}
	return l
}

// limitNames are the limits' names: the limit label and the keys' prefix.
var limitNames = []string{"posts", "follows", "searches", "likes", "reads", "deletes", "auth_failures"}

// perUser limits the route by the authenticated caller.
func (l *limiter) perUser(name string, lim app.Limit) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if err := l.check(c, name, caller(c), lim); err != nil {
				return err
			}
			return next(c)
		}
	}
}

// authFailed counts a request with no valid token against its client IP:
// it returns the 429 to answer instead of unauthorized once past the limit.
func (l *limiter) authFailed(c echo.Context, unauthorized error) error {
	if l == nil {
		return unauthorized
	}
	if err := l.check(c, "auth_failures", c.RealIP(), l.limits.AuthFailures); err != nil {
		return err
	}
	return unauthorized
}

// check counts one request of subject against lim and sets the draft IETF
// RateLimit-Policy and RateLimit headers; it returns a 429 error with
// Retry-After when the limit is reached.
func (l *limiter) check(c echo.Context, name, subject string, lim app.Limit) error {
	if l == nil || l.rl == nil || lim.Off() {
		return nil
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), limitBudget)
	defer cancel()
	d, err := l.rl.Allow(ctx, name+":"+subject, lim)
	if err != nil {
		l.failed.Inc()
		if now := time.Now().UnixNano(); now-l.lastLog.Load() > int64(10*time.Second) {
			l.lastLog.Store(now)
			l.log.Warn("rate limit unavailable: requests are let through", "limit", name, "err", err)
		}
		return nil
	}
	h := c.Response().Header()
	h.Set("RateLimit-Policy", fmt.Sprintf("%q;q=%d;w=%d", name, lim.Quota, seconds(lim.Window)))
	h.Set("RateLimit", fmt.Sprintf("%q;r=%d;t=%d", name, d.Remaining, seconds(d.Reset)))
	if d.Allowed {
		return nil
	}
	l.refused.WithLabelValues(name).Inc()
	retry := max(seconds(d.RetryAfter), 1)
	h.Set("Retry-After", strconv.FormatInt(retry, 10))
	return echo.NewHTTPError(http.StatusTooManyRequests,
		fmt.Sprintf("rate limit reached: %s allows %s; retry in %ds", name, lim, retry))
}

// seconds rounds d up to whole seconds, as the headers carry them.
func seconds(d time.Duration) int64 { return int64(math.Ceil(d.Seconds())) }
