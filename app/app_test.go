package app_test

// Unit tests of the use cases and fan-out logic, on in-memory fakes of the
// ports. The adapters themselves are proven by their conformance suites.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/feedsvc/feedsvc/app"
)

type memStore struct {
	mu      sync.Mutex
	posts   map[app.ID]app.Post
	users   map[string]bool
	follows map[[2]string]bool
}

func newMemStore() *memStore {
	return &memStore{posts: map[app.ID]app.Post{}, users: map[string]bool{}, follows: map[[2]string]bool{}}
}

func (m *memStore) SavePost(_ context.Context, p app.Post) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.posts[p.ID] = p
	return nil
}

func (m *memStore) GetPosts(_ context.Context, ids []app.ID) (map[app.ID]app.Post, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[app.ID]app.Post{}
	for _, id := range ids {
		if p, ok := m.posts[id]; ok {
			out[id] = p
		}
	}
	return out, nil
}

func (m *memStore) DeletePost(_ context.Context, p app.Post) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.posts, p.ID)
	return nil
}

func (m *memStore) AuthorPosts(_ context.Context, author string, before app.ID, limit int) ([]app.Post, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []app.Post
	for _, p := range m.posts {
		if p.Author == author && (before == 0 || p.ID < before) {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID > out[j].ID })
	return out[:min(limit, len(out))], nil
}

func (m *memStore) EnsureUser(_ context.Context, u string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.users[u] = true
	return nil
}

func (m *memStore) UserExists(_ context.Context, u string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.users[u], nil
}

func (m *memStore) setEdge(a, b string, on bool) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := [2]string{a, b}
	changed := m.follows[k] != on
	if on {
		m.follows[k] = true
	} else {
		delete(m.follows, k)
	}
	return changed, nil
}

func (m *memStore) Follow(_ context.Context, a, b string) (bool, error) { return m.setEdge(a, b, true) }
func (m *memStore) Unfollow(_ context.Context, a, b string) (bool, error) {
	return m.setEdge(a, b, false)
}

func (m *memStore) IsFollowing(_ context.Context, a, b string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.follows[[2]string{a, b}], nil
}

// list pages a sorted edge list with the cursor = last item convention.
func (m *memStore) list(side int, user, cursor string, limit int) ([]string, string, error) {
	m.mu.Lock()
	var all []string
	for k := range m.follows {
		if k[side] == user && k[1-side] > cursor {
			all = append(all, k[1-side])
		}
	}
	m.mu.Unlock()
	sort.Strings(all)
	if len(all) > limit {
		return all[:limit], all[limit-1], nil
	}
	return all, "", nil
}

func (m *memStore) Followers(_ context.Context, u, c string, n int) ([]string, string, error) {
	return m.list(1, u, c, n)
}

func (m *memStore) Following(_ context.Context, u, c string, n int) ([]string, string, error) {
	return m.list(0, u, c, n)
}

// memFeeds is a FeedCache without a cap.
type memFeeds struct {
	mu       sync.Mutex
	feeds    map[string]map[app.ID]bool
	complete map[string]bool
}

func newMemFeeds() *memFeeds {
	return &memFeeds{feeds: map[string]map[app.ID]bool{}, complete: map[string]bool{}}
}

// Add writes only into cached feeds, like the Redis cache.
func (f *memFeeds) Add(_ context.Context, es []app.FeedEntry) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range es {
		if f.feeds[e.User] != nil {
			f.feeds[e.User][e.Post] = true
		}
	}
	return nil
}

// evict drops a feed, as an expiry or a Redis eviction would.
func (f *memFeeds) evict(user string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.feeds, user)
	delete(f.complete, user)
}

func (f *memFeeds) Prepare(_ context.Context, user string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.feeds[user] == nil {
		f.feeds[user] = map[app.ID]bool{}
	}
	return nil
}

func (f *memFeeds) Remove(_ context.Context, es []app.FeedEntry) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range es {
		delete(f.feeds[e.User], e.Post)
	}
	return nil
}

func (f *memFeeds) ids(user string) []app.ID {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []app.ID
	for id := range f.feeds[user] {
		out = append(out, id)
	}
	slices.Sort(out)
	slices.Reverse(out)
	return out
}

