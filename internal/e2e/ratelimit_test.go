package e2e_test

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestRateLimits: a burst of posts past a user's limit gets 429 with
// Retry-After and the RateLimit headers while another user posts on; on
// the real deployment the limit holds across two api processes sharing one
// Redis.
func TestRateLimits(t *testing.T) {
	forEach(t, func(t *testing.T, s *system) {
		s.env = append(slices.Clip(s.env), "FEEDSVC_RATE_LIMIT_POSTS=4/1h")
		apis := []*proc{s.start("all")}
		if s.dep.real {
			apis = []*proc{s.start("api"), s.start("api")}
		}
		s.api = apis[0]
		alice, bob := s.user("alice"), s.user("bob")
		send := func(u *user, p *proc, text string) response {
			return doRaw(t, p.url, "POST", "/v1/posts", "Bearer "+u.token, "application/json", map[string]string{"text": text})
		}
		for i := range 4 {
			if r := send(alice, apis[i%len(apis)], fmt.Sprint("post ", i)); r.status != 201 {
				t.Fatalf("post %d within the limit: %d %s", i, r.status, r.body)
			}
		}
		for _, p := range apis {
			r := send(alice, p, "one too many")
			if r.status != 429 {
				t.Fatalf("post past the limit on %s: %d %s, want 429", p.url, r.status, r.body)
			}
			if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s <= 0 || s > 3600 {
				t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
			}
			if got := r.header.Get("RateLimit-Policy"); got != `"posts";q=4;w=3600` {
				t.Fatalf("RateLimit-Policy %q", got)
			}
			if got := r.header.Get("RateLimit"); !strings.HasPrefix(got, `"posts";r=0;t=`) {
				t.Fatalf("RateLimit %q", got)
			}
		}
		var mine list[post]
		alice.must(s, "GET", "/v1/users/"+alice.name+"/posts", nil, 200).decode(t, &mine)
		if len(mine.Items) != 4 {
			t.Fatalf("alice has %d posts, want the 4 allowed", len(mine.Items))
		}
		for _, p := range apis {
			if r := send(bob, p, "bob is not limited by alice"); r.status != 201 {
				t.Fatalf("bob: %d %s", r.status, r.body)
			}
		}
		var refused float64
		for _, p := range apis {
			refused += p.metric("feedsvc_rate_limited_total", map[string]string{"limit": "posts"})
		}
		if refused != float64(len(apis)) {
			t.Fatalf("feedsvc_rate_limited_total{limit=posts} = %v over the api processes, want %d", refused, len(apis))
		}
		s.down()
	})
}
