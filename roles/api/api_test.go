package api_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/app/apptest"
	"github.com/feedsvc/feedsvc/internal/testenv"
	"github.com/feedsvc/feedsvc/roles/api"
	"github.com/feedsvc/feedsvc/store/postcache"
)

// routes are every /v1 route, with a path that matches it.
var routes = []struct{ method, path string }{
	{"POST", "/v1/posts"},
	{"GET", "/v1/posts/1"},
	{"DELETE", "/v1/posts/1"},
	{"PUT", "/v1/following/someone"},
	{"DELETE", "/v1/following/someone"},
	{"GET", "/v1/users/someone/followers"},
	{"GET", "/v1/users/someone/following"},
	{"GET", "/v1/users/someone/posts"},
	{"GET", "/v1/users/someone/stats"},
	{"GET", "/v1/feed"},
	{"GET", "/v1/notifications"},
	{"POST", "/v1/notifications/read"},
	{"GET", "/v1/search?q=x"},
	{"GET", "/v1/trends"},
}

func TestEveryRouteNeedsAValidToken(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	for _, r := range routes {
		for name, c := range map[string]struct{ auth, detail string }{
			"no header":    {"", "missing bearer token"},
			"basic auth":   {"Basic dXNlcjpwdw==", "missing bearer token"},
			"empty bearer": {"Bearer ", "missing bearer token"},
			"bad token":    {"Bearer not-a-token", "invalid token"},
			"bad user":     {"Bearer " + tokenPrefix + "Not_Valid", "invalid token"},
		} {
			t.Run(r.method+" "+r.path+" "+name, func(t *testing.T) {
				req := newRequest(r.method, r.path, "", "")
				if c.auth != "" {
					req.Header.Set("Authorization", c.auth)
				}
				rec := s.serve(req)
				wantProblem(t, rec, http.StatusUnauthorized, c.detail)
				if got := rec.Header().Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
					t.Fatalf("WWW-Authenticate %q, want a Bearer challenge", got)
				}
			})
		}
	}
}

func TestCreatePost(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	t.Run("created", func(t *testing.T) {
		t.Parallel()
		ann := userFor(t, "ann")
		rec := s.must(t, "POST", "/v1/posts", ann, `{"text":"Hello, world"}`, http.StatusCreated)
		p := decode[app.Post](t, rec)
		if p.ID == 0 || p.Author != ann || p.Text != "Hello, world" || p.CreatedAt.IsZero() {
			t.Fatalf("created %+v", p)
		}
		if loc := rec.Header().Get("Location"); loc != "/v1/posts/"+p.ID.String() {
			t.Fatalf("Location %q", loc)
		}
		if got := decode[app.Post](t, s.must(t, "GET", "/v1/posts/"+p.ID.String(), ann, "", http.StatusOK)); got != p {
			t.Fatalf("read back %+v, want %+v", got, p)
		}
		if !s.published(app.PostCreated, p.ID) {
			t.Fatal("post.created was not published")
		}
	})
	big := `{"text":"` + strings.Repeat("a", 16<<10) + `"}`
	for _, c := range []struct {
		name, body, contentType string
		chunked                 bool
		status                  int
		detail                  string
	}{
		{"bad JSON", `{"text":`, "", false, http.StatusBadRequest, "invalid JSON body"},
		{"not an object", `"hi"`, "", false, http.StatusBadRequest, "invalid JSON body"},
		{"unknown field", `{"text":"hi","mood":"good"}`, "", false, http.StatusBadRequest, `unknown field "mood"`},
		{"two objects", `{"text":"a"}{"text":"b"}`, "", false, http.StatusBadRequest, "trailing data"},
		{"no text", `{}`, "", false, http.StatusBadRequest, `"text" is required`},
		{"empty text", `{"text":""}`, "", false, http.StatusBadRequest, "text must not be empty"},
		{"text too long", `{"text":"` + strings.Repeat("é", app.MaxPostChars+1) + `"}`, "", false, http.StatusBadRequest, "the maximum is 500"},
		{"body not UTF-8", "{\"text\":\"\xff\"}", "", false, http.StatusBadRequest, "not valid UTF-8"},
		{"wrong content type", `{"text":"hi"}`, "text/plain", false, http.StatusUnsupportedMediaType, "application/json"},
		{"form content type", `text=hi`, "application/x-www-form-urlencoded", false, http.StatusUnsupportedMediaType, "application/json"},
		{"body over 16 KiB", big, "", false, http.StatusRequestEntityTooLarge, "Request Entity Too Large"},
		{"body over 16 KiB without a length", big, "", true, http.StatusRequestEntityTooLarge, "body larger than 16K"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ann := userFor(t, "ann")
			req := newRequest("POST", "/v1/posts", ann, c.body)
			if c.contentType != "" {
				req.Header.Set("Content-Type", c.contentType)
			}
			if c.chunked {
				req.ContentLength = -1 // the limit then applies while reading
			}
			wantProblem(t, s.serve(req), c.status, c.detail)
			if posts, _ := s.store.AuthorPosts(context.Background(), ann, 0, 10); len(posts) != 0 {
				t.Fatalf("a rejected request stored %v", posts)
			}
		})
	}
}

