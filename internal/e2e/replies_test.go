package e2e_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/feedsvc/feedsvc/internal/testenv"
)

// replyPost is a post as rendered with its reply fields.
type replyPost struct {
	ID              string `json:"id"`
	Author          string `json:"author"`
	InReplyTo       string `json:"in_reply_to"`
	InReplyToAuthor string `json:"in_reply_to_author"`
	ReplyCount      int64  `json:"reply_count"`
}

func (u *user) reply(s *system, text, parent string) replyPost {
	u.t.Helper()
	var out replyPost
	u.must(s, "POST", "/v1/posts", map[string]string{"text": text, "in_reply_to": parent}, 201).decode(u.t, &out)
	if out.Author != u.name || out.InReplyTo != parent || out.ID == "" {
		u.t.Fatalf("created reply = %+v, want one of %s to %s", out, u.name, parent)
	}
	return out
}

// repliesOf counts u's reply notifications of post id.
func repliesOf(s *system, u *user, id string) int {
	n := 0
	for _, x := range u.notifications(s) {
		if x.Kind == "reply" && x.Post == id {
			n++
		}
	}
	return n
}

// TestReplies: a reply, end to end through the outbox, Kafka and the
// consumers: fan-out delivers it only to the followers who also follow
// the parent's author (or are that author), a thread's reply to every
// follower; the parent's author is notified; the thread lists it and the
// parent counts it; a deleted parent leaves its replies standing.
func TestReplies(t *testing.T) {
	forEach(t, func(t *testing.T, s *system) {
		s.up()
		a, b, c, d := s.user("a"), s.user("b"), s.user("c"), s.user("d")
		for _, u := range []*user{a, b, c, d} {
			u.must(s, "GET", "/v1/feed", nil, 200) // exists; fan-out writes into read feeds only
		}
		a.follow(s, b) // the parent's author follows the replier
		c.follow(s, a)
		c.follow(s, b) // follows both
		d.follow(s, b) // follows the replier only
		p := a.post(s, "a question")
		testenv.Eventually(t, "c sees a's post", func() error { return sameSet(s.inspect(c), []string{p.ID}) })

		r := b.reply(s, "an answer", p.ID)
		if r.InReplyToAuthor != a.name {
			t.Fatalf("reply %+v, want the parent's author %s", r, a.name)
		}
		thread := b.reply(s, "and a thread", r.ID) // a reply to oneself
		testenv.Eventually(t, "c gets the reply and the thread", func() error { return sameSet(s.inspect(c), []string{p.ID, r.ID, thread.ID}) })
		testenv.Eventually(t, "a gets the reply to its post", func() error { return sameSet(s.inspect(a), []string{r.ID, thread.ID}) })
		testenv.Eventually(t, "d gets the thread only", func() error { return sameSet(s.inspect(d), []string{thread.ID}) })
		if ids := d.feed(s); slices.Contains(ids, r.ID) {
			t.Fatalf("d reads %v, with a reply to a user it does not follow", ids)
		}
		testenv.Eventually(t, "a is notified of the reply", func() error { return equalf(repliesOf(s, a, r.ID), 1) })
		if n := repliesOf(s, b, thread.ID); n != 0 {
			t.Fatalf("b was notified of its own reply %d times", n)
		}

		var replies list[replyPost]
		c.must(s, "GET", "/v1/posts/"+p.ID+"/replies", nil, 200).decode(t, &replies)
		if len(replies.Items) != 1 || replies.Items[0].ID != r.ID || replies.Items[0].ReplyCount != 1 {
			t.Fatalf("replies to %s: %+v, want %s with its one reply", p.ID, replies.Items, r.ID)
		}
		var got replyPost
		c.must(s, "GET", "/v1/posts/"+p.ID, nil, 200).decode(t, &got)
		if got.ReplyCount != 1 {
			t.Fatalf("the parent's reply_count %d, want 1", got.ReplyCount)
		}
		c.must(s, "POST", "/v1/posts", map[string]string{"text": "x", "in_reply_to": "1"}, 404)

		a.must(s, "DELETE", "/v1/posts/"+p.ID, nil, 204)
		c.must(s, "GET", "/v1/posts/"+r.ID, nil, 200).decode(t, &got)
		if got.InReplyTo != p.ID {
			t.Fatalf("a reply to a deleted post: %+v, want it standing", got)
		}
		c.must(s, "GET", "/v1/posts/"+p.ID+"/replies", nil, 404)
		c.must(s, "POST", "/v1/posts", map[string]string{"text": "late", "in_reply_to": p.ID}, 404)
		testenv.Eventually(t, "the deleted parent leaves c's feed, its replies stay", func() error {
			return sameSet(s.inspect(c), []string{r.ID, thread.ID})
		})
		if err := sameSet(c.feed(s), []string{thread.ID, r.ID}); err != nil {
			t.Fatalf("c's feed: %v", fmt.Errorf("after the parent's deletion: %w", err))
		}
		s.down()
	})
}
