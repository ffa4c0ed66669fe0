package redis_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/rueidis"

	"github.com/feedsvc/feedsvc/app"
	redisstore "github.com/feedsvc/feedsvc/store/redis"
)

// BenchmarkFeedAdd measures the fanout write path next to its ceiling:
// "feeds" is Add of one post to 1,000 cached feeds (trimming included) and
// "zadd" is the bare loop, 1,000 pipelined ZADDs to as many sorted sets,
// both from 4 goroutines per core as a fanout process's partitions would,
// reported as inserts per second. The real servers come from
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
			client, err := redisstore.Open(context.Background(), redisstore.Config{Addrs: strings.Split(srv.addr, ","), Embedded: srv.embedded}, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer client.Close()
			ctx := context.Background()
			f := redisstore.NewFeeds(client, 800, 0)
			users := make([]string, followers)
			for i := range users {
				users[i] = fmt.Sprintf("%s_%d", uniqueUser(nil), i)
				if err := f.Prepare(ctx, users[i]); err != nil {
					b.Fatal(err)
				}
			}
			defer func() {
				for _, u := range users {
					client.Do(ctx, client.B().Del().Key(redisstore.KeysOf(client).Feed(u)).Build())
					client.Do(ctx, client.B().Del().Key("zb:"+u).Build())
				}
			}()
			var post atomic.Int64
			parallel := func(b *testing.B, insert func(id app.ID) error) {
				b.SetParallelism(4)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := insert(app.ID(post.Add(1))); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.ReportMetric(float64(b.N*followers)/b.Elapsed().Seconds(), "inserts/s")
			}
			b.Run("feeds", func(b *testing.B) {
				parallel(b, func(id app.ID) error {
					entries := make([]app.FeedEntry, len(users))
					for j, u := range users {
						entries[j] = app.FeedEntry{User: u, Post: id}
					}
					return f.Add(ctx, entries)
				})
			})
			b.Run("zadd", func(b *testing.B) {
				parallel(b, func(id app.ID) error {
					cmds := make(rueidis.Commands, len(users))
					member := strconv.FormatInt(int64(id), 10)
					for j, u := range users {
						cmds[j] = client.B().Zadd().Key("zb:"+u).ScoreMember().ScoreMember(float64(id), member).Build()
					}
					for _, r := range client.DoMulti(ctx, cmds...) {
						if err := r.Error(); err != nil {
							return err
						}
					}
					return nil
				})
			})
		})
	}
}

// BenchmarkFeedMemory fills feeds to the cap on the real Redis and reports
// the used_memory growth per stored entry (INFO memory), the figure a feed
// encoding is judged by.
func BenchmarkFeedMemory(b *testing.B) {
	addr := os.Getenv("FEEDSVC_REDIS_ADDR")
	if addr == "" {
		b.Skip("FEEDSVC_REDIS_ADDR not set")
	}
	const feeds, capacity = 200, 800
	client, err := redisstore.Open(context.Background(), secured(redisstore.Config{Addrs: strings.Split(addr, ",")}), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close()
	ctx := context.Background()
	usedMemory := func() int64 {
		info, err := client.Do(ctx, client.B().Info().Section("memory").Build()).ToString()
		if err != nil {
			b.Fatal(err)
		}
		for _, line := range strings.Split(info, "\r\n") {
			if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				return n
			}
		}
		b.Fatal("no used_memory in INFO")
		return 0
	}
	f := redisstore.NewFeeds(client, capacity, 0)
	ids := app.NewIDGen(9)
	for range b.N {
		prefix := uniqueUser(nil)
		before := usedMemory()
		for i := range feeds {
			batch := make([]app.ID, capacity)
			for j := range batch {
				batch[j], _ = ids.Next()
			}
			if err := f.Fill(ctx, fmt.Sprintf("%s_%d", prefix, i), batch); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(usedMemory()-before)/float64(feeds*capacity), "bytes/entry")
		for i := range feeds {
			client.Do(ctx, client.B().Del().Key(redisstore.KeysOf(client).Feed(fmt.Sprintf("%s_%d", prefix, i))).Build())
		}
	}
}

// BenchmarkFeedPage measures feed reads: a page of 20 from the top and from
// the middle of a full feed (cap 800), as GET /v1/feed does before
// hydration.
func BenchmarkFeedPage(b *testing.B) {
	addr := os.Getenv("FEEDSVC_REDIS_ADDR")
	if addr == "" {
		b.Skip("FEEDSVC_REDIS_ADDR not set")
	}
	client, err := redisstore.Open(context.Background(), secured(redisstore.Config{Addrs: strings.Split(addr, ",")}), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close()
	ctx := context.Background()
	f := redisstore.NewFeeds(client, 800, 0)
	user := uniqueUser(nil)
	ids := make([]app.ID, 800)
	for i := range ids {
		ids[i] = app.ID(1000 + i)
	}
	if err := f.Fill(ctx, user, ids); err != nil {
		b.Fatal(err)
	}
	defer client.Do(ctx, client.B().Del().Key(redisstore.KeysOf(client).Feed(user)).Build())
	for _, c := range []struct {
		name   string
		before app.ID
	}{{"top", 0}, {"middle", 1400}} {
		b.Run(c.name, func(b *testing.B) {
			for range b.N {
				page, _, err := f.Page(ctx, user, c.before, 20)
				if err != nil || len(page) != 20 {
					b.Fatalf("page: %v, %d ids", err, len(page))
				}
			}
		})
	}
}
