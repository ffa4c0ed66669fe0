package e2e_test

// End-to-end checks of what the flows leave out: the version, health, stats,
// trends windows, marking notifications read up to one, and the dead-letter
// tools.

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/feedsvc/feedsvc/events"
	"github.com/feedsvc/feedsvc/internal/testenv"
	"github.com/feedsvc/feedsvc/internal/wiring"
)

// TestVersion: the version and commit stamped at build time (-X
// .../buildinfo.Version and .Commit) and the Go version, by the command
// and by --version.
func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		got := run(t, args...)
		lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
		if len(lines) != 4 || lines[0] != "feedsvc "+testVersion || lines[1] != "commit:  "+testCommit ||
			!strings.HasPrefix(lines[3], "go:      "+runtime.Version()) {
			t.Fatalf("feedsvc %v printed %q", args, got)
		}
	}
}

type hourCount struct {
	Hour  time.Time `json:"hour"`
	Count int64     `json:"count"`
}

// stats returns who's posts per hour, oldest first (query: e.g. "?hours=2").
func (u *user) stats(s *system, who, query string) []hourCount {
	u.t.Helper()
	var l struct {
		Items []hourCount `json:"items"`
	}
	u.must(s, "GET", "/v1/users/"+who+"/stats"+query, nil, 200).decode(u.t, &l)
	return l.Items
}

// checkHours checks hs is n consecutive hours ending with the current one,
// and returns the total count.
func checkHours(hs []hourCount, n int) (int64, error) {
	if len(hs) != n {
		return 0, fmt.Errorf("%d hours, want %d: %+v", len(hs), n, hs)
	}
	var sum int64
	for i, h := range hs {
		if i > 0 && !h.Hour.Equal(hs[i-1].Hour.Add(time.Hour)) {
			return 0, fmt.Errorf("hours not consecutive, oldest first: %+v", hs)
		}
		sum += h.Count
	}
	if last := hs[n-1].Hour; time.Since(last) < 0 || time.Since(last) > 2*time.Hour {
		return 0, fmt.Errorf("last hour %v is not the current one", last)
	}
	return sum, nil
}

