package api_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/internal/httpserver"
	"github.com/feedsvc/feedsvc/internal/testenv"
	"github.com/feedsvc/feedsvc/roles/api"
	redisstore "github.com/feedsvc/feedsvc/store/redis"
)

var testLimits = api.RateLimits{
	Posts:        app.Limit{Quota: 3, Window: time.Hour},
	Follows:      app.Limit{Quota: 2, Window: time.Hour},
	Searches:     app.Limit{Quota: 2, Window: time.Hour},
	AuthFailures: app.Limit{Quota: 3, Window: time.Hour},
	Reads:        app.Limit{Quota: 20, Window: time.Hour},
	Deletes:      app.Limit{Quota: 1, Window: time.Hour},
}

// limitedServer is an api process whose limits are kept in the Redis at
// addr, with its own metrics registry.
func limitedServer(t *testing.T, addr string, http ...httpserver.Option) (*server, *prometheus.Registry) {
	t.Helper()
	c, err := redisstore.Open(context.Background(), redisstore.Config{Addrs: []string{addr}, Embedded: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	reg := prometheus.NewRegistry()
	return newServer(t, options{http: http, deps: func(d *api.Deps) {
		d.Limiter, d.Limits, d.Metrics = redisstore.NewRateLimiter(c), testLimits, reg
	}}), reg
}

// wantLimited checks a 429 of limit name and its headers.
func wantLimited(t *testing.T, rec *httptest.ResponseRecorder, name string, quota int, window time.Duration) {
	t.Helper()
	wantProblem(t, rec, http.StatusTooManyRequests, name)
	h := rec.Result().Header
	if got, want := h.Get("RateLimit-Policy"), `"`+name+`";q=`+strconv.Itoa(quota)+`;w=`+strconv.Itoa(int(window.Seconds())); got != want {
		t.Fatalf("RateLimit-Policy %q, want %q", got, want)
	}
	if got := h.Get("RateLimit"); !strings.HasPrefix(got, `"`+name+`";r=0;t=`) {
		t.Fatalf("RateLimit %q, want none remaining", got)
	}
	if s, err := strconv.Atoi(h.Get("Retry-After")); err != nil || s <= 0 || s > int(window.Seconds()) {
		t.Fatalf("Retry-After %q, want seconds within the window", h.Get("Retry-After"))
	}
}

// TestRateLimits: a burst past a user's limit gets 429 with Retry-After
// and the draft RateLimit headers, changes nothing, and leaves other users
// alone; the count holds across two api processes sharing one Redis.
func TestRateLimits(t *testing.T) {
	m := miniredis.RunT(t)
	one, reg := limitedServer(t, m.Addr())
	two, _ := limitedServer(t, m.Addr())
	alice, bob := userFor(t, "alice"), userFor(t, "bob")
	for _, s := range []*server{one, two} {
		s.must(t, "GET", "/v1/feed", bob, "", 200)
	}

	t.Run("posts", func(t *testing.T) {
		for i, s := range []*server{one, two, one} {
			rec := s.must(t, "POST", "/v1/posts", alice, `{"text":"hi"}`, 201)
			if got, want := rec.Header().Get("RateLimit"), `"posts";r=`+strconv.Itoa(2-i)+`;t=`; !strings.HasPrefix(got, want) {
				t.Fatalf("post %d: RateLimit %q, want prefix %q", i+1, got, want)
			}
		}
		rec := two.do("POST", "/v1/posts", alice, `{"text":"one too many"}`)
		wantProblem(t, rec, http.StatusTooManyRequests, "rate limit")
		wantLimited(t, rec, "posts", 3, time.Hour)
		n := 0 // each process has a store of its own here
		for _, s := range []*server{one, two} {
			n += len(decode[page[app.Post]](t, s.must(t, "GET", "/v1/users/"+alice+"/posts", alice, "", 200)).Items)
		}
		if n != 3 {
			t.Fatalf("alice's posts: %d, want the 3 allowed only", n)
		}
		one.must(t, "POST", "/v1/posts", bob, `{"text":"bob is not limited by alice"}`, 201)
		if n := testenv.Metric(t, reg, "feedsvc_rate_limited_total", map[string]string{"limit": "posts"}); n != 0 {
			// The refusal was on the other process.
			t.Fatalf("process one counted %v refusals, want 0", n)
		}
		wantProblem(t, one.do("POST", "/v1/posts", alice, `{"text":"again"}`), http.StatusTooManyRequests, "posts")
		if n := testenv.Metric(t, reg, "feedsvc_rate_limited_total", map[string]string{"limit": "posts"}); n != 1 {
			t.Fatalf("feedsvc_rate_limited_total{limit=posts} = %v, want 1", n)
		}
	})

	t.Run("follows and unfollows together", func(t *testing.T) {
		one.must(t, "PUT", "/v1/following/"+bob, alice, "", 204)
		one.must(t, "DELETE", "/v1/following/"+bob, alice, "", 204)
		wantLimited(t, two.do("PUT", "/v1/following/"+bob, alice, ""), "follows", 2, time.Hour)
		if got := decode[page[string]](t, two.must(t, "GET", "/v1/users/"+alice+"/following", alice, "", 200)); len(got.Items) != 0 {
			t.Fatalf("a refused follow followed: %v", got.Items)
		}
	})

	t.Run("searches", func(t *testing.T) {
		one.must(t, "GET", "/v1/search?q=hi", alice, "", 200)
		two.must(t, "GET", "/v1/search?q=hi", alice, "", 200)
		wantLimited(t, one.do("GET", "/v1/search?q=hi", alice, ""), "searches", 2, time.Hour)
		one.must(t, "GET", "/v1/feed", alice, "", 200) // reads have a limit of their own
	})

	t.Run("reads, every GET and stream tickets together", func(t *testing.T) {
		carol := userFor(t, "carol")
		paths := []string{"/v1/feed", "/v1/notifications", "/v1/users/" + carol + "/posts", "/v1/trends", "/v1/lists"}
		for i := range testLimits.Reads.Quota - 1 {
			one.must(t, "GET", paths[i%len(paths)], carol, "", 200)
		}
		two.must(t, "POST", api.TicketPath, carol, "", 201) // the last read of the quota
		rec := one.do("GET", "/v1/feed", carol, "")
		wantLimited(t, rec, "reads", int(testLimits.Reads.Quota), time.Hour)
		wantLimited(t, two.do("POST", api.TicketPath, carol, ""), "reads", int(testLimits.Reads.Quota), time.Hour)
		one.must(t, "POST", "/v1/posts", carol, `{"text":"writes are not reads"}`, 201)
	})

	t.Run("deletes", func(t *testing.T) {
		dan := userFor(t, "dan")
		var p1, p2 app.Post
		p1 = decode[app.Post](t, one.must(t, "POST", "/v1/posts", dan, `{"text":"one"}`, 201))
		p2 = decode[app.Post](t, one.must(t, "POST", "/v1/posts", dan, `{"text":"two"}`, 201))
		one.must(t, "DELETE", "/v1/posts/"+p1.ID.String(), dan, "", 204)
		wantLimited(t, one.do("DELETE", "/v1/posts/"+p2.ID.String(), dan, ""), "deletes", 1, time.Hour)
		one.must(t, "GET", "/v1/posts/"+p2.ID.String(), dan, "", 200) // the refused delete changed nothing
	})

	t.Run("failed authentication per IP", func(t *testing.T) {
		for _, s := range []*server{one, two, one} {
			rec := s.do("GET", "/v1/feed", "", "")
			wantProblem(t, rec, http.StatusUnauthorized, "bearer")
		}
		bad := newRequest("GET", "/v1/feed", "", "")
		bad.Header.Set("Authorization", "Bearer forged")
		bad.Header.Set("X-Forwarded-For", "203.0.113.9") // not trusted: the peer address counts
		rec := two.serve(bad)
		wantProblem(t, rec, http.StatusTooManyRequests, "auth_failures")
		wantLimited(t, rec, "auth_failures", 3, time.Hour)
		two.must(t, "GET", "/v1/feed", bob, "", 200) // a valid token from the same IP
	})
}

// TestRateLimitsBehindTrustedProxy: behind a trusted proxy the client is
// the address in X-Forwarded-For, so clients of one proxy are limited
// apart.
func TestRateLimitsBehindTrustedProxy(t *testing.T) {
	_, proxies, _ := net.ParseCIDR("192.0.2.0/24") // httptest's RemoteAddr
	s, _ := limitedServer(t, miniredis.RunT(t).Addr(), httpserver.WithTrustedProxies([]*net.IPNet{proxies}))
	fail := func(client string) int {
		r := newRequest("GET", "/v1/feed", "", "")
		r.Header.Set("X-Forwarded-For", client)
		return s.serve(r).Code
	}
	for range 3 {
		if code := fail("198.51.100.1"); code != http.StatusUnauthorized {
			t.Fatalf("within the limit: %d", code)
		}
	}
	if code := fail("198.51.100.1"); code != http.StatusTooManyRequests {
		t.Fatalf("past the limit: %d, want 429", code)
	}
	if code := fail("198.51.100.2"); code != http.StatusUnauthorized {
		t.Fatalf("another client of the proxy: %d, want its own limit", code)
	}
}

// TestRateLimitsFailOpen: with the limiter's Redis gone, requests go
// through, and the failures are counted.
func TestRateLimitsFailOpen(t *testing.T) {
	m := miniredis.RunT(t)
	s, reg := limitedServer(t, m.Addr())
	m.Close()
	user := userFor(t, "u")
	s.must(t, "GET", "/v1/feed", user, "", 200)
	for range 5 {
		rec := s.must(t, "POST", "/v1/posts", user, `{"text":"still posting"}`, 201)
		if h := rec.Header().Get("RateLimit"); h != "" {
			t.Fatalf("RateLimit %q without a count", h)
		}
	}
	if n := testenv.Metric(t, reg, "feedsvc_rate_limit_errors_total", nil); n != 6 {
		t.Fatalf("feedsvc_rate_limit_errors_total = %v, want 6 (the read and the 5 posts)", n)
	}
}

// Each limit's refusal counter exists at 0 from the start, so a rate over
// it (a dashboard's, an alert's) is 0 rather than absent.
func TestRateLimitSeriesStartAtZero(t *testing.T) {
	_, reg := limitedServer(t, miniredis.RunT(t).Addr())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "feedsvc_rate_limited_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			seen[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
		}
	}
	for _, name := range []string{"posts", "follows", "searches", "likes", "reads", "deletes", "auth_failures"} {
		if v, ok := seen[name]; !ok || v != 0 {
			t.Errorf("feedsvc_rate_limited_total{limit=%q} = %v (present: %v), want 0 and present", name, v, ok)
		}
	}
}
