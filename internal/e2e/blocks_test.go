package e2e_test

import (
	"fmt"
	"testing"

	"github.com/feedsvc/feedsvc/internal/testenv"
)

// mentionsOf counts u's mention notifications of post id.
func mentionsOf(s *system, u *user, id string) int {
	n := 0
	for _, x := range u.notifications(s) {
		if x.Kind == "mention" && x.Post == id {
			n++
		}
	}
	return n
}

// TestBlocks: a block, end to end through the outbox, Kafka and the
// consumers: it ends the follows both ways and empties each side's feed of
// the other's posts, refuses follows either way, keeps the blocker's later
// posts out of the blocked user's feed and notifications, and an unblock
// lets a new follow merge the posts back.
func TestBlocks(t *testing.T) {
	forEach(t, func(t *testing.T, s *system) {
		s.up()
		a, b, c := s.user("a"), s.user("b"), s.user("c")
		for _, u := range []*user{a, b, c} {
			u.must(s, "GET", "/v1/feed", nil, 200) // exists; fan-out writes into read feeds only
		}
		a.follow(s, b)
		b.follow(s, a)
		c.follow(s, a)
		pa := a.post(s, fmt.Sprintf("hello @%s", b.name))
		pb := b.post(s, "hello back")
		testenv.Eventually(t, "b sees a's post", func() error { return sameSet(s.inspect(b), []string{pa.ID}) })
		testenv.Eventually(t, "a sees b's post", func() error { return sameSet(s.inspect(a), []string{pb.ID}) })
		testenv.Eventually(t, "b is notified of the mention", func() error { return equalf(mentionsOf(s, b, pa.ID), 1) })

		a.must(s, "PUT", "/v1/blocks/"+b.name, nil, 204)
		a.must(s, "PUT", "/v1/blocks/"+b.name, nil, 204) // idempotent
		if err := sameSet(a.users(s, "/v1/blocks"), []string{b.name}); err != nil {
			t.Fatalf("a's blocks: %v", err)
		}
		if err := sameSet(a.users(s, "/v1/users/"+a.name+"/followers"), []string{c.name}); err != nil {
			t.Fatalf("a's followers after the block: %v", err)
		}
		if got := a.users(s, "/v1/users/"+a.name+"/following"); len(got) != 0 {
			t.Fatalf("a follows %v after the block", got)
		}
		for _, u := range []*user{a, b} {
			if ids := u.feed(s); len(ids) != 0 {
				t.Fatalf("%s reads %v right after the block, want nothing", u.name, ids)
			}
			testenv.Eventually(t, "the block empties "+u.name+"'s stored feed", func() error { return sameSet(s.inspect(u), nil) })
		}
		b.must(s, "PUT", "/v1/following/"+a.name, nil, 403)
		a.must(s, "PUT", "/v1/following/"+b.name, nil, 403)

		// a's next post, mentioning both: c gets it and its mention, b
		// neither.
		pa2 := a.post(s, fmt.Sprintf("again @%s @%s", b.name, c.name))
		testenv.Eventually(t, "c sees a's posts", func() error { return sameSet(s.inspect(c), []string{pa.ID, pa2.ID}) })
		testenv.Eventually(t, "c is notified of the mention", func() error { return equalf(mentionsOf(s, c, pa2.ID), 1) })
		if n := mentionsOf(s, b, pa2.ID); n != 0 {
			t.Fatalf("b was notified of a mention across the block")
		}
		if err := sameSet(s.inspect(b), nil); err != nil {
			t.Fatalf("b's stored feed after a's post: %v", err)
		}

		a.must(s, "DELETE", "/v1/blocks/"+b.name, nil, 204)
		a.must(s, "DELETE", "/v1/blocks/"+b.name, nil, 204) // idempotent
		if got := a.users(s, "/v1/blocks"); len(got) != 0 {
			t.Fatalf("a's blocks after the unblock: %v", got)
		}
		b.follow(s, a)
		testenv.Eventually(t, "following again merges a's posts", func() error { return sameSet(s.inspect(b), []string{pa.ID, pa2.ID}) })
		s.down()
	})
}
