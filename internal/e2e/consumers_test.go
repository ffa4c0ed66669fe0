package e2e_test

import (
	"context"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/internal/testenv"
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
	Window string `json:"window"`
	Items  []struct {
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
		for range 5 { // one edge: one event, one notification
			carol.follow(s, alice)
		}
		tag := "golang" + s.suffix
		p := alice.post(s, fmt.Sprintf("hi @%s #%s", bob.name, tag))

		testenv.Eventually(t, "bob is notified once", func() error {
			ns := bob.notifications(s)
			if len(ns) != 1 || ns[0].Kind != "mention" || ns[0].Actor != alice.name || ns[0].Post != p.ID || ns[0].Read {
				return fmt.Errorf("bob's notifications: %+v", ns)
			}
			return nil
		})
		testenv.Eventually(t, "alice is notified of her new follower", func() error {
			ns := alice.notifications(s)
			if len(ns) != 1 || ns[0].Kind != "follow" || ns[0].Actor != carol.name {
				return fmt.Errorf("alice's notifications: %+v", ns)
			}
			return nil
		})
		testenv.Eventually(t, "the tag trends once", func() error { return equalf(bob.tagCount(s, tag), 1) })
		testenv.Eventually(t, "search finds the post", func() error { return sameSet(bob.search(s, tag), []string{p.ID}) })
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
		testenv.Eventually(t, "carol's feed has the first post", func() error { return sameSet(s.inspect(carol), []string{p.ID}) })
		bad := alice.post(s, fmt.Sprintf("@%s buy %s now #%s", bob.name, strings.ToUpper(blockedTerm), tag))
		testenv.Eventually(t, "the blocked post is hidden", func() error {
			if r := bob.do(s, "GET", "/v1/posts/"+bad.ID, nil); r.status != 404 {
				return fmt.Errorf("bob reads the blocked post: %d", r.status)
			}
			return nil
		})
		alice.must(s, "GET", "/v1/posts/"+bad.ID, nil, 200) // its author still sees it
		testenv.Eventually(t, "the blocked post leaves carol's cached feed", func() error { return sameSet(s.inspect(carol), []string{p.ID}) })
		if err := sameSet(carol.feed(s), []string{p.ID}); err != nil {
			t.Fatalf("carol's feed: %v", err)
		}
		testenv.Eventually(t, "the blocked post leaves search", func() error { return sameSet(bob.search(s, tag), []string{p.ID}) })
		// Fan-out removed it, so post.moderated is in the log: once the
		// notifications and analytics groups caught up, the blocked post's
		// mention and hashtag are gone. (The embedded deployment's log is
		// this test's alone: its only post.moderated is this one.)
		caughtUp := func(group string) error {
			if s.dep.real {
				return equalf(s.totalLag(group), 0)
			}
			if n := s.consumer(group).handled(group, "post.moderated"); n < 1 {
				return fmt.Errorf("%s handled %v post.moderated events", group, n)
			}
			return nil
		}
		mentions := func(want ...string) func() error {
			return func() error {
				var got []string
				for _, n := range bob.notifications(s) {
					got = append(got, n.Post)
				}
				return sameSet(got, want)
			}
		}
		testenv.Eventually(t, "the blocked post's mention is gone", func() error {
			if err := caughtUp("notifications"); err != nil {
				return err
			}
			return mentions(p.ID)()
		})
		testenv.Eventually(t, "the blocked post leaves the trends", func() error {
			if err := caughtUp("analytics"); err != nil {
				return err
			}
			return equalf(bob.tagCount(s, tag), 1)
		})

		// Deletion: the post's mention and its hashtag go too.
		gone := "gone" + s.suffix
		del := alice.post(s, fmt.Sprintf("@%s look #%s", bob.name, gone))
		testenv.Eventually(t, "bob is notified of the post to delete", mentions(p.ID, del.ID))
		testenv.Eventually(t, "its tag trends", func() error { return equalf(bob.tagCount(s, gone), 1) })
		alice.must(s, "DELETE", "/v1/posts/"+del.ID, nil, 204)
		testenv.Eventually(t, "the deleted post's mention is gone", mentions(p.ID))
		testenv.Eventually(t, "the deleted post leaves the trends", func() error { return equalf(bob.tagCount(s, gone), -1) })
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
			testenv.Eventually(t, "search after restart", func() error { return sameSet(bob.search(s, tag), []string{p.ID}) })
			// Replayed in order, the moderated and the deleted post count
			// and are taken back again.
			testenv.Eventually(t, "trends after restart", func() error {
				if n := s.consumer("analytics").handled("analytics", "post.deleted"); n < 1 {
					return fmt.Errorf("analytics handled %v post.deleted events since the restart", n)
				}
				if err := equalf(bob.tagCount(s, gone), -1); err != nil {
					return err
				}
				return equalf(bob.tagCount(s, tag), 1)
			})
			s.down()
		}
	})
}

