// Package api is the api role: feedsvc's JSON HTTP API on echo, with bearer
// JWT auth. It calls app.Service and never touches followers' feeds.
package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/internal/httpserver"
)

// Limits of the API.
const (
	MaxBody      = "16K"
	DefaultLimit = 20
	MaxLimit     = 100
	// knownUsersCap bounds the cache of users already recorded, so memory
	// stays flat however many users call.
	knownUsersCap = 100_000
)

// Deps is what the api role needs.
type Deps struct {
	// Service runs the use cases behind the routes.
	Service *app.Service
	// Graph records each user on its first authenticated request.
	Graph app.Graph
	// Analytics serves trends and per-user stats (nil: 503).
	Analytics app.Analytics
	// Search and Posts serve full-text search (either nil: 503). Posts is
	// read directly, not through Service, to hydrate search hits.
	Search app.SearchIndex
	Posts  app.PostStore
	// Verify checks a bearer token and returns its user.
	Verify func(token string) (string, error)
	// Limiter keeps the counts of Limits (nil: no rate limits).
	Limiter app.RateLimiter
	Limits  RateLimits
	// MaxStreams bounds the open feed streams (GET /v1/feed/stream);
	// one more gets 503 (0: DefaultMaxStreams, negative: none).
	MaxStreams int
	// Signals, when set, wake the feed streams of the users whose feeds
	// fan-out changed, and streams otherwise read slowly (nil: every
	// stream reads its feed every second).
	Signals FeedWatcher
	// Tickets keep the one-use tickets that open a feed stream (POST
	// /v1/feed/stream/ticket, then GET /v1/feed/stream?ticket=).
	Tickets app.StreamTickets
	// DevLogin, when set, signs a token for any user who asks (POST
	// /v1/dev/login, for the web app on a laptop). The composition root
	// sets it only for dev login (configs.Config.DevLogin): nil, the route
	// does not exist.
	DevLogin func(user string) (string, error)
	// Log and Metrics take the limiter's warnings and counters (either
	// may be nil).
	Log     *slog.Logger
	Metrics prometheus.Registerer
}

// FeedWatcher calls fn with the users of each feed signal until ctx ends
// (store/redis FeedSignals.Watch).
type FeedWatcher interface {
	Watch(ctx context.Context, fn func(users []string)) error
}

// API is the api role. Its routes live on the process's router; the role
// itself watches the feed signals until shutdown, then ends the open feed
// streams.
type API struct {
	streams *streams
	signals FeedWatcher
}

