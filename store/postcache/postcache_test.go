package postcache_test

import (
	"context"
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
}

func (p *posts) GetPosts(_ context.Context, ids []app.ID) (map[app.ID]app.Post, error) {
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