func TestGetPost(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	ann, bob := userFor(t, "ann"), userFor(t, "bob")
	p := s.post(t, ann, "visible")
	hidden := app.Post{ID: sideID(), Author: ann, Text: "spam", CreatedAt: p.CreatedAt, Moderated: "blocklist"}
	if err := s.store.SavePost(context.Background(), hidden); err != nil {
		t.Fatal(err)
	}
	if got := decode[app.Post](t, s.must(t, "GET", "/v1/posts/"+p.ID.String(), bob, "", http.StatusOK)); got != p {
		t.Fatalf("bob read %+v, want %+v", got, p)
	}
	if got := decode[app.Post](t, s.must(t, "GET", "/v1/posts/"+hidden.ID.String(), ann, "", http.StatusOK)); got.Moderated != "blocklist" {
		t.Fatalf("the author read %+v, want the moderated post", got)
	}
	for _, c := range []struct{ name, id, user, detail string }{
		{"moderated, for others", hidden.ID.String(), bob, "not found"},
		{"unknown", "1", bob, "post 1: not found"},
		{"malformed", "abc", bob, `post "abc" not found`},
		{"zero", "0", bob, `post "0" not found`},
		{"negative", "-5", bob, `post "-5" not found`},
	} {
		t.Run(c.name, func(t *testing.T) {
			wantProblem(t, s.do("GET", "/v1/posts/"+c.id, c.user, ""), http.StatusNotFound, c.detail)
		})
	}
}

func TestDeletePost(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	ann, bob := userFor(t, "ann"), userFor(t, "bob")
	p := s.post(t, ann, "short-lived")
	path := "/v1/posts/" + p.ID.String()

	wantProblem(t, s.do("DELETE", path, bob, ""), http.StatusForbidden, "belongs to another user")
	s.must(t, "GET", path, bob, "", http.StatusOK)

	s.must(t, "DELETE", path, ann, "", http.StatusNoContent)
	if !s.published(app.PostDeleted, p.ID) {
		t.Fatal("post.deleted was not published")
	}
	wantProblem(t, s.do("GET", path, ann, ""), http.StatusNotFound, "not found")
	wantProblem(t, s.do("DELETE", path, ann, ""), http.StatusNotFound, "not found")
	wantProblem(t, s.do("DELETE", "/v1/posts/1", ann, ""), http.StatusNotFound, "not found")
	wantProblem(t, s.do("DELETE", "/v1/posts/abc", ann, ""), http.StatusNotFound, `post "abc" not found`)
}

