package api

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/feedsvc/feedsvc/app"
)

// StreamPath is the feed stream's route: Server-Sent Events, which the
// router must exempt from the request deadline (httpserver.WithStreams).
const StreamPath = "/v1/feed/stream"

// Stream settings.
const (
	// DefaultMaxStreams is the open streams one process holds when Deps
	// says nothing.
	DefaultMaxStreams = 1000
	// streamPoll is how often a stream reads its user's feed head when
	// the process gets no feed signals (Deps.Signals nil): new posts show
	// within about this long (the web app promises 2 s).
	streamPoll = time.Second
	// streamSlowPoll is how often a stream reads its feed and unread count
	// when feed signals wake it: a lost signal, a celebrity's post (merged
	// on read, never fanned out) or a mention by someone not followed
	// shows within this long. Each stream's period is jittered by up to a
	// quarter, so streams opened together do not read together.
	streamSlowPoll = 20 * time.Second
	// streamHead is how many of the newest posts a stream sends.
	streamHead = DefaultLimit
	// streamNotes is how many of the newest notifications are counted
	// for the unread count (more show as that many).
	streamNotes = 50
	// streamNotesEvery: without feed signals, the unread count is read
	// every this many polls, as it comes from the store (Cassandra), not
	// Redis. With them, it is read on each wake and slow poll.
	streamNotesEvery = 3
	// streamPing keeps proxies from closing an idle stream.
	streamPing = 25 * time.Second
	// streamWriteTimeout bounds each write: a client that stops reading
	// must not hold its stream (and the shutdown) forever.
	streamWriteTimeout = 10 * time.Second
	// streamLifetime ends every stream after a while: the browser opens a
	// new one with the token it has, so an expired or revoked token stops
	// getting the feed within this long.
	streamLifetime = 5 * time.Minute
	// streamsPerUser bounds one user's open streams (a few tabs), so one
	// token cannot take the whole process's cap.
	streamsPerUser = 5
)

// streams bounds and ends the open feed streams of the process.
type streams struct {
	max    int
	mu     sync.Mutex
	open   int
	byUser map[string]int
	// wakers are the open streams' wake channels, by user (see wake).
	wakers map[string]map[chan struct{}]struct{}
	done   chan struct{} // closed when the role stops: every stream ends
	once   sync.Once
}

func newStreams(max int) *streams {
	return &streams{max: max, byUser: map[string]int{}, wakers: map[string]map[chan struct{}]struct{}{}, done: make(chan struct{})}
}

// listen returns a channel that wake signals when user's feed changed,
// and the function that stops it.
func (s *streams) listen(user string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.wakers[user] == nil {
		s.wakers[user] = map[chan struct{}]struct{}{}
	}
	s.wakers[user][ch] = struct{}{}
	return ch, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(s.wakers[user], ch)
		if len(s.wakers[user]) == 0 {
			delete(s.wakers, user)
		}
	}
}

