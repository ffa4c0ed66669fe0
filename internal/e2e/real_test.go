package e2e_test

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/IBM/sarama"

	"github.com/feedsvc/feedsvc/events"
	"github.com/feedsvc/feedsvc/internal/testenv"
	"github.com/feedsvc/feedsvc/store/cassandra"
)

// TestMigrate runs `feedsvc migrate` twice against the real Kafka and
// Cassandra and checks what it made: topics (and dead-letter topics) with
// the configured partitions, a keyspace with the configured replication, the
// tables, and the recorded schema versions, unchanged by the second run.
func TestMigrate(t *testing.T) {
	brokers := testenv.Require(t, "FEEDSVC_KAFKA_BROKERS")
	hosts := testenv.Require(t, "FEEDSVC_CASSANDRA_HOSTS")
	id := randHex(4)
	keyspace, posts, follows := "feedsvc_migrate_"+id, "mig"+id+".posts", "mig"+id+".follows"
	env := childEnv(append([]string{
		"FEEDSVC_KAFKA_BROKERS=" + brokers, "FEEDSVC_CASSANDRA_HOSTS=" + hosts,
		"FEEDSVC_CASSANDRA_KEYSPACE=" + keyspace,
		"FEEDSVC_CASSANDRA_REPLICATION={'class': 'SimpleStrategy', 'replication_factor': 1}",
		"FEEDSVC_KAFKA_PARTITIONS=3", "FEEDSVC_KAFKA_REPLICATION=1",
		"FEEDSVC_TOPIC_POSTS=" + posts, "FEEDSVC_TOPIC_FOLLOWS=" + follows,
	}, testenv.SecurityEnv("KAFKA", "CASSANDRA")...))
	session := cassandraSession(t, hosts)
	defer session.Close()
	t.Cleanup(func() { _ = session.Query("DROP KEYSPACE IF EXISTS " + keyspace).Exec() })

	var versions []int
	for run := range 2 {
		cmd := exec.Command(binary, "migrate")
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("migrate run %d: %v\n%s", run+1, err, out)
		}
		var got []int
		iter := session.Query("SELECT version FROM " + keyspace + ".schema_migrations").Iter()
		for v := 0; iter.Scan(&v); {
			got = append(got, v)
		}
		if err := iter.Close(); err != nil {
			t.Fatal(err)
		}
		slices.Sort(got)
		if len(got) == 0 || (run == 1 && !slices.Equal(got, versions)) {
			t.Fatalf("schema versions after run %d: %v (before: %v)", run+1, got, versions)
		}
		versions = got
	}

	var replication map[string]string
	if err := session.Query("SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?", keyspace).Scan(&replication); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(replication["class"], "SimpleStrategy") || replication["replication_factor"] != "1" {
		t.Fatalf("keyspace replication = %v", replication)
	}
	var tables []string
	iter := session.Query("SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?", keyspace).Iter()
	for name := ""; iter.Scan(&name); {
		tables = append(tables, name)
	}
	if err := iter.Close(); err != nil {
		t.Fatal(err)
	}
	// Every table of every migration version, and nothing else.
	want := cassandra.Tables()
	if len(want) < 18 {
		t.Fatalf("the migrations create only %v", want)
	}
	slices.Sort(tables)
	if !slices.Equal(tables, want) {
		t.Fatalf("tables = %v, want %v", tables, want)
	}

	cl, err := testenv.KafkaConfig(brokers).Cluster()
	if err != nil {
		t.Fatal(err)
	}
	admin, err := sarama.NewClusterAdmin(cl.Brokers, cl.Config("e2e-migrate"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	names := []string{posts, follows, events.DeadLetter(posts), events.DeadLetter(follows)}
	metas, err := admin.DescribeTopics(names)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range metas {
		if m.Err != sarama.ErrNoError || len(m.Partitions) != 3 {
			t.Fatalf("topic %s: err %v, %d partitions, want 3", m.Name, m.Err, len(m.Partitions))
		}
	}
	defer func() { _ = admin.DeleteTopic(posts); _ = admin.DeleteTopic(follows) }()
}

// TestFanoutKill9AndScaleOut runs api and fanout as separate processes
// against the real servers. A backlog of one author's posts (checked in
// `feedsvc lag`) waits for a fanout process that reaches Redis through a
// gate (testenv.RedisGate): it writes the fans' feeds one per command
// (--fanout-batch 1), and the gate lets through one batch's writes to
// every fan and half of the next batch's, then holds the process there,
// where it is killed with SIGKILL. Where the kill lands depends on the
// commands sent, not on the machine's speed: the second batch reached some
// feeds and its offsets were never committed, so it must be redelivered.
// The group committed fewer posts than reached the feeds, and the next
// processes handle every uncommitted one again. 500 more posts, by many
// authors, are accepted with no fanout running, then two fanout processes
// in the same group share the partitions and finish the job. Every
// follower's cached feed (read from Redis itself, not through the feed
// endpoint, which could rebuild it) ends with exactly the expected IDs.
func TestFanoutKill9AndScaleOut(t *testing.T) {
	const authors, fans, before, after = 12, 20, 200, 500
	forDeployments(t, []deployment{depReal}, func(t *testing.T, s *system) {
		s.startAPI()
		posts := s.topic("posts")
		// The follows are fanned out first, by a process stopped cleanly: a
		// follow handled after the posts would merge them into feeds, and the
		// feeds would no longer tell which posts the killed process fanned out.
		setup := s.startFanout()
		var writers, readers []*user
		for i := range authors {
			u := s.user(fmt.Sprintf("author%d", i))
			u.must(s, "GET", "/v1/feed", nil, 200)
			writers = append(writers, u)
		}
		for i := range fans {
			u := s.user(fmt.Sprintf("fan%d", i))
			u.must(s, "GET", "/v1/feed", nil, 200)
			for _, w := range writers {
				u.follow(s, w)
			}
			readers = append(readers, u)
		}
		testenv.Eventually(t, "follows fanned out and committed", func() error { return equalf(s.totalLag("fanout"), 0) })
		setup.stop()

		// One author: one partition and one lane, so the killed process
		// writes its batches one after another, each to every fan in turn,
		// and commits a batch's offsets only after all its writes.
		var want []string
		for i := range before {
			want = append(want, writers[0].post(s, fmt.Sprint("before kill ", i)).ID)
		}
		// The whole backlog waits, so the next process starts with all of
		// it (the relay publishes the posts' events after their 201s).
		testenv.Eventually(t, "the posts wait in the fanout group's lag", func() error { return equalf(s.totalLag("fanout", posts), int64(before)) })
		gate := testenv.NewRedisGate(t, s.redis, "RPUSHX", fans+fans/2)
		// Not ready yet is fine: the gate may hold the process before its
		// readiness check (a write to Redis) has gone through.
		first := s.startUntil("fanout", gate.Held(), "--fanout-batch", "1", "--redis-addr", gate.Addr())
		first.kill()

		// Mid-work: the killed process had started (entries exist) and not
		// finished (entries missing).
		fanned := map[string]bool{}
		entries := 0
		for _, u := range readers {
			ids := s.inspect(u)
			entries += len(ids)
			for _, id := range ids {
				fanned[id] = true
			}
		}
		if entries == 0 || entries >= before*fans {
			t.Fatalf("the kill did not land mid-work: %d of %d feed entries written", entries, before*fans)
		}
		// Redelivery: the group resumes at its committed offsets, so every
		// post the killed process fanned out past them is handled again.
		left := s.totalLag("fanout", posts)
		committed := before - left
		if int64(len(fanned)) <= committed {
			t.Fatalf("%d posts reached feeds and the group committed %d: the kill left nothing to redeliver", len(fanned), committed)
		}
		t.Logf("killed the fanout process (SIGKILL) with %d of %d feed entries written, %d posts touched, %d committed: %d to redeliver",
			entries, before*fans, len(fanned), committed, int64(len(fanned))-committed)

		second, third := s.startFanout(), s.startFanout()
		// Both are members, each with posts partitions of its own, before
		// the new posts arrive: then both get some of them to handle.
		testenv.Eventually(t, "the two fanout processes share the partitions", func() error {
			for _, p := range []*proc{second, third} {
				if n := p.assigned(s.topic("posts")); n == 0 {
					return fmt.Errorf("fanout process %d holds no partition of %s", p.cmd.Process.Pid, s.topic("posts"))
				}
			}
			return nil
		})
		for i := range after {
			want = append(want, writers[i%authors].post(s, fmt.Sprint("after kill ", i)).ID)
		}
		for _, u := range readers {
			testenv.Eventually(t, "every post in "+u.name+"'s cached feed", func() error { return sameSet(s.inspect(u), want) })
		}
		testenv.Eventually(t, "fanout caught up", func() error { return equalf(s.totalLag("fanout"), 0) })
		var handled float64
		for _, p := range []*proc{second, third} {
			n := p.handled("fanout", "post.created")
			if n == 0 {
				t.Fatalf("fanout process %d handled no post: the group did not share the partitions", p.cmd.Process.Pid)
			}
			t.Logf("fanout process %d handled %.0f post.created events", p.cmd.Process.Pid, n)
			handled += n
		}
		// At least every uncommitted post (the redelivered ones among them)
		// and every later one; more if a rebalance moved work in flight.
		if handled < float64(left+after) {
			t.Fatalf("the new fanout processes handled %.0f posts, want at least the %d uncommitted and %d new", handled, left, after)
		}
		s.down()
	})
}

// assigned is how many partitions of topic p's consumer holds, from its
// latest "partitions assigned" log line (0 before the first).
func (p *proc) assigned(topic string) int {
	p.t.Helper()
	n := 0
	for _, line := range strings.Split(p.logs(), "\n") {
		if !strings.Contains(line, `"msg":"partitions assigned"`) {
			continue
		}
		var entry struct {
			Claims map[string][]int32 `json:"claims"`
		}
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			p.t.Fatalf("log line %q: %v", line, err)
		}
		n = len(entry.Claims[topic])
	}
	return n
}
