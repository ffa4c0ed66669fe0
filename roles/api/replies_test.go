package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/feedsvc/feedsvc/app"
)

// replyView is a post as rendered with its reply fields.
type replyView struct {
	ID              app.ID `json:"id,string"`
	Author          string `json:"author"`
	InReplyTo       app.ID `json:"in_reply_to,string"`
	InReplyToAuthor string `json:"in_reply_to_author"`
	ReplyCount      int64  `json:"reply_count"`
}

func (s *server) reply(t *testing.T, user, text string, parent app.ID) replyView {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"text": text, "in_reply_to": parent.String()})
	return decode[replyView](t, s.must(t, "POST", "/v1/posts", user, string(body), http.StatusCreated))
}

// TestReplies: POST /v1/posts with in_reply_to makes a reply that records
// its parent and the parent's author; GET /v1/posts/{id}/replies pages the
// direct replies oldest first; reply_count is exact, and deleted and
// moderated replies leave both; a deleted parent leaves its replies
// standing.
func TestReplies(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	ann, bob, cat := userFor(t, "ann"), userFor(t, "bob"), userFor(t, "cat")
	for _, u := range []string{ann, bob, cat} {
		s.must(t, "GET", "/v1/feed", u, "", http.StatusOK)
	}
	parent := s.post(t, ann, "a question")
	r1 := s.reply(t, bob, "an answer", parent.ID)
	if r1.InReplyTo != parent.ID || r1.InReplyToAuthor != ann || r1.ReplyCount != 0 {
		t.Fatalf("reply %+v, want in_reply_to %s by %s and no replies", r1, parent.ID, ann)
	}
	r2 := s.reply(t, cat, "another", parent.ID)
	r3 := s.reply(t, ann, "thanks, both", parent.ID) // a thread: a reply to oneself
	if !s.published(app.PostCreated, r1.ID) {
		t.Fatal("no post.created for the reply")
	}

	path := "/v1/posts/" + parent.ID.String() + "/replies"
	first := decode[page[replyView]](t, s.must(t, "GET", path+"?limit=2", cat, "", http.StatusOK))
	if len(first.Items) != 2 || first.Items[0].ID != r1.ID || first.Items[1].ID != r2.ID || first.NextCursor == "" {
		t.Fatalf("first page %+v, want %s then %s (oldest first) and a cursor", first, r1.ID, r2.ID)
	}
	second := decode[page[replyView]](t, s.must(t, "GET", path+"?limit=2&cursor="+first.NextCursor, cat, "", http.StatusOK))
	if len(second.Items) != 1 || second.Items[0].ID != r3.ID || second.NextCursor != "" {
		t.Fatalf("second page %+v, want %s and the end", second, r3.ID)
	}

	count := func(want int64) {
		t.Helper()
		got := decode[replyView](t, s.must(t, "GET", "/v1/posts/"+parent.ID.String(), bob, "", http.StatusOK))
		posts := decode[page[replyView]](t, s.must(t, "GET", "/v1/users/"+ann+"/posts", bob, "", http.StatusOK))
		var listed int64 = -1
		for _, p := range posts.Items {
			if p.ID == parent.ID {
				listed = p.ReplyCount
			}
		}
		if got.ReplyCount != want || listed != want {
			t.Fatalf("reply_count %d (post), %d (user posts), want %d", got.ReplyCount, listed, want)
		}
	}
	count(3)
	// A reply's count is its own replies'.
	s.reply(t, ann, "to bob", r1.ID)
	if got := decode[replyView](t, s.must(t, "GET", "/v1/posts/"+r1.ID.String(), ann, "", http.StatusOK)); got.ReplyCount != 1 {
		t.Fatalf("reply's reply_count %d, want 1", got.ReplyCount)
	}
	count(3)

	s.must(t, "DELETE", "/v1/posts/"+r2.ID.String(), cat, "", http.StatusNoContent)
	count(2)
	if err := s.store.HidePost(context.Background(), app.Post{ID: r1.ID, Author: bob, InReplyTo: parent.ID}, "test-rule"); err != nil {
		t.Fatal(err)
	}
	count(1)
	all := decode[page[replyView]](t, s.must(t, "GET", path, bob, "", http.StatusOK))
	if len(all.Items) != 1 || all.Items[0].ID != r3.ID {
		t.Fatalf("replies after a delete and a moderation %+v, want %s only", all.Items, r3.ID)
	}

	// A deleted parent leaves its replies standing; its thread is gone.
	s.must(t, "DELETE", "/v1/posts/"+parent.ID.String(), ann, "", http.StatusNoContent)
	if got := decode[replyView](t, s.must(t, "GET", "/v1/posts/"+r3.ID.String(), bob, "", http.StatusOK)); got.InReplyTo != parent.ID {
		t.Fatalf("reply to a deleted post %+v, want it standing with its in_reply_to", got)
	}
	wantProblem(t, s.do("GET", path, bob, ""), http.StatusNotFound, "not found")
}

