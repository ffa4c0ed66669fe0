package api_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/feedsvc/feedsvc/app"
)

// likeView is a post as rendered with its likes.
type likeView struct {
	ID        app.ID `json:"id,string"`
	LikeCount int64  `json:"like_count"`
	Liked     bool   `json:"liked"`
}

// TestLikes: PUT and DELETE /v1/posts/{id}/like are idempotent 204s, each
// change announced once; every rendering of a post (the post, the author's
// posts, the feed, search) carries like_count and liked for the reader.
func TestLikes(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	ann, bob, cat := userFor(t, "ann"), userFor(t, "bob"), userFor(t, "cat")
	for _, u := range []string{ann, bob, cat} {
		s.must(t, "GET", "/v1/feed", u, "", http.StatusOK) // exists
	}
	p := s.post(t, ann, "likeable "+testKey(t))
	if got := decode[likeView](t, s.must(t, "GET", "/v1/posts/"+p.ID.String(), bob, "", http.StatusOK)); got.LikeCount != 0 || got.Liked {
		t.Fatalf("a new post: %+v, want no likes", got)
	}
	path := "/v1/posts/" + p.ID.String() + "/like"
	for range 3 { // liking again is harmless
		s.must(t, "PUT", path, bob, "", http.StatusNoContent)
	}
	s.must(t, "PUT", path, cat, "", http.StatusNoContent)
	s.must(t, "PUT", path, ann, "", http.StatusNoContent) // one's own post counts too

	check := func(reader string, count int64, liked bool) {
		t.Helper()
		for name, got := range map[string]likeView{
			"post":       decode[likeView](t, s.must(t, "GET", "/v1/posts/"+p.ID.String(), reader, "", http.StatusOK)),
			"user posts": decode[page[likeView]](t, s.must(t, "GET", "/v1/users/"+ann+"/posts", reader, "", http.StatusOK)).Items[0],
		} {
			if got.ID != p.ID || got.LikeCount != count || got.Liked != liked {
				t.Fatalf("%s as %s: %+v, want like_count %d, liked %v", name, reader, got, count, liked)
			}
		}
	}
	check(bob, 3, true)
	check(ann, 3, true)

	// Search hits carry them too.
	s.deliver(t, &app.Indexer{Posts: s.store, Search: s.search}, p)
	hits := decode[page[likeView]](t, s.must(t, "GET", "/v1/search?q="+testKey(t), cat, "", http.StatusOK))
	if len(hits.Items) != 1 || hits.Items[0].LikeCount != 3 || !hits.Items[0].Liked {
		t.Fatalf("search as cat: %+v, want the post with 3 likes, liked", hits.Items)
	}

	for range 2 { // unliking again is harmless
		s.must(t, "DELETE", path, bob, "", http.StatusNoContent)
	}
	s.must(t, "DELETE", path, "nolike_"+testKey(t), "", http.StatusNoContent) // never liked it
	check(bob, 2, false)

	var liked, unliked int
	for _, ev := range s.bus.Pending() {
		if ev.Like == nil || ev.Like.Post != p.ID {
			continue
		}
		if ev.Like.Author != ann || ev.Key() != ev.Like.User {
			t.Fatalf("event %+v: want the author %s, keyed by the liker", ev.Like, ann)
		}
		switch ev.Type {
		case app.PostLiked:
			liked++
		case app.PostUnliked:
			unliked++
		}
	}
	if liked != 3 || unliked != 1 {
		t.Fatalf("published %d post.liked and %d post.unliked, want 3 and 1 (each change once)", liked, unliked)
	}
}