// New registers the /v1 routes on e.
func New(e *echo.Echo, d Deps) (*API, error) {
	switch {
	case e == nil:
		return nil, errors.New("api: no router")
	case d.Service == nil || d.Graph == nil:
		return nil, errors.New("api: no service or graph")
	case d.Verify == nil:
		return nil, errors.New("api: no token verifier")
	case d.Tickets == nil:
		return nil, errors.New("api: no stream tickets")
	}
	log := d.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := serveOpenAPI(e); err != nil {
		return nil, err
	}
	if err := serveWeb(e, d.DevLogin != nil); err != nil {
		return nil, err
	}
	maxStreams := d.MaxStreams
	switch {
	case maxStreams == 0:
		maxStreams = DefaultMaxStreams
	case maxStreams < 0:
		maxStreams = 0
	}
	lim := newLimiter(d.Limiter, d.Limits, log, d.Metrics)
	h := &handlers{svc: d.Service, graph: d.Graph, limits: lim, known: map[string]struct{}{}, streams: newStreams(maxStreams), tickets: d.Tickets, signals: d.Signals != nil,
		degraded: newDegradedCounter(d.Metrics)}
	if d.DevLogin != nil {
		// Outside the /v1 group: it is how a caller without a token gets one.
		e.POST(DevLoginPath, devLogin(d.DevLogin), middleware.BodyLimit(MaxBody), httpserver.AddressedHost, unproxied)
	}
	v1 := v1Routes{g: e.Group("/v1"), mw: []echo.MiddlewareFunc{middleware.BodyLimit(MaxBody), h.authenticate(d.Verify)},
		read: lim.perUser("reads", d.Limits.Reads)}
	v1.POST("/posts", h.createPost, lim.perUser("posts", d.Limits.Posts))
	v1.GET("/posts/:id", h.getPost)
	v1.DELETE("/posts/:id", h.deletePost, lim.perUser("deletes", d.Limits.Deletes))
	v1.PUT("/following/:user", h.follow, lim.perUser("follows", d.Limits.Follows))
	v1.DELETE("/following/:user", onPath(userParam, h.svc.Unfollow), lim.perUser("follows", d.Limits.Follows))
	// Blocks are graph writes too (a block ends up to two follows): they
	// share the follows' limit.
	v1.PUT("/blocks/:user", onPath(userParam, h.svc.Block), lim.perUser("follows", d.Limits.Follows))
	v1.DELETE("/blocks/:user", onPath(userParam, h.svc.Unblock), lim.perUser("follows", d.Limits.Follows))
	v1.GET("/blocks", h.blocks)
	// Mutes too: graph writes, each announced.
	v1.PUT("/mutes/:user", h.mute, lim.perUser("follows", d.Limits.Follows))
	v1.DELETE("/mutes/:user", onPath(userParam, h.svc.Unmute), lim.perUser("follows", d.Limits.Follows))
	v1.GET("/mutes", h.mutes)
	v1.PUT("/posts/:id/like", onPath(postID, h.svc.Like), lim.perUser("likes", d.Limits.Likes))
	v1.GET("/posts/:id/replies", h.replies)
	v1.DELETE("/posts/:id/like", onPath(postID, h.svc.Unlike), lim.perUser("likes", d.Limits.Likes))
	v1.PUT("/posts/:id/repost", onPath(postID, func(ctx context.Context, user string, id app.ID) error {
		_, err := h.svc.Repost(ctx, user, id)
		return err
	}), lim.perUser("likes", d.Limits.Likes))
	v1.DELETE("/posts/:id/repost", onPath(postID, h.svc.Unrepost), lim.perUser("likes", d.Limits.Likes))
	// List writes count against the follows' limit: like follows, they
	// pick whose posts a timeline shows (no knob of their own).
	v1.POST("/lists", h.createList, lim.perUser("follows", d.Limits.Follows))
	v1.GET("/lists", h.lists)
	v1.GET("/lists/:id", h.getList)
	v1.PATCH("/lists/:id", h.renameList, lim.perUser("follows", d.Limits.Follows))
	v1.DELETE("/lists/:id", h.deleteList, lim.perUser("follows", d.Limits.Follows))
	v1.PUT("/lists/:id/members/:user", h.addListMember, lim.perUser("follows", d.Limits.Follows))
	v1.DELETE("/lists/:id/members/:user", h.removeListMember, lim.perUser("follows", d.Limits.Follows))
	v1.GET("/lists/:id/members", h.listMembers)
	v1.GET("/lists/:id/feed", h.listFeed)
	v1.GET("/users/:user/followers", h.followers)
	v1.GET("/users/:user/following", h.following)
	v1.GET("/users/:user/posts", h.userPosts)
	v1.GET("/feed", h.feed)
	v1.GET(strings.TrimPrefix(StreamPath, "/v1"), h.stream)
	v1.POST(strings.TrimPrefix(TicketPath, "/v1"), h.streamTicket, v1.read)
	v1.GET("/notifications", h.notifications)
	v1.POST("/notifications/read", h.markRead)
	registerDiscovery(v1, d, lim)
	return &API{streams: h.streams, signals: d.Signals}, nil
}

// v1Routes adds the /v1 routes, each with the body limit and
// authentication: per route, not as group middleware, which echo serves
// through a catch-all route that answers a wrong method 404 instead of 405.
type v1Routes struct {
	g  *echo.Group
	mw []echo.MiddlewareFunc
	// read is the reads' rate limit, on every GET before its own.
	read echo.MiddlewareFunc
}

func (r v1Routes) add(method, path string, h echo.HandlerFunc, m []echo.MiddlewareFunc) {
	r.g.Add(method, path, h, append(slices.Clone(r.mw), m...)...)
}

func (r v1Routes) GET(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) {
	r.add(http.MethodGet, path, h, append([]echo.MiddlewareFunc{r.read}, m...))
}

func (r v1Routes) POST(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) {
	r.add(http.MethodPost, path, h, m)
}

