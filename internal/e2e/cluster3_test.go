package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/gocql/gocql"
	"github.com/redis/rueidis"

	"github.com/feedsvc/feedsvc/events"
	"github.com/feedsvc/feedsvc/internal/testenv"
)

// TestCluster3Profile proves the 3-node profile of scripts/testinfra
// (`up --nodes 3`): `feedsvc migrate` with the profile's replication creates
// topics (dead-letter topics too) on all three brokers with
// min.insync.replicas 2 and a keyspace replicated to the three Cassandra
// nodes, and the Redis Cluster has three masters, each with a replica.
func TestCluster3Profile(t *testing.T) {
	c := testenv.RequireCluster3(t)
	id := randHex(4)
	keyspace, posts, follows := "feedsvc_c3_"+id, "c3"+id+".posts", "c3"+id+".follows"
	cmd := exec.Command(binary, "migrate")
	cmd.Env = childEnv([]string{
		"FEEDSVC_KAFKA_BROKERS=" + strings.Join(c.KafkaBrokers, ","),
		"FEEDSVC_CASSANDRA_HOSTS=" + strings.Join(c.CassandraHosts, ","),
		"FEEDSVC_CASSANDRA_KEYSPACE=" + keyspace,
		"FEEDSVC_CASSANDRA_REPLICATION=" + c.CassandraReplication,
		"FEEDSVC_KAFKA_REPLICATION=" + strconv.Itoa(c.KafkaReplication), "FEEDSVC_KAFKA_PARTITIONS=3",
		"FEEDSVC_TOPIC_POSTS=" + posts, "FEEDSVC_TOPIC_FOLLOWS=" + follows,
	})
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}

	t.Run("kafka", func(t *testing.T) {
		admin, err := sarama.NewClusterAdmin(c.KafkaBrokers, events.SaramaConfig("e2e-cluster3"))
		if err != nil {
			t.Fatal(err)
		}
		defer admin.Close()
		names := []string{posts, follows, events.DeadLetter(posts), events.DeadLetter(follows)}
		defer func() {
			for _, n := range names {
				_ = admin.DeleteTopic(n)
			}
		}()
		brokers, _, err := admin.DescribeCluster()
		if err != nil || len(brokers) != 3 {
			t.Fatalf("DescribeCluster: %d brokers, err %v; want 3", len(brokers), err)
		}
		// A topic created a moment ago may not be known yet to the broker
		// that answers (metadata propagates): wait until each answers.
		var metas []*sarama.TopicMetadata
		testenv.Eventually(t, "every topic described", func() error {
			metas, err = admin.DescribeTopics(names)
			if err != nil {
				return err
			}
			for _, m := range metas {
				if m.Err != sarama.ErrNoError {
					return fmt.Errorf("topic %s: %w", m.Name, m.Err)
				}
			}
			return nil
		})
		for _, m := range metas {
			if len(m.Partitions) != 3 {
				t.Fatalf("topic %s: %d partitions, want 3", m.Name, len(m.Partitions))
			}
			for _, p := range m.Partitions {
				if len(p.Replicas) != 3 {
					t.Errorf("topic %s partition %d: replicas %v, want 3", m.Name, p.ID, p.Replicas)
				}
			}
			var entries []sarama.ConfigEntry
			testenv.Eventually(t, "the config of "+m.Name, func() error {
				entries, err = admin.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: m.Name, ConfigNames: []string{"min.insync.replicas"}})
				if errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
					return err // not known to the answering broker yet
				}
				if err != nil {
					t.Fatal(err)
				}
				return nil
			})
			if len(entries) != 1 || entries[0].Value != "2" {
				t.Errorf("topic %s: min.insync.replicas %+v, want 2", m.Name, entries)
			}
		}
	})

	t.Run("cassandra", func(t *testing.T) {
		cluster := gocql.NewCluster(c.CassandraHosts...)
		cluster.Timeout = 20 * time.Second
		session, err := cluster.CreateSession()
		if err != nil {
			t.Fatal(err)
		}
		defer session.Close()
		defer func() { _ = session.Query("DROP KEYSPACE IF EXISTS " + keyspace).Exec() }()
		var replication map[string]string
		if err := session.Query("SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?", keyspace).Scan(&replication); err != nil {
			t.Fatal(err)
		}
		if replication["replication_factor"] != "3" {
			t.Errorf("keyspace replication = %v, want factor 3", replication)
		}
		// A read at ALL answers only if all three replicas of the rows
		// (every node, at factor 3) are in the ring and up.
		var n int
		if err := session.Query("SELECT count(*) FROM " + keyspace + ".schema_migrations").Consistency(gocql.All).Scan(&n); err != nil || n == 0 {
			t.Errorf("read at ALL: %d schema versions, err %v", n, err)
		}
	})

	t.Run("redis", func(t *testing.T) {
		client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: c.RedisClusterAddrs[:1], DisableCache: true, ForceSingleClient: true})
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		nodes, err := client.Do(ctx, client.B().ClusterNodes().Build()).ToString()
		if err != nil {
			t.Fatal(err)
		}
		// RESP3 answers a verbatim string ("txt:" and the text).
		nodes = strings.TrimPrefix(nodes, "txt:")
		// CLUSTER NODES: id addr flags master-id ping pong epoch link slot...
		masters, replicas := map[string]bool{}, map[string]int{}
		for _, line := range strings.Split(strings.TrimSpace(nodes), "\n") {
			f := strings.Fields(line)
			switch {
			case len(f) < 8 || strings.Contains(f[2], "fail"):
			case strings.Contains(f[2], "master") && len(f) > 8:
				masters[f[0]] = true
			case strings.Contains(f[2], "slave") && f[7] == "connected":
				replicas[f[3]]++
			}
		}
		if len(masters) != 3 {
			t.Fatalf("%d masters with slots, want 3:\n%s", len(masters), nodes)
		}
		for m := range masters {
			if replicas[m] < 1 {
				t.Errorf("master %s has no replica:\n%s", m, nodes)
			}
		}
	})
}
