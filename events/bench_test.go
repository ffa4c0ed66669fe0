package events_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/feedsvc/feedsvc/events"
	"github.com/feedsvc/feedsvc/internal/testenv"
)

// BenchmarkPublish measures the post path's publish step: one idempotent,
// acks=all produce that waits for its acknowledgement, as the api does per
// post. The real broker comes from FEEDSVC_KAFKA_BROKERS.
func BenchmarkPublish(b *testing.B) {
	k, err := events.StartEmbedded(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer k.Close()
	buses := []struct {
		name string
		cfg  events.Config
	}{{"kfake", events.Config{Brokers: k.Addrs()}}}
	if addrs := os.Getenv("FEEDSVC_KAFKA_BROKERS"); addrs != "" {
		buses = append(buses, struct {
			name string
			cfg  events.Config
		}{"kafka", testenv.KafkaConfig(addrs)})
	}
	for _, bus := range buses {
		b.Run(bus.name, func(b *testing.B) {
			topics := events.Topics{Posts: unique("b") + ".posts", Follows: unique("b") + ".follows"}
			if err := events.EnsureTopics(cluster(b, bus.cfg), topics, events.TopicSpec{Partitions: 6, Replication: 1}); err != nil {
				b.Fatal(err)
			}
			cfg := bus.cfg
			cfg.Topics = topics
			p, err := events.OpenProducer(context.Background(), cfg, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			evs := postEvents(1000, "bench", time.Now())
			ctx := context.Background()
			b.ResetTimer()
			for i := range b.N {
				if err := p.Publish(ctx, evs[i%len(evs)]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