func (f *memFeeds) Page(_ context.Context, user string, before app.ID, limit int) ([]app.ID, bool, error) {
	var out []app.ID
	for _, id := range f.ids(user) {
		if (before == 0 || id < before) && len(out) < limit {
			out = append(out, id)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return out, f.complete[user], nil
}

func (f *memFeeds) Fill(ctx context.Context, user string, ids []app.ID) error {
	_ = f.Prepare(ctx, user)
	var es []app.FeedEntry
	for _, id := range ids {
		es = append(es, app.FeedEntry{User: user, Post: id})
	}
	_ = f.Add(ctx, es)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.complete[user] = true
	return nil
}

// memCelebrities is the hybrid fan-out state, in memory.
type memCelebrities struct {
	mu       sync.Mutex
	status   map[string]app.CelebrityStatus
	followed map[string]map[string]bool
	feeds    *memFeeds // follows are recorded only next to a cached feed
}

func (c *memCelebrities) Statuses(_ context.Context, authors []string) ([]app.CelebrityStatus, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]app.CelebrityStatus, len(authors))
	for i, a := range authors {
		out[i] = c.status[a]
	}
	return out, nil
}

func (c *memCelebrities) SetStatus(_ context.Context, author string, s app.CelebrityStatus) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.status[author] = s
	return nil
}

func (c *memCelebrities) AddFollows(_ context.Context, fs []app.Follow) error {
	c.feeds.mu.Lock()
	defer c.feeds.mu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, f := range fs {
		if c.feeds.feeds[f.Follower] == nil {
			continue
		}
		if c.followed[f.Follower] == nil {
			c.followed[f.Follower] = map[string]bool{}
		}
		c.followed[f.Follower][f.Followee] = true
	}
	return nil
}

func (c *memCelebrities) RemoveFollows(_ context.Context, fs []app.Follow) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, f := range fs {
		delete(c.followed[f.Follower], f.Followee)
	}
	return nil
}

func (c *memCelebrities) Followed(_ context.Context, user string) ([]string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for name := range c.followed[user] {
		out = append(out, name)
	}
	return out, nil
}

// bus records published events and can be made to fail.
type bus struct {
	mu   sync.Mutex
	evs  []app.Event
	down bool
}

func (b *bus) Publish(_ context.Context, ev app.Event) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.down {
		return errors.New("broker unreachable")
	}
	b.evs = append(b.evs, ev)
	return nil
}