// TestAPIEndpoints: /healthz on every process, per-user stats, trends in
// every window form, marking notifications read up to one, and the
// following list of an unknown user.
func TestAPIEndpoints(t *testing.T) {
	const posts = 3
	forEach(t, func(t *testing.T, s *system) {
		s.up()
		for _, p := range s.procs {
			r := doRaw(t, p.url, "GET", "/healthz", "", "", nil)
			if r.status != 200 || strings.TrimSpace(string(r.body)) != `{"status":"ok"}` {
				t.Fatalf("%s /healthz: %d %s", p.role, r.status, r.body)
			}
		}
		alice, bob := s.user("alice"), s.user("bob")
		alice.must(s, "GET", "/v1/feed", nil, 200)
		bob.must(s, "GET", "/v1/feed", nil, 200)
		tag := "ep" + s.suffix
		var ps []post
		for i := range posts {
			ps = append(ps, alice.post(s, fmt.Sprintf("@%s look %d #%s", bob.name, i, tag)))
		}

		// Notifications are keyed by the post ID, newest first; up_to marks
		// that one and the older ones read, not the newer.
		testenv.Eventually(t, "bob is notified of every mention", func() error {
			var got []string
			for _, n := range bob.notifications(s) {
				if n.Read {
					return fmt.Errorf("unread notification %+v is read", n)
				}
				got = append(got, n.Post)
			}
			return sameSet(got, []string{ps[0].ID, ps[1].ID, ps[2].ID})
		})
		bob.must(s, "POST", "/v1/notifications/read", map[string]string{"up_to": ps[1].ID}, 204)
		ns := bob.notifications(s)
		if len(ns) != posts || ns[0].Post != ps[2].ID || ns[0].Read || !ns[1].Read || !ns[2].Read {
			t.Fatalf("after reading up to %s: %+v", ps[1].ID, ns)
		}
		if r := bob.do(s, "POST", "/v1/notifications/read", map[string]string{"up_to": "abc"}); r.status != 400 {
			t.Fatalf("up_to abc: %d %s, want 400", r.status, r.body)
		}
		bob.must(s, "POST", "/v1/notifications/read", map[string]string{}, 204)
		for _, n := range bob.notifications(s) {
			if !n.Read {
				t.Fatalf("after reading all: %+v", n)
			}
		}

		// Stats: the last 24 hours by default, the current one last.
		testenv.Eventually(t, "stats count alice's posts", func() error {
			sum, err := checkHours(alice.stats(s, alice.name, ""), 24)
			if err != nil {
				return err
			}
			return equalf(sum, posts)
		})
		if sum, err := checkHours(alice.stats(s, alice.name, "?hours=2"), 2); err != nil || sum != posts {
			t.Fatalf("alice's stats of 2 hours: %d posts (want %d), %v", sum, posts, err)
		}
		if sum, err := checkHours(bob.stats(s, bob.name, "?hours=168"), 168); err != nil || sum != 0 {
			t.Fatalf("bob's stats of a week: %d posts (want 0), %v", sum, err)
		}
		for _, q := range []string{"?hours=0", "?hours=169", "?hours=x"} {
			if r := alice.do(s, "GET", "/v1/users/"+alice.name+"/stats"+q, nil); r.status != 400 {
				t.Fatalf("stats%s: %d %s, want 400", q, r.status, r.body)
			}
		}

		// Trends: a Go duration or whole days, from 1m to 7d.
		testenv.Eventually(t, "the tag trends", func() error { return equalf(bob.tagCount(s, tag), posts) })
		for _, w := range []struct{ query, window string }{
			{"", "1h0m0s"}, {"1h", "1h0m0s"}, {"90m", "1h30m0s"}, {"1h30m", "1h30m0s"}, {"2d", "48h0m0s"}, {"7d", "168h0m0s"}, {"1m", "1m0s"},
		} {
			var tr trends
			bob.must(s, "GET", "/v1/trends?limit=100&window="+w.query, nil, 200).decode(t, &tr)
			if tr.Window != w.window {
				t.Fatalf("window=%s answered window %q, want %q", w.query, tr.Window, w.window)
			}
			n := int64(0)
			for _, it := range tr.Items {
				if it.Tag == tag {
					n = it.Count
				}
			}
			// The posts may be more than a minute old by now.
			if n != posts && (w.query != "1m" || n > posts) {
				t.Fatalf("window=%s counts the tag %d times, want %d", w.query, n, posts)
			}
		}
		for _, q := range []string{"30s", "8d", "0d", "-1h", "abc"} {
			if r := bob.do(s, "GET", "/v1/trends?window="+q, nil); r.status != 400 || r.ctype != "application/problem+json" {
				t.Fatalf("window=%s: %d %s (%s), want a 400 problem", q, r.status, r.body, r.ctype)
			}
		}

		if r := alice.do(s, "GET", "/v1/users/nobody_"+s.suffix+"/following", nil); r.status != 404 || r.ctype != "application/problem+json" {
			t.Fatalf("following of an unknown user: %d %s (%s), want a 404 problem", r.status, r.body, r.ctype)
		}
		s.down()
	})
}

// env is the value of one FEEDSVC_ variable of the system's processes.
func (s *system) envValue(name string) string {
	for _, kv := range s.env {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v
		}
	}
	return ""
}

var kafkaAddrLog = regexp.MustCompile(`"msg":"embedded kafka","addr":\["([^"]+)"`)

// brokers are the Kafka brokers of the running system: the real ones, or
// the embedded broker of the "all" process, from its log.
func (s *system) brokers() events.Cluster {
	s.t.Helper()
	if s.dep.real {
		c, err := testenv.KafkaConfig(s.envValue("FEEDSVC_KAFKA_BROKERS")).Cluster()
		if err != nil {
			s.t.Fatal(err)
		}
		return c
	}
	m := kafkaAddrLog.FindStringSubmatch(s.api.logs())
	if m == nil {
		s.t.Fatal("embedded kafka address not in the log")
	}
	return events.Cluster{Brokers: []string{m[1]}}
}

