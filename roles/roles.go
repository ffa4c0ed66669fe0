// Package roles is the table of the roles a feedsvc process can run and the
// lifecycle that runs them. `feedsvc serve --role=api,fanout` runs the named
// rows, `--role=all` every row. A role turns one input (HTTP for api, a Kafka
// consumer group for the others) into app calls; roles share nothing but the
// Deps the composition root opened and decorated for them. roles imports
// app and the api role, never an adapter: which adapter backs a port, and
// what wraps it, is decided in internal/wiring.
//
// Besides the roles, the lifecycle runs hidden rows (Row.Hidden): parts of
// a process that are not roles, such as the node lease and the outbox
// relay, run when a selected role needs them (Rows.With), started before
// the roles and stopped after HTTP.
//
// Adding a consumer takes a handler in app/ (with its test) and a row in
// Table; `cd deploy && go generate` then writes its deployment files. The
// recipe is in docs/architecture.md, "Adding a consumer".
package roles

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/events"
	"github.com/feedsvc/feedsvc/roles/api"
)

// Table is every role feedsvc has, in start order (they stop in reverse).
// serve, the bench tool and the help text read role names from here only.
var Table = Rows{
	{Name: "api", Needs: Needs{Store: true, Redis: true, Producer: true, HTTP: true, IDs: true}, Build: buildAPI},
	Consumer("fanout", Needs{Store: true, Redis: true}, func(d *Deps) (app.Handler, error) {
		if d.Caches.SignalingFeeds == nil {
			return nil, errors.New("no signaling feeds")
		}
		// Its feed writes wake the feed streams of their owners.
		return &app.Fanout{Posts: d.Store, Graph: d.Store, Feeds: d.Caches.SignalingFeeds, Unfollows: d.Caches.Unfollows,
			Timelines: d.Caches.Timelines, Celebrities: d.Caches.Celebrities, CelebrityThreshold: d.Settings.CelebrityThreshold,
			FeedCap: d.Settings.FeedCap, PageSize: d.Settings.FanoutBatch, Log: d.Log, Reposts: d.Store, Lists: d.Store,
			ListFeeds: d.Caches.ListFeeds, Quiet: app.NewQuietAuthors()}, nil
	}),
	// Redis only for the signals that wake the notified users' feed
	// streams, so the unread count shows at once, not on the streams'
	// slow poll (20-25 s).
	Consumer("notifications", Needs{Store: true, Redis: true}, func(d *Deps) (app.Handler, error) {
		return &app.Notifier{Graph: d.Store, Notifications: d.Store, Posts: d.Store, Signals: d.Caches.Signals, Log: d.Log, Likes: d.Store, Reposts: d.Store}, nil
	}),
	MemoryConsumer("analytics", Needs{Redis: true}, func(d *Deps) (app.Handler, error) {
		return &app.Analyst{Analytics: d.Caches.Analytics}, nil
	}),
	MemoryConsumer("search", Needs{Store: true, Redis: true}, func(d *Deps) (app.Handler, error) {
		return &app.Indexer{Posts: d.Store, Search: d.Caches.Search, Log: d.Log}, nil
	}),
	Consumer("moderation", Needs{Store: true, Producer: true}, func(d *Deps) (app.Handler, error) {
		return app.NewModerator(app.Moderator{
			Posts: d.Store, Decisions: d.Store, Events: d.Publisher, Rules: d.Settings.Moderation, Log: d.Log,
		})
	}),
}

// Fan-out drops the list feeds when Redis lost writes (see app.Fanout.StoreLost).
var _ events.StoreLossHandler = (*app.Fanout)(nil)

// Role is one independently deployable part of feedsvc.
type Role interface {
	// Run works until ctx is cancelled, then shuts down gracefully (a
	// consumer commits what it processed and leaves its group).
	Run(ctx context.Context) error
}

// Needs is what a role uses; a process opens only what its roles need, and
// its /readyz checks only that.
type Needs struct {
	Store    bool // the system of record (Cassandra; embedded: Pebble)
	Redis    bool // feeds, timelines, counters, the search index
	Producer bool // publishes events
	Consumer bool // consumes every topic as the consumer group named after the role
	HTTP     bool // serves routes of its own (every process serves health and metrics)
	IDs      bool // issues post and event IDs (a node of its own: --node-id or a lease)
	// RebuildFromLog: the role's output lives only in Redis, so when Redis
	// is the embedded, in-memory one its group is rewound at startup.
	RebuildFromLog bool
}

// Kafka reports whether the needs include the broker.
func (n Needs) Kafka() bool { return n.Producer || n.Consumer }