func TestFollowAndUnfollow(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	ann, bob := userFor(t, "ann"), userFor(t, "bob")
	list := func(path string) page[string] {
		t.Helper()
		return decode[page[string]](t, s.must(t, "GET", path, ann, "", http.StatusOK))
	}

	// A user exists from its first authenticated call.
	wantProblem(t, s.do("PUT", "/v1/following/"+bob, ann, ""), http.StatusNotFound, fmt.Sprintf("user %q: not found", bob))
	s.must(t, "GET", "/v1/notifications", bob, "", http.StatusOK)

	for range 2 { // following twice is harmless
		s.must(t, "PUT", "/v1/following/"+bob, ann, "", http.StatusNoContent)
	}
	if got := list("/v1/users/" + bob + "/followers"); !slices.Equal(got.Items, []string{ann}) || got.NextCursor != "" {
		t.Fatalf("bob's followers %+v, want [ann]", got)
	}
	if got := list("/v1/users/" + ann + "/following"); !slices.Equal(got.Items, []string{bob}) {
		t.Fatalf("ann follows %+v, want [bob]", got)
	}

	for range 2 {
		s.must(t, "DELETE", "/v1/following/"+bob, ann, "", http.StatusNoContent)
	}
	rec := s.must(t, "GET", "/v1/users/"+bob+"/followers", ann, "", http.StatusOK)
	if !strings.Contains(rec.Body.String(), `"items":[]`) {
		t.Fatalf("empty list %s, want items []", rec.Body)
	}

	for _, c := range []struct {
		name, method, target string
		status               int
		detail               string
	}{
		{"follow yourself", "PUT", ann, http.StatusBadRequest, "cannot follow themselves"},
		{"unfollow yourself", "DELETE", ann, http.StatusBadRequest, "cannot unfollow themselves"},
		{"follow an unknown user", "PUT", "nobody_" + bob, http.StatusNotFound, "not found"},
		{"unfollow an unknown user", "DELETE", "nobody_" + bob, http.StatusNotFound, "not found"},
		{"follow a malformed user id", "PUT", "Bob-1", http.StatusBadRequest, "must match"},
		{"unfollow a malformed user id", "DELETE", "Bob-1", http.StatusBadRequest, "must match"},
	} {
		t.Run(c.name, func(t *testing.T) {
			wantProblem(t, s.do(c.method, "/v1/following/"+c.target, ann, ""), c.status, c.detail)
		})
	}
}

func TestFollowerAndFollowingLists(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	star, fan := userFor(t, "star"), userFor(t, "fan")
	var others []string
	for _, role := range []string{"one", "two", "three"} {
		u := userFor(t, role)
		others = append(others, u)
		s.must(t, "GET", "/v1/feed", u, "", http.StatusOK) // exist
	}
	s.must(t, "GET", "/v1/feed", star, "", http.StatusOK)
	s.must(t, "GET", "/v1/feed", fan, "", http.StatusOK)
	for _, u := range others {
		s.must(t, "PUT", "/v1/following/"+star, u, "", http.StatusNoContent)
		s.must(t, "PUT", "/v1/following/"+u, fan, "", http.StatusNoContent)
	}
	slices.Sort(others)

	// readAll pages through a list two at a time.
	readAll := func(path string) []string {
		t.Helper()
		var all []string
		cursor := ""
		for range 10 {
			p := decode[page[string]](t, s.must(t, "GET", path+"?limit=2&cursor="+cursor, fan, "", http.StatusOK))
			if len(p.Items) > 2 {
				t.Fatalf("page of %d with limit 2", len(p.Items))
			}
			all = append(all, p.Items...)
			if p.NextCursor == "" {
				return all
			}
			cursor = p.NextCursor
		}
		t.Fatal("paging does not end")
		return nil
	}
	if got := readAll("/v1/users/" + star + "/followers"); !slices.Equal(got, others) {
		t.Fatalf("followers %v, want %v", got, others)
	}
	if got := readAll("/v1/users/" + fan + "/following"); !slices.Equal(got, others) {
		t.Fatalf("following %v, want %v", got, others)
	}

	for _, list := range []string{"followers", "following"} {
		for _, c := range []struct {
			name, user, query string
			status            int
			detail            string
		}{
			{"unknown user", "nobody_" + fan, "", http.StatusNotFound, "not found"},
			{"malformed user id", "No.Body", "", http.StatusBadRequest, "must match"},
			{"limit zero", star, "?limit=0", http.StatusBadRequest, "limit must be an integer from 1 to 100"},
			{"limit too big", star, "?limit=101", http.StatusBadRequest, "limit must be an integer from 1 to 100"},
			{"limit not a number", star, "?limit=ten", http.StatusBadRequest, "limit must be an integer from 1 to 100"},
		} {
			t.Run(list+" "+c.name, func(t *testing.T) {
				wantProblem(t, s.do("GET", "/v1/users/"+c.user+"/"+list+c.query, fan, ""), c.status, c.detail)
			})
		}
	}
}

