package events_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/feedsvc/feedsvc/events"
)

func TestMinInsyncReplicas(t *testing.T) {
	for _, c := range []struct{ replication, want int }{{0, 1}, {1, 1}, {2, 1}, {3, 2}, {5, 4}} {
		if got := events.MinInsyncReplicas(c.replication); got != c.want {
			t.Errorf("MinInsyncReplicas(%d) = %d, want %d", c.replication, got, c.want)
		}
	}
}

// minInsync reads a topic's min.insync.replicas. A topic created a moment
// ago may be unknown to the broker that answers for a little while.
func minInsync(t *testing.T, admin sarama.ClusterAdmin, topic string) string {
	t.Helper()
	var entries []sarama.ConfigEntry
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		entries, err = admin.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: topic, ConfigNames: []string{"min.insync.replicas"}})
		if !errors.Is(err, sarama.ErrUnknownTopicOrPartition) || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name == "min.insync.replicas" {
			return e.Value
		}
	}
	t.Fatalf("topic %s has no min.insync.replicas in %+v", topic, entries)
	return ""
}

// TestEnsureTopicsMinInsync: created topics (dead-letter topics too) get
// min.insync.replicas by the rule (1 at replication 1), and an existing
// topic with a value above its replication (no write could succeed) is set
// to it. TestMinInsyncFix covers the other cases.
func TestEnsureTopicsMinInsync(t *testing.T) {
	for name, open := range brokers() {
		t.Run(name, func(t *testing.T) {
			addrs := open(t)
			cl := cluster(t, addrs)
			admin, err := sarama.NewClusterAdmin(cl.Brokers, cl.Config("test-admin"))
			if err != nil {
				t.Fatal(err)
			}
			defer admin.Close()
			want := strconv.Itoa(events.MinInsyncReplicas(1))

			f := newFixture(t, addrs, 2)
			for _, topic := range f.topics.All() {
				for _, name := range []string{topic, events.DeadLetter(topic)} {
					if got := minInsync(t, admin, name); got != want {
						t.Errorf("created topic %s: min.insync.replicas = %s, want %s", name, got, want)
					}
				}
			}

			// A topic someone created with a value that does not fit.
			topics := events.Topics{Posts: unique("t") + ".posts", Follows: unique("t") + ".follows"}
			wrong := "2"
			if err := admin.CreateTopic(topics.Posts, &sarama.TopicDetail{
				NumPartitions: 1, ReplicationFactor: 1, ConfigEntries: map[string]*string{"min.insync.replicas": &wrong},
			}, false); err != nil {
				t.Fatal(err)
			}
			if got := minInsync(t, admin, topics.Posts); got != wrong {
				t.Fatalf("set up: min.insync.replicas = %s, want %s", got, wrong)
			}
			if err := events.EnsureTopics(cl, topics, events.TopicSpec{Partitions: 1, Replication: 1}); err != nil {
				t.Fatal(err)
			}
			if got := minInsync(t, admin, topics.Posts); got != want {
				t.Fatalf("existing topic: min.insync.replicas = %s after EnsureTopics, want %s", got, want)
			}
		})
	}
}

// TestKafkaHealth: Ping answers on a live cluster, and returns by its
// context's deadline from a broker that accepts connections but never
// answers (a frozen broker), instead of waiting out the network timeouts.
func TestKafkaHealth(t *testing.T) {
	for name, open := range brokers() {
		t.Run(name, func(t *testing.T) {
			h, err := events.NewHealth(cluster(t, open(t)))
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			if err := h.Ping(context.Background()); err != nil {
				t.Fatalf("Ping: %v", err)
			}
		})
	}
	t.Run("frozen broker", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var conns sync.WaitGroup
		conns.Go(func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				defer c.Close() // held open, never answered
			}
		})
		defer conns.Wait()
		defer ln.Close()

		h, err := events.NewHealth(events.Cluster{Brokers: []string{ln.Addr().String()}})
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		done := make(chan error, 2)
		for range 2 { // a second probe shares the request in flight
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
				defer cancel()
				done <- h.Ping(ctx)
			}()
		}
		for range 2 {
			select {
			case err := <-done:
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("Ping of a frozen broker = %v, want the context's deadline", err)
				}
			case <-time.After(60 * time.Second):
				t.Fatal("Ping of a frozen broker did not return by its deadline")
			}
		}
	})
}
