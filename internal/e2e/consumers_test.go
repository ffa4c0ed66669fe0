package e2e_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/feedsvc/feedsvc/app"
	redisstore "github.com/feedsvc/feedsvc/store/redis"
)

type notification struct {
	ID    string `json:"id"`
	Kind  string `json:"kind"`
	Actor string `json:"actor"`
	Post  string `json:"post_id"`
	Read  bool   `json:"read"`
}

type trends struct {
	Items []struct {
		Tag   string `json:"tag"`
		Count int64  `json:"count"`
	} `json:"items"`
}

// tagCount is tag's count in the trends of the last hour (-1: absent).
func (u *user) tagCount(s *system, tag string) int64 {
	u.t.Helper()
	var tr trends
	u.must(s, "GET", "/v1/trends?window=1h&limit=100", nil, 200).decode(u.t, &tr)
	for _, it := range tr.Items {
		if it.Tag == tag {
			return it.Count
		}
	}
	return -1
}

func (u *user) search(s *system, q string) []string {
	u.t.Helper()
	var l list[post]
	u.must(s, "GET", "/v1/search?limit=100&q="+q, nil, 200).decode(u.t, &l)
	var ids []string
	for _, p := range l.Items {
		ids = append(ids, p.ID)
	}
	return ids
}

func (u *user) notifications(s *system) []notification {
	u.t.Helper()
	var l list[notification]
	u.must(s, "GET", "/v1/notifications?limit=100", nil, 200).decode(u.t, &l)
	return l.Items
}

func equalf[T comparable](got, want T) error {
	if got != want {
		return fmt.Errorf("got %v, want %v", got, want)
	}
	return nil
}

// TestConsumers: one post reaches every consumer independently; a post with
// a blocked term is hidden everywhere.
func TestConsumers(t *testing.T) {
	forDeployments(t, withCluster, func(t *testing.T, s *system) {
		s.up()
		alice, bob, carol := s.user("alice"), s.user("bob"), s.user("carol")
		for _, u := range []*user{alice, bob, carol} {
			u.must(s, "GET", "/v1/feed", nil, 200)
		}
		carol.follow(s, alice)
		tag := "golang" + s.suffix
		p := alice.post(s, fmt.Sprintf("hi @%s #%s", bob.name, tag))

		eventually(t, "bob is notified once", func() error {
			ns := bob.notifications(s)
			if len(ns) != 1 || ns[0].Kind != "mention" || ns[0].Actor != alice.name || ns[0].Post != p.ID || ns[0].Read {
				return fmt.Errorf("bob's notifications: %+v", ns)
			}
			return nil
		})
		eventually(t, "alice is notified of her new follower", func() error {
			ns := alice.notifications(s)
			if len(ns) != 1 || ns[0].Kind != "follow" || ns[0].Actor != carol.name {
				return fmt.Errorf("alice's notifications: %+v", ns)
			}
			return nil
		})
		eventually(t, "the tag trends once", func() error { return equalf(bob.tagCount(s, tag), 1) })
		eventually(t, "search finds the post", func() error { return sameSet(bob.search(s, tag), []string{p.ID}) })
		if err := sameSet(bob.search(s, strings.ToUpper(tag)+"+hi"), []string{p.ID}); err != nil {
			t.Fatalf("multi-term, upper-case search: %v", err)
		}
		if ids := bob.search(s, tag+"+absentword"); len(ids) != 0 {
			t.Fatalf("a term no post has still matched: %v", ids)
		}
		bob.must(s, "POST", "/v1/notifications/read", map[string]string{}, 204)
		if ns := bob.notifications(s); len(ns) != 1 || !ns[0].Read {
			t.Fatalf("after marking read: %+v", ns)
		}

		// Moderation: a blocked term hides the post from feeds, search and
		// everyone but its author.
		eventually(t, "carol's feed has the first post", func() error { return sameSet(s.inspect(carol), []string{p.ID}) })
		bad := alice.post(s, fmt.Sprintf("buy %s now #%s", strings.ToUpper(blockedTerm), tag))
		eventually(t, "the blocked post is hidden", func() error {
			if r := bob.do(s, "GET", "/v1/posts/"+bad.ID, nil); r.status != 404 {
				return fmt.Errorf("bob reads the blocked post: %d", r.status)
			}
			return nil
		})
		alice.must(s, "GET", "/v1/posts/"+bad.ID, nil, 200) // its author still sees it
		eventually(t, "the blocked post leaves carol's cached feed", func() error { return sameSet(s.inspect(carol), []string{p.ID}) })
		if err := sameSet(carol.feed(s), []string{p.ID}); err != nil {
			t.Fatalf("carol's feed: %v", err)
		}
		eventually(t, "the blocked post leaves search", func() error { return sameSet(bob.search(s, tag), []string{p.ID}) })
		if s.dep.real {
			if out := s.cli("moderation", "list"); !strings.Contains(out, bad.ID) || !strings.Contains(out, "blocklist") {
				t.Fatalf("moderation list does not show the decision:\n%s", out)
			}
		}
		s.down()
		if !s.dep.real { // the embedded store is free once the service stopped
			if out := s.cli("moderation", "list"); !strings.Contains(out, bad.ID) || !strings.Contains(out, "blocklist") {
				t.Fatalf("moderation list does not show the decision:\n%s", out)
			}
		}
		if !s.dep.real {
			// The in-memory Redis is gone; a restart recomputes search and
			// trends from the log.
			s.up()
			eventually(t, "search after restart", func() error { return sameSet(bob.search(s, tag), []string{p.ID}) })
			eventually(t, "trends after restart", func() error { return equalf(bob.tagCount(s, tag), 2) })
			s.down()
		}
	})
}

