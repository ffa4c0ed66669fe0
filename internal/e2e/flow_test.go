package e2e_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/feedsvc/feedsvc/internal/testenv"
	redisstore "github.com/feedsvc/feedsvc/store/redis"
)

func TestPostFollowFeedDelete(t *testing.T) {
	forDeployments(t, withCluster, func(t *testing.T, s *system) {
		s.up()
		a, b, c := s.user("a"), s.user("b"), s.user("c")
		a.must(s, "GET", "/v1/feed", nil, 200) // a exists from its first request
		// Fan-out writes only into the feeds of users who read them.
		b.must(s, "GET", "/v1/feed", nil, 200)
		c.must(s, "GET", "/v1/feed", nil, 200)
		b.follow(s, a)
		b.follow(s, a) // idempotent
		c.follow(s, a)

		p := a.post(s, "hello from a")
		var got post
		b.must(s, "GET", "/v1/posts/"+p.ID, nil, 200).decode(t, &got)
		if got != p {
			t.Fatalf("GET post = %+v, want %+v", got, p)
		}
		for _, u := range []*user{b, c} {
			testenv.Eventually(t, u.name+" sees a's post in redis", func() error { return sameSet(s.inspect(u), []string{p.ID}) })
			if err := sameSet(u.feed(s), []string{p.ID}); err != nil {
				t.Fatalf("%s's feed: %v", u.name, err)
			}
		}
		if err := sameSet(a.users(s, "/v1/users/"+a.name+"/followers"), []string{b.name, c.name}); err != nil {
			t.Fatalf("a's followers: %v", err)
		}
		if err := sameSet(b.users(s, "/v1/users/"+b.name+"/following"), []string{a.name}); err != nil {
			t.Fatalf("b's following: %v", err)
		}

		a.must(s, "DELETE", "/v1/posts/"+p.ID, nil, 204)
		a.must(s, "GET", "/v1/posts/"+p.ID, nil, 404)
		for _, u := range []*user{b, c} {
			testenv.Eventually(t, "deleted post leaves "+u.name+"'s feed", func() error { return sameSet(s.inspect(u), nil) })
			if ids := u.feed(s); len(ids) != 0 {
				t.Fatalf("%s's feed after delete: %v", u.name, ids)
			}
		}

		p1, p2 := a.post(s, "one"), a.post(s, "two")
		var mine list[post]
		a.must(s, "GET", "/v1/users/"+a.name+"/posts", nil, 200).decode(t, &mine)
		if len(mine.Items) != 2 || mine.Items[0].ID != p2.ID || mine.Items[1].ID != p1.ID {
			t.Fatalf("a's posts = %+v, want two, newest first", mine.Items)
		}
		for _, u := range []*user{b, c} {
			testenv.Eventually(t, u.name+" sees both posts", func() error { return sameSet(s.inspect(u), []string{p1.ID, p2.ID}) })
		}
		b.must(s, "DELETE", "/v1/following/"+a.name, nil, 204)
		testenv.Eventually(t, "unfollow empties b's feed", func() error { return sameSet(s.inspect(b), nil) })
		if ids := b.feed(s); len(ids) != 0 {
			t.Fatalf("b's feed after unfollow: %v", ids)
		}
		if err := sameSet(c.feed(s), []string{p1.ID, p2.ID}); err != nil {
			t.Fatalf("c's feed: %v", err)
		}
		if err := sameSet(a.users(s, "/v1/users/"+a.name+"/followers"), []string{c.name}); err != nil {
			t.Fatalf("a's followers after unfollow: %v", err)
		}

		// Following again merges a's recent posts back in.
		b.follow(s, a)
		testenv.Eventually(t, "refollow refills b's feed", func() error { return sameSet(s.inspect(b), []string{p1.ID, p2.ID}) })
		s.down()
	})
}

