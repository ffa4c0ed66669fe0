// Package roles is the registry of the roles a feedsvc process can run:
// `feedsvc serve --role=api,fanout` runs the named ones, `--role=all` runs
// every registered role. A role turns one input (HTTP for api, a Kafka
// consumer group for the others) into app calls; roles share nothing but the
// Deps they are built from.
package roles

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/events"
)

// Role is one independently deployable part of feedsvc.
type Role interface {
	// Run works until ctx is cancelled, then shuts down gracefully.
	Run(ctx context.Context) error
}

// Deps is what the composition root hands to role constructors.
type Deps struct {
	Service *app.Service
	Posts   app.PostStore
	Graph   app.Graph
	Feeds   app.FeedCache
	// Timelines, Celebrities and CelebrityThreshold serve hybrid fan-out.
	Timelines          app.FeedCache
	Celebrities        app.Celebrities
	CelebrityThreshold int
	// Sinks of the consumer roles.
	Notifications app.NotificationStore
	Analytics     app.Analytics
	Search        app.SearchIndex
	Moderation    app.ModerationLog
	// Publisher publishes events (the moderation role announces decisions).
	Publisher       app.Publisher
	ModerationRules app.ModerationRules
	// HTTP is the process's HTTP server; the api role adds its routes to it.
	HTTP *echo.Echo
	// Verify checks a bearer token and returns its user.
	Verify  func(token string) (string, error)
	Brokers []string
	Topics  events.Topics
	Events  *events.Metrics
	Metrics prometheus.Registerer
	// Healthy reports whether the stores behind the handlers answer.
	Healthy func(context.Context) error
	FeedCap int
	Batch   int
	Log     *slog.Logger
}

// Constructor builds a role.
type Constructor func(d *Deps) (Role, error)

// Registry maps role names to constructors.
type Registry map[string]Constructor

// Names lists the registered roles, sorted.
func (r Registry) Names() []string {
	names := make([]string, 0, len(r))
	for n := range r {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Resolve turns a --role value ("all" or a comma list) into role names.
func (r Registry) Resolve(spec string) ([]string, error) {
	if strings.TrimSpace(spec) == "all" {
		return r.Names(), nil
	}
	var names []string
	seen := map[string]bool{}
	for _, n := range strings.Split(spec, ",") {
		n = strings.TrimSpace(n)
		if n == "" || seen[n] {
			continue
		}
		if _, ok := r[n]; !ok {
			return nil, fmt.Errorf("unknown role %q; known roles: all, %s", n, strings.Join(r.Names(), ", "))
		}
		seen[n] = true
		names = append(names, n)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no role given; known roles: all, %s", strings.Join(r.Names(), ", "))
	}
	return names, nil
}
