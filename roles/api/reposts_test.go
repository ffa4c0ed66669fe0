package api_test

import (
	"net/http"
	"testing"

	"github.com/feedsvc/feedsvc/app"
)

// repostView is a post as rendered with its reposts.
type repostView struct {
	ID          app.ID `json:"id,string"`
	RepostCount int64  `json:"repost_count"`
	Reposted    bool   `json:"reposted"`
	RepostedBy  string `json:"reposted_by"`
}

// TestReposts: PUT and DELETE /v1/posts/{id}/repost are idempotent 204s,
// one post.created per repost made; the post carries repost_count and
// reposted; the reposter's posts render the repost as the original; a
// post the caller cannot see is 404, one across a block 403.
func TestReposts(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	ann, bob, cat := userFor(t, "ann"), userFor(t, "bob"), userFor(t, "cat")
	for _, u := range []string{ann, bob, cat} {
		s.must(t, "GET", "/v1/feed", u, "", http.StatusOK) // exists
	}
	p := s.post(t, ann, "repostable "+testKey(t))
	path := "/v1/posts/" + p.ID.String() + "/repost"
	for range 3 {
		s.must(t, "PUT", path, bob, "", http.StatusNoContent)
	}
	var made int
	for _, ev := range s.bus.Pending() {
		if ev.Type == app.PostCreated && ev.Post != nil && ev.Post.RepostOf == p.ID {
			made++
		}
	}
	if made != 1 {
		t.Fatalf("three reposts by bob published %d reposts, want 1", made)
	}
	got := decode[repostView](t, s.must(t, "GET", "/v1/posts/"+p.ID.String(), bob, "", http.StatusOK))
	if got.RepostCount != 1 || !got.Reposted {
		t.Fatalf("the post as bob: %+v, want repost_count 1, reposted", got)
	}
	mine := decode[page[repostView]](t, s.must(t, "GET", "/v1/users/"+bob+"/posts", cat, "", http.StatusOK))
	if len(mine.Items) != 1 || mine.Items[0].ID != p.ID || mine.Items[0].RepostedBy != bob || mine.Items[0].RepostCount != 1 {
		t.Fatalf("bob's posts as cat: %+v, want ann's post reposted by bob", mine.Items)
	}
	for range 2 {
		s.must(t, "DELETE", path, bob, "", http.StatusNoContent)
	}
	if got := decode[repostView](t, s.must(t, "GET", "/v1/posts/"+p.ID.String(), bob, "", http.StatusOK)); got.RepostCount != 0 || got.Reposted {
		t.Fatalf("after the unrepost: %+v, want none", got)
	}

	s.must(t, "PUT", "/v1/posts/999/repost", bob, "", http.StatusNotFound)
	s.must(t, "PUT", "/v1/posts/x/repost", bob, "", http.StatusNotFound) // as every post route
	s.must(t, "PUT", "/v1/blocks/"+cat, ann, "", http.StatusNoContent)
	s.must(t, "PUT", path, cat, "", http.StatusForbidden)
	s.must(t, "DELETE", path, cat, "", http.StatusNoContent) // allowed across a block
}

// TestFollowRepostSetting: PUT /v1/following/{user} takes {"reposts":
// false}, and refuses a malformed body.
func TestFollowRepostSetting(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	ann, bob := userFor(t, "ann"), userFor(t, "bob")
	for _, u := range []string{ann, bob} {
		s.must(t, "GET", "/v1/feed", u, "", http.StatusOK)
	}
	s.must(t, "PUT", "/v1/following/"+ann, bob, `{"reposts": false}`, http.StatusNoContent)
	hidden, err := s.store.RepostsHiddenFrom(t.Context(), bob, []string{ann})
	if err != nil || len(hidden) != 1 {
		t.Fatalf("bob hides the reposts of %v (%v), want ann's", hidden, err)
	}
	s.must(t, "PUT", "/v1/following/"+ann, bob, "", http.StatusNoContent) // keeps it
	if hidden, _ := s.store.RepostsHiddenFrom(t.Context(), bob, []string{ann}); len(hidden) != 1 {
		t.Fatal("following again without a body showed ann's reposts")
	}
	s.must(t, "PUT", "/v1/following/"+ann, bob, `{"reposts": true}`, http.StatusNoContent)
	if hidden, _ := s.store.RepostsHiddenFrom(t.Context(), bob, []string{ann}); len(hidden) != 0 {
		t.Fatal(`{"reposts": true} left ann's reposts hidden`)
	}
	s.must(t, "PUT", "/v1/following/"+ann, bob, `{"reposts": "no"}`, http.StatusBadRequest)
}