// TestReplay breaks the analytics and search output on purpose, rewinds
// their consumer groups with `feedsvc replay` to the test's first post, and
// checks the plan (exactly the test's posts, from where each group stood),
// the committed offsets it leaves, and that the output comes back exactly as
// it was: same counts, same results, no duplicates.
//
// The embedded deployment rewinds analytics and search to the log start at
// every start (rebuildMemorySinks), which would restore them without any
// replay; there the replay proves itself through `feedsvc lag` before the
// start and on notifications, a group no start rewinds.
func TestReplay(t *testing.T) {
	const posts = 5
	forEach(t, func(t *testing.T, s *system) {
		s.up()
		alice := s.user("alice")
		alice.must(s, "GET", "/v1/feed", nil, 200)
		tag := "replay" + s.suffix
		// Every event of this test is at or after start: replaying to it
		// covers exactly the test's posts, even on the topics the real
		// deployments share.
		start := time.Now()
		var want []string
		var times []time.Time
		for i := range posts {
			p := alice.post(s, fmt.Sprintf("post %d #%s", i, tag))
			want = append(want, p.ID)
			times = append(times, p.CreatedAt)
		}
		testenv.Eventually(t, "counted", func() error { return equalf(alice.tagCount(s, tag), posts) })
		testenv.Eventually(t, "indexed", func() error { return sameSet(alice.search(s, tag), want) })
		before := alice.search(s, tag)
		groups := []string{"analytics", "search"}
		if !s.dep.real {
			groups = append(groups, "notifications")
		}
		// Each group has handled every post, so its plan starts at the log end.
		for _, g := range groups {
			p := s.consumer(g)
			testenv.Eventually(t, g+" handled the posts", func() error {
				if n := p.handled(g, "post.created"); n < posts {
					return fmt.Errorf("%s handled %v post.created events, want %d", g, n, posts)
				}
				return nil
			})
			if s.dep.real {
				// The shared topics hold other tests' events too (follows
				// this group skips): wait until it committed them all.
				testenv.Eventually(t, g+" caught up", func() error {
					for _, l := range s.lag(g) {
						if l.lag != 0 {
							return fmt.Errorf("%s: lag %d on %s/%d", g, l.lag, l.topic, l.partition)
						}
					}
					return nil
				})
			}
		}
		if !s.dep.real {
			// The control below (moderation, which nothing rewinds,
			// handles nothing after the restart) needs every post handled
			// before the stop, which then commits them.
			testenv.Eventually(t, "moderation handled the posts", func() error {
				if n := s.api.handled("moderation", "post.created"); n < posts {
					return fmt.Errorf("moderation handled %v post.created events, want %d", n, posts)
				}
				return nil
			})
		}

		// Break the output.
		if s.dep.real {
			s.roles["analytics"].stop()
			s.roles["search"].stop()
			wipe(t, s, tag, want, times)
			// The wipe took: nothing is counted or found before the replay.
			testenv.Eventually(t, "output broken", func() error { return equalf(alice.tagCount(s, tag), -1) })
			if ids := alice.search(s, tag); len(ids) != 0 {
				t.Fatalf("search still finds %v after the wipe", ids)
			}
		} else {
			// The embedded Redis is memory only: stopping wipes it.
			s.down()
		}
		at := start.Format(time.RFC3339Nano)
		for _, g := range groups {
			// The configured topics, named: the same plan as the default scope.
			scope := []string{"--topic", s.topic("posts"), "--topic", s.topic("follows")}
			plan := parsePlan(t, s.cli(append([]string{"replay", "--group", g, "--to-datetime", at}, scope...)...))
			checkPlan(t, s, g, plan, posts)
			out := s.cli(append([]string{"replay", "--group", g, "--to-datetime", at, "--execute"}, scope...)...)
			if !strings.Contains(out, "committed the new offsets of group "+s.group(g)) {
				t.Fatalf("replay --execute of %s:\n%s", g, out)
			}
			if executed := parsePlan(t, out); !reflect.DeepEqual(executed, plan) {
				t.Fatalf("%s: executed plan %+v, dry run %+v", g, executed, plan)
			}
			// The group now resumes exactly where the plan said.
			var lag int64
			for _, l := range s.lag(g) {
				lag += l.lag
				for _, r := range plan.rows {
					if r.topic == l.topic && r.partition == l.partition && l.committed != r.new {
						t.Fatalf("%s: committed %d on %s/%d after the replay, planned %d", g, l.committed, l.topic, l.partition, r.new)
					}
				}
			}
			if lag != posts {
				t.Fatalf("%s: lag %d after the replay, want %d", g, lag, posts)
			}
		}
		if s.dep.real {
			s.roles["analytics"] = s.start("analytics")
			s.roles["search"] = s.start("search")
		} else {
			s.up()
		}
		testenv.Eventually(t, "counts restored exactly", func() error { return equalf(alice.tagCount(s, tag), posts) })
		testenv.Eventually(t, "index restored exactly", func() error {
			got := alice.search(s, tag)
			if !slices.Equal(got, before) {
				return fmt.Errorf("search after replay %v, before %v", got, before)
			}
			return nil
		})
		// Each restarted group handled the posts again, exactly once.
		for _, g := range groups {
			p := s.consumer(g)
			testenv.Eventually(t, g+" handled the replayed posts", func() error { return equalf(p.handled(g, "post.created"), posts) })
		}
		if !s.dep.real {
			// The control: moderation, which nothing rewound, handled nothing.
			if n := s.api.handled("moderation", "post.created"); n != 0 {
				t.Fatalf("moderation handled %v post.created events after the restart, want 0", n)
			}
		}
		s.down()
	})
}