// TestDecoupling: posting never depends on fan-out. With only the api role
// running, every post is accepted; fan-out started later delivers them all.
func TestDecoupling(t *testing.T) {
	const posts, followers = 200, 3
	forEach(t, func(t *testing.T, s *system) {
		s.startAPI()
		author := s.user("author")
		author.must(s, "GET", "/v1/feed", nil, 200)
		var fans []*user
		for i := range followers {
			u := s.user(fmt.Sprintf("fan%d", i))
			u.must(s, "GET", "/v1/feed", nil, 200)
			u.follow(s, author)
			fans = append(fans, u)
		}
		var want []string
		for i := range posts {
			want = append(want, author.post(s, fmt.Sprintf("post %d", i)).ID)
		}
		if s.dep.real {
			s.startFanout() // next to the running api
			for _, u := range fans {
				testenv.Eventually(t, "fan-out reaches "+u.name, func() error { return sameSet(s.inspect(u), want) })
			}
		} else {
			// The embedded broker and store belong to one process at a
			// time; the restart also empties the in-memory Redis, so the
			// reads below rebuild the feeds from the store.
			s.down()
			s.up()
		}
		for _, u := range fans {
			ids := u.feed(s)
			if err := sameSet(ids, want); err != nil {
				t.Fatalf("%s's feed: %v", u.name, err)
			}
			if err := newestFirst(ids); err != nil {
				t.Fatal(err)
			}
		}
		s.down()
	})
}

// TestRestart: posts and follows survive a restart, and a feed the cache
// lost (the embedded in-memory Redis, or an eviction) is rebuilt on read.
func TestRestart(t *testing.T) {
	forEach(t, func(t *testing.T, s *system) {
		s.up()
		a, b := s.user("a"), s.user("b")
		a.must(s, "GET", "/v1/feed", nil, 200)
		b.must(s, "GET", "/v1/feed", nil, 200)
		b.follow(s, a)
		var want []string
		for i := range 30 {
			want = append(want, a.post(s, fmt.Sprintf("before restart %d", i)).ID)
		}
		testenv.Eventually(t, "fan-out before restart", func() error { return sameSet(s.inspect(b), want) })
		s.down()
		if s.dep.real {
			evict(t, s, b.name)
		}

		s.up()
		if ids := s.inspect(b); len(ids) != 0 {
			t.Fatalf("the cache still holds %d entries of b's feed; the rebuild path is untested", len(ids))
		}
		if err := sameSet(b.users(s, "/v1/users/"+b.name+"/following"), []string{a.name}); err != nil {
			t.Fatalf("follows after restart: %v", err)
		}
		var mine list[post]
		a.must(s, "GET", "/v1/users/"+a.name+"/posts?limit=100", nil, 200).decode(t, &mine)
		if len(mine.Items) != len(want) {
			t.Fatalf("a has %d posts after restart, want %d", len(mine.Items), len(want))
		}
		if err := sameSet(b.feed(s), want); err != nil {
			t.Fatalf("b's feed after restart: %v", err)
		}
		if err := sameSet(s.inspect(b), want); err != nil {
			t.Fatalf("rebuilt feed in the cache: %v", err)
		}
		// A post after the restart joins the rebuilt feed.
		want = append(want, a.post(s, "after restart").ID)
		testenv.Eventually(t, "fan-out after restart", func() error { return sameSet(s.inspect(b), want) })
		s.down()
	})
}

