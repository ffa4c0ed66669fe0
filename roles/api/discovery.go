package api

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/feedsvc/feedsvc/app"
)

// Limits of the discovery endpoints.
const (
	DefaultTrendWindow = time.Hour
	MinTrendWindow     = time.Minute
	MaxTrendWindow     = 7 * 24 * time.Hour
	DefaultTrendLimit  = 10
	DefaultStatsHours  = 24
	MaxStatsHours      = 7 * 24
)

// registerDiscovery adds search, trends and per-user stats to g.
func registerDiscovery(g v1Routes, d Deps, lim *limiter) {
	h := &discovery{d: &app.Discovery{Index: d.Search, Analytics: d.Analytics, Posts: d.Posts, Now: time.Now}, svc: d.Service}
	g.GET("/search", h.search, lim.perUser("searches", d.Limits.Searches))
	g.GET("/trends", h.trends)
	g.GET("/users/:user/stats", h.stats)
}

type discovery struct {
	d *app.Discovery
	// svc renders search hits with their likes (ViewPosts).
	svc *app.Service
}

func (h *discovery) search(c echo.Context) error {
	if h.d.Index == nil || h.d.Posts == nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable, "search is not configured")
	}
	limit, cursor, err := pageParams(c)
	if err != nil {
		return err
	}
	q := c.QueryParam("q")
	if q == "" {
		return echo.NewHTTPError(http.StatusBadRequest, `query parameter "q" is required`)
	}
	posts, next, err := h.d.Search(c.Request().Context(), caller(c), q, cursor, limit)
	if err != nil {
		return err
	}
	// The next cursor is the page's as read: a page may come out short.
	if posts, err = h.svc.DropBlocked(c.Request().Context(), caller(c), posts); err != nil {
		return err
	}
	v, err := h.svc.ViewPosts(c.Request().Context(), caller(c), posts)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, page[app.PostView]{Items: v, NextCursor: next})
}

type trendsAnswer struct {
	Window string         `json:"window"`
	Items  []app.TagCount `json:"items"`
}

func (h *discovery) trends(c echo.Context) error {
	if h.d.Analytics == nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable, "analytics is not configured")
	}
	window := DefaultTrendWindow
	if s := c.QueryParam("window"); s != "" {
		w, err := parseWindow(s)
		if err != nil || w < MinTrendWindow || w > MaxTrendWindow {
			return echo.NewHTTPError(http.StatusBadRequest, "window must be a duration from 1m to 7d, like 1h, 90m or 2d")
		}
		window = w
	}
	limit, err := intParam(c, "limit", DefaultTrendLimit, 1, MaxLimit)
	if err != nil {
		return err
	}
	tags, err := h.d.Trends(c.Request().Context(), window, limit)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, trendsAnswer{Window: window.String(), Items: nonNil(tags)})
}

type statsAnswer struct {
	Items []app.HourCount `json:"items"`
}

func (h *discovery) stats(c echo.Context) error {
	if h.d.Analytics == nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable, "analytics is not configured")
	}
	u, err := userParam(c)
	if err != nil {
		return err
	}
	hours, err := intParam(c, "hours", DefaultStatsHours, 1, MaxStatsHours)
	if err != nil {
		return err
	}
	counts, err := h.d.AuthorStats(c.Request().Context(), u, hours)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(counts, func(c app.HourCount) bool { return c.Count > 0 }) {
		// No posts counted: an unknown user is 404, as on every route
		// that names a user. One who posted is known: no lookup.
		if err := h.svc.RequireUser(c.Request().Context(), u); err != nil {
			return err
		}
	}
	return c.JSON(http.StatusOK, statsAnswer{Items: nonNil(counts)})
}

// parseWindow parses a Go duration ("1h30m") or a whole number of days ("7d").
func parseWindow(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || n > 365 {
			return 0, fmt.Errorf("bad day count %q", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}

// intParam reads an optional integer query parameter in [lo, hi], given
// at most once and not empty (absent: def).
func intParam(c echo.Context, name string, def, lo, hi int) (int, error) {
	vs, given := c.QueryParams()[name]
	if !given {
		return def, nil
	}
	s, err := oneValue(vs, name)
	n, convErr := strconv.Atoi(s)
	if err != nil || convErr != nil || n < lo || n > hi {
		return 0, echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf("%s must be an integer from %d to %d, given once", name, lo, hi))
	}
	return n, nil
}