// deadLetter is one row of `feedsvc dlq list`.
type deadLetter struct {
	topic, id, typ, err string
	partition           int32
	offset              int64
	replayed            bool
}

// deadLetters lists group's dead letters of the event id.
func (s *system) deadLetters(group, id string) []deadLetter {
	s.t.Helper()
	out := s.cli("dlq", "list", "--group", group, "--limit", "0")
	if !strings.HasPrefix(strings.Join(strings.Fields(out), " "), "TOPIC PARTITION OFFSET EVENT ID TYPE EVENT TIME REPLAYED ERROR") {
		s.t.Fatalf("dlq list header:\n%s", out)
	}
	var ds []deadLetter
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 8 || f[3] != id {
			continue
		}
		ds = append(ds, deadLetter{topic: f[0], partition: int32(atoi(s.t, f[1])), offset: atoi(s.t, f[2]), id: f[3], typ: f[4],
			replayed: f[6] == "true", err: strings.Join(f[7:], " ")})
	}
	return ds
}

// ends is the end offset of every partition of topic, from `feedsvc lag`.
func (s *system) ends(group, topic string) map[int32]int64 {
	s.t.Helper()
	out := map[int32]int64{}
	for _, r := range s.lag(group) {
		if r.topic == topic {
			out[r.partition] = r.end
		}
	}
	return out
}

// checkJSONOutput: `--output json` of dlq list, lag and replay says what
// their tables say (the dead letter d, the ends of the posts topic).
func (s *system) checkJSONOutput(role string, d deadLetter, ends map[int32]int64) {
	s.t.Helper()
	var dl wiring.DeadLetters
	decodeJSON(s.t, s.cli("dlq", "list", "--group", role, "--limit", "0", "--output", "json"), &dl)
	if dl.Role != role || dl.Group != s.group(role) || dl.More || !slices.ContainsFunc(dl.Items, func(e wiring.DeadLetter) bool {
		return e.EventID == d.id && e.Topic == d.topic && e.Partition == d.partition && e.Offset == d.offset && !e.Replayed &&
			e.Type == d.typ && strings.Contains(e.Error, "decode post")
	}) {
		s.t.Fatalf("dlq list --output json: %+v, want %+v among the items", dl, d)
	}
	var lag struct {
		Groups []wiring.LagGroup  `json:"groups"`
		Outbox wiring.OutboxState `json:"outbox"`
	}
	decodeJSON(s.t, s.cli("lag", "--group", role, "--output", "json"), &lag)
	got := map[int32]int64{}
	for _, g := range lag.Groups {
		for _, p := range g.Partitions {
			if g.Role == role && g.Group == s.group(role) && p.Topic == d.topic {
				got[p.Partition] = p.End
			}
		}
	}
	if len(lag.Groups) != 1 || !maps.Equal(got, ends) || (!lag.Outbox.Available && lag.Outbox.Reason == "") {
		s.t.Fatalf("lag --output json: %+v, want group %s with the ends %v and the outbox", lag, s.group(role), ends)
	}
	var plan wiring.Replay
	decodeJSON(s.t, s.cli("replay", "--group", role, "--to-earliest", "--output", "json"), &plan)
	if plan.Role != role || plan.Group != s.group(role) || plan.Executed || len(plan.Partitions) == 0 || plan.Reprocess < 1 {
		s.t.Fatalf("replay --output json (a dry run): %+v", plan)
	}
}

func decodeJSON(t *testing.T, out string, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%v in:\n%s", err, out)
	}
}

