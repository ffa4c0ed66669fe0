package postcache_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/store/postcache"
)

// posts is an in-memory PostStore that counts the posts it was asked for.
type posts struct {
	app.PostStore
	m     map[app.ID]app.Post
	asked int
	fail  error // every read fails with it
}

func (p *posts) GetPosts(_ context.Context, ids []app.ID) (map[app.ID]app.Post, error) {
	if p.fail != nil {
		return nil, p.fail
	}
	p.asked += len(ids)
	out := map[app.ID]app.Post{}
	for _, id := range ids {
		if v, ok := p.m[id]; ok {
			out[id] = v
		}
	}
	return out, nil
}

func (p *posts) SavePost(_ context.Context, v app.Post, _ ...app.OutboxRecord) error {
	p.m[v.ID] = v
	return nil
}
func (p *posts) DeletePost(_ context.Context, v app.Post, _ ...app.OutboxRecord) error {
	delete(p.m, v.ID)
	return nil
}

func TestCache(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name string
		// run acts on the cache c over the store s, then reads ids 1 and 2.
		run       func(c *postcache.Store, s *posts)
		wantFound int // posts the final read finds
		wantAsked int // posts the store was asked for by the final read
	}{
		{"a second read comes from memory", func(c *postcache.Store, s *posts) { _, _ = c.GetPosts(ctx, []app.ID{1, 2}) }, 1, 1},
		{"a missing post is not cached", func(c *postcache.Store, s *posts) {
			_, _ = c.GetPosts(ctx, []app.ID{1, 2})
			s.m[2] = app.Post{ID: 2, Text: "saved elsewhere"}
		}, 2, 1},
		{"this process's delete shows at once", func(c *postcache.Store, s *posts) {
			_, _ = c.GetPosts(ctx, []app.ID{1, 2})
			_ = c.DeletePost(ctx, app.Post{ID: 1})
		}, 0, 2},
		{"this process's save replaces the cached post", func(c *postcache.Store, s *posts) {
			_, _ = c.GetPosts(ctx, []app.ID{1, 2})
			_ = c.SavePost(ctx, app.Post{ID: 1, Text: "moderated", Moderated: "blocklist"})
		}, 1, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := &posts{m: map[app.ID]app.Post{1: {ID: 1, Text: "one"}}}
			c := postcache.New(s, 100, time.Hour)
			tc.run(c, s)
			s.asked = 0
			got, err := c.GetPosts(ctx, []app.ID{1, 2})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.wantFound || s.asked != tc.wantAsked {
				t.Fatalf("found %d (%v), store asked for %d; want %d and %d", len(got), got, s.asked, tc.wantFound, tc.wantAsked)
			}
			for id, p := range got {
				if want := s.m[id]; p != want {
					t.Fatalf("post %d = %+v, want %+v", id, p, want)
				}
			}
		})
	}
}

// TestStaleWhileTheStoreIsDown: a read that may degrade gets the copies
// past their TTL while the store is unavailable, and is told; any other
// read, or another failure, gets the error.
func TestStaleWhileTheStoreIsDown(t *testing.T) {
	s := &posts{m: map[app.ID]app.Post{1: {ID: 1, Text: "one"}}}
	c := postcache.New(s, 100, time.Nanosecond) // every copy stale at once
	if _, err := c.GetPosts(context.Background(), []app.ID{1, 2}); err != nil {
		t.Fatal(err)
	}
	s.fail = fmt.Errorf("cassandra: read posts: %w", app.ErrUnavailable)
	if _, err := c.GetPosts(context.Background(), []app.ID{1}); !errors.Is(err, app.ErrUnavailable) {
		t.Fatalf("a read that may not degrade: %v, want the store's error", err)
	}
	ctx := app.WithDegradedReads(context.Background())
	got, err := c.GetPosts(ctx, []app.ID{1, 2})
	if err != nil || len(got) != 1 || got[1].Text != "one" {
		t.Fatalf("degraded read: %v, %v; want post 1 from the cache and no 2", got, err)
	}
	if d := app.Degraded(ctx); !slices.Equal(d, []string{app.DegradedPosts}) {
		t.Fatalf("Degraded = %v, want [%s]", d, app.DegradedPosts)
	}
	s.fail = errors.New("a bug, not an outage")
	if _, err := c.GetPosts(app.WithDegradedReads(context.Background()), []app.ID{1}); !errors.Is(err, s.fail) {
		t.Fatalf("a failure other than unavailable: %v, want it", err)
	}
}