// covers reports whether n includes everything o asks for.
func (n Needs) covers(o Needs) bool {
	return (n.Store || !o.Store) && (n.Redis || !o.Redis) && (n.Producer || !o.Producer) &&
		(n.Consumer || !o.Consumer) && (n.HTTP || !o.HTTP) && (n.IDs || !o.IDs) &&
		(n.RebuildFromLog || !o.RebuildFromLog)
}

// Row is one role: its name, what it needs and how it is built.
type Row struct {
	Name  string
	Needs Needs
	Build func(d *Deps) (Role, error)
	// Hidden marks a row that is not a role but a part of the process
	// that roles rely on (the node lease, the outbox relay; their rows are
	// the composition root's). It is not selectable by --role nor listed
	// by Names or Consumers; With adds it when the selected rows' needs
	// cover its Needs. Built before the roles, it may set what they use
	// (the node lease sets Deps.API.IDs); it starts before them and stops
	// after HTTP, so requests still in flight have what it serves.
	Hidden bool
}

// Rows is a role table.
type Rows []Row

// Names lists the roles' names in table order (not the hidden rows').
func (t Rows) Names() []string {
	names := []string{}
	for _, r := range t {
		if !r.Hidden {
			names = append(names, r.Name)
		}
	}
	return names
}

// Consumers lists the names of the roles that consume the topics as a
// consumer group of their own, in table order.
func (t Rows) Consumers() []string {
	var names []string
	for _, r := range t {
		if r.Needs.Consumer && !r.Hidden {
			names = append(names, r.Name)
		}
	}
	return names
}

// Select turns a --role value ("all" or a comma list) into rows, in table
// order; hidden rows are never selected.
func (t Rows) Select(spec string) (Rows, error) {
	if strings.TrimSpace(spec) == "all" {
		return slices.DeleteFunc(slices.Clone(t), func(r Row) bool { return r.Hidden }), nil
	}
	want := map[string]bool{}
	for _, n := range strings.Split(spec, ",") {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		if !slices.ContainsFunc(t, func(r Row) bool { return r.Name == n && !r.Hidden }) {
			return nil, fmt.Errorf("unknown role %q; known roles: all, %s", n, strings.Join(t.Names(), ", "))
		}
		want[n] = true
	}
	if len(want) == 0 {
		return nil, fmt.Errorf("no role given; known roles: all, %s", strings.Join(t.Names(), ", "))
	}
	return slices.DeleteFunc(slices.Clone(t), func(r Row) bool { return !want[r.Name] || r.Hidden }), nil
}

// With returns the hidden rows whose needs t's needs cover, in their
// order, followed by t: the rows a process with t's roles runs.
func (t Rows) With(hidden Rows) Rows {
	needs := t.Needs()
	var out Rows
	for _, h := range hidden {
		if h.Hidden && needs.covers(h.Needs) {
			out = append(out, h)
		}
	}
	return append(out, t...)
}

// Needs is the union of the rows' needs.
func (t Rows) Needs() Needs {
	var n Needs
	for _, r := range t {
		n.Store = n.Store || r.Needs.Store
		n.Redis = n.Redis || r.Needs.Redis
		n.Producer = n.Producer || r.Needs.Producer
		n.Consumer = n.Consumer || r.Needs.Consumer
		n.HTTP = n.HTTP || r.Needs.HTTP
		n.IDs = n.IDs || r.Needs.IDs
		n.RebuildFromLog = n.RebuildFromLog || r.Needs.RebuildFromLog
	}
	return n
}

// Store is the system of record.
type Store interface {
	app.PostStore
	app.Graph
	app.NotificationStore
	app.ModerationLog
	app.Outbox
	app.IdempotencyKeys
	app.Likes
	app.Replies
	app.Reposts
	app.Lists
}

// Caches are the Redis-backed parts; set when a role needs Redis.
type Caches struct {
	Feeds app.FeedCache
	// ListFeeds drops every list feed (fan-out, when Redis lost writes).
	ListFeeds app.ListFeedsReset
	// Unfollows remembers recent unfollows next to the feeds.
	Unfollows app.Unfollows
	// RebuildLocks keep one rebuild of a feed at a time across api processes.
	RebuildLocks app.RebuildLocks
	// Timelines and Celebrities serve hybrid fan-out.
	Timelines   app.FeedCache
	Celebrities app.Celebrities
	Analytics   app.Analytics
	Search      app.SearchIndex
	// Limiter keeps the api's rate limit counts.
	Limiter app.RateLimiter
	// Tickets keep the api's one-use feed stream tickets.
	Tickets app.StreamTickets
	// Signals carry fan-out's feed changes to the api's feed streams
	// (nil: streams poll every second).
	Signals FeedSignals
	// SignalingFeeds are the Feeds fan-out writes through: each write
	// also wakes the feed streams of the feeds' owners through Signals
	// (Feeds itself when there are no Signals).
	SignalingFeeds app.FeedCache
}

