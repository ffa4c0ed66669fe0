package api_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/feedsvc/feedsvc/app"
)

// listView is a list as the API renders it.
type listView struct {
	ID   app.ID `json:"id,string"`
	Name string `json:"name"`
}

// TestLists: the routes' status codes, end to end through the router: a
// list made, renamed, read, filled and deleted by its owner; 404 for
// anyone else; bad input is 400 and changes nothing.
func TestLists(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	ann, bob, cat := userFor(t, "ann"), userFor(t, "bob"), userFor(t, "cat")
	for _, u := range []string{ann, bob, cat} {
		s.must(t, "GET", "/v1/feed", u, "", http.StatusOK) // exists
	}
	rec := s.must(t, "POST", "/v1/lists", ann, `{"name": "  friends "}`, http.StatusCreated)
	l := decode[listView](t, rec)
	if l.Name != "friends" || l.ID == 0 || rec.Header().Get("Location") != "/v1/lists/"+l.ID.String() {
		t.Fatalf("created %+v at %q, want the name trimmed", l, rec.Header().Get("Location"))
	}
	path := "/v1/lists/" + l.ID.String()

	// Bad input: 400, and nothing changes.
	for _, body := range []string{``, `{}`, `{"name": ""}`, `{"name": "   "}`, `{"name": "a\nb"}`,
		`{"name": "` + strings.Repeat("x", 101) + `"}`, `{"name": 5}`, `{"name": "x", "extra": 1}`} {
		s.must(t, "POST", "/v1/lists", ann, body, http.StatusBadRequest)
		s.must(t, "PATCH", path, ann, body, http.StatusBadRequest)
	}
	s.must(t, "PUT", path+"/members/Not-A-User", ann, "", http.StatusBadRequest)
	s.must(t, "GET", path+"/members?limit=0", ann, "", http.StatusBadRequest)
	s.must(t, "GET", path+"/feed?cursor=x", ann, "", http.StatusBadRequest)
	mine := decode[page[listView]](t, s.must(t, "GET", "/v1/lists", ann, "", http.StatusOK))
	if len(mine.Items) != 1 || mine.Items[0] != l || mine.NextCursor != "" {
		t.Fatalf("ann's lists after bad input: %+v, want only %+v", mine, l)
	}

	s.must(t, "PATCH", path, ann, `{"name": "close friends"}`, http.StatusOK)
	if got := decode[listView](t, s.must(t, "GET", path, ann, "", http.StatusOK)); got.Name != "close friends" {
		t.Fatalf("after the rename: %+v", got)
	}
	for range 2 { // idempotent
		s.must(t, "PUT", path+"/members/"+bob, ann, "", http.StatusNoContent)
	}
	s.must(t, "PUT", path+"/members/"+cat, ann, "", http.StatusNoContent)
	s.must(t, "PUT", path+"/members/nobody_"+testKey(t), ann, "", http.StatusNotFound)
	members := decode[page[string]](t, s.must(t, "GET", path+"/members?limit=1", ann, "", http.StatusOK))
	if want := slices.Min([]string{bob, cat}); len(members.Items) != 1 || members.Items[0] != want || members.NextCursor != want {
		t.Fatalf("first page of members: %+v, want %s", members, want)
	}
	rest := decode[page[string]](t, s.must(t, "GET", path+"/members?cursor="+members.NextCursor, ann, "", http.StatusOK))
	if want := slices.Max([]string{bob, cat}); len(rest.Items) != 1 || rest.Items[0] != want {
		t.Fatalf("second page of members: %+v, want %s", rest, want)
	}

	p := s.post(t, bob, "for the list "+testKey(t))
	s.post(t, ann, "not a member's")
	feed := decode[page[app.PostView]](t, s.must(t, "GET", path+"/feed", ann, "", http.StatusOK))
	if len(feed.Items) != 1 || feed.Items[0].ID != p.ID {
		t.Fatalf("list timeline: %+v, want bob's post", feed.Items)
	}

	// Anyone else: 404 on every route, and nothing changes.
	for _, r := range []struct{ method, path, body string }{
		{"GET", path, ""}, {"PATCH", path, `{"name": "mine now"}`}, {"DELETE", path, ""},
		{"PUT", path + "/members/" + cat, ""}, {"DELETE", path + "/members/" + bob, ""},
		{"GET", path + "/members", ""}, {"GET", path + "/feed", ""},
	} {
		s.must(t, r.method, r.path, cat, r.body, http.StatusNotFound)
	}
	for _, bad := range []string{"/v1/lists/x", "/v1/lists/0", "/v1/lists/999"} {
		s.must(t, "GET", bad, ann, "", http.StatusNotFound)
		s.must(t, "GET", bad+"/feed", ann, "", http.StatusNotFound)
	}
	if got := decode[listView](t, s.must(t, "GET", path, ann, "", http.StatusOK)); got.Name != "close friends" {
		t.Fatalf("after cat's calls: %+v", got)
	}

	// A block: the member stays, its posts leave the timeline, and adding
	// across it is 403.
	s.must(t, "PUT", "/v1/blocks/"+ann, bob, "", http.StatusNoContent)
	if feed := decode[page[app.PostView]](t, s.must(t, "GET", path+"/feed", ann, "", http.StatusOK)); len(feed.Items) != 0 {
		t.Fatalf("list timeline across a block: %+v, want none", feed.Items)
	}
	s.must(t, "DELETE", path+"/members/"+bob, ann, "", http.StatusNoContent) // allowed
	s.must(t, "DELETE", path+"/members/nobody_"+bob, ann, "", http.StatusNotFound)
	s.must(t, "PUT", path+"/members/"+bob, ann, "", http.StatusForbidden)

	for range 2 {
		s.must(t, "DELETE", path+"/members/"+cat, ann, "", http.StatusNoContent)
	}
	s.must(t, "DELETE", path, ann, "", http.StatusNoContent)
	s.must(t, "DELETE", path, ann, "", http.StatusNotFound)
	s.must(t, "GET", path+"/members", ann, "", http.StatusNotFound)
	if mine := decode[page[listView]](t, s.must(t, "GET", "/v1/lists", ann, "", http.StatusOK)); len(mine.Items) != 0 {
		t.Fatalf("ann's lists after the deletion: %+v", mine.Items)
	}
}

// TestListCap: past app.MaxLists a new list is 409 and makes nothing.
func TestListCap(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	ann := userFor(t, "ann")
	for i := range app.MaxLists {
		s.must(t, "POST", "/v1/lists", ann, fmt.Sprintf(`{"name": "list %d"}`, i), http.StatusCreated)
	}
	wantProblem(t, s.do("POST", "/v1/lists", ann, `{"name": "one too many"}`), http.StatusConflict, "lists")
	if mine := decode[page[listView]](t, s.must(t, "GET", "/v1/lists", ann, "", http.StatusOK)); len(mine.Items) != app.MaxLists {
		t.Fatalf("ann has %d lists, want %d", len(mine.Items), app.MaxLists)
	}
}
