package e2e_test

import (
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/gocql/gocql"

	"github.com/feedsvc/feedsvc/events"
)

// TestMigrate runs `feedsvc migrate` twice against the real Kafka and
// Cassandra and checks what it made: topics (and dead-letter topics) with
// the configured partitions, a keyspace with the configured replication, the
// tables, and the recorded schema versions, unchanged by the second run.
func TestMigrate(t *testing.T) {
	brokers := requireEnv(t, "FEEDSVC_KAFKA_BROKERS")
	hosts := requireEnv(t, "FEEDSVC_CASSANDRA_HOSTS")
	id := randHex(4)
	keyspace, posts, follows := "feedsvc_migrate_"+id, "mig"+id+".posts", "mig"+id+".follows"
	env := childEnv([]string{
		"FEEDSVC_KAFKA_BROKERS=" + brokers, "FEEDSVC_CASSANDRA_HOSTS=" + hosts,
		"FEEDSVC_CASSANDRA_KEYSPACE=" + keyspace,
		"FEEDSVC_CASSANDRA_REPLICATION={'class': 'SimpleStrategy', 'replication_factor': 1}",
		"FEEDSVC_KAFKA_PARTITIONS=3", "FEEDSVC_KAFKA_REPLICATION=1",
		"FEEDSVC_TOPIC_POSTS=" + posts, "FEEDSVC_TOPIC_FOLLOWS=" + follows,
	})
	host, port, _ := strings.Cut(strings.Split(hosts, ",")[0], ":")
	cluster := gocql.NewCluster(host)
	if port != "" {
		fmt.Sscan(port, &cluster.Port)
	}
	cluster.Timeout = 20 * time.Second
	session, err := cluster.CreateSession()
	if err != nil {
		t.Fatal(err)
	}
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
	for _, want := range []string{"posts", "posts_by_author", "users", "follows", "followers", "schema_migrations"} {
		if !slices.Contains(tables, want) {
			t.Fatalf("table %s missing; tables: %v", want, tables)
		}
	}

	admin, err := sarama.NewClusterAdmin(strings.Split(brokers, ","), events.NewConfig("e2e-migrate"))
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
// against the real servers: the fanout process is killed with SIGKILL in the
// middle of its work, 500 more posts are accepted with no fanout running,
// then two fanout processes in the same group share the partitions and
// finish the job. Every follower's cached feed (read from Redis itself, not
// through the feed endpoint, which could rebuild it) ends with exactly the
// expected IDs.
func TestFanoutKill9AndScaleOut(t *testing.T) {
	const authors, fans, before, after = 12, 20, 200, 500
	forDeployments(t, []deployment{depReal}, func(t *testing.T, s *system) {
		s.startAPI()
		// One feed write per round trip, so fan-out is slow enough to be
		// interrupted.
		first := s.startFanout("--fanout-batch", "1")
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
		var want []string
		for i := range before {
			want = append(want, writers[i%authors].post(s, fmt.Sprint("before kill ", i)).ID)
		}
		eventually(t, "fan-out under way", func() error {
			if n := first.metric("feedsvc_events_handled_total", `type="post.created"`, `outcome="ok"`); n == 0 {
				return fmt.Errorf("no post fanned out yet")
			}
			return nil
		})
		done := first.metric("feedsvc_events_handled_total", `type="post.created"`, `outcome="ok"`)
		first.kill()
		t.Logf("killed the fanout process (SIGKILL) after %.0f of %d post.created events", done, before)

		for i := range after {
			want = append(want, writers[i%authors].post(s, fmt.Sprint("after kill ", i)).ID)
		}
		second, third := s.startFanout(), s.startFanout()
		for _, u := range readers {
			eventually(t, "every post in "+u.name+"'s cached feed", func() error { return sameSet(s.inspect(u), want) })
		}
		for _, p := range []*proc{second, third} {
			n := p.metric("feedsvc_events_handled_total", `type="post.created"`, `outcome="ok"`)
			if n == 0 {
				t.Fatalf("fanout process %d handled no post: the group did not share the partitions", p.cmd.Process.Pid)
			}
			t.Logf("fanout process %d handled %.0f post.created events", p.cmd.Process.Pid, n)
		}
		s.down()
	})
}
