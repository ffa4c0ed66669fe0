package api

import (
	"context"
	"encoding/json"
	"fmt"
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
	// streamPoll is how often a stream reads its user's feed head: new
	// posts show within about this long (the web app promises 2 s).
	streamPoll = time.Second
	// streamHead is how many of the newest posts a stream sends.
	streamHead = DefaultLimit
	// streamNotes is how many of the newest notifications are counted
	// for the unread count (more show as that many).
	streamNotes = 50
	// streamNotesEvery: the unread count is read every this many polls,
	// as it comes from the store (Cassandra), not Redis.
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
	done   chan struct{} // closed when the role stops: every stream ends
	once   sync.Once
}

func newStreams(max int) *streams {
	return &streams{max: max, byUser: map[string]int{}, done: make(chan struct{})}
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
	Items []app.Post `json:"items"`
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
// It polls the feed (as GET /v1/feed reads it) once a second per open
// stream rather than subscribing to fan-out's writes: the feed read is
// the one place that already merges celebrities' timelines, hides
// deleted and moderated posts and rebuilds a lost feed, so what the
// stream sends is exactly what a reload would show; it needs no new
// channel between fanout and api processes (any api process serves any
// user, and a missed pub/sub message would be a lost update); its cost
// is bounded by the streams cap (per stream, a Redis page read and
// post-cache hits each second, a store read of the newest notifications
// every streamNotesEvery seconds).
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
	poll := time.NewTicker(streamPoll)
	defer poll.Stop()
	ping := time.NewTicker(streamPing)
	defer ping.Stop()
	for tick := 0; ; tick++ {
		deadline()
		fp, err := h.svc.ReadFeed(ctx, user, "", streamHead)
		if err == nil {
			ids := make([]app.ID, len(fp.Items))
			for i, p := range fp.Items {
				ids[i] = p.ID
			}
			if lastFeed == nil || !slices.Equal(ids, lastFeed) {
				if send(w, "feed", feedHead{Items: nonNil(fp.Items)}) != nil {
					return nil
				}
				lastFeed = ids
			}
		}
		if tick%streamNotesEvery == 0 {
			if n, err := h.unread(ctx, user); err == nil && n != lastUnread {
				if send(w, "notifications", unread{Unread: n}) != nil {
					return nil
				}
				lastUnread = n
			}
		}
		// A failed read (a blip) is tried again on the next tick;
		// the client keeps what it has.
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
		case <-poll.C:
		}
	}
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

// send writes one event and flushes it.
func send(w *echo.Response, event string, data any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("encode %s event: %w", event, err)
	}
	if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b); err != nil {
		return fmt.Errorf("write %s event: %w", event, err)
	}
	w.Flush()
	return nil
}