func TestUserPosts(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	ann, bob := userFor(t, "ann"), userFor(t, "bob")
	var want []app.ID // newest first
	for i := range 3 {
		want = append([]app.ID{s.post(t, ann, fmt.Sprint("post ", i)).ID}, want...)
	}
	hidden := app.Post{ID: sideID(), Author: ann, Text: "spam", Moderated: "blocklist"} // the newest
	if err := s.store.SavePost(context.Background(), hidden); err != nil {
		t.Fatal(err)
	}
	ids := func(ps []app.Post) []app.ID {
		var out []app.ID
		for _, p := range ps {
			out = append(out, p.ID)
		}
		return out
	}
	path := "/v1/users/" + ann + "/posts"

	first := decode[page[app.Post]](t, s.must(t, "GET", path+"?limit=2", bob, "", http.StatusOK))
	// The moderated post fills a slot of the page but is not shown to bob.
	if !slices.Equal(ids(first.Items), want[:1]) || first.NextCursor != want[0].String() {
		t.Fatalf("bob's first page %v next %q, want %v next %s", ids(first.Items), first.NextCursor, want[:1], want[0])
	}
	rest := decode[page[app.Post]](t, s.must(t, "GET", path+"?limit=2&cursor="+first.NextCursor, bob, "", http.StatusOK))
	if !slices.Equal(ids(rest.Items), want[1:]) {
		t.Fatalf("bob's second page %v, want %v", ids(rest.Items), want[1:])
	}
	own := decode[page[app.Post]](t, s.must(t, "GET", path, ann, "", http.StatusOK))
	if got := ids(own.Items); !slices.Equal(got, append([]app.ID{hidden.ID}, want...)) || own.NextCursor != "" {
		t.Fatalf("ann's own posts %v next %q, want the moderated one too", got, own.NextCursor)
	}

	// An unknown user is 404, as on every route that names a user; a
	// known one without posts is an empty page.
	s.must(t, "GET", "/v1/users/nobody_"+ann+"/posts", bob, "", http.StatusNotFound)
	if got := decode[page[app.Post]](t, s.must(t, "GET", "/v1/users/"+bob+"/posts", bob, "", http.StatusOK)); len(got.Items) != 0 {
		t.Fatalf("posts of a user who never posted %v", got)
	}
	for _, c := range []struct {
		name, path string
		status     int
		detail     string
	}{
		{"bad cursor", path + "?cursor=abc", http.StatusBadRequest, `bad cursor "abc"`},
		{"negative cursor", path + "?cursor=-1", http.StatusBadRequest, "bad cursor"},
		{"bad limit", path + "?limit=0", http.StatusBadRequest, "limit must be"},
		{"malformed user id", "/v1/users/ANN/posts", http.StatusBadRequest, "must match"},
	} {
		t.Run(c.name, func(t *testing.T) {
			wantProblem(t, s.do("GET", c.path, bob, ""), c.status, c.detail)
		})
	}
}

func TestFeed(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	reader, ann, bob := userFor(t, "reader"), userFor(t, "ann"), userFor(t, "bob")

	rec := s.must(t, "GET", "/v1/feed", userFor(t, "lonely"), "", http.StatusOK)
	if !strings.Contains(rec.Body.String(), `"items":[]`) {
		t.Fatalf("empty feed %s, want items []", rec.Body)
	}

	for _, u := range []string{ann, bob} {
		s.must(t, "GET", "/v1/notifications", u, "", http.StatusOK) // exist
		s.must(t, "PUT", "/v1/following/"+u, reader, "", http.StatusNoContent)
	}
	var want []app.ID // newest first
	for i, u := range []string{ann, bob, ann} {
		want = append([]app.ID{s.post(t, u, fmt.Sprint("news ", i)).ID}, want...)
	}
	s.post(t, reader, "my own post is not in my feed")

	// No fan-out runs here: the first page finds the feed missing from the
	// cache and rebuilds it from the store.
	var got []app.ID
	cursor := ""
	for range 10 {
		p := decode[page[app.Post]](t, s.must(t, "GET", "/v1/feed?limit=2&cursor="+cursor, reader, "", http.StatusOK))
		for _, post := range p.Items {
			got = append(got, post.ID)
		}
		if p.NextCursor == "" {
			break
		}
		cursor = p.NextCursor
	}
	if !slices.Equal(got, want) {
		t.Fatalf("feed %v, want %v", got, want)
	}

	for _, c := range []struct {
		name, query, detail string
	}{
		{"bad cursor", "?cursor=x", `bad cursor "x"`},
		{"limit zero", "?limit=0", "limit must be"},
		{"limit too big", "?limit=1000", "limit must be"},
		{"limit not a number", "?limit=1.5", "limit must be"},
	} {
		t.Run(c.name, func(t *testing.T) {
			wantProblem(t, s.do("GET", "/v1/feed"+c.query, reader, ""), http.StatusBadRequest, c.detail)
		})
	}
}