// TestLikesInFeed: a feed page carries each post's count and the reader's
// own likes, read once for the page.
func TestLikesInFeed(t *testing.T) {
	t.Parallel()
	s := newServer(t, options{})
	ann, bob := "ann", "bob"
	s.must(t, "GET", "/v1/feed", ann, "", http.StatusOK)
	s.must(t, "PUT", "/v1/following/"+ann, bob, "", http.StatusNoContent)
	s.must(t, "GET", "/v1/feed", bob, "", http.StatusOK) // bob's feed is cached
	var posts []app.Post
	for range 3 {
		posts = append(posts, s.post(t, ann, "in a feed"))
	}
	fan := &app.Fanout{Posts: s.store, Graph: s.store, Feeds: s.feeds, Unfollows: s.feeds, FeedCap: 800}
	s.deliver(t, fan, posts...)
	s.must(t, "PUT", "/v1/posts/"+posts[1].ID.String()+"/like", bob, "", http.StatusNoContent)
	s.must(t, "PUT", "/v1/posts/"+posts[1].ID.String()+"/like", ann, "", http.StatusNoContent)
	s.must(t, "PUT", "/v1/posts/"+posts[2].ID.String()+"/like", ann, "", http.StatusNoContent)

	before := s.store.LikeCountReads()
	got := decode[page[likeView]](t, s.must(t, "GET", "/v1/feed", bob, "", http.StatusOK)).Items
	// The page's counts, then bob's likes among the liked posts: two
	// batched reads for the page, whatever its size.
	if reads := s.store.LikeCountReads() - before; reads != 2 {
		t.Fatalf("a feed page read likes %d times, want twice", reads)
	}
	want := []likeView{{posts[2].ID, 1, false}, {posts[1].ID, 2, true}, {posts[0].ID, 0, false}}
	if len(got) != len(want) {
		t.Fatalf("feed %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("feed item %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	// A post just made has none.
	if p := decode[likeView](t, s.must(t, "POST", "/v1/posts", ann, `{"text":"new"}`, http.StatusCreated)); p.LikeCount != 0 || p.Liked {
		t.Fatalf("created post %+v, want no likes", p)
	}
}

// TestLikeRefused: a post the caller cannot see is 404 (unknown, deleted,
// moderated and not theirs), one across a block 403 either way; nothing is
// stored or announced.
func TestLikeRefused(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	ann, bob, cat := userFor(t, "ann"), userFor(t, "bob"), userFor(t, "cat")
	for _, u := range []string{ann, bob, cat} {
		s.must(t, "GET", "/v1/feed", u, "", http.StatusOK)
	}
	gone := s.post(t, ann, "soon deleted")
	s.must(t, "DELETE", "/v1/posts/"+gone.ID.String(), ann, "", http.StatusNoContent)
	hidden := s.post(t, ann, "soon moderated")
	if err := s.store.HidePost(context.Background(), hidden, "test-rule"); err != nil {
		t.Fatal(err)
	}
	open := s.post(t, ann, "open")
	s.must(t, "PUT", "/v1/blocks/"+cat, ann, "", http.StatusNoContent)
	blockedBy := s.post(t, cat, "by cat")

	for _, c := range []struct {
		name, method, user string
		post               string
		status             int
		detail             string
	}{
		{"unknown post", "PUT", bob, "1", http.StatusNotFound, "not found"},
		{"malformed id", "PUT", bob, "abc", http.StatusNotFound, "not found"},
		{"deleted post", "PUT", bob, gone.ID.String(), http.StatusNotFound, "not found"},
		{"unlike a deleted post", "DELETE", bob, gone.ID.String(), http.StatusNotFound, "not found"},
		{"moderated post", "PUT", bob, hidden.ID.String(), http.StatusNotFound, "not found"},
		{"blocked by the author", "PUT", cat, open.ID.String(), http.StatusForbidden, "block each other"},
		{"blocking the author", "PUT", ann, blockedBy.ID.String(), http.StatusForbidden, "block each other"},
	} {
		t.Run(c.name, func(t *testing.T) {
			wantProblem(t, s.do(c.method, "/v1/posts/"+c.post+"/like", c.user, ""), c.status, c.detail)
		})
	}
	// Its author may still like a moderated post of theirs; an unlike
	// across a block is allowed.
	s.must(t, "PUT", "/v1/posts/"+hidden.ID.String()+"/like", ann, "", http.StatusNoContent)
	s.must(t, "DELETE", "/v1/posts/"+open.ID.String()+"/like", cat, "", http.StatusNoContent)
	for _, p := range []app.Post{gone, open, blockedBy} {
		if c, _ := s.store.LikeCounts(context.Background(), cat, []app.ID{p.ID}); c[p.ID].Count != 0 {
			t.Fatalf("post %s: %d likes after refused likes", p.ID, c[p.ID].Count)
		}
	}
}