// FeedSignals are sent by fan-out and watched by the api.
type FeedSignals interface {
	app.FeedSignals
	api.FeedWatcher
}

// Settings are the plain values roles are tuned with.
type Settings struct {
	FeedCap            int
	FanoutBatch        int
	CelebrityThreshold int
	// PublishWait bounds how long a write waits for its event's publish.
	PublishWait time.Duration
	// MaxFollowing caps the users one user may follow (0: no cap).
	MaxFollowing int
	// ViewCacheTTL is how long the api keeps a reader's hidden set and
	// posts' counts (see app.Service).
	ViewCacheTTL time.Duration
	Moderation   app.ModerationRules
	// RateLimits are the api's request limits.
	RateLimits api.RateLimits
	// MaxFeedStreams bounds the api's open feed streams (negative: none).
	MaxFeedStreams int
}

// Deps is what the composition root opened for the selected roles: a field
// is set only when some selected row needs it. What only the api uses is
// in API, what only consumer groups use in Consumers.
type Deps struct {
	Log      *slog.Logger
	Settings Settings
	// Metrics registers the roles' own metrics (nil: not exported).
	Metrics prometheus.Registerer

	Store     Store         // Needs.Store
	Caches    Caches        // Needs.Redis
	Publisher app.Publisher // Needs.Producer

	API       APIDeps
	Consumers ConsumerDeps
}

// APIDeps is what the api role uses besides the store and the caches.
type APIDeps struct {
	// HTTP is the process's router; a role with Needs.HTTP adds routes.
	HTTP *echo.Echo
	// Verify checks a bearer token and returns its user.
	Verify func(token string) (string, error)
	// DevLogin signs a token for any user (nil: no dev login); set only
	// when configs.Config.DevLogin allows it (loopback, never production).
	DevLogin func(user string) (string, error)
	// IDs issues post and event IDs (Needs.IDs); on a leased node, it
	// refuses while the lease is not held. Set by the node lease's row.
	IDs *app.IDGen
	// Dispatch hands the api's outbox records to the process's relay
	// (the processes that write changes relay them). Set by the relay's
	// row; nil when no relay runs here.
	Dispatch app.Dispatcher
	// Posts are the store's posts as the api reads them: through a cache
	// when the composition root made one (nil: Store).
	Posts app.PostStore
}

// ConsumerDeps is what consumer groups use besides the store and the
// caches.
type ConsumerDeps struct {
	// Kafka, Topics and GroupPrefix name the cluster, the topics consumed
	// and the prefix of the groups.
	Kafka       events.Cluster
	Topics      events.Topics
	GroupPrefix string
	// Lanes is how many events of a partition a consumer handles at once.
	Lanes  int
	Events *events.Metrics
	// Checkpoints, set for a real Redis, is where consumers whose handler
	// writes Redis record how far Redis holds their effects, so a Redis
	// that comes back with older data is caught and the events redone.
	Checkpoints events.Checkpoints
	// Healthy reports whether the process's dependencies answer; consumers
	// add its verdict to the log line of a stuck partition.
	Healthy func(context.Context) error
}

func buildAPI(d *Deps) (Role, error) {
	a := d.API
	if a.IDs == nil {
		return nil, errors.New("no ID generator")
	}
	var posts app.PostStore = d.Store
	if a.Posts != nil {
		posts = a.Posts
	}
	svc := &app.Service{
		Posts: posts, Graph: d.Store, Feeds: d.Caches.Feeds, Unfollows: d.Caches.Unfollows, RebuildLocks: d.Caches.RebuildLocks, Timelines: d.Caches.Timelines, Celebrities: d.Caches.Celebrities,
		Dispatch: a.Dispatch, DispatchWait: d.Settings.PublishWait, Keys: d.Store, Notes: d.Store, IDs: a.IDs,
		FeedCap: d.Settings.FeedCap, MaxFollowing: d.Settings.MaxFollowing, Log: d.Log, Likes: d.Store,
		Replies: d.Store, Reposts: d.Store, Lists: d.Store, ViewCacheTTL: d.Settings.ViewCacheTTL,
	}
	return api.New(a.HTTP, api.Deps{
		Service: svc, Graph: d.Store, Posts: d.Store, Analytics: d.Caches.Analytics, Search: d.Caches.Search, Verify: a.Verify,
		Limiter: d.Caches.Limiter, Limits: d.Settings.RateLimits, Log: d.Log, Metrics: d.Metrics,
		MaxStreams: d.Settings.MaxFeedStreams, Tickets: d.Caches.Tickets, Signals: watcher(d.Caches.Signals), DevLogin: a.DevLogin,
	})
}

// watcher is s as the api's FeedWatcher, nil when s is (a nil interface,
// not one holding a nil).
func watcher(s FeedSignals) api.FeedWatcher {
	if s == nil {
		return nil
	}
	return s
}
