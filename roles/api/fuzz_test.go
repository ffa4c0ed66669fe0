package api_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/feedsvc/feedsvc/roles/api"
)

// fuzzRoutes are the routes FuzzRequests sends to; "{}" is replaced by the
// fuzzed path parameter.
var fuzzRoutes = []struct{ method, path string }{
	{"POST", "/v1/posts"},
	{"GET", "/v1/posts/{}"},
	{"DELETE", "/v1/posts/{}"},
	{"PUT", "/v1/following/{}"},
	{"DELETE", "/v1/following/{}"},
	{"GET", "/v1/users/{}/followers"},
	{"GET", "/v1/users/{}/posts"},
	{"GET", "/v1/users/{}/stats"},
	{"GET", "/v1/feed"},
	{"GET", "/v1/notifications"},
	{"POST", "/v1/notifications/read"},
	{"GET", "/v1/search"},
	{"GET", "/v1/trends"},
}

// FuzzRequests: whatever the path parameter, query (cursor, limit, q,
// window, hours) and body, the API answers below 500: bad input is a 4xx,
// never a crash or an internal error.
func FuzzRequests(f *testing.F) {
	f.Add(uint8(0), "", "", `{"text":"hello #go @bob"}`)
	f.Add(uint8(0), "", "", `{"text":""}`)
	f.Add(uint8(0), "", "", `{"text":"x","extra":1}`)
	f.Add(uint8(1), "12345", "", "")
	f.Add(uint8(1), "-1", "", "")
	f.Add(uint8(3), "Bob!", "", "")
	f.Add(uint8(8), "", "cursor=abc&limit=0", "")
	f.Add(uint8(8), "", "cursor=9223372036854775807&limit=100", "")
	f.Add(uint8(10), "", "", `{"up_to":"x"}`)
	f.Add(uint8(11), "", "q=%23go+caf%C3%A9&limit=5", "")
	f.Add(uint8(11), "", "q="+strings.Repeat("a+", 300), "")
	f.Add(uint8(12), "", "window=7d&limit=3", "")
	f.Add(uint8(12), "", "window=-1h", "")
	f.Add(uint8(7), "alice", "hours=100000", "")
	s, err := build(options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, route uint8, param, query, body string) {
		r := fuzzRoutes[int(route)%len(fuzzRoutes)]
		u := &url.URL{Path: strings.ReplaceAll(r.path, "{}", param), RawQuery: query}
		req, err := http.NewRequest(r.method, u.String(), strings.NewReader(body))
		if err != nil {
			return // not a request a client could send
		}
		req.RequestURI = u.RequestURI()
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tokenPrefix+"fuzzer")
		rec := httptest.NewRecorder()
		s.h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s body %q: %d %s", r.method, u, body, rec.Code, rec.Body)
		}
	})
}

// FuzzTokens: no string is taken for a valid token, none makes Verify
// panic.
func FuzzTokens(f *testing.F) {
	tokens, err := api.NewTokens(f.Context(), api.TokenConfig{Secret: testSecret, Issuer: "i", Audience: "a", Leeway: time.Second, MaxLifetime: time.Hour})
	if err != nil {
		f.Fatal(err)
	}
	good, err := tokens.Issue("alice", time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good[:len(good)-2] + "xx")
	f.Add("eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.")
	f.Add("a.b.c")
	f.Add("")
	f.Fuzz(func(t *testing.T, token string) {
		if token == good {
			return
		}
		if user, err := tokens.Verify(token); err == nil {
			t.Fatalf("Verify(%q) accepted user %q", token, user)
		}
	})
}