// evict deletes user's cached feed, as a Redis eviction or restart would.
func evict(t *testing.T, s *system, user string) {
	t.Helper()
	c, err := redisstore.Open(context.Background(), realRedis(s.redis, s.envValue("FEEDSVC_REDIS_KEY_PREFIX")), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Do(context.Background(), c.B().Del().Key(redisstore.KeysOf(c).Feed(user)).Build()).Error(); err != nil {
		t.Fatal(err)
	}
}

func TestBadInput(t *testing.T) {
	forEach(t, func(t *testing.T, s *system) {
		s.up()
		a, b := s.user("a"), s.user("b")
		b.must(s, "GET", "/v1/feed", nil, 200)
		bp := b.post(s, "b's post")
		a.must(s, "GET", "/v1/feed", nil, 200)

		expired := strings.TrimSpace(s.cli("token", "--ttl", "-1m", a.name))
		foreign := strings.TrimSpace(run(t, "token", "--data-dir", t.TempDir(), a.name))
		long := strings.Repeat("é", 501)
		cases := []struct {
			name   string
			method string
			path   string
			auth   string // default: a's token
			ctype  string
			body   any
			want   int
		}{
			{"no token", "POST", "/v1/posts", "-", "", map[string]string{"text": "x"}, 401},
			{"malformed token", "POST", "/v1/posts", "Bearer nope", "", map[string]string{"text": "x"}, 401},
			{"expired token", "POST", "/v1/posts", "Bearer " + expired, "", map[string]string{"text": "x"}, 401},
			{"token of another secret", "POST", "/v1/posts", "Bearer " + foreign, "", map[string]string{"text": "x"}, 401},
			{"not bearer", "GET", "/v1/feed", "Basic YTpi", "", nil, 401},
			{"empty text", "POST", "/v1/posts", "", "", map[string]string{"text": ""}, 400},
			{"missing text", "POST", "/v1/posts", "", "", map[string]string{}, 400},
			{"text too long", "POST", "/v1/posts", "", "", map[string]string{"text": long}, 400},
			{"invalid utf-8", "POST", "/v1/posts", "", "", []byte("{\"text\":\"\xff\xfe\"}"), 400},
			{"unknown field", "POST", "/v1/posts", "", "", map[string]any{"text": "x", "author": b.name}, 400},
			{"malformed json", "POST", "/v1/posts", "", "", []byte(`{"text":`), 400},
			{"two objects", "POST", "/v1/posts", "", "", []byte(`{"text":"x"}{"text":"y"}`), 400},
			{"text not a string", "POST", "/v1/posts", "", "", []byte(`{"text":5}`), 400},
			{"body over 16 KiB", "POST", "/v1/posts", "", "", map[string]string{"text": strings.Repeat("a", 17<<10)}, 413},
			{"not json", "POST", "/v1/posts", "", "text/plain", []byte("hello"), 415},
			{"get unknown post", "GET", "/v1/posts/12345", "", "", nil, 404},
			{"get malformed id", "GET", "/v1/posts/abc", "", "", nil, 404},
			{"delete other's post", "DELETE", "/v1/posts/" + bp.ID, "", "", nil, 403},
			{"delete unknown post", "DELETE", "/v1/posts/12345", "", "", nil, 404},
			{"follow yourself", "PUT", "/v1/following/" + a.name, "", "", nil, 400},
			{"follow unknown user", "PUT", "/v1/following/nobody_" + s.suffix, "", "", nil, 404},
			{"follow malformed user", "PUT", "/v1/following/Not-Valid", "", "", nil, 400},
			{"followers of unknown user", "GET", "/v1/users/nobody_" + s.suffix + "/followers", "", "", nil, 404},
			{"limit zero", "GET", "/v1/feed?limit=0", "", "", nil, 400},
			{"limit too big", "GET", "/v1/feed?limit=101", "", "", nil, 400},
			{"limit not a number", "GET", "/v1/feed?limit=x", "", "", nil, 400},
			{"bad cursor", "GET", "/v1/feed?cursor=abc", "", "", nil, 400},
			{"unknown route", "GET", "/v1/nope", "", "", nil, 404},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				auth := "Bearer " + a.token
				switch c.auth {
				case "-":
					auth = ""
				case "":
				default:
					auth = c.auth
				}
				ctype := c.ctype
				if ctype == "" {
					ctype = "application/json"
				}
				r := doRaw(t, s.api.url, c.method, c.path, auth, ctype, c.body)
				if r.status != c.want {
					t.Fatalf("status %d (%s), want %d", r.status, r.body, c.want)
				}
				if r.ctype != "application/problem+json" {
					t.Fatalf("content type %q, want application/problem+json", r.ctype)
				}
				var prob struct {
					Title  string `json:"title"`
					Status int    `json:"status"`
					Detail string `json:"detail"`
				}
				r.decode(t, &prob)
				if prob.Status != c.want || prob.Title == "" || prob.Detail == "" {
					t.Fatalf("problem body %s", r.body)
				}
			})
		}
		// Nothing was stored: a has no posts and follows no one, b's post stands.
		if got := a.users(s, "/v1/users/"+a.name+"/following"); len(got) != 0 {
			t.Fatalf("a follows %v after bad requests", got)
		}
		var mine list[post]
		a.must(s, "GET", "/v1/users/"+a.name+"/posts", nil, 200).decode(t, &mine)
		if len(mine.Items) != 0 {
			t.Fatalf("bad requests stored posts: %+v", mine.Items)
		}
		b.must(s, "GET", "/v1/posts/"+bp.ID, nil, 200)
		s.down()
	})
}

// TestUnknownRole: a role name that is not registered is a usage error.
func TestUnknownRole(t *testing.T) {
	for _, role := range []string{"nope", "api,nope", "notifications,fanout,reader", ""} {
		cmd := exec.Command(binary, "serve", "--role="+role, "--data-dir", t.TempDir())
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Fatalf("--role=%s: %v, want exit code 2", role, err)
		}
		if !strings.Contains(stderr.String(), "known roles: all, api, fanout, notifications, analytics, search, moderation") {
			t.Fatalf("--role=%s: stderr %q does not list the known roles", role, stderr.String())
		}
	}
}