// TestDeadLetterTools: an event no consumer can decode is dead-lettered;
// `feedsvc dlq list` shows it with its error, `dlq replay` prints it without
// --execute and re-publishes it with it, once: a second replay re-publishes
// nothing. The copy reaches the group again, fails again, and is a new dead
// letter next to the replayed one.
func TestDeadLetterTools(t *testing.T) {
	const group = "notifications"
	forEach(t, func(t *testing.T, s *system) {
		s.up()
		posts := s.topic("posts")
		id := "post.created:poison" + s.suffix
		if err := testenv.PublishPoison(s.brokers(), posts, id); err != nil {
			t.Fatal(err)
		}
		notifier := s.consumer(group)
		testenv.Eventually(t, "the poison event is dead-lettered", func() error {
			if n := notifier.metric("feedsvc_events_dead_lettered_total", map[string]string{"group": notifier.group(group)}); n < 1 {
				return fmt.Errorf("%s dead-lettered nothing yet", group)
			}
			return nil
		})
		// The group is stopped while the replays run, so the re-published
		// copy waits in the topic instead of failing into a new dead letter
		// that the second replay would pick up. (Embedded: one process runs
		// every group, so everything stops.)
		stop := func() {
			if s.dep.real {
				s.roles[group].stop()
			} else {
				s.down()
			}
		}
		stop()
		ds := s.deadLetters(group, id)
		if len(ds) != 1 || ds[0].topic != posts || ds[0].typ != "post.created" || ds[0].replayed || !strings.Contains(ds[0].err, "decode post") {
			t.Fatalf("dead letters of %s: %+v, want the poison event, not replayed, with its decode error", id, ds)
		}
		first := ds[0]
		end := s.ends(group, posts)
		s.checkJSONOutput(group, first, end)

		dry := s.cli("dlq", "replay", "--group", group)
		if !strings.Contains(dry, "would re-publish post.created "+id+" ") || !strings.Contains(dry, "dry run: 1 dead-lettered events of group "+s.group(group)) {
			t.Fatalf("dlq replay (dry run):\n%s", dry)
		}
		if got := s.ends(group, posts); !maps.Equal(got, end) {
			t.Fatalf("the dry run published: ends %v, before %v", got, end)
		}
		out := s.cli("dlq", "replay", "--group", group, "--execute")
		if !strings.Contains(out, "re-published post.created "+id+" ") || !strings.Contains(out, "re-published 1 dead-lettered events of group "+s.group(group)) {
			t.Fatalf("dlq replay --execute:\n%s", out)
		}
		want := maps.Clone(end)
		want[first.partition]++ // the copy, on the original's partition (same key)
		if got := s.ends(group, posts); !maps.Equal(got, want) {
			t.Fatalf("after the replay: ends %v, want %v", got, want)
		}
		again := s.cli("dlq", "replay", "--group", group, "--execute")
		if strings.Contains(again, "re-published post.created") || !strings.Contains(again, "re-published 0 dead-lettered events of group "+s.group(group)) {
			t.Fatalf("second dlq replay --execute:\n%s", again)
		}
		if got := s.ends(group, posts); !maps.Equal(got, want) {
			t.Fatalf("the second replay published: ends %v, want %v", got, want)
		}
		if ds := s.deadLetters(group, id); len(ds) != 1 || !ds[0].replayed {
			t.Fatalf("after the replay: %+v, want the one dead letter, replayed", ds)
		}

		// The group handles the copy: still undecodable, it is dead-lettered
		// again, from the offset the replay wrote it at.
		if s.dep.real {
			s.roles[group] = s.start(group)
		} else {
			s.up()
		}
		notifier = s.consumer(group)
		testenv.Eventually(t, "the copy is dead-lettered again", func() error {
			if n := notifier.metric("feedsvc_events_dead_lettered_total", map[string]string{"group": notifier.group(group)}); n < 1 {
				return fmt.Errorf("%s dead-lettered nothing yet", group)
			}
			return nil
		})
		stop()
		ds = s.deadLetters(group, id)
		if len(ds) != 2 || !ds[0].replayed || ds[1].replayed || ds[1].partition != first.partition || ds[1].offset != end[first.partition] {
			t.Fatalf("dead letters after the copy failed: %+v, want the replayed one and a new one at %d/%d", ds, first.partition, end[first.partition])
		}
		s.down()
	})
}