// wake tells the open streams of users that their feeds changed; a
// stream already woken and not yet reading is not woken twice. Users
// without a stream here cost a map lookup.
func (s *streams) wake(users []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range users {
		for ch := range s.wakers[u] {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
}

// take counts one more open stream of user, or says why not: the process
// is stopping, holds its maximum, or user holds theirs.
func (s *streams) take(user string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.done:
		return echo.NewHTTPError(http.StatusServiceUnavailable, "the server is stopping; try again")
	default:
	}
	if s.open >= s.max {
		return echo.NewHTTPError(http.StatusServiceUnavailable, "this process holds its maximum of open feed streams (--max-feed-streams); try again later")
	}
	if s.byUser[user] >= streamsPerUser {
		return echo.NewHTTPError(http.StatusTooManyRequests, fmt.Sprintf("at most %d open feed streams per user", streamsPerUser))
	}
	s.open++
	s.byUser[user]++
	return nil
}

func (s *streams) release(user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.open--
	if s.byUser[user]--; s.byUser[user] <= 0 {
		delete(s.byUser, user)
	}
}

// stop ends every stream: the HTTP server's shutdown waits for the
// requests in flight, and a stream would otherwise never finish.
func (s *streams) stop() { s.once.Do(func() { close(s.done) }) }

// feedHead is the data of a "feed" event: the newest posts of the feed.
type feedHead struct {
	Items []app.PostView `json:"items"`
}

// unread is the data of a "notifications" event.
type unread struct {
	// Unread counts the unread notifications among the newest
	// streamNotes.
	Unread int `json:"unread"`
}

// stream sends the caller's newest feed posts and unread notification
// count as Server-Sent Events, each time they change.
//
// It reads the feed as GET /v1/feed does (the one place that merges
// celebrities' timelines, hides deleted and moderated posts and rebuilds a
// lost feed), so what it sends is what a reload would show. When it reads:
// with feed signals (Deps.Signals: fan-out's writes published on one Redis
// channel, one subscription per process), when the user's feed changed and
// otherwise every streamSlowPoll, so an idle stream costs a goroutine and
// its connection, not a Redis read a second; without them, every
// streamPoll.
func (h *handlers) stream(c echo.Context) error {
	user := caller(c)
	if err := h.streams.take(user); err != nil {
		return err
	}
	defer h.streams.release(user)
	ctx, cancel := context.WithTimeout(c.Request().Context(), streamLifetime)
	defer cancel()
	// The server's read deadline would end the request's context after a
	// minute; a stream lives until its client leaves (or streamLifetime).
	rc := http.NewResponseController(c.Response().Writer)
	_ = rc.SetReadDeadline(time.Time{})

	w := c.Response()
	// Each write gets streamWriteTimeout, so a client that stopped
	// reading ends its stream instead of blocking it (and the shutdown).
	deadline := func() { _ = rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout)) }
	deadline()
	w.Header().Set(echo.HeaderContentType, "text/event-stream")
	w.Header().Set(echo.HeaderCacheControl, "no-store")
	w.Header().Set("X-Accel-Buffering", "no") // nginx: do not buffer the events
	w.WriteHeader(http.StatusOK)
	// The browser reconnects this long after the stream ends.
	if _, err := fmt.Fprint(w, "retry: 1000\n\n"); err != nil {
		return nil
	}
	w.Flush()

	var lastFeed []app.ID
	lastUnread := -1
	period, notesEvery := streamPoll, streamNotesEvery
	var woken <-chan struct{}
	if h.signals {
		var stop func()
		woken, stop = h.streams.listen(user)
		defer stop()
		period, notesEvery = jitter(streamSlowPoll), 1
	}
	poll := time.NewTicker(period)
	defer poll.Stop()
	ping := time.NewTicker(streamPing)
	defer ping.Stop()
	var lastRead time.Time
	for tick := 0; ; tick++ {
		// At most one read per streamPoll, however often the stream is
		// woken: while fan-out works off a backlog, an active user's
		// feed changes many times a second.
		if wait := streamPoll - time.Since(lastRead); wait > 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-h.streams.done:
				return nil
			case <-time.After(wait):
			}
		}
		lastRead = time.Now()
		fp, err := h.svc.ReadFeed(ctx, user, "", streamHead)
		if err == nil {
			// The entries, not the posts: a repost shows as its
			// original, and an entry becoming another of the same
			// post (the original, a repost) is a change to show.
			ids := make([]app.ID, len(fp.Items))
			for i, p := range fp.Items {
				ids[i] = p.ID
				if p.RepostID != 0 {
					ids[i] = p.RepostID
				}
			}
			// Like counts as of the feed's change: a like alone
			// sends nothing.
			if lastFeed == nil || !slices.Equal(ids, lastFeed) {
				if v, err := h.svc.ViewPosts(ctx, user, fp.Items); err == nil {
					if send(w, deadline, "feed", feedHead{Items: v}) != nil {
						return nil
					}
					lastFeed = ids
				}
			}
		}
		if tick%notesEvery == 0 {
			if n, err := h.unread(ctx, user); err == nil && n != lastUnread {
				if send(w, deadline, "notifications", unread{Unread: n}) != nil {
					return nil
				}
				lastUnread = n
			}
		}
		// A failed read (a blip) is tried again on the next tick;
		// the client keeps what it has.
	wait:
		select {
		case <-ctx.Done():
			return nil
		case <-h.streams.done:
			return nil
		case <-ping.C:
			deadline()
			if _, err := fmt.Fprint(w, ": ping\n\n"); err != nil {
				return nil
			}
			w.Flush()
			if h.signals {
				goto wait // a ping is no reason to read
			}
		case <-woken:
		case <-poll.C:
		}
	}
}

// jitter returns d plus up to a quarter of it, at random.
func jitter(d time.Duration) time.Duration {
	return d + time.Duration(rand.Int64N(int64(d/4)+1))
}

// unread counts the unread notifications among user's newest streamNotes.
func (h *handlers) unread(ctx context.Context, user string) (int, error) {
	ns, _, err := h.svc.Notifications(ctx, user, "", streamNotes)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, note := range ns {
		if !note.Read {
			n++
		}
	}
	return n, nil
}

// send writes one event and flushes it, with a fresh write deadline (set
// now, not before the read that made the event: a slow read must not
// spend the write's time).
func send(w *echo.Response, deadline func(), event string, data any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("encode %s event: %w", event, err)
	}
	deadline()
	if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b); err != nil {
		return fmt.Errorf("write %s event: %w", event, err)
	}
	w.Flush()
	return nil
}
