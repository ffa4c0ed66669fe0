package e2e_test

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/feedsvc/feedsvc/events"
	"github.com/feedsvc/feedsvc/internal/testenv"
)

// TestKafkaOutage: with the broker gone, posting goes on (every post
// answered 201: it is durable in the store with its event, in the outbox);
// the api is then killed with those events unpublished, the broker comes
// back, and a new api process's relay publishes them: every post reaches
// every view (feeds as stored and read, search, notifications, trends), a
// post deleted during the outage reaches none, and the outbox drains.
//
// The broker is a Kafka-protocol broker this test runs (the embedded one,
// on a fixed port and data dir) so that it can stop and restart it; the
// store and Redis are the real servers. The fault suite does the same to a
// real Kafka cluster.
func TestKafkaOutage(t *testing.T) {
	forDeployments(t, []deployment{depReal}, func(t *testing.T, s *system) {
		kdir := t.TempDir()
		// Any port at first (a port picked free and bound later could be
		// taken meanwhile); the restart below binds the same one again.
		broker := startBroker(t, kdir, 0)
		addr := broker.Addrs()[0]
		port := portOf(t, addr)
		s.env = append(slices.DeleteFunc(slices.Clone(s.env), func(kv string) bool {
			return strings.HasPrefix(kv, "FEEDSVC_KAFKA_BROKERS=")
		}), "FEEDSVC_KAFKA_BROKERS="+addr)
		topics := events.Topics{Posts: s.envValue("FEEDSVC_TOPIC_POSTS"), Follows: s.envValue("FEEDSVC_TOPIC_FOLLOWS")}
		if err := events.EnsureTopics(events.Cluster{Brokers: []string{addr}}, topics, events.TopicSpec{Partitions: 3, Replication: 1}); err != nil {
			t.Fatal(err)
		}
		s.up()
		alice, bob := s.user("alice"), s.user("bob")
		alice.must(s, "GET", "/v1/feed", nil, 200) // a user exists from its first request
		bob.must(s, "GET", "/v1/feed", nil, 200)
		bob.follow(s, alice)
		tag := "outage" + s.suffix
		first := alice.post(s, "before the outage #"+tag)
		testenv.Eventually(t, "the first post in bob's feed", func() error { return sameSet(bob.feed(s), []string{first.ID}) })

		broker.Close() // Kafka is gone
		var during []post
		for i := range 10 {
			during = append(during, alice.post(s, fmt.Sprintf("word%s%d for @%s #%s", s.suffix, i, bob.name, tag)))
		}
		gone := during[3]
		alice.must(s, "DELETE", "/v1/posts/"+gone.ID, nil, 204)
		kept := slices.DeleteFunc(slices.Clone(during), func(p post) bool { return p.ID == gone.ID })
		// The api dies with all of it unpublished.
		s.api.kill()
		broker = startBroker(t, kdir, port)
		s.startAPI()

		want := []string{first.ID}
		for _, p := range kept {
			want = append(want, p.ID)
		}
		testenv.Eventually(t, "bob's feed read through the API", func() error { return sameSet(bob.feed(s), want) })
		testenv.Eventually(t, "bob's feed as stored", func() error { return sameSet(s.inspect(bob), want) })
		for i, p := range during {
			q := fmt.Sprintf("word%s%d", s.suffix, i)
			wantHits := []string{p.ID}
			if p.ID == gone.ID {
				wantHits = nil
			}
			testenv.Eventually(t, "search "+q, func() error { return sameSet(bob.search(s, q), wantHits) })
		}
		testenv.Eventually(t, "bob's mentions", func() error {
			var got []string
			for _, n := range bob.notifications(s) {
				if n.Kind == "mention" {
					got = append(got, n.Post)
				}
			}
			return sameSet(got, want[1:])
		})
		testenv.Eventually(t, "trends", func() error { return equalf(bob.tagCount(s, tag), int64(len(want))) })
		testenv.Eventually(t, "the outbox drained", func() error {
			if out := s.cli("lag"); !strings.Contains(out, "outbox: 0 events pending") {
				return fmt.Errorf("feedsvc lag:\n%s", out)
			}
			return nil
		})
		s.down()
		broker.Close()
	})
}

// startBroker runs the embedded Kafka-protocol broker on port (0: any)
// with its data in dir, until the test ends (Close may stop it sooner). On
// a fixed port it waits until the port is free: a restart's port may still
// be held for a moment by what the broker's previous run left.
func startBroker(t *testing.T, dir string, port int) *events.Embedded {
	t.Helper()
	var k *events.Embedded
	testenv.Eventually(t, "broker started", func() (err error) {
		k, err = events.StartEmbeddedPort(dir, port)
		return err
	})
	t.Cleanup(k.Close)
	return k
}

// portOf is the port of addr (host:port).
func portOf(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
