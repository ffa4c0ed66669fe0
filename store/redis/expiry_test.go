package redis_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/feedsvc/feedsvc/app"
	redisstore "github.com/feedsvc/feedsvc/store/redis"
)

// pttl is the key's remaining lifetime (-1: none, -2: absent).
func pttl(t *testing.T, c rueidis.Client, key string) time.Duration {
	t.Helper()
	ms, err := c.Do(context.Background(), c.B().Pttl().Key(key).Build()).AsInt64()
	must(t, err)
	if ms < 0 {
		return time.Duration(ms)
	}
	return time.Duration(ms) * time.Millisecond
}

// TestFeedExpiry: a feed lives for the TTL after a rebuild or a read of its
// first page; fan-out writes (even those that rewrite the value) and
// operator inspection leave the remaining lifetime alone.
func TestFeedExpiry(t *testing.T) {
	ctx := context.Background()
	const ttl = time.Hour
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			c := open(t)
			f := redisstore.NewFeeds(c, testCap, ttl)
			u := uniqueUser(t)
			key := redisstore.KeysOf(c).Feed(u)
			t.Cleanup(func() { c.Do(ctx, c.B().Del().Key(key).Build()) })
			steps := []struct {
				name string
				do   func()
				// lifetime must be within (min, max].
				min, max time.Duration
			}{
				{"prepare", func() { must(t, f.Prepare(ctx, u)) }, ttl - time.Minute, ttl},
				{"fill", func() { must(t, f.Fill(ctx, u, ids(10, 20))) }, ttl - time.Minute, ttl},
				{"shortened by hand", func() { must(t, c.Do(ctx, c.B().Pexpire().Key(key).Milliseconds(60_000).Build()).Error()) }, 0, time.Minute},
				{"append", func() { must(t, f.Add(ctx, entries(u, 30))) }, 0, time.Minute},
				{"rewriting merge", func() { must(t, f.Add(ctx, entries(u, 15))) }, 0, time.Minute},
				{"remove", func() { must(t, f.Remove(ctx, entries(u, 15))) }, 0, time.Minute},
				{"inspect", func() { _, err := f.Inspect(ctx, u); must(t, err) }, 0, time.Minute},
				{"later page", func() { _, _, err := f.Page(ctx, u, 30, 2); must(t, err) }, 0, time.Minute},
				{"first page", func() { _, _, err := f.Page(ctx, u, 0, 2); must(t, err) }, ttl - time.Minute, ttl},
			}
			for _, s := range steps {
				s.do()
				if got := pttl(t, c, key); got <= s.min || got > s.max {
					t.Fatalf("after %s: lifetime %v, want in (%v, %v]", s.name, got, s.min, s.max)
				}
			}
			got, complete, err := f.Page(ctx, u, 0, 10)
			must(t, err)
			if !complete || !slices.Equal(got, ids(30, 20, 10)) {
				t.Fatalf("feed = %v complete=%v", got, complete)
			}
		})
	}
}

func TestCelebrities(t *testing.T) {
	ctx := context.Background()
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			c := open(t)
			const ttl = time.Hour
			feeds := redisstore.NewFeeds(c, testCap, ttl)
			cs := redisstore.NewCelebrities(c, ttl)
			star, other, reader, away := uniqueUser(t), uniqueUser(t), uniqueUser(t), uniqueUser(t)
			t.Cleanup(func() {
				for _, k := range []string{redisstore.KeysOf(c).Celebrity(star), redisstore.KeysOf(c).Celebrity(other), redisstore.KeysOf(c).Feed(reader),
					redisstore.KeysOf(c).Followed(reader), redisstore.KeysOf(c).Followed(away)} {
					c.Do(ctx, c.B().Del().Key(k).Build())
				}
			})

			st, err := cs.Statuses(ctx, []string{star, other})
			must(t, err)
			if !slices.Equal(st, []app.CelebrityStatus{app.NotCelebrity, app.NotCelebrity}) {
				t.Fatalf("fresh statuses = %v", st)
			}
			for _, s := range []app.CelebrityStatus{app.CelebrityMarking, app.Celebrity} {
				must(t, cs.SetStatus(ctx, star, s))
				st, err := cs.Statuses(ctx, []string{other, star})
				must(t, err)
				if !slices.Equal(st, []app.CelebrityStatus{app.NotCelebrity, s}) {
					t.Fatalf("statuses = %v, want [none %v]", st, s)
				}
			}

			// Follows are recorded next to a cached feed only, and share
			// its lifetime.
			must(t, feeds.Fill(ctx, reader, nil))
			must(t, c.Do(ctx, c.B().Pexpire().Key(redisstore.KeysOf(c).Feed(reader)).Milliseconds(60_000).Build()).Error())
			must(t, cs.AddFollows(ctx, []app.Follow{{Follower: reader, Followee: star}, {Follower: away, Followee: star}, {Follower: reader, Followee: other}}))
			if got := pttl(t, c, redisstore.KeysOf(c).Followed(reader)); got <= 0 || got > time.Minute {
				t.Fatalf("followed set lifetime %v, want the feed's (≤ 1m)", got)
			}
			for _, w := range []struct {
				user string
				want []string
			}{{reader, []string{other, star}}, {away, nil}} {
				got, err := cs.Followed(ctx, w.user)
				must(t, err)
				slices.Sort(got)
				want := slices.Clone(w.want)
				slices.Sort(want)
				if !slices.Equal(got, want) {
					t.Fatalf("%s follows %v, want %v", w.user, got, want)
				}
			}
			if got := pttl(t, c, redisstore.KeysOf(c).Followed(reader)); got <= ttl-time.Minute {
				t.Fatalf("reading did not renew the followed set: %v", got)
			}
			must(t, cs.RemoveFollows(ctx, []app.Follow{{Follower: reader, Followee: other}}))
			if got, _ := cs.Followed(ctx, reader); !slices.Equal(got, []string{star}) {
				t.Fatalf("after removal: %v", got)
			}
			must(t, cs.SetStatus(ctx, star, app.NotCelebrity))
			if st, _ := cs.Statuses(ctx, []string{star}); st[0] != app.NotCelebrity {
				t.Fatalf("status after reset = %v", st[0])
			}
		})
	}
}
