package e2e_test

import (
	"fmt"
	"testing"

	"github.com/feedsvc/feedsvc/internal/testenv"
)

// repostPost is a post as rendered with its repost fields.
type repostPost struct {
	ID          string `json:"id"`
	RepostedBy  string `json:"reposted_by"`
	RepostID    string `json:"repost_id"`
	RepostCount int64  `json:"repost_count"`
	Reposted    bool   `json:"reposted"`
}

// rendered reads u's first feed page as rendered.
func (u *user) rendered(s *system) []repostPost {
	u.t.Helper()
	var page list[repostPost]
	u.must(s, "GET", "/v1/feed?limit=100", nil, 200).decode(u.t, &page)
	return page.Items
}

// repostsOf counts u's repost notifications of post id.
func repostsOf(s *system, u *user, id string) int {
	n := 0
	for _, x := range u.notifications(s) {
		if x.Kind == "repost" && x.Post == id {
			n++
		}
	}
	return n
}

// TestReposts: a repost, end to end through the outbox, Kafka and the
// consumers: fan-out delivers it to the reposter's followers but not to
// one hiding its reposts; a feed renders it as the original with the
// reposter, and shows a post its reader has already once; the original's
// author is notified once; deleting the original takes the repost out
// of every feed.
func TestReposts(t *testing.T) {
	forEach(t, func(t *testing.T, s *system) {
		s.up()
		a, b, c, d := s.user("a"), s.user("b"), s.user("c"), s.user("d")
		for _, u := range []*user{a, b, c, d} {
			u.must(s, "GET", "/v1/feed", nil, 200) // exists; fan-out writes into read feeds only
		}
		c.follow(s, b)
		d.follow(s, b)
		d.follow(s, a) // has the original already
		p := a.post(s, "worth sharing")
		testenv.Eventually(t, "d sees a's post", func() error { return sameSet(s.inspect(d), []string{p.ID}) })

		for range 2 { // idempotent
			b.must(s, "PUT", "/v1/posts/"+p.ID+"/repost", nil, 204)
		}
		testenv.Eventually(t, "d's stored feed gets the repost too", func() error {
			if ids := s.inspect(d); len(ids) != 2 {
				return fmt.Errorf("d's feed holds %v, want the original and one repost", ids)
			}
			return nil
		})
		if items := d.rendered(s); len(items) != 1 || items[0].ID != p.ID || items[0].RepostedBy != "" {
			t.Fatalf("d reads %+v, want a's post once, as posted", items)
		}
		testenv.Eventually(t, "a is notified of the repost", func() error { return equalf(repostsOf(s, a, p.ID), 1) })
		var got repostPost
		b.must(s, "GET", "/v1/posts/"+p.ID, nil, 200).decode(t, &got)
		if got.RepostCount != 1 || !got.Reposted {
			t.Fatalf("the post as b: %+v, want repost_count 1, reposted", got)
		}

		// c hides b's reposts: a second post's repost does not reach it.
		c.must(s, "PUT", "/v1/following/"+b.name, map[string]bool{"reposts": false}, 204)
		q := a.post(s, "another")
		b.must(s, "PUT", "/v1/posts/"+q.ID+"/repost", nil, 204)
		testenv.Eventually(t, "d gets the second repost", func() error {
			if ids := s.inspect(d); len(ids) != 4 {
				return fmt.Errorf("d's feed holds %v, want 4 entries", ids)
			}
			return nil
		})
		if items := c.rendered(s); len(items) != 0 {
			t.Fatalf("c hides b's reposts but reads %+v", items)
		}

		// Deleting the original takes the repost out of every feed.
		a.must(s, "DELETE", "/v1/posts/"+p.ID, nil, 204)
		testenv.Eventually(t, "the repost of the deleted post leaves d's feed", func() error {
			if ids := s.inspect(d); len(ids) != 2 {
				return fmt.Errorf("d's feed holds %v, want q and its repost", ids)
			}
			return nil
		})
		b.must(s, "PUT", "/v1/posts/"+p.ID+"/repost", nil, 404)
		s.down()
	})
}