func (r v1Routes) PUT(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) {
	r.add(http.MethodPut, path, h, m)
}

func (r v1Routes) PATCH(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) {
	r.add(http.MethodPatch, path, h, m)
}

func (r v1Routes) DELETE(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) {
	r.add(http.MethodDelete, path, h, m)
}

// Run waits for ctx, watching the feed signals: the process's HTTP server
// serves the routes. Then it ends the feed streams, before the server's
// shutdown waits for them.
func (a *API) Run(ctx context.Context) error {
	if a.signals != nil && a.streams != nil {
		if err := a.signals.Watch(ctx, a.streams.wake); err != nil {
			return fmt.Errorf("watch feed signals: %w", err)
		}
	}
	<-ctx.Done()
	if a.streams != nil { // nil: an API not made by New serves no streams
		a.streams.stop()
	}
	return nil
}

type handlers struct {
	svc     *app.Service
	graph   app.Graph
	limits  *limiter
	streams *streams
	tickets app.StreamTickets
	// signals: Deps.Signals is set, so streams are woken and poll slowly.
	signals bool
	// degraded counts feed pages served without the store (degradable).
	degraded *prometheus.CounterVec

	mu    sync.Mutex
	known map[string]struct{}
}

const userKey = "user"

// authenticate checks the bearer token and records the user on its first
// request (a user exists from its first authenticated call). Requests
// without a valid token count against their IP's AuthFailures limit.
//
// The feed stream alone may be opened with a ticket in the query instead
// (?ticket=, from POST /v1/feed/stream/ticket): a browser's EventSource
// cannot set headers, and a bearer token in a URL would be written to the
// access logs of proxies on the way. A ticket is one-use and short-lived.
func (h *handlers) authenticate(verify func(string) (string, error)) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			auth := c.Request().Header.Get(echo.HeaderAuthorization)
			var user string
			if ticket := c.QueryParam("ticket"); auth == "" && ticket != "" && c.Path() == StreamPath {
				u, err := h.takeTicket(c.Request().Context(), ticket)
				if err != nil {
					if errors.Is(err, app.ErrNotFound) || errors.Is(err, app.ErrInvalid) {
						return h.limits.authFailed(c, echo.NewHTTPError(http.StatusUnauthorized, err.Error()))
					}
					return err
				}
				user = u
			} else {
				token, ok := strings.CutPrefix(auth, "Bearer ")
				if !ok || token == "" {
					msg := "missing bearer token"
					if c.QueryParam("access_token") != "" {
						msg += " (a token in the query is not accepted: open the feed stream with a ticket from POST " + TicketPath + ")"
					}
					return h.limits.authFailed(c, echo.NewHTTPError(http.StatusUnauthorized, msg))
				}
				u, err := verify(strings.TrimSpace(token))
				if err != nil {
					return h.limits.authFailed(c, echo.NewHTTPError(http.StatusUnauthorized, err.Error()))
				}
				user = u
			}
			if err := h.ensureUser(c.Request().Context(), user); err != nil {
				return err
			}
			c.Set(userKey, user)
			return next(c)
		}
	}
}

func (h *handlers) ensureUser(ctx context.Context, user string) error {
	h.mu.Lock()
	_, ok := h.known[user]
	h.mu.Unlock()
	if ok {
		return nil
	}
	if err := h.graph.EnsureUser(ctx, user); err != nil {
		return fmt.Errorf("record user %s: %w", user, err)
	}
	h.mu.Lock()
	if len(h.known) >= knownUsersCap {
		clear(h.known)
	}
	h.known[user] = struct{}{}
	h.mu.Unlock()
	return nil
}

func caller(c echo.Context) string { return c.Get(userKey).(string) }

// decode reads a JSON body strictly: one object, no unknown fields.
func decode(c echo.Context, v any) error {
	body, err := readBody(c)
	if err != nil {
		return err
	}
	return decodeBody(body, v)
}

// decodeOptional is decode for a body that may be left out: an empty one
// leaves v as it is.
func decodeOptional(c echo.Context, v any) error {
	body, err := readBody(c)
	if err != nil || len(bytes.TrimSpace(body)) == 0 {
		return err
	}
	return decodeBody(body, v)
}

