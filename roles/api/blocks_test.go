package api_test

import (
	"net/http"
	"slices"
	"testing"

	"github.com/feedsvc/feedsvc/app"
)

// TestBlocks: PUT and DELETE /v1/blocks/{user} are idempotent 204s; a
// block ends the follows both ways, with their events, and refuses a
// follow either way (403) until the unblock; GET /v1/blocks pages the
// caller's blocks.
func TestBlocks(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	ann, bob := userFor(t, "ann"), userFor(t, "bob")
	s.must(t, "GET", "/v1/feed", bob, "", http.StatusOK) // exists
	s.must(t, "PUT", "/v1/following/"+bob, ann, "", http.StatusNoContent)
	s.must(t, "PUT", "/v1/following/"+ann, bob, "", http.StatusNoContent)

	for range 2 { // blocking twice is harmless
		s.must(t, "PUT", "/v1/blocks/"+bob, ann, "", http.StatusNoContent)
	}
	for _, f := range [][2]string{{ann, bob}, {bob, ann}} {
		if following, _ := s.store.IsFollowing(t.Context(), f[0], f[1]); following {
			t.Fatalf("%s still follows %s after the block", f[0], f[1])
		}
	}
	var blocked, unfollowed int
	for _, ev := range s.bus.Pending() {
		switch {
		case ev.Type == app.UserBlocked && ev.Block != nil && *ev.Block == app.Block{Blocker: ann, Blocked: bob}:
			blocked++
		case ev.Type == app.UserUnfollowed && ev.Follow != nil &&
			(*ev.Follow == app.Follow{Follower: ann, Followee: bob} || *ev.Follow == app.Follow{Follower: bob, Followee: ann}):
			unfollowed++
		}
	}
	if blocked != 1 || unfollowed != 2 {
		t.Fatalf("published %d user.blocked and %d user.unfollowed, want 1 and 2", blocked, unfollowed)
	}
	if got := decode[page[string]](t, s.must(t, "GET", "/v1/blocks", ann, "", http.StatusOK)); !slices.Equal(got.Items, []string{bob}) || got.NextCursor != "" {
		t.Fatalf("ann's blocks %+v, want [bob]", got)
	}
	if got := decode[page[string]](t, s.must(t, "GET", "/v1/blocks", bob, "", http.StatusOK)); len(got.Items) != 0 {
		t.Fatalf("bob's blocks %+v, want none (only ann blocks)", got)
	}

	wantProblem(t, s.do("PUT", "/v1/following/"+ann, bob, ""), http.StatusForbidden, "has blocked you")
	wantProblem(t, s.do("PUT", "/v1/following/"+bob, ann, ""), http.StatusForbidden, "unblock them first")

	for range 2 { // unblocking twice is harmless
		s.must(t, "DELETE", "/v1/blocks/"+bob, ann, "", http.StatusNoContent)
	}
	if got := decode[page[string]](t, s.must(t, "GET", "/v1/blocks", ann, "", http.StatusOK)); len(got.Items) != 0 {
		t.Fatalf("ann's blocks after the unblock %+v, want none", got)
	}
	if following, _ := s.store.IsFollowing(t.Context(), ann, bob); following {
		t.Fatal("the unblock brought a follow back")
	}
	s.must(t, "PUT", "/v1/following/"+ann, bob, "", http.StatusNoContent)

	for _, c := range []struct {
		name, method, target string
		status               int
		detail               string
	}{
		{"block yourself", "PUT", ann, http.StatusBadRequest, "cannot block themselves"},
		{"unblock yourself", "DELETE", ann, http.StatusBadRequest, "cannot unblock themselves"},
		{"block an unknown user", "PUT", "nobody_" + bob, http.StatusNotFound, "not found"},
		{"unblock an unknown user", "DELETE", "nobody_" + bob, http.StatusNotFound, "not found"},
		{"block a malformed user id", "PUT", "Bob-1", http.StatusBadRequest, "must match"},
	} {
		t.Run(c.name, func(t *testing.T) {
			wantProblem(t, s.do(c.method, "/v1/blocks/"+c.target, ann, ""), c.status, c.detail)
		})
	}
}

// TestBlocksPaging: GET /v1/blocks pages like the other user lists.
func TestBlocksPaging(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	me := userFor(t, "me")
	var want []string
	for _, role := range []string{"one", "two", "three", "four", "five"} {
		u := userFor(t, role)
		want = append(want, u)
		s.must(t, "GET", "/v1/feed", u, "", http.StatusOK) // exists
		s.must(t, "PUT", "/v1/blocks/"+u, me, "", http.StatusNoContent)
	}
	slices.Sort(want)
	var got []string
	cursor := ""
	for range 10 {
		p := decode[page[string]](t, s.must(t, "GET", "/v1/blocks?limit=2&cursor="+cursor, me, "", http.StatusOK))
		if len(p.Items) > 2 {
			t.Fatalf("page of %d with limit 2", len(p.Items))
		}
		got = append(got, p.Items...)
		if cursor = p.NextCursor; cursor == "" {
			break
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("blocks %v, want %v", got, want)
	}
	wantProblem(t, s.do("GET", "/v1/blocks?limit=0", me, ""), http.StatusBadRequest, "limit must be an integer from 1 to 100")
}

// TestSearchAcrossBlocks: search results leave out the posts of users on
// either side of a block with the reader; an unblock brings them back.
func TestSearchAcrossBlocks(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	ann, bob, cat := userFor(t, "ann"), userFor(t, "bob"), userFor(t, "cat")
	word := wordFor(t, "blk")
	indexer := &app.Indexer{Posts: s.store, Search: s.search}
	byBob := s.post(t, bob, "by bob "+word)
	byCat := s.post(t, cat, "by cat "+word)
	s.deliver(t, indexer, byBob)
	s.deliver(t, indexer, byCat)
	found := func(user string) []app.ID {
		t.Helper()
		p := decode[page[app.Post]](t, s.must(t, "GET", "/v1/search?q="+word, user, "", http.StatusOK))
		var ids []app.ID
		for _, post := range p.Items {
			ids = append(ids, post.ID)
		}
		return ids
	}
	both := []app.ID{byCat.ID, byBob.ID}
	if got := found(ann); !slices.Equal(got, both) {
		t.Fatalf("before any block: %v, want %v", got, both)
	}
	s.must(t, "PUT", "/v1/blocks/"+bob, ann, "", http.StatusNoContent) // ann blocks bob
	s.must(t, "PUT", "/v1/blocks/"+ann, cat, "", http.StatusNoContent) // cat blocks ann
	if got := found(ann); len(got) != 0 {
		t.Fatalf("ann finds %v across her blocks", got)
	}
	if got := found(bob); !slices.Equal(got, both) {
		t.Fatalf("bob, blocked by ann only, finds %v, want %v", got, both)
	}
	s.must(t, "DELETE", "/v1/blocks/"+bob, ann, "", http.StatusNoContent)
	if got := found(ann); !slices.Equal(got, []app.ID{byBob.ID}) {
		t.Fatalf("after ann unblocked bob: %v, want bob's post only", got)
	}
}