func TestNotifications(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	ctx := context.Background()
	// notified returns user's notifications, newest first, as "id:read".
	notified := func(t *testing.T, user string) []string {
		t.Helper()
		p := decode[page[app.Notification]](t, s.must(t, "GET", "/v1/notifications", user, "", http.StatusOK))
		var out []string
		for _, n := range p.Items {
			out = append(out, fmt.Sprintf("%s:%v", n.ID, n.Read))
		}
		return out
	}
	// arrange gives user three unread notifications, IDs 1 to 3, as the
	// notifications consumer would.
	arrange := func(t *testing.T, user string) {
		t.Helper()
		for id := app.ID(1); id <= 3; id++ {
			n := app.Notification{ID: id, User: user, Kind: app.NotifyFollow, Actor: "someone"}
			if err := s.store.AddNotification(ctx, n); err != nil {
				t.Fatal(err)
			}
		}
	}

	t.Run("with the post, while it is there", func(t *testing.T) {
		t.Parallel()
		u, author := userFor(t, "u"), userFor(t, "a")
		p := decode[app.Post](t, s.must(t, "POST", "/v1/posts", author, `{"text":"hi @`+u+`"}`, http.StatusCreated))
		n := app.Notification{ID: p.ID, User: u, Kind: app.NotifyMention, Actor: author, Post: p.ID}
		if err := s.store.AddNotification(ctx, n); err != nil {
			t.Fatal(err)
		}
		type item struct {
			PostID string        `json:"post_id"`
			Post   *app.PostView `json:"post"`
		}
		got := decode[page[item]](t, s.must(t, "GET", "/v1/notifications", u, "", http.StatusOK))
		if len(got.Items) != 1 || got.Items[0].Post == nil || got.Items[0].Post.ID != p.ID || got.Items[0].Post.Text != "hi @"+u {
			t.Fatalf("notification %+v, want it with post %s", got.Items, p.ID)
		}
		s.must(t, "DELETE", "/v1/posts/"+p.ID.String(), author, "", http.StatusNoContent)
		got = decode[page[item]](t, s.must(t, "GET", "/v1/notifications", u, "", http.StatusOK))
		if len(got.Items) != 1 || got.Items[0].Post != nil || got.Items[0].PostID != p.ID.String() {
			t.Fatalf("notification after the delete %+v, want it without the post", got.Items)
		}
	})

	t.Run("paged, newest first", func(t *testing.T) {
		t.Parallel()
		u := userFor(t, "u")
		arrange(t, u)
		first := decode[page[app.Notification]](t, s.must(t, "GET", "/v1/notifications?limit=2", u, "", http.StatusOK))
		if len(first.Items) != 2 || first.Items[0].ID != 3 || first.Items[0].Kind != app.NotifyFollow || first.Items[0].Actor != "someone" || first.NextCursor != "2" {
			t.Fatalf("first page %+v", first)
		}
		rest := decode[page[app.Notification]](t, s.must(t, "GET", "/v1/notifications?limit=2&cursor=2", u, "", http.StatusOK))
		if len(rest.Items) != 1 || rest.Items[0].ID != 1 || rest.NextCursor != "" {
			t.Fatalf("second page %+v", rest)
		}
	})
	for _, c := range []struct {
		name, body, contentType string
		want                    []string
	}{
		{"read up to an id", `{"up_to":"2"}`, "", []string{"3:false", "2:true", "1:true"}},
		{"read all, no body", "", "", []string{"3:true", "2:true", "1:true"}},
		{"read all, empty object", `{}`, "", []string{"3:true", "2:true", "1:true"}},
		{"read all, empty up_to", `{"up_to":""}`, "", []string{"3:true", "2:true", "1:true"}},
		{"JSON with a charset", `{"up_to":"1"}`, "application/json; charset=utf-8", []string{"3:false", "2:false", "1:true"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			u := userFor(t, "u")
			arrange(t, u)
			if got := notified(t, u); !slices.Equal(got, []string{"3:false", "2:false", "1:false"}) {
				t.Fatalf("before %v", got)
			}
			req := newRequest("POST", "/v1/notifications/read", u, c.body)
			if c.contentType != "" {
				req.Header.Set("Content-Type", c.contentType)
			}
			if rec := s.serve(req); rec.Code != http.StatusNoContent {
				t.Fatalf("mark read = %d %s", rec.Code, rec.Body)
			}
			if got := notified(t, u); !slices.Equal(got, c.want) {
				t.Fatalf("after %v, want %v", got, c.want)
			}
		})
	}
	for _, c := range []struct {
		name, method, path, body, contentType string
		status                                int
		detail                                string
	}{
		{"bad cursor", "GET", "/v1/notifications?cursor=0", "", "", http.StatusBadRequest, "bad cursor"},
		{"bad limit", "GET", "/v1/notifications?limit=-1", "", "", http.StatusBadRequest, "limit must be"},
		{"up_to not an id", "POST", "/v1/notifications/read", `{"up_to":"x"}`, "", http.StatusBadRequest, `"up_to" must be a notification id`},
		{"up_to a number", "POST", "/v1/notifications/read", `{"up_to":2}`, "", http.StatusBadRequest, "invalid JSON body"},
		{"unknown field", "POST", "/v1/notifications/read", `{"all":true}`, "", http.StatusBadRequest, `unknown field "all"`},
		{"null body", "POST", "/v1/notifications/read", `null`, "", http.StatusBadRequest, "one JSON object"},
		{"array body", "POST", "/v1/notifications/read", ` []`, "", http.StatusBadRequest, "one JSON object"},
		{"up_to zero", "POST", "/v1/notifications/read", `{"up_to":"0"}`, "", http.StatusBadRequest, `"up_to" must be a notification id`},
		{"up_to signed", "POST", "/v1/notifications/read", `{"up_to":"+2"}`, "", http.StatusBadRequest, `"up_to" must be a notification id`},
		{"limit twice", "GET", "/v1/notifications?limit=1&limit=2", "", "", http.StatusBadRequest, "given once"},
		{"empty limit", "GET", "/v1/notifications?limit=", "", "", http.StatusBadRequest, "limit must be"},
		{"cursor twice", "GET", "/v1/notifications?cursor=5&cursor=6", "", "", http.StatusBadRequest, "cursor is given more than once"},
		{"bad JSON", "POST", "/v1/notifications/read", `{`, "", http.StatusBadRequest, "invalid JSON body"},
		{"wrong content type", "POST", "/v1/notifications/read", `{}`, "text/plain", http.StatusUnsupportedMediaType, "application/json"},
		{"body over 16 KiB", "POST", "/v1/notifications/read", `{"up_to":"` + strings.Repeat("1", 17<<10) + `"}`, "", http.StatusRequestEntityTooLarge, "Too Large"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			u := userFor(t, "u")
			arrange(t, u)
			req := newRequest(c.method, c.path, u, c.body)
			if c.contentType != "" {
				req.Header.Set("Content-Type", c.contentType)
			}
			wantProblem(t, s.serve(req), c.status, c.detail)
			if got := notified(t, u); !slices.Equal(got, []string{"3:false", "2:false", "1:false"}) {
				t.Fatalf("a rejected request changed the notifications: %v", got)
			}
		})
	}
}