func readBody(c echo.Context) ([]byte, error) {
	if ct := c.Request().Header.Get(echo.HeaderContentType); ct != "" && !strings.HasPrefix(ct, echo.MIMEApplicationJSON) {
		return nil, echo.NewHTTPError(http.StatusUnsupportedMediaType, "body must be application/json")
	}
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) || errors.Is(err, echo.ErrStatusRequestEntityTooLarge) {
			return nil, echo.NewHTTPError(http.StatusRequestEntityTooLarge, "body larger than "+MaxBody)
		}
		return nil, echo.NewHTTPError(http.StatusBadRequest, "read body: "+err.Error())
	}
	return body, nil
}

func decodeBody(body []byte, v any) error {
	// encoding/json would silently turn invalid UTF-8 into U+FFFD.
	if !utf8.Valid(body) {
		return echo.NewHTTPError(http.StatusBadRequest, "body is not valid UTF-8")
	}
	// null, an array or a string would decode into the request as nothing
	// at all, and a null to /v1/notifications/read marked everything read.
	if t := bytes.TrimLeft(body, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return echo.NewHTTPError(http.StatusBadRequest, "invalid JSON body: it must be one JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "invalid JSON body: "+err.Error())
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return echo.NewHTTPError(http.StatusBadRequest, "invalid JSON body: trailing data after the object")
	}
	return nil
}

type createPostRequest struct {
	Text *string `json:"text"`
	// InReplyTo is the ID of the post this one replies to (absent: none).
	InReplyTo *string `json:"in_reply_to"`
}

func (h *handlers) createPost(c echo.Context) error {
	var req createPostRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if req.Text == nil {
		return echo.NewHTTPError(http.StatusBadRequest, `field "text" is required`)
	}
	var parent app.ID
	if req.InReplyTo != nil {
		id, err := app.ParseID(*req.InReplyTo)
		if err != nil {
			return echo.NewHTTPError(http.StatusBadRequest, `field "in_reply_to" must be a post ID`)
		}
		parent = id
	}
	// Idempotency-Key (IETF httpapi draft): a retry with the same key
	// answers with the post the first request created.
	key, err := oneValue(c.Request().Header.Values("Idempotency-Key"), "the Idempotency-Key header")
	if err != nil {
		return err
	}
	p, err := h.svc.CreateReply(c.Request().Context(), caller(c), *req.Text, key, parent)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, "/v1/posts/"+p.ID.String())
	// A post just made has no likes nor replies: no read (a retry with an
	// Idempotency-Key answers as the first request did).
	return c.JSON(http.StatusCreated, app.PostView{Post: p})
}

// postID parses the :id parameter; a malformed ID names no post, so 404.
func postID(c echo.Context) (app.ID, error) {
	id, err := app.ParseID(c.Param("id"))
	if err != nil {
		return 0, echo.NewHTTPError(http.StatusNotFound, fmt.Sprintf("post %q not found", c.Param("id")))
	}
	return id, nil
}

func (h *handlers) getPost(c echo.Context) error {
	id, err := postID(c)
	if err != nil {
		return err
	}
	p, err := h.svc.ReadPost(c.Request().Context(), caller(c), id)
	if err != nil {
		return err
	}
	v, err := h.views(c, []app.Post{p})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v[0])
}