// TestReplyRefused: a reply to a post the caller cannot see is 404, across
// a block with its author 403 either way (as a like), a malformed parent
// 400; listing the replies of such a post answers the same. Nothing is
// stored.
func TestReplyRefused(t *testing.T) {
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
		name, user, parent string
		status             int
		detail             string
	}{
		{"malformed parent", bob, `"abc"`, http.StatusBadRequest, "in_reply_to"},
		{"zero parent", bob, `"0"`, http.StatusBadRequest, "in_reply_to"},
		{"number, not a string", bob, `1`, http.StatusBadRequest, "invalid JSON"},
		{"unknown post", bob, `"1"`, http.StatusNotFound, "not found"},
		{"deleted post", bob, `"` + gone.ID.String() + `"`, http.StatusNotFound, "not found"},
		{"moderated post", bob, `"` + hidden.ID.String() + `"`, http.StatusNotFound, "not found"},
		{"blocked by the author", cat, `"` + open.ID.String() + `"`, http.StatusForbidden, "block each other"},
		{"blocking the author", ann, `"` + blockedBy.ID.String() + `"`, http.StatusForbidden, "block each other"},
	} {
		t.Run(c.name, func(t *testing.T) {
			wantProblem(t, s.do("POST", "/v1/posts", c.user, `{"text":"re","in_reply_to":`+c.parent+`}`), c.status, c.detail)
		})
	}
	for _, c := range []struct {
		name, user, post string
		status           int
	}{
		{"unknown post", bob, "1", http.StatusNotFound},
		{"malformed id", bob, "abc", http.StatusNotFound},
		{"deleted post", bob, gone.ID.String(), http.StatusNotFound},
		{"moderated post", bob, hidden.ID.String(), http.StatusNotFound},
		{"blocked by the author", cat, open.ID.String(), http.StatusForbidden},
		{"bad cursor", bob, open.ID.String() + "/replies?cursor=x", http.StatusBadRequest},
	} {
		t.Run("list "+c.name, func(t *testing.T) {
			path := "/v1/posts/" + c.post
			if c.name != "bad cursor" {
				path += "/replies"
			}
			if rec := s.do("GET", path, c.user, ""); rec.Code != c.status {
				t.Fatalf("status %d %s, want %d", rec.Code, rec.Body, c.status)
			}
		})
	}
	// Its author may reply to a moderated post of theirs.
	s.reply(t, ann, "my own", hidden.ID)
	for _, p := range []app.ID{gone.ID, open.ID, blockedBy.ID} {
		if c, _ := s.store.ReplyCounts(context.Background(), []app.ID{p}); c[p] != 0 {
			t.Fatalf("post %s: %d replies after refused ones", p, c[p])
		}
	}

	// An Idempotency-Key binds the parent with the text.
	body := func(parent app.ID) string {
		b, _ := json.Marshal(map[string]string{"text": "same text", "in_reply_to": parent.String()})
		return string(b)
	}
	other := s.post(t, ann, "other parent")
	req := newRequest("POST", "/v1/posts", bob, body(open.ID))
	req.Header.Set("Idempotency-Key", "k-"+testKey(t))
	if rec := s.serve(req); rec.Code != http.StatusCreated {
		t.Fatalf("keyed reply: %d %s", rec.Code, rec.Body)
	}
	req = newRequest("POST", "/v1/posts", bob, body(other.ID))
	req.Header.Set("Idempotency-Key", "k-"+testKey(t))
	if rec := s.serve(req); rec.Code != http.StatusUnprocessableEntity {
		t.Fatalf("same key, other parent: %d %s, want 422", rec.Code, rec.Body)
	}
}

// TestReplyCountsInFeed: a feed page reads the reply counts once.
func TestReplyCountsInFeed(t *testing.T) {
	t.Parallel()
	s := newServer(t, options{})
	ann, bob := "ann", "bob"
	s.must(t, "GET", "/v1/feed", ann, "", http.StatusOK)
	s.must(t, "PUT", "/v1/following/"+ann, bob, "", http.StatusNoContent)
	s.must(t, "GET", "/v1/feed", bob, "", http.StatusOK)
	var posts []app.Post
	for range 3 {
		posts = append(posts, s.post(t, ann, "in a feed"))
	}
	fan := &app.Fanout{Posts: s.store, Graph: s.store, Feeds: s.feeds, Unfollows: s.feeds, FeedCap: 800}
	s.deliver(t, fan, posts...)
	s.reply(t, bob, "one", posts[1].ID)
	s.reply(t, bob, "two", posts[1].ID)

	before := s.store.ReplyCountReads()
	got := decode[page[replyView]](t, s.must(t, "GET", "/v1/feed", bob, "", http.StatusOK)).Items
	if reads := s.store.ReplyCountReads() - before; reads != 1 {
		t.Fatalf("a feed page read reply counts %d times, want once", reads)
	}
	if len(got) != 3 || got[0].ReplyCount != 0 || got[1].ReplyCount != 2 || got[2].ReplyCount != 0 {
		t.Fatalf("feed %+v, want counts 0, 2, 0", got)
	}
}