// sideIDs makes post IDs for posts put straight into the store: another
// node than the service's, so they never collide with the API's.
var sideIDs = app.NewIDGen(2)

// sideID is an ID from sideIDs, which owns its node and never refuses.
func sideID() app.ID {
	id, _ := sideIDs.Next()
	return id
}

// failingPosts and failingGraph fail with a message that must not reach
// clients.
type failingPosts struct{ app.PostStore }

const secret = "disk /var/lib/feedsvc/secret on fire"

func (failingPosts) GetPosts(context.Context, []app.ID) (map[app.ID]app.Post, error) {
	return nil, errors.New(secret)
}

func (failingPosts) SavePost(context.Context, app.Post, ...app.OutboxRecord) error {
	return errors.New(secret)
}

type failingGraph struct{ app.Graph }

func (failingGraph) EnsureUser(context.Context, string) error { return errors.New(secret) }

func TestFailuresAreInternalErrors(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name         string
		deps         func(*api.Deps)
		method, path string
		body         string
	}{
		{"failing post store on read", func(d *api.Deps) { d.Service.Posts = failingPosts{d.Service.Posts} }, "GET", "/v1/posts/1", ""},
		{"failing post store on write", func(d *api.Deps) { d.Service.Posts = failingPosts{d.Service.Posts} }, "POST", "/v1/posts", `{"text":"hi"}`},
		{"failing post store in search", func(d *api.Deps) { d.Posts = failingPosts{d.Posts} }, "GET", "/v1/search?q=hi", ""},
		{"failing graph on the first call", func(d *api.Deps) { d.Graph = failingGraph{d.Graph} }, "GET", "/v1/feed", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, options{deps: c.deps})
			ann := userFor(t, "ann")
			if c.path == "/v1/search?q=hi" {
				// Something to hydrate, so the post store is read.
				if err := s.search.Index(context.Background(), 1, []string{"hi"}); err != nil {
					t.Fatal(err)
				}
			}
			rec := s.do(c.method, c.path, ann, c.body)
			wantProblem(t, rec, http.StatusInternalServerError, "internal error")
			body := rec.Body.String()
			if strings.Contains(body, "fire") || strings.Contains(body, "unreachable") {
				t.Fatalf("the cause leaked: %s", body)
			}
			if logs := s.logs.String(); !strings.Contains(logs, "request failed") {
				t.Fatalf("the failure was not logged: %q", logs)
			}
		})
	}
}