// consumer is the process that runs group.
func (s *system) consumer(group string) *proc {
	if s.dep.real {
		return s.roles[group]
	}
	return s.api
}

// handled counts the events of type typ the consumer group of role handled.
func (p *proc) handled(role, typ string) float64 {
	p.t.Helper()
	return p.metric("feedsvc_events_handled_total", map[string]string{"group": p.group(role), "type": typ, "outcome": "ok"})
}

// group is the name of role's consumer group in p (with its prefix).
func (p *proc) group(role string) string { return p.groupPrefix + role }

// group is the consumer group name of role (the configured prefix and the
// role's name).
func (s *system) group(role string) string { return s.groupPrefix() + role }

// groupPrefix is the configured consumer group prefix, given by either of
// its names.
func (s *system) groupPrefix() string {
	if p := s.envValue("FEEDSVC_GROUP_PREFIX"); p != "" {
		return p
	}
	return s.envValue("FEEDSVC_CONSUMER_GROUP_PREFIX")
}

// topic is the configured name of the posts or follows topic.
func (s *system) topic(which string) string {
	name := "FEEDSVC_TOPIC_" + strings.ToUpper(which) + "="
	for _, kv := range s.env {
		if v, ok := strings.CutPrefix(kv, name); ok {
			return v
		}
	}
	return "feedsvc." + which
}

// planRow is one partition of a `feedsvc replay` plan.
type planRow struct {
	topic                              string
	partition                          int32
	current, new, end, reprocess, skip int64
}

type replayPlan struct {
	rows            []planRow
	reprocess, skip int64 // the totals line
}

var planTotals = regexp.MustCompile(`(?m)^(\d+) events to reprocess, (\d+) to skip$`)

// parsePlan reads the table `feedsvc replay` prints:
// TOPIC PARTITION CURRENT -> NEW END REPROCESS SKIP, then the totals line.
func parsePlan(t *testing.T, out string) replayPlan {
	t.Helper()
	var p replayPlan
	header := false
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if strings.Join(f, " ") == "TOPIC PARTITION CURRENT NEW END REPROCESS SKIP" {
			header = true
			continue
		}
		if len(f) != 8 || f[3] != "->" {
			continue
		}
		r := planRow{topic: f[0], current: -1}
		if f[2] != "-" {
			r.current = atoi(t, f[2])
		}
		r.partition = int32(atoi(t, f[1]))
		r.new, r.end, r.reprocess, r.skip = atoi(t, f[4]), atoi(t, f[5]), atoi(t, f[6]), atoi(t, f[7])
		p.rows = append(p.rows, r)
	}
	m := planTotals.FindStringSubmatch(out)
	if !header || len(p.rows) == 0 || m == nil {
		t.Fatalf("no plan table and totals in:\n%s", out)
	}
	p.reprocess, p.skip = atoi(t, m[1]), atoi(t, m[2])
	return p
}