// TestReplay breaks the analytics and search output on purpose, rewinds
// their consumer groups with `feedsvc replay`, and checks the output comes
// back exactly as it was: same counts, same results, no duplicates.
func TestReplay(t *testing.T) {
	forEach(t, func(t *testing.T, s *system) {
		s.up()
		alice := s.user("alice")
		alice.must(s, "GET", "/v1/feed", nil, 200)
		tag := "replay" + s.suffix
		var want []string
		var times []time.Time
		for i := range 5 {
			p := alice.post(s, fmt.Sprintf("post %d #%s", i, tag))
			want = append(want, p.ID)
			times = append(times, p.CreatedAt)
		}
		eventually(t, "counted", func() error { return equalf(alice.tagCount(s, tag), 5) })
		eventually(t, "indexed", func() error { return sameSet(alice.search(s, tag), want) })
		before := alice.search(s, tag)

		// Break the output.
		if s.dep.real {
			s.roles["analytics"].stop()
			s.roles["search"].stop()
			wipe(t, s.redis, tag, want, times)
			eventually(t, "output broken", func() error { return equalf(alice.tagCount(s, tag), -1) })
		} else {
			// The embedded Redis is memory only: stopping wipes it (and the
			// next start rewinds analytics and search by itself; the
			// explicit replay below must agree with that).
			s.down()
		}
		for _, group := range []string{"analytics", "search"} {
			plan := s.cli("replay", "--group", group, "--by-duration", "1h")
			if !strings.Contains(plan, group) {
				t.Fatalf("replay plan for %s:\n%s", group, plan)
			}
			s.cli("replay", "--group", group, "--by-duration", "1h", "--execute")
		}
		if s.dep.real {
			s.roles["analytics"] = s.start("analytics")
			s.roles["search"] = s.start("search")
		} else {
			s.up()
		}
		eventually(t, "counts restored exactly", func() error { return equalf(alice.tagCount(s, tag), 5) })
		eventually(t, "index restored exactly", func() error {
			got := alice.search(s, tag)
			if !slices.Equal(got, before) {
				return fmt.Errorf("search after replay %v, before %v", got, before)
			}
			return nil
		})
		s.down()
	})
}

// wipe deletes the analytics buckets of the given times and the search
// index entries of tag and the posts.
func wipe(t *testing.T, addr, tag string, posts []string, times []time.Time) {
	t.Helper()
	c, err := redisstore.Dial(addr, false)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	keys := []string{redisstore.TermKey(tag), redisstore.TermKey("#" + tag)}
	for _, at := range times {
		keys = append(keys, redisstore.AnalyticsKeys(at)...)
	}
	for _, id := range posts {
		pid, err := app.ParseID(id)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, redisstore.DocKey(pid))
	}
	for _, k := range keys {
		if err := c.Do(context.Background(), c.B().Del().Key(k).Build()).Error(); err != nil {
			t.Fatal(err)
		}
	}
}

// totalLag sums the LAG column of `feedsvc lag --group group`.
func (s *system) totalLag(group string) int64 {
	s.t.Helper()
	var sum int64
	for _, line := range strings.Split(s.cli("lag", "--group", group), "\n") {
		f := strings.Fields(line)
		if len(f) != 6 || f[0] != group {
			continue
		}
		var n int64
		if _, err := fmt.Sscan(f[5], &n); err != nil {
			s.t.Fatalf("lag line %q: %v", line, err)
		}
		sum += n
	}
	return sum
}

// TestConsumerIsolation stops one consumer role: posting, feeds and the
// other consumers go on, its backlog grows in `feedsvc lag`, and drains when
// it is back.
func TestConsumerIsolation(t *testing.T) {
	const posts = 20
	forDeployments(t, []deployment{depReal}, func(t *testing.T, s *system) {
		s.up()
		alice, bob := s.user("alice"), s.user("bob")
		alice.must(s, "GET", "/v1/feed", nil, 200)
		bob.must(s, "GET", "/v1/feed", nil, 200)
		bob.follow(s, alice)
		eventually(t, "notifications caught up", func() error { return equalf(s.totalLag("notifications"), 0) })

		s.roles["notifications"].stop()
		tag := "iso" + s.suffix
		var want []string
		for i := range posts {
			want = append(want, alice.post(s, fmt.Sprintf("@%s look %d #%s", bob.name, i, tag)).ID)
		}
		eventually(t, "feeds go on", func() error { return sameSet(s.inspect(bob), want) })
		eventually(t, "search goes on", func() error { return sameSet(bob.search(s, tag), want) })
		eventually(t, "analytics goes on", func() error { return equalf(bob.tagCount(s, tag), posts) })
		if lag := s.totalLag("notifications"); lag < posts {
			t.Fatalf("notifications lag %d while stopped, want at least %d", lag, posts)
		}
		if ns := bob.notifications(s); len(ns) != 0 {
			t.Fatalf("notifications written while the role was stopped: %d", len(ns))
		}

		s.roles["notifications"] = s.start("notifications")
		eventually(t, "backlog drains", func() error { return equalf(s.totalLag("notifications"), 0) })
		eventually(t, "every mention notified once", func() error {
			var got []string
			for _, n := range bob.notifications(s) {
				got = append(got, n.Post)
			}
			return sameSet(got, want)
		})
		s.down()
	})
}