func TestNewNeedsItsDependencies(t *testing.T) {
	t.Parallel()
	for name, tweak := range map[string]func(*api.Deps){
		"no service": func(d *api.Deps) { d.Service = nil },
		"no graph":   func(d *api.Deps) { d.Graph = nil },
		"no verify":  func(d *api.Deps) { d.Verify = nil },
		"no tickets": func(d *api.Deps) { d.Tickets = nil },
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := build(options{deps: tweak}); err == nil {
				t.Fatal("api.New accepted missing dependencies")
			}
		})
	}
}

func TestRunWaitsForItsContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- (&api.API{}).Run(ctx) }()
	select {
	case err := <-done:
		t.Fatalf("Run returned before its context ended: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	notReady := errors.New("redis: connection refused")
	var ready error
	s := newServer(t, options{ready: func(context.Context) error { return ready }})

	for _, path := range []string{"/healthz", "/readyz"} {
		rec := s.must(t, "GET", path, "", "", http.StatusOK)
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Fatalf("%s Content-Type %q", path, ct)
		}
	}
	if got := decode[map[string]string](t, s.must(t, "GET", "/healthz", "", "", http.StatusOK)); got["status"] != "ok" {
		t.Fatalf("healthz %v", got)
	}
	if got := decode[map[string]string](t, s.must(t, "GET", "/readyz", "", "", http.StatusOK)); got["status"] != "ready" {
		t.Fatalf("readyz %v", got)
	}

	ready = notReady // no request is in flight
	// The public /readyz names no backend (the admin listener's does).
	wantProblem(t, s.do("GET", "/readyz", "", ""), http.StatusServiceUnavailable, "not ready")
	// Liveness does not depend on the stores.
	s.must(t, "GET", "/healthz", "", "", http.StatusOK)

	wantProblem(t, s.do("GET", "/nowhere", "", ""), http.StatusNotFound, "no route for GET /nowhere")
}

// TestWrongMethod: a /v1 path served for other methods is 405 with an
// Allow header, as docs/problems.md says; an unknown path is 404.
func TestWrongMethod(t *testing.T) {
	t.Parallel()
	s := newServer(t, options{})
	ann := userFor(t, "ann")
	rec := s.do("PATCH", "/v1/posts", ann, "")
	wantProblem(t, rec, http.StatusMethodNotAllowed, "PATCH /v1/posts is not served; the route takes ")
	if allow := rec.Header().Get("Allow"); !strings.Contains(allow, "POST") {
		t.Fatalf("Allow = %q, want POST in it", allow)
	}
	wantProblem(t, s.do("POST", "/v1/feed", ann, ""), http.StatusMethodNotAllowed, "POST /v1/feed is not served")
	wantProblem(t, s.do("GET", "/v1/nowhere", ann, ""), http.StatusNotFound, "no route for GET /v1/nowhere")
}

