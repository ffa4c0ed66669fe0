package e2e_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/feedsvc/feedsvc/internal/testenv"
)

// TestCommandsNextToEmbeddedServe: with `serve --role=all` running on the
// embedded default, the operator commands run next to it on the same
// --data-dir, with no address given: lag (the groups, and the outbox from
// serve's admin listener), replay's dry run (while the group runs), dlq
// list, feed inspect (serve's in-memory Redis) and moderation list (serve's
// store). serve records where to find them in <data-dir>/serve.json, and
// removes it when it stops.
func TestCommandsNextToEmbeddedServe(t *testing.T) {
	forDeployments(t, []deployment{depEmbedded}, func(t *testing.T, s *system) {
		s.up()
		var rec struct {
			PID          int      `json:"pid"`
			KafkaBrokers []string `json:"kafka_brokers"`
			RedisAddr    string   `json:"redis_addr"`
			AdminAddr    string   `json:"admin_addr"`
		}
		b, err := os.ReadFile(filepath.Join(s.dir, "serve.json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &rec); err != nil || rec.PID != s.api.cmd.Process.Pid || len(rec.KafkaBrokers) != 1 ||
			rec.RedisAddr != s.api.redisAddr() || "http://"+rec.AdminAddr != s.api.admin {
			t.Fatalf("serve.json %s (%v); want serve's pid %d, broker, redis %s and admin %s", b, err, s.api.cmd.Process.Pid, s.api.redisAddr(), s.api.admin)
		}

		alice, bob := s.user("alice"), s.user("bob")
		alice.must(s, "GET", "/v1/feed", nil, 200) // a user exists from its first request
		bob.must(s, "GET", "/v1/feed", nil, 200)
		bob.follow(s, alice)
		p := alice.post(s, "posted next to the commands")

		inspect := func() []string { return strings.Fields(s.cli("feed", "inspect", bob.name)) }
		testenv.Eventually(t, "feed inspect shows the post in bob's feed", func() error { return sameSet(inspect(), []string{p.ID}) })

		fanout := s.group("fanout")
		testenv.Eventually(t, "lag shows fanout caught up and the outbox empty", func() error {
			out := s.cli("lag")
			if !strings.Contains(out, "outbox: 0 events pending") {
				return fmt.Errorf("no empty outbox in:\n%s", out)
			}
			var handled int64
			for _, l := range s.lag("fanout") {
				if l.lag != 0 {
					return fmt.Errorf("fanout lags %d on %s/%d", l.lag, l.topic, l.partition)
				}
				if l.topic == s.topic("posts") && l.committed > 0 {
					handled += l.committed
				}
			}
			if handled < 1 {
				return fmt.Errorf("fanout committed nothing on %s", s.topic("posts"))
			}
			return nil
		})

		// The dry run plans while fanout runs, and says --execute would
		// refuse; nothing moves.
		before := s.lag("fanout")
		out := s.cli("replay", "--group", "fanout", "--to-earliest")
		plan := parsePlan(t, out)
		if plan.reprocess < 1 || !strings.Contains(out, "dry run: nothing changed") ||
			!strings.Contains(out, "note: --execute refuses now: group "+fanout+" is ") {
			t.Fatalf("replay dry run next to serve (want the post to reprocess, and a note that fanout runs):\n%s", out)
		}
		if after := s.lag("fanout"); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Fatalf("the dry run moved offsets: %v, before %v", after, before)
		}

		// A poison event: dead-lettered, and listed next to serve.
		poison := "post.created:poison" + s.suffix
		if err := testenv.PublishPoison(s.brokers(), s.topic("posts"), poison); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, "dlq list shows the poison event", func() error {
			if ds := s.deadLetters("fanout", poison); len(ds) != 1 || !strings.Contains(ds[0].err, "decode post") {
				return fmt.Errorf("dead letters of %s: %+v", poison, ds)
			}
			return nil
		})

		bad := alice.post(s, "buy "+blockedTerm+" now")
		testenv.Eventually(t, "moderation list shows the decision", func() error {
			if out := s.cli("moderation", "list"); !strings.Contains(out, bad.ID) || !strings.Contains(out, "blocklist") {
				return fmt.Errorf("moderation list:\n%s", out)
			}
			return nil
		})

		// serve went on meanwhile.
		p2 := alice.post(s, "posted after the commands")
		testenv.Eventually(t, "the next post in bob's feed", func() error { return sameSet(inspect(), []string{p.ID, p2.ID}) })
		if err := sameSet(bob.feed(s), []string{p.ID, p2.ID}); err != nil {
			t.Fatalf("bob's feed through the API: %v", err)
		}

		s.down()
		if _, err := os.Stat(filepath.Join(s.dir, "serve.json")); !os.IsNotExist(err) {
			t.Fatalf("serve.json left after serve stopped: %v", err)
		}
		// Stopped, the commands start the embedded broker and store
		// themselves; the in-memory Redis is gone.
		if out := s.cli("lag"); !strings.Contains(out, "outbox: 0 events pending") || !strings.Contains(out, fanout) {
			t.Fatalf("lag with serve stopped:\n%s", out)
		}
	})
}
