package e2e_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/internal/testenv"
)

// TestCelebrityHybridFanout: with --celebrity-threshold 2, an author with
// three followers becomes a celebrity on its first post; its later posts are
// not written into any follower's cached feed, yet every follower reads
// them, merged with the fanned-out posts of others, newest first, with
// exact paging across the merge.
func TestCelebrityHybridFanout(t *testing.T) {
	forEach(t, func(t *testing.T, s *system) {
		s.env = append(s.env, "FEEDSVC_CELEBRITY_THRESHOLD=2")
		s.up()
		star, small := s.user("star"), s.user("small")
		star.must(s, "GET", "/v1/feed", nil, 200) // users exist from their first request
		small.must(s, "GET", "/v1/feed", nil, 200)
		var fans []*user
		for i := range 3 {
			u := s.user(fmt.Sprintf("fan%d", i))
			u.must(s, "GET", "/v1/feed", nil, 200)
			u.follow(s, star)
			fans = append(fans, u)
		}
		fans[0].follow(s, small)

		crossing := star.post(s, "the post that crosses the threshold").ID
		for _, u := range fans {
			testenv.Eventually(t, u.name+" reads the crossing post", func() error { return sameSet(u.feed(s), []string{crossing}) })
		}
		all, starOnly := []string{crossing}, []string{crossing}
		for i := range 6 {
			if i%3 == 0 {
				all = append(all, small.post(s, fmt.Sprint("small ", i)).ID)
				continue
			}
			id := star.post(s, fmt.Sprint("star ", i)).ID
			all, starOnly = append(all, id), append(starOnly, id)
		}
		slices.Reverse(all)
		slices.Reverse(starOnly)
		testenv.Eventually(t, "fan0 reads both authors, merged", func() error {
			got := fans[0].feedPaged(s, 2)
			if !slices.Equal(got, all) {
				return fmt.Errorf("paged feed %v, want %v", got, all)
			}
			return nil
		})
		for _, u := range fans[1:] {
			if got := u.feedPaged(s, 3); !slices.Equal(got, starOnly) {
				t.Fatalf("%s's feed %v, want %v", u.name, got, starOnly)
			}
		}
		// The celebrity's later posts were never fanned out on write.
		for _, u := range fans {
			for _, id := range s.inspect(u) {
				if id != crossing && slices.Contains(starOnly, id) {
					t.Fatalf("celebrity post %s was written into %s's cached feed", id, u.name)
				}
			}
		}

		// A new follower reads the celebrity's posts at once; one who
		// unfollows stops; a deleted post leaves every feed.
		late := s.user("late")
		late.must(s, "GET", "/v1/feed", nil, 200)
		late.follow(s, star)
		testenv.Eventually(t, "the new follower reads the celebrity", func() error { return sameSet(late.feed(s), starOnly) })
		fans[1].must(s, "DELETE", "/v1/following/"+star.name, nil, 204)
		testenv.Eventually(t, "the unfollower stops reading the celebrity", func() error { return sameSet(fans[1].feed(s), nil) })
		star.must(s, "DELETE", "/v1/posts/"+starOnly[0], nil, 204)
		testenv.Eventually(t, "the deleted post leaves the merged feed", func() error { return sameSet(fans[2].feed(s), starOnly[1:]) })
		s.down()
	})
}

// TestInactiveUsersGetNoFanout: fan-out writes only into the feeds of users
// who read them; a feed unread for --feed-inactive-after expires, and its
// owner's next read rebuilds it. Real Redis only: the embedded one does not
// expire keys by the clock.
func TestInactiveUsersGetNoFanout(t *testing.T) {
	forDeployments(t, []deployment{depReal}, func(t *testing.T, s *system) {
		// Fan-out must reach a feed before it expires: 20 s is longer
		// than the relay, Kafka and fan-out take on a loaded machine
		// (at 5 s a slow run expired the feed first).
		s.env = append(s.env, "FEEDSVC_FEED_INACTIVE_AFTER=20s")
		s.up()
		// The test before on this environment may have left the outbox's
		// shard leases held by its killed api, for up to their 20 s TTL:
		// a post would wait that long for its event, and the feed would
		// expire first (seen in CI).
		testenv.Eventually(t, "the api relays every outbox shard", func() error {
			if n := strings.Count(s.api.logs(), `"msg":"relaying outbox shard"`); n < app.OutboxShards {
				return fmt.Errorf("%d of %d shards leased", n, app.OutboxShards)
			}
			return nil
		})
		author, reader, away := s.user("author"), s.user("reader"), s.user("away")
		author.must(s, "POST", "/v1/notifications/read", map[string]string{}, 204) // exists, no feed
		reader.must(s, "GET", "/v1/feed", nil, 200)
		reader.follow(s, author)
		away.follow(s, author)
		p1 := author.post(s, "one").ID
		testenv.Eventually(t, "the reader's cached feed has the post", func() error { return sameSet(s.inspect(reader), []string{p1}) })
		if ids := s.inspect(away); len(ids) != 0 {
			t.Fatalf("fan-out wrote %v into the feed of a user who never read it", ids)
		}
		testenv.Eventually(t, "the unread feed expires", func() error {
			if ids := s.inspect(reader); len(ids) != 0 {
				return fmt.Errorf("still cached: %v", ids)
			}
			return nil
		})
		p2 := author.post(s, "two").ID
		for _, u := range []*user{reader, away} {
			if err := sameSet(u.feed(s), []string{p1, p2}); err != nil {
				t.Fatalf("%s's first read after being away: %v", u.name, err)
			}
		}
		p3 := author.post(s, "three").ID
		testenv.Eventually(t, "fan-out reaches the returned user", func() error { return sameSet(s.inspect(away), []string{p1, p2, p3}) })
		s.down()
	})
}