// drain hands every published event to h, like a consumer group would.
func (b *bus) drain(t *testing.T, h app.Handler) {
	t.Helper()
	b.mu.Lock()
	evs := b.evs
	b.evs = nil
	b.mu.Unlock()
	for _, ev := range evs {
		if err := h.Handle(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
}

type world struct {
	store     *memStore
	feeds     *memFeeds
	timelines *memFeeds
	celebs    *memCelebrities
	bus       *bus
	svc       *app.Service
	fanout    *app.Fanout
}

func newWorld(users ...string) *world {
	w := &world{store: newMemStore(), feeds: newMemFeeds(), timelines: newMemFeeds(), bus: &bus{}}
	w.celebs = &memCelebrities{status: map[string]app.CelebrityStatus{}, followed: map[string]map[string]bool{}, feeds: w.feeds}
	log := slog.New(slog.DiscardHandler)
	w.svc = &app.Service{Posts: w.store, Graph: w.store, Feeds: w.feeds, Timelines: w.timelines, Celebrities: w.celebs,
		Events: w.bus, IDs: app.NewIDGen(1), FeedCap: 800, Log: log}
	w.fanout = &app.Fanout{Posts: w.store, Graph: w.store, Feeds: w.feeds, Timelines: w.timelines, Celebrities: w.celebs,
		FeedCap: 800, PageSize: 2, Log: log}
	for _, u := range users {
		_ = w.store.EnsureUser(context.Background(), u)
	}
	return w
}

// read reads user's whole feed, newest first, page by page (which also
// makes the user active: fan-out writes only into cached feeds).
func (w *world) read(t *testing.T, user string) []app.ID {
	t.Helper()
	var got []app.ID
	cursor := ""
	for {
		page, err := w.svc.ReadFeed(context.Background(), user, cursor, 3)
		must(t, err)
		for _, p := range page.Items {
			got = append(got, p.ID)
		}
		if page.NextCursor == "" {
			return got
		}
		cursor = page.NextCursor
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestValidatePostText(t *testing.T) {
	cases := []struct {
		text string
		ok   bool
	}{
		{"hello", true},
		{strings.Repeat("é", 500), true},
		{strings.Repeat("é", 501), false},
		{"", false},
		{"\xff", false},
	}
	for _, c := range cases {
		err := app.ValidatePostText(c.text)
		if (err == nil) != c.ok || (err != nil && !errors.Is(err, app.ErrInvalid)) {
			t.Errorf("ValidatePostText(%q...) = %v, want ok=%v", c.text[:min(len(c.text), 8)], err, c.ok)
		}
	}
}

func TestIDGenMonotonic(t *testing.T) {
	g := app.NewIDGen(7)
	prev := app.ID(0)
	for range 10000 {
		id := g.Next()
		if id <= prev {
			t.Fatalf("ID %d not above %d", id, prev)
		}
		prev = id
	}
	if d := time.Since(prev.Time()); d < -time.Minute || d > time.Minute {
		t.Fatalf("ID time %v is not now", prev.Time())
	}
}

func TestFanoutDeliversToEveryFollowerAcrossPages(t *testing.T) {
	w := newWorld("a", "f1", "f2", "f3", "f4", "f5")
	ctx := context.Background()
	for i := 1; i <= 5; i++ {
		must(t, w.svc.Follow(ctx, fmt.Sprintf("f%d", i), "a"))
		w.read(t, fmt.Sprintf("f%d", i))
	}
	w.bus.drain(t, w.fanout)
	p, err := w.svc.CreatePost(ctx, "a", "hi")
	must(t, err)
	if ids := w.feeds.ids("f1"); len(ids) != 0 {
		t.Fatal("CreatePost wrote a feed itself; fan-out is the consumer's job")
	}
	w.bus.drain(t, w.fanout)
	for i := 1; i <= 5; i++ {
		if got := w.feeds.ids(fmt.Sprintf("f%d", i)); !slices.Equal(got, []app.ID{p.ID}) {
			t.Fatalf("f%d's feed = %v", i, got)
		}
	}
}

func TestCreatePostWithdrawnWhenPublishFails(t *testing.T) {
	w := newWorld("a")
	w.bus.down = true
	if _, err := w.svc.CreatePost(context.Background(), "a", "lost?"); err == nil {
		t.Fatal("CreatePost succeeded with the broker down")
	}
	if posts, _ := w.store.AuthorPosts(context.Background(), "a", 0, 10); len(posts) != 0 {
		t.Fatalf("an unannounced post stayed in the store: %v", posts)
	}
}

func TestReplayIsHarmless(t *testing.T) {
	ctx := context.Background()
	w := newWorld("a", "b")
	w.read(t, "b")
	must(t, w.svc.Follow(ctx, "b", "a"))
	p1, err := w.svc.CreatePost(ctx, "a", "one")
	must(t, err)
	p2, err := w.svc.CreatePost(ctx, "a", "two")
	must(t, err)
	must(t, w.svc.DeletePost(ctx, "a", p1.ID))
	must(t, w.svc.Unfollow(ctx, "b", "a"))
	must(t, w.svc.Follow(ctx, "b", "a"))
	log := slices.Clone(w.bus.evs)
	w.bus.drain(t, w.fanout)
	want := []app.ID{p2.ID}
	if got := w.feeds.ids("b"); !slices.Equal(got, want) {
		t.Fatalf("feed after first pass = %v, want %v", got, want)
	}
	// Replay the whole log twice: the state must not change.
	for range 2 {
		w.bus.evs = slices.Clone(log)
		w.bus.drain(t, w.fanout)
		if got := w.feeds.ids("b"); !slices.Equal(got, want) {
			t.Fatalf("feed after replay = %v, want %v", got, want)
		}
	}
}

func TestReadFeedRebuildsALostFeed(t *testing.T) {
	ctx := context.Background()
	w := newWorld("a", "c", "b")
	must(t, w.svc.Follow(ctx, "b", "a"))
	must(t, w.svc.Follow(ctx, "b", "c"))
	var want []app.ID
	for i := range 5 {
		for _, author := range []string{"a", "c"} {
			p, err := w.svc.CreatePost(ctx, author, fmt.Sprint(i))
			must(t, err)
			want = append([]app.ID{p.ID}, want...)
		}
	}
	// No fan-out ran: the cache knows nothing of b's feed.
	if got := w.read(t, "b"); !slices.Equal(got, want) {
		t.Fatalf("rebuilt feed = %v, want %v", got, want)
	}
}

func TestServiceErrors(t *testing.T) {
	ctx := context.Background()
	w := newWorld("a", "b")
	p, err := w.svc.CreatePost(ctx, "a", "mine")
	must(t, err)
	cases := []struct {
		name string
		err  error
		want error
	}{
		{"follow yourself", w.svc.Follow(ctx, "a", "a"), app.ErrInvalid},
		{"follow unknown", w.svc.Follow(ctx, "a", "zed"), app.ErrNotFound},
		{"delete other's post", w.svc.DeletePost(ctx, "b", p.ID), app.ErrForbidden},
		{"delete unknown post", w.svc.DeletePost(ctx, "a", p.ID+1), app.ErrNotFound},
		{"empty post", func() error { _, err := w.svc.CreatePost(ctx, "a", ""); return err }(), app.ErrInvalid},
		{"bad cursor", func() error { _, err := w.svc.ReadFeed(ctx, "a", "x", 10); return err }(), app.ErrInvalid},
		{"followers of unknown", func() error { _, _, err := w.svc.Followers(ctx, "zed", "", 10); return err }(), app.ErrNotFound},
	}
	for _, c := range cases {
		if !errors.Is(c.err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, c.err, c.want)
		}
	}
}