func (h *handlers) deletePost(c echo.Context) error {
	id, err := postID(c)
	if err != nil {
		return err
	}
	if err := h.svc.DeletePost(c.Request().Context(), caller(c), id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// userParam validates the :user parameter.
func userParam(c echo.Context) (string, error) {
	u := c.Param("user")
	if !app.ValidUserID(u) {
		return "", echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf("user id %q must match ^[a-z0-9_]{1,32}$", u))
	}
	return u, nil
}

// followRequest is PUT /v1/following/{user}'s optional body: whether the
// caller sees the user's reposts (absent: a new follow shows them, an
// existing one keeps its setting).
type followRequest struct {
	Reposts *bool `json:"reposts"`
}

// onPath is the handler of an action of the caller on what the path
// names (param parses it): 204 once done. On a user (userParam):
// unfollow, block, unblock, unmute. On a post (postID): like, unlike,
// repost, unrepost. Like: 404 for a post the caller cannot see (unknown,
// deleted, moderated and not theirs), 403 across a block with its author
// either way (the post may be readable, but a like across a block would
// reach its author); liking again is harmless. Unlike: 204 also when
// there was no like. Repost: as a like, and nothing new is made the second
// time (a repost's ID reposts its original). Unrepost: 204 also when there
// was none, 404 for a post the caller cannot see and never reposted;
// allowed across a block.
func onPath[T any](param func(echo.Context) (T, error), act func(ctx context.Context, caller string, target T) error) echo.HandlerFunc {
	return func(c echo.Context) error {
		target, err := param(c)
		if err != nil {
			return err
		}
		if err := act(c.Request().Context(), caller(c), target); err != nil {
			return err
		}
		return c.NoContent(http.StatusNoContent)
	}
}

func (h *handlers) follow(c echo.Context) error {
	u, err := userParam(c)
	if err != nil {
		return err
	}
	var req followRequest
	if err := decodeOptional(c, &req); err != nil {
		return err
	}
	if err := h.svc.FollowWith(c.Request().Context(), caller(c), u, req.Reposts); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// blocks lists the users the caller blocks: only the caller's own (whom a
// user blocks is nobody else's business, and who blocks them is not shown).
func (h *handlers) blocks(c echo.Context) error {
	limit, cursor, err := pageParams(c)
	if err != nil {
		return err
	}
	users, next, err := h.svc.Blocking(c.Request().Context(), caller(c), cursor, limit)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, page[string]{Items: nonNil(users), NextCursor: next})
}

// muteRequest is PUT /v1/mutes/{user}'s optional body: a duration as a
// Go duration string ("90m", "24h", "168h"); without one the mute lasts
// until unmuted.
type muteRequest struct {
	Duration *string `json:"duration"`
}

func (h *handlers) mute(c echo.Context) error {
	u, err := userParam(c)
	if err != nil {
		return err
	}
	var req muteRequest
	if err := decodeOptional(c, &req); err != nil {
		return err
	}
	var d time.Duration
	if req.Duration != nil {
		d, err = time.ParseDuration(*req.Duration)
		if err != nil || d <= 0 || d > app.MaxMuteDuration {
			return echo.NewHTTPError(http.StatusBadRequest,
				fmt.Sprintf(`"duration" must be a positive Go duration of at most 8760h (365 days), such as "90m" or "24h"; got %q`, *req.Duration))
		}
	}
	if err := h.svc.Mute(c.Request().Context(), caller(c), u, d); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// muteItem is one of GET /v1/mutes' items.
type muteItem struct {
	User      string     `json:"user"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// mutes lists the caller's active mutes, by name of the muted: only the
// caller's own (who mutes a user is not shown to anyone).
func (h *handlers) mutes(c echo.Context) error {
	limit, cursor, err := pageParams(c)
	if err != nil {
		return err
	}
	mutes, next, err := h.svc.Muting(c.Request().Context(), caller(c), cursor, limit)
	if err != nil {
		return err
	}
	items := make([]muteItem, len(mutes))
	for i, m := range mutes {
		items[i] = muteItem{User: m.Muted}
		if !m.ExpiresAt.IsZero() {
			at := m.ExpiresAt.UTC()
			items[i].ExpiresAt = &at
		}
	}
	return c.JSON(http.StatusOK, page[muteItem]{Items: items, NextCursor: next})
}

// pageParams reads ?limit (1..MaxLimit, default DefaultLimit) and ?cursor
// (empty: the first page), each at most once.
func pageParams(c echo.Context) (limit int, cursor string, err error) {
	limit = DefaultLimit
	q := c.QueryParams()
	if len(q["cursor"]) > 1 {
		return 0, "", echo.NewHTTPError(http.StatusBadRequest, "cursor is given more than once")
	}
	cursor = c.QueryParam("cursor")
	if _, given := q["limit"]; given {
		s, err := oneValue(q["limit"], "limit")
		n, convErr := strconv.Atoi(s)
		if err != nil || convErr != nil || n < 1 || n > MaxLimit {
			return 0, "", echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf("limit must be an integer from 1 to %d, given once", MaxLimit))
		}
		limit = n
	}
	return limit, cursor, nil
}

// oneValue is the value of a query parameter or header given at most
// once, and not empty when given ("" when absent).
func oneValue(vs []string, what string) (string, error) {
	switch {
	case len(vs) == 0:
		return "", nil
	case len(vs) > 1:
		return "", echo.NewHTTPError(http.StatusBadRequest, what+" is given more than once")
	case vs[0] == "":
		return "", echo.NewHTTPError(http.StatusBadRequest, what+" is empty")
	}
	return vs[0], nil
}

// page is the JSON shape of every list.
type page[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor"`
}

func (h *handlers) followers(c echo.Context) error {
	return h.listUsers(c, h.svc.Followers)
}

func (h *handlers) following(c echo.Context) error {
	return h.listUsers(c, h.svc.Following)
}

func (h *handlers) listUsers(c echo.Context, list func(context.Context, string, string, int) ([]string, string, error)) error {
	u, err := userParam(c)
	if err != nil {
		return err
	}
	limit, cursor, err := pageParams(c)
	if err != nil {
		return err
	}
	users, next, err := list(c.Request().Context(), u, cursor, limit)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, page[string]{Items: nonNil(users), NextCursor: next})
}

// postsPage answers a page of posts as the caller sees them (views).
func (h *handlers) postsPage(c echo.Context, posts []app.Post, next string) error {
	v, err := h.views(c, posts)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, page[app.PostView]{Items: v, NextCursor: next})
}