// checkPlan checks a plan back to the test's first post: the group had
// handled everything, and it rewinds over exactly the test's posts, which
// share their author's partition of the posts topic.
func checkPlan(t *testing.T, s *system, group string, p replayPlan, posts int64) {
	t.Helper()
	var rewound []planRow
	for _, r := range p.rows {
		caughtUp := r.current == r.end || (r.current < 0 && r.end == 0)
		if !caughtUp || r.new != r.end-r.reprocess || r.skip != 0 {
			t.Fatalf("%s: plan row %+v; the group had handled everything, so want current = end and new = end - reprocess", group, r)
		}
		if r.reprocess > 0 {
			rewound = append(rewound, r)
		}
	}
	if len(rewound) != 1 || rewound[0].topic != s.topic("posts") || rewound[0].reprocess != posts {
		t.Fatalf("%s: plan rewinds %+v, want %d posts on one partition of %s", group, rewound, posts, s.topic("posts"))
	}
	if p.reprocess != posts || p.skip != 0 {
		t.Fatalf("%s: plan totals %d to reprocess, %d to skip; want %d, 0", group, p.reprocess, p.skip, posts)
	}
}

func atoi(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("not a number: %q", s)
	}
	return n
}

// wipe deletes s's analytics buckets of the given times and the search
// index entries of tag and the posts.
func wipe(t *testing.T, s *system, tag string, posts []string, times []time.Time) {
	t.Helper()
	c, err := redisstore.Open(context.Background(), realRedis(s.redis, s.envValue("FEEDSVC_REDIS_KEY_PREFIX")), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ks := redisstore.KeysOf(c)
	keys := []string{ks.Term(tag), ks.Term("#" + tag)}
	for _, at := range times {
		keys = append(keys, ks.Analytics(at)...)
	}
	for _, id := range posts {
		pid, err := app.ParseID(id)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, ks.Doc(pid))
	}
	for _, k := range keys {
		if err := c.Do(context.Background(), c.B().Del().Key(k).Build()).Error(); err != nil {
			t.Fatal(err)
		}
	}
}

// lagRow is one line of `feedsvc lag`.
type lagRow struct {
	group, topic        string
	partition           int32
	committed, end, lag int64
}

// lag parses `feedsvc lag --group group` (committed -1 where "-").
func (s *system) lag(group string) []lagRow {
	s.t.Helper()
	var rows []lagRow
	for _, line := range strings.Split(s.cli("lag", "--group", group), "\n") {
		f := strings.Fields(line)
		if len(f) != 6 || f[0] != s.group(group) {
			continue
		}
		r := lagRow{group: f[0], topic: f[1], partition: int32(atoi(s.t, f[2])), committed: -1, end: atoi(s.t, f[4]), lag: atoi(s.t, f[5])}
		if f[3] != "-" {
			r.committed = atoi(s.t, f[3])
		}
		rows = append(rows, r)
	}
	if len(rows) == 0 {
		s.t.Fatalf("feedsvc lag --group %s printed no partition", group)
	}
	return rows
}

// totalLag sums the LAG column of `feedsvc lag --group group`, on every
// topic or only the given one.
func (s *system) totalLag(group string, topic ...string) int64 {
	s.t.Helper()
	var sum int64
	for _, r := range s.lag(group) {
		if len(topic) == 0 || slices.Contains(topic, r.topic) {
			sum += r.lag
		}
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
		testenv.Eventually(t, "notifications caught up", func() error { return equalf(s.totalLag("notifications"), 0) })

		s.roles["notifications"].stop()
		tag := "iso" + s.suffix
		var want []string
		for i := range posts {
			want = append(want, alice.post(s, fmt.Sprintf("@%s look %d #%s", bob.name, i, tag)).ID)
		}
		testenv.Eventually(t, "feeds go on", func() error { return sameSet(s.inspect(bob), want) })
		testenv.Eventually(t, "search goes on", func() error { return sameSet(bob.search(s, tag), want) })
		testenv.Eventually(t, "analytics goes on", func() error { return equalf(bob.tagCount(s, tag), posts) })
		if lag := s.totalLag("notifications"); lag < posts {
			t.Fatalf("notifications lag %d while stopped, want at least %d", lag, posts)
		}
		if ns := bob.notifications(s); len(ns) != 0 {
			t.Fatalf("notifications written while the role was stopped: %d", len(ns))
		}

		s.roles["notifications"] = s.start("notifications")
		testenv.Eventually(t, "backlog drains", func() error { return equalf(s.totalLag("notifications"), 0) })
		testenv.Eventually(t, "every mention notified once", func() error {
			var got []string
			for _, n := range bob.notifications(s) {
				got = append(got, n.Post)
			}
			return sameSet(got, want)
		})
		s.down()
	})
}
