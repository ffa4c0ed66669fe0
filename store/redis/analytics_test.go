package redis_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/feedsvc/feedsvc/app"
	redisstore "github.com/feedsvc/feedsvc/store/redis"
	"github.com/feedsvc/feedsvc/store/redistest"
)

// TestAnalyticsConformance runs the analytics suite (store/redistest) on
// every backend.
func TestAnalyticsConformance(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			client := open(t)
			keys := redisstore.KeysOf(client)
			redistest.RunAnalytics(t, redistest.AnalyticsBackend{
				Analytics: redisstore.NewAnalytics(client),
				Buckets: &redistest.Buckets{
					Retention: redisstore.AnalyticsRetention,
					Wipe: func(at time.Time) error {
						// One DEL: a bucket's keys share a hash tag, so one slot.
						return client.Do(context.Background(), client.B().Del().Key(keys.Analytics(at)...).Build()).Error()
					},
					TTLs: func(at time.Time) ([]string, []int64, error) {
						ks := keys.Analytics(at)
						ttls := make([]int64, len(ks))
						for i, k := range ks {
							ttl, err := client.Do(context.Background(), client.B().Ttl().Key(k).Build()).AsInt64()
							if err != nil {
								return nil, nil, err
							}
							ttls[i] = ttl
						}
						return ks, ttls, nil
					},
				},
			})
		})
	}
}

// TestAnalyticsReadCost counts the Redis commands of a 7-day trends read
// and of a 7-day hourly read of one author: hour rollups keep both to a few
// hundred, however many minutes hold posts.
func TestAnalyticsReadCost(t *testing.T) {
	m := miniredis.RunT(t)
	c := dial(t, m.Addr(), true)
	a := redisstore.NewAnalytics(c)
	ctx := context.Background()
	now := time.Now().UTC()
	week := 7 * 24 * time.Hour
	// A post every 7 minutes over the week, so most minutes of most hours
	// hold one; plus one inside each partial hour at the edges.
	n := 0
	for at := now.Add(-week).Add(time.Minute); at.Before(now); at = at.Add(7 * time.Minute) {
		n++
		must(t, a.RecordPost(ctx, app.ID(n), "ann", []string{"go", fmt.Sprint("t", n%50)}, at))
	}
	before := m.CommandCount()
	top, err := a.TopTags(ctx, now.Add(-week), now, 10)
	must(t, err)
	trends := m.CommandCount() - before
	if len(top) == 0 || top[0] != (app.TagCount{Tag: "go", Count: int64(n)}) {
		t.Fatalf("top tags %v, want go first with all %d posts", top, n)
	}
	before = m.CommandCount()
	hours, err := a.AuthorHourly(ctx, "ann", now.Add(-week), now)
	must(t, err)
	hourly := m.CommandCount() - before
	var total int64
	for _, h := range hours {
		total += h.Count
	}
	if total != int64(n) {
		t.Fatalf("ann's hourly counts add up to %d, want %d", total, n)
	}
	t.Logf("7-day trends read: %d commands; 7-day hourly read: %d commands; %d posts", trends, hourly, n)
	if trends > 500 || hourly > 500 {
		t.Fatalf("a 7-day read took %d (trends) and %d (hourly) commands, want at most 500 each", trends, hourly)
	}
}
