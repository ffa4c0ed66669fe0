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

// waitMinInsync waits until the broker that answers reads the topic's
// min.insync.replicas as want, and fails t with the value it last read if
// that does not happen within a minute. A topic created, or a setting
// changed, a moment ago reaches the answering broker's metadata some time
// later (the controller acknowledged it, the broker applies it after): the
// topic is unknown there, or has its old value, for a while.
func waitMinInsync(t *testing.T, admin sarama.ClusterAdmin, topic, want string) {
	t.Helper()
	var last string
	var err error
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		var entries []sarama.ConfigEntry
		entries, err = admin.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: topic, ConfigNames: []string{"min.insync.replicas"}})
		if err == nil {
			last = ""
			for _, e := range entries {
				if e.Name == "min.insync.replicas" {
					last = e.Value
				}
			}
			if last == want {
				return
			}
		} else if !errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			break
		}
	}
	t.Fatalf("topic %s: min.insync.replicas = %q (err %v) after a minute, want %s", topic, last, err, want)
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
					waitMinInsync(t, admin, name, want) // as created
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
			waitMinInsync(t, admin, topics.Posts, wrong) // set up
			if err := events.EnsureTopics(cl, topics, events.TopicSpec{Partitions: 1, Replication: 1}); err != nil {
				t.Fatal(err)
			}
			waitMinInsync(t, admin, topics.Posts, want) // corrected by EnsureTopics
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
