package redis_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/alicebob/miniredis/v2"

	"github.com/feedsvc/feedsvc/app"
	feedredis "github.com/feedsvc/feedsvc/store/redis"
)

// BenchmarkFeedAdd measures the fanout write path: one Add of 1,000
// followers' entries (one pipelined script call per feed, trimming included),
// reported as feed inserts per second. The real servers come from
// FEEDSVC_REDIS_ADDR and FEEDSVC_REDIS_CLUSTER_ADDRS.
func BenchmarkFeedAdd(b *testing.B) {
	const followers = 1000
	m, err := miniredis.Run()
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	servers := []struct {
		name, addr string
		embedded   bool
	}{
		{"miniredis", m.Addr(), true},
		{"redis", os.Getenv("FEEDSVC_REDIS_ADDR"), false},
		{"cluster", os.Getenv("FEEDSVC_REDIS_CLUSTER_ADDRS"), false},
	}
	for _, srv := range servers {
		b.Run(srv.name, func(b *testing.B) {
			if srv.addr == "" {
				b.Skip("server address not set")
			}
			client, err := feedredis.Dial(srv.addr, srv.embedded)
			if err != nil {
				b.Fatal(err)
			}
			defer client.Close()
			f := feedredis.NewFeeds(client, 800)
			prefix := uniqueUser(nil)
			entries := make([]app.FeedEntry, followers)
			for i := range entries {
				entries[i].User = fmt.Sprintf("%s_%d", prefix, i)
			}
			ctx := context.Background()
			b.ResetTimer()
			for i := range b.N {
				for j := range entries {
					entries[j].Post = app.ID(i + 1)
				}
				if err := f.Add(ctx, entries); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*followers)/b.Elapsed().Seconds(), "inserts/s")
			b.StopTimer()
			for _, e := range entries {
				client.Do(ctx, client.B().Del().Key(feedredis.Key(e.User)).Build())
			}
		})
	}
}
