package roles_test

// Every row of the role table, built from the table exactly as a process
// builds it, on in-memory fakes of the stores (app/apptest) and the
// embedded Kafka-protocol broker, with HTTP on port 0: the api answers, and
// each consumer consumes.

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/app/apptest"
	"github.com/feedsvc/feedsvc/events"
	"github.com/feedsvc/feedsvc/internal/httpserver"
	"github.com/feedsvc/feedsvc/internal/testenv"
	"github.com/feedsvc/feedsvc/roles"
	"github.com/feedsvc/feedsvc/roles/api"
)

// world is one process's worth of fakes around a fresh embedded broker.
type world struct {
	t         *testing.T
	store     *apptest.Store
	feeds     *apptest.Feeds
	analytics *apptest.Analytics
	search    *apptest.Search
	producer  *events.Producer
	tokens    *api.Tokens
	deps      *roles.Deps
	router    *echo.Echo
	lc        *roles.Lifecycle
	url       string
}

const blocked = "forbiddenword"

func newWorld(t *testing.T) *world {
	t.Helper()
	k, err := events.StartEmbedded(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Close)
	topics := events.Topics{Posts: "posts", Follows: "follows"}
	if err := events.EnsureTopics(events.Cluster{Brokers: k.Addrs()}, topics, events.TopicSpec{Partitions: 2, Replication: 1}); err != nil {
		t.Fatal(err)
	}
	producer, err := events.OpenProducer(context.Background(), events.Config{Brokers: k.Addrs(), Topics: topics}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = producer.Close() })
	tokens, err := api.NewTokens(context.Background(), api.TokenConfig{Secret: "a-test-secret-of-enough-length-0123456789"})
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, store: apptest.NewStore(), feeds: apptest.NewFeeds(), analytics: apptest.NewAnalytics(),
		search: apptest.NewSearch(), producer: producer, tokens: tokens}
	reg := prometheus.NewRegistry()
	w.lc = &roles.Lifecycle{Timeout: 30 * time.Second, Log: quiet()}
	w.router = httpserver.New(quiet(), reg, w.lc.Ready(func(context.Context) error { return nil }))
	// As the composition root wraps them: fan-out's writes wake streams.
	signals := &apptest.FeedSignals{}
	w.deps = &roles.Deps{
		Log: quiet(),
		Settings: roles.Settings{FeedCap: 100, FanoutBatch: 100,
			Moderation: app.ModerationRules{Blocklist: []string{blocked}}},
		Store: w.store,
		Caches: roles.Caches{Feeds: w.feeds, Unfollows: w.feeds, Timelines: apptest.NewFeeds(), Celebrities: apptest.NewCelebrities(w.feeds),
			Analytics: w.analytics, Search: w.search, Tickets: apptest.NewTickets(), Signals: signals,
			SignalingFeeds: app.SignalingFeeds(w.feeds, signals, quiet())},
		Publisher: producer,
		API:       roles.APIDeps{IDs: app.NewIDGen(1), HTTP: w.router, Verify: tokens.Verify},
		Consumers: roles.ConsumerDeps{Kafka: events.Cluster{Brokers: k.Addrs()}, Topics: topics, Events: events.NewMetrics(reg),
			Healthy: func(context.Context) error { return nil }},
	}
	return w
}

// run builds rows from the table and runs them until the test ends. The
// rows get only the dependencies their needs declare, as from server.Open:
// a row that uses what it does not declare fails here.
func (w *world) run(rows roles.Rows) {
	w.t.Helper()
	d := *w.deps
	n := rows.Needs()
	if !n.Store {
		d.Store = nil
	}
	if !n.Redis {
		d.Caches = roles.Caches{}
	}
	if !n.Producer {
		d.Publisher = nil
	}
	if !n.Consumer {
		d.Consumers.Kafka, d.Consumers.Events = events.Cluster{}, nil
	}
	if !n.HTTP {
		d.API.Verify = nil
	}
	if !n.IDs {
		d.API.IDs = nil
	}
	built, err := roles.Build(rows, &d)
	if err != nil {
		w.t.Fatal(err)
	}
	ln := listen(w.t)
	w.url = "http://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.lc.Run(ctx, built, ln, w.router) }()
	w.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			w.t.Errorf("roles %v stopped with %v", rows.Names(), err)
		}
	})
	testenv.Until(w.t, "the roles are ready", func() bool { return status(w.url+"/readyz") == http.StatusOK })
}

// publish saves p (as the api would) and publishes its post.created event.
func (w *world) publish(p app.Post) {
	w.t.Helper()
	if err := w.store.SavePost(context.Background(), p); err != nil {
		w.t.Fatal(err)
	}
	ev := app.Event{ID: "post.created:" + p.ID.String(), Type: app.PostCreated, Time: time.Now(), Post: &p}
	if err := w.producer.Publish(context.Background(), ev); err != nil {
		w.t.Fatal(err)
	}
}

func post(id app.ID, author, text string) app.Post {
	return app.Post{ID: id, Author: author, Text: text, CreatedAt: time.Now().UTC().Truncate(time.Millisecond)}
}