func (h *handlers) userPosts(c echo.Context) error {
	u, err := userParam(c)
	if err != nil {
		return err
	}
	limit, cursor, err := pageParams(c)
	if err != nil {
		return err
	}
	posts, next, err := h.svc.AuthorPosts(c.Request().Context(), caller(c), u, cursor, limit)
	if err != nil {
		return err
	}
	return h.postsPage(c, posts, next)
}

func (h *handlers) feed(c echo.Context) error {
	limit, cursor, err := pageParams(c)
	if err != nil {
		return err
	}
	tell := h.degradable(c)
	fp, err := h.svc.ReadFeed(c.Request().Context(), caller(c), cursor, limit)
	if err != nil {
		return err
	}
	return h.feedPage(c, tell, fp)
}

// feedPage answers a page of a home or list feed read under degradable:
// rendered (ViewPosts, which may degrade too), then told.
func (h *handlers) feedPage(c echo.Context, tell func(), fp app.FeedPage) error {
	v, err := h.views(c, fp.Items)
	if err != nil {
		return err
	}
	tell()
	return c.JSON(http.StatusOK, page[app.PostView]{Items: v, NextCursor: fp.NextCursor})
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func (h *handlers) notifications(c echo.Context) error {
	limit, cursor, err := pageParams(c)
	if err != nil {
		return err
	}
	ns, next, err := h.svc.Notifications(c.Request().Context(), caller(c), cursor, limit)
	if err != nil {
		return err
	}
	posts, err := h.svc.NotifiedPosts(c.Request().Context(), caller(c), ns)
	if err != nil {
		return err
	}
	views, err := h.views(c, slices.Collect(maps.Values(posts)))
	if err != nil {
		return err
	}
	byID := make(map[app.ID]*app.PostView, len(views))
	for i := range views {
		byID[views[i].ID] = &views[i]
	}
	items := make([]notificationItem, len(ns))
	for i, n := range ns {
		items[i] = notificationItem{Notification: n, Post: byID[n.Post]}
	}
	return c.JSON(http.StatusOK, page[notificationItem]{Items: items, NextCursor: next})
}

// notificationItem is a notification with the post it is about, when the
// caller may see it.
type notificationItem struct {
	app.Notification
	Post *app.PostView `json:"post,omitempty"`
}

type markReadRequest struct {
	// UpTo is the newest notification ID to mark read; empty marks all.
	UpTo string `json:"up_to"`
}

func (h *handlers) markRead(c echo.Context) error {
	var req markReadRequest
	if c.Request().ContentLength != 0 {
		if err := decode(c, &req); err != nil {
			return err
		}
	}
	var upTo app.ID
	if req.UpTo != "" {
		id, err := app.ParseID(req.UpTo)
		if err != nil {
			return echo.NewHTTPError(http.StatusBadRequest, `"up_to" must be a notification id`)
		}
		upTo = id
	}
	if err := h.svc.MarkNotificationsRead(c.Request().Context(), caller(c), upTo); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