func TestIdempotencyKeyHeader(t *testing.T) {
	t.Parallel()
	s := newServer(t, options{})
	ann := userFor(t, "ann")
	post := func(key, text string) *httptest.ResponseRecorder {
		r := newRequest("POST", "/v1/posts", ann, `{"text":"`+text+`"}`)
		r.Header.Set("Idempotency-Key", key)
		return s.serve(r)
	}
	first := post("k-1", "once")
	if first.Code != http.StatusCreated {
		t.Fatalf("first POST = %d %s", first.Code, first.Body)
	}
	again := post("k-1", "once")
	if again.Code != http.StatusCreated || again.Body.String() != first.Body.String() {
		t.Fatalf("retry = %d %s, want 201 %s", again.Code, again.Body, first.Body)
	}
	p := decode[app.Post](t, first)
	n := 0
	for _, ev := range s.bus.Pending() {
		if ev.Type == app.PostCreated && ev.Post.ID == p.ID {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d post.created events for one key, want 1", n)
	}
	wantProblem(t, post("k-1", "other"), http.StatusUnprocessableEntity,
		`idempotency key already used for a different request: Idempotency-Key "k-1" was used for another post`)
	wantProblem(t, post("bad key", "x"), http.StatusBadRequest, "invalid input: Idempotency-Key must be visible ASCII characters")
	wantProblem(t, post("", "empty key"), http.StatusBadRequest, "the Idempotency-Key header is empty")
	twice := newRequest("POST", "/v1/posts", ann, `{"text":"two keys"}`)
	twice.Header.Add("Idempotency-Key", "k-2")
	twice.Header.Add("Idempotency-Key", "k-3")
	wantProblem(t, s.serve(twice), http.StatusBadRequest, "the Idempotency-Key header is given more than once")
	// A retry after the post was deleted makes nothing and says so.
	s.must(t, "DELETE", "/v1/posts/"+p.ID.String(), ann, "", http.StatusNoContent)
	wantProblem(t, post("k-1", "once"), http.StatusGone, "the post made with this idempotency key was deleted: post "+p.ID.String())
	s.must(t, "GET", "/v1/posts/"+p.ID.String(), ann, "", http.StatusNotFound)
}

// TestFeedWhileTheStoreIsDown: a feed page served without the store says
// what it went without (DegradedHeader) and is counted; a feed that needs
// the store (one to rebuild) is 503.
func TestFeedWhileTheStoreIsDown(t *testing.T) {
	t.Parallel()
	var outage *apptest.Outage
	reg := prometheus.NewRegistry()
	s := newServer(t, options{deps: func(d *api.Deps) {
		outage = apptest.NewOutage(d.Service.Posts.(*apptest.Store))
		d.Service.Posts = postcache.New(outage, 100, time.Nanosecond) // stale at once
		d.Service.Graph, d.Service.Likes, d.Service.Replies = outage, outage, outage
		d.Service.ViewCacheTTL = time.Nanosecond
		d.Metrics = reg
	}})
	reader, ann, late := userFor(t, "reader"), userFor(t, "ann"), userFor(t, "late")
	s.must(t, "GET", "/v1/notifications", ann, "", http.StatusOK)
	s.must(t, "GET", "/v1/notifications", late, "", http.StatusOK)
	s.must(t, "PUT", "/v1/following/"+ann, reader, "", http.StatusNoContent)
	s.must(t, "PUT", "/v1/following/"+ann, late, "", http.StatusNoContent)
	p := s.post(t, ann, "still here")
	if rec := s.must(t, "GET", "/v1/feed", reader, "", http.StatusOK); rec.Header().Get(api.DegradedHeader) != "" {
		t.Fatalf("a whole page says %s: %q", api.DegradedHeader, rec.Header().Get(api.DegradedHeader))
	}

	outage.SetDown(true)
	rec := s.must(t, "GET", "/v1/feed", reader, "", http.StatusOK)
	if got := decode[page[app.Post]](t, rec); len(got.Items) != 1 || got.Items[0].ID != p.ID {
		t.Fatalf("degraded page %s, want %s's post", rec.Body, ann)
	}
	if h := rec.Header().Get(api.DegradedHeader); !strings.Contains(h, app.DegradedPosts) || !strings.Contains(h, app.DegradedHidden) {
		t.Fatalf("%s: %q, want it to name %s and %s", api.DegradedHeader, h, app.DegradedPosts, app.DegradedHidden)
	}
	if n := testenv.Metric(t, reg, "feedsvc_degraded_reads_total", map[string]string{"part": app.DegradedPosts}); n != 1 {
		t.Fatalf("feedsvc_degraded_reads_total{part=posts} = %v, want 1", n)
	}
	// late's feed was never read: it must be rebuilt, from the store.
	s.must(t, "GET", "/v1/feed", late, "", http.StatusServiceUnavailable)
}
