package e2e_test

import (
	"fmt"
	"testing"

	"github.com/feedsvc/feedsvc/internal/testenv"
)

// likeView is a post as the api renders it, with its likes.
type likeView struct {
	ID        string `json:"id"`
	LikeCount int    `json:"like_count"`
	Liked     bool   `json:"liked"`
}

// likesOf reads post id as u: its like count and whether u likes it.
func likesOf(s *system, u *user, id string) likeView {
	var v likeView
	u.must(s, "GET", "/v1/posts/"+id, nil, 200).decode(u.t, &v)
	return v
}

// likeNotesOf counts u's like notifications of post id from actor.
func likeNotesOf(s *system, u *user, id, actor string) int {
	n := 0
	for _, x := range u.notifications(s) {
		if x.Kind == "like" && x.Post == id && x.Actor == actor {
			n++
		}
	}
	return n
}

// TestLikes: likes end to end through the outbox, Kafka and the
// notifications consumer: idempotent routes, exact counts and the reader's
// own like on the post and in the feed, one notification per liker and
// post (also after an unlike and a like again), none across a block, and
// 404 for a deleted post.
func TestLikes(t *testing.T) {
	forEach(t, func(t *testing.T, s *system) {
		s.up()
		a, b, c := s.user("a"), s.user("b"), s.user("c")
		for _, u := range []*user{a, b, c} {
			u.must(s, "GET", "/v1/feed", nil, 200) // exists; fan-out writes into read feeds only
		}
		b.follow(s, a)
		p := a.post(s, "like this")
		testenv.Eventually(t, "b sees a's post", func() error { return sameSet(s.inspect(b), []string{p.ID}) })

		like := "/v1/posts/" + p.ID + "/like"
		b.must(s, "PUT", like, nil, 204)
		b.must(s, "PUT", like, nil, 204) // idempotent
		c.must(s, "PUT", like, nil, 204)
		if v := likesOf(s, b, p.ID); v.LikeCount != 2 || !v.Liked {
			t.Fatalf("a's post as b: %+v, want 2 likes, liked", v)
		}
		if v := likesOf(s, a, p.ID); v.LikeCount != 2 || v.Liked {
			t.Fatalf("a's post as a: %+v, want 2 likes, not liked", v)
		}
		var feed list[likeView]
		b.must(s, "GET", "/v1/feed", nil, 200).decode(t, &feed)
		if len(feed.Items) != 1 || feed.Items[0].ID != p.ID || feed.Items[0].LikeCount != 2 || !feed.Items[0].Liked {
			t.Fatalf("b's feed: %+v, want a's post with 2 likes, liked", feed.Items)
		}
		testenv.Eventually(t, "a is notified of b's and c's likes", func() error {
			return equalf(fmt.Sprint(likeNotesOf(s, a, p.ID, b.name), likeNotesOf(s, a, p.ID, c.name)), "1 1")
		})

		b.must(s, "DELETE", like, nil, 204)
		b.must(s, "DELETE", like, nil, 204) // idempotent
		if v := likesOf(s, b, p.ID); v.LikeCount != 1 || v.Liked {
			t.Fatalf("after b's unlike: %+v, want 1 like, not liked", v)
		}
		b.must(s, "PUT", like, nil, 204) // liking again notifies nobody again

		// A block: c's like across it is refused, and a later like of c's
		// (after the unblock) notifies once.
		a.must(s, "PUT", "/v1/blocks/"+c.name, nil, 204)
		c.must(s, "DELETE", like, nil, 204) // taking a like back is allowed
		c.must(s, "PUT", like, nil, 403)
		a.must(s, "DELETE", "/v1/blocks/"+c.name, nil, 204)

		marker := a.post(s, "marker")
		c.must(s, "PUT", "/v1/posts/"+marker.ID+"/like", nil, 204)
		testenv.Eventually(t, "c's like of the marker notifies a", func() error { return equalf(likeNotesOf(s, a, marker.ID, c.name), 1) })
		// b's like again rewrote its first notification: still one.
		testenv.Eventually(t, "b's likes notify a once", func() error { return equalf(likeNotesOf(s, a, p.ID, b.name), 1) })
		if v := likesOf(s, a, p.ID); v.LikeCount != 1 {
			t.Fatalf("a's post after the unlikes and a like again: %+v, want 1 like", v)
		}

		a.must(s, "DELETE", "/v1/posts/"+p.ID, nil, 204)
		b.must(s, "PUT", like, nil, 404)
		b.must(s, "DELETE", like, nil, 404)
		testenv.Eventually(t, "the deleted post's like notifications go", func() error { return equalf(likeNotesOf(s, a, p.ID, b.name), 0) })
		s.down()
	})
}
