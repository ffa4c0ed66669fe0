package e2e_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/feedsvc/feedsvc/internal/testenv"
)

// muteEntry is one of GET /v1/mutes' items.
type muteEntry struct {
	User      string     `json:"user"`
	ExpiresAt *time.Time `json:"expires_at"`
}

// TestMutes: a mute, end to end through the outbox, Kafka and the
// consumers: it keeps the follow, empties the muter's feed of the muted
// user's posts (one way), keeps their later posts and mentions away from
// the muter, and the unmute brings the posts back; a mute with a duration
// ends by itself, and the muter's next read brings the posts back.
func TestMutes(t *testing.T) {
	forEach(t, func(t *testing.T, s *system) {
		s.up()
		a, b, c := s.user("a"), s.user("b"), s.user("c")
		for _, u := range []*user{a, b, c} {
			u.must(s, "GET", "/v1/feed", nil, 200) // exists; fan-out writes into read feeds only
		}
		a.follow(s, b)
		a.follow(s, c)
		b.follow(s, a)
		pb := b.post(s, fmt.Sprintf("hello @%s", a.name))
		pc := c.post(s, "from c")
		pa := a.post(s, "from a")
		testenv.Eventually(t, "a sees b's and c's posts", func() error { return sameSet(s.inspect(a), []string{pb.ID, pc.ID}) })
		testenv.Eventually(t, "b sees a's post", func() error { return sameSet(s.inspect(b), []string{pa.ID}) })
		testenv.Eventually(t, "a is notified of the mention", func() error { return equalf(mentionsOf(s, a, pb.ID), 1) })

		a.must(s, "PUT", "/v1/mutes/"+b.name, nil, 204)
		a.must(s, "PUT", "/v1/mutes/"+b.name, nil, 204) // idempotent
		var mutes list[muteEntry]
		a.must(s, "GET", "/v1/mutes", nil, 200).decode(t, &mutes)
		if len(mutes.Items) != 1 || mutes.Items[0].User != b.name || mutes.Items[0].ExpiresAt != nil {
			t.Fatalf("a's mutes: %+v, want b without an end", mutes.Items)
		}
		if err := sameSet(a.users(s, "/v1/users/"+a.name+"/following"), []string{b.name, c.name}); err != nil {
			t.Fatalf("a's following after the mute: %v", err)
		}
		if err := sameSet(a.feed(s), []string{pc.ID}); err != nil {
			t.Fatalf("a reads right after the mute: %v", err)
		}
		testenv.Eventually(t, "the mute takes b's posts out of a's stored feed", func() error { return sameSet(s.inspect(a), []string{pc.ID}) })
		if err := sameSet(s.inspect(b), []string{pa.ID}); err != nil {
			t.Fatalf("b's stored feed after a muted b (one way): %v", err)
		}

		// b's next post, mentioning a and c: a gets neither the post nor
		// the mention; c, who follows nobody, the mention.
		pb2 := b.post(s, fmt.Sprintf("again @%s @%s", a.name, c.name))
		testenv.Eventually(t, "c is notified of the mention", func() error { return equalf(mentionsOf(s, c, pb2.ID), 1) })
		if n := mentionsOf(s, a, pb2.ID); n != 0 {
			t.Fatalf("a was notified of a mention by a user it mutes")
		}
		if err := sameSet(s.inspect(a), []string{pc.ID}); err != nil {
			t.Fatalf("a's stored feed after b's post: %v", err)
		}

		a.must(s, "DELETE", "/v1/mutes/"+b.name, nil, 204)
		a.must(s, "DELETE", "/v1/mutes/"+b.name, nil, 204) // idempotent
		testenv.Eventually(t, "the unmute brings b's posts back", func() error { return sameSet(s.inspect(a), []string{pb.ID, pb2.ID, pc.ID}) })

		// A timed mute: it ends, and the posts are back on a read after
		// that. Fan-out takes the posts out only while the mute lasts, so
		// it lasts longer than a loaded machine takes to fan it out.
		const lasts = 20 * time.Second
		asked := time.Now()
		a.must(s, "PUT", "/v1/mutes/"+b.name, map[string]string{"duration": lasts.String()}, 204)
		a.must(s, "GET", "/v1/mutes", nil, 200).decode(t, &mutes)
		if len(mutes.Items) != 1 || mutes.Items[0].ExpiresAt == nil {
			t.Fatalf("a's mutes: %+v, want b's, with an end", mutes.Items)
		}
		end := *mutes.Items[0].ExpiresAt
		if end.Before(asked.Add(lasts-time.Second)) || end.After(time.Now().Add(lasts+time.Second)) {
			t.Fatalf("the mute ends at %s, want %s after it was asked (%s)", end, lasts, asked)
		}
		testenv.Eventually(t, "the timed mute takes b's posts out", func() error { return sameSet(s.inspect(a), []string{pc.ID}) })
		time.Sleep(time.Until(end) + 100*time.Millisecond)
		testenv.Eventually(t, "after the mute's end a's reads show b's posts again", func() error {
			return sameSet(a.feed(s), []string{pb.ID, pb2.ID, pc.ID})
		})
		testenv.Eventually(t, "and its stored feed holds them", func() error { return sameSet(s.inspect(a), []string{pb.ID, pb2.ID, pc.ID}) })
		var after list[muteEntry]
		a.must(s, "GET", "/v1/mutes", nil, 200).decode(t, &after)
		if len(after.Items) != 0 {
			t.Fatalf("a's mutes after the end: %+v", after.Items)
		}
		a.must(s, "PUT", "/v1/mutes/"+b.name, map[string]string{"duration": "soon"}, 400)
		a.must(s, "PUT", "/v1/mutes/"+a.name, nil, 400)
		s.down()
	})
}
