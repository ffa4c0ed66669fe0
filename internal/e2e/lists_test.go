package e2e_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/feedsvc/feedsvc/internal/testenv"
)

// userList is a list as the API renders it.
type userList struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// listFeed pages through the whole timeline of list id, limit posts per
// page, and returns the post IDs.
func (u *user) listFeed(s *system, id string, limit int) []string {
	u.t.Helper()
	var ids []string
	cursor := ""
	for range 1000 {
		var page list[post]
		u.must(s, "GET", fmt.Sprintf("/v1/lists/%s/feed?limit=%d&cursor=%s", id, limit, cursor), nil, 200).decode(u.t, &page)
		for _, it := range page.Items {
			ids = append(ids, it.ID)
		}
		if page.NextCursor == "" {
			return ids
		}
		cursor = page.NextCursor
	}
	u.t.Fatalf("list %s's timeline never ended", id)
	return nil
}

// TestLists: a list, end to end against the built binary: its owner makes
// it, fills it and reads its timeline (the members' posts only, newest
// first, the same in any page size); nobody else sees it; a block hides
// a member's posts without taking the member off, and refuses adding
// across it; a deleted post leaves; deleting the list ends it.
func TestLists(t *testing.T) {
	forEach(t, func(t *testing.T, s *system) {
		s.up()
		a, b, c, d := s.user("a"), s.user("b"), s.user("c"), s.user("d")
		for _, u := range []*user{a, b, c, d} {
			u.must(s, "GET", "/v1/feed", nil, 200) // exists
		}
		var l userList
		a.must(s, "POST", "/v1/lists", map[string]string{"name": " news "}, 201).decode(t, &l)
		if l.Name != "news" || l.ID == "" {
			t.Fatalf("created list %+v", l)
		}
		path := "/v1/lists/" + l.ID
		a.must(s, "POST", "/v1/lists", map[string]string{"name": ""}, 400)
		for _, m := range []*user{b, c, c} { // idempotent
			a.must(s, "PUT", path+"/members/"+m.name, nil, 204)
		}
		if got := a.users(s, path+"/members"); !slices.Equal(got, []string{b.name, c.name}) {
			t.Fatalf("members %v, want b and c", got)
		}

		pb1 := b.post(s, "b one")
		d.post(s, "d is on no list")
		pc := c.post(s, "c one")
		pb2 := b.post(s, "b two")
		want := []string{pb2.ID, pc.ID, pb1.ID}
		for _, limit := range []int{1, 2, 100} {
			if got := a.listFeed(s, l.ID, limit); !slices.Equal(got, want) {
				t.Fatalf("a's list in pages of %d: %v, want %v", limit, got, want)
			}
		}

		// Only its owner sees or changes it.
		d.must(s, "GET", path, nil, 404)
		d.must(s, "GET", path+"/feed", nil, 404)
		d.must(s, "PUT", path+"/members/"+d.name, nil, 404)
		var theirs list[userList]
		d.must(s, "GET", "/v1/lists", nil, 200).decode(t, &theirs)
		if len(theirs.Items) != 0 {
			t.Fatalf("d's lists: %+v", theirs.Items)
		}

		// c blocks a: c stays on the list, its posts leave the timeline,
		// and adding c again is refused.
		c.must(s, "PUT", "/v1/blocks/"+a.name, nil, 204)
		testenv.Eventually(t, "c's post leaves a's list", func() error {
			if got := a.listFeed(s, l.ID, 100); !slices.Equal(got, []string{pb2.ID, pb1.ID}) {
				return fmt.Errorf("a's list reads %v, want b's posts only", got)
			}
			return nil
		})
		if got := a.users(s, path+"/members"); !slices.Equal(got, []string{b.name, c.name}) {
			t.Fatalf("members after the block %v, want b and c", got)
		}
		a.must(s, "PUT", path+"/members/"+c.name, nil, 403)

		// A deleted post leaves; a rename keeps the list.
		b.must(s, "DELETE", "/v1/posts/"+pb2.ID, nil, 204)
		testenv.Eventually(t, "b's deleted post leaves a's list", func() error {
			if got := a.listFeed(s, l.ID, 100); !slices.Equal(got, []string{pb1.ID}) {
				return fmt.Errorf("a's list reads %v, want b's first post only", got)
			}
			return nil
		})
		var renamed userList
		a.must(s, "PATCH", path, map[string]string{"name": "old news"}, 200).decode(t, &renamed)
		var lists list[userList]
		a.must(s, "GET", "/v1/lists", nil, 200).decode(t, &lists)
		if len(lists.Items) != 1 || lists.Items[0] != (userList{ID: l.ID, Name: "old news"}) {
			t.Fatalf("a's lists %+v, want the renamed list", lists.Items)
		}

		a.must(s, "DELETE", path, nil, 204)
		a.must(s, "GET", path+"/feed", nil, 404)
		a.must(s, "GET", path+"/members", nil, 404)
		s.down()
	})
}