func one(t *testing.T, name string) roles.Rows {
	t.Helper()
	rows, err := roles.Table.Select(name)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// roleChecks has a check of what a row does. A consumer row without one
// gets consumes: its group handles and commits an event, and its handler's
// own tests say what it does; any other row must have one.
var roleChecks = map[string]func(t *testing.T, w *world){
	"api": func(t *testing.T, w *world) {
		tok, _ := w.tokens.Issue("alice", time.Hour)
		req, _ := http.NewRequest("POST", w.url+"/v1/posts", strings.NewReader(`{"text":"hello #roles"}`))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("POST /v1/posts = %d, want 201", resp.StatusCode)
		}
		posts, _ := w.store.AuthorPosts(context.Background(), "alice", 0, 10)
		if len(posts) != 1 || posts[0].Text != "hello #roles" {
			t.Fatalf("alice's stored posts = %+v", posts)
		}
	},
	"fanout": func(t *testing.T, w *world) {
		ctx := context.Background()
		_, _ = w.store.Follow(ctx, "bob", "alice")
		_ = w.feeds.Fill(ctx, "bob", nil) // bob reads his feed, so fan-out writes it
		w.publish(post(1001, "alice", "for my followers"))
		testenv.Until(t, "the condition", func() bool { return slices.Equal(w.feeds.IDs("bob"), []app.ID{1001}) })
	},
	"notifications": func(t *testing.T, w *world) {
		ctx := context.Background()
		_ = w.store.EnsureUser(ctx, "carol")
		w.publish(post(1002, "alice", "hi @carol"))
		testenv.Until(t, "the condition", func() bool {
			ns, _ := w.store.Notifications(ctx, "carol", 0, 10)
			return len(ns) == 1 && ns[0].Kind == app.NotifyMention && ns[0].Post == 1002
		})
	},
	"analytics": func(t *testing.T, w *world) {
		w.publish(post(1003, "alice", "counting #tagged"))
		testenv.Until(t, "the condition", func() bool {
			tags, _ := w.analytics.TopTags(context.Background(), time.Now().Add(-time.Hour), time.Now().Add(time.Hour), 10)
			return len(tags) == 1 && tags[0] == app.TagCount{Tag: "tagged", Count: 1}
		})
	},
	"search": func(t *testing.T, w *world) {
		w.publish(post(1004, "alice", "findable words"))
		testenv.Until(t, "the condition", func() bool {
			ids, _ := w.search.Search(context.Background(), []string{"findable"}, 0, 10)
			return slices.Equal(ids, []app.ID{1004})
		})
	},
	"moderation": func(t *testing.T, w *world) {
		w.publish(post(1005, "mallory", "a "+blocked+" post"))
		testenv.Until(t, "the condition", func() bool {
			ds, _ := w.store.Decisions(context.Background(), 0, 10)
			return len(ds) == 1 && ds[0].Post == 1005
		})
		testenv.Until(t, "the condition", func() bool {
			got, _ := w.store.GetPosts(context.Background(), []app.ID{1005})
			return got[1005].Moderated != ""
		})
	},
}

func TestEveryRole(t *testing.T) {
	for _, name := range roles.Table.Names() {
		t.Run(name, func(t *testing.T) {
			rows := one(t, name)
			check, ok := roleChecks[name]
			if !ok && rows.Needs().Consumer {
				check = func(t *testing.T, w *world) { consumes(t, w, name) }
			} else if !ok {
				t.Fatalf("role %s has no check in roleChecks", name)
			}
			w := newWorld(t)
			w.run(rows)
			check(t, w)
		})
	}
}

// consumes checks that the consumer group of the row name handles an event
// and commits it: it has no lag left on any topic.
func consumes(t *testing.T, w *world, name string) {
	t.Helper()
	w.publish(post(3000, "alice", "for every consumer"))
	c := w.deps.Consumers
	testenv.Until(t, "the condition", func() bool {
		lags, err := events.GroupLag(context.Background(), c.Kafka, c.GroupPrefix+name, c.Topics.All())
		if err != nil || len(lags) == 0 {
			return false
		}
		for _, l := range lags {
			if l.Lag > 0 {
				return false
			}
		}
		return true
	})
}

// recorder is the example consumer's handler: it remembers the events.
type recorder struct {
	mu  sync.Mutex
	ids []string
}

func (r *recorder) Handle(_ context.Context, ev app.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !slices.Contains(r.ids, ev.ID) { // idempotent: redelivery changes nothing
		r.ids = append(r.ids, ev.ID)
	}
	return nil
}

func (r *recorder) seen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.ids)
}

// TestAddingAConsumer adds a consumer the way docs/architecture.md
// ("Adding a consumer") says: a handler and one row.
func TestAddingAConsumer(t *testing.T) {
	rec := &recorder{}
	table := append(slices.Clone(roles.Table), roles.Consumer("example", roles.Needs{}, func(*roles.Deps) (app.Handler, error) {
		return rec, nil
	}))
	rows, err := table.Select("example")
	if err != nil {
		t.Fatal(err)
	}
	if n := rows.Needs(); !n.Consumer || n.Store || n.Redis || n.Producer {
		t.Fatalf("example needs %+v, want a consumer group only", n)
	}
	w := newWorld(t)
	w.run(rows)
	for i := range 3 {
		w.publish(post(app.ID(2000+i), "alice", fmt.Sprint("post ", i)))
	}
	want := []string{"post.created:2000", "post.created:2001", "post.created:2002"}
	testenv.Until(t, "the condition", func() bool {
		got := rec.seen()
		slices.Sort(got)
		return slices.Equal(got, want)
	})
	consumes(t, w, "example") // what TestEveryRole checks of a row without a check of its own
}
