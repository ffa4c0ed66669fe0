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
// first, the same in any page size), which is stored and fanned out to
// like a home feed (`feed inspect --list` agrees with the API); nobody
// else sees it; a block takes a member's posts out without taking the
// member off, and refuses adding across it; a deleted post leaves; a
// removed member's posts leave at once; deleting the list ends it.
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

		// Read once, the list's feed is stored; fan-out writes b's next
		// post into it.
		if err := sameSet(s.inspectList(l.ID), want); err != nil {
			t.Fatalf("a's list as stored: %v", err)
		}
		pb3 := b.post(s, "b three")
		want = append([]string{pb3.ID}, want...)
		testenv.Eventually(t, "fan-out writes b's post into a's list", func() error { return sameSet(s.inspectList(l.ID), want) })
		if got := a.listFeed(s, l.ID, 2); !slices.Equal(got, want) {
			t.Fatalf("a's list reads %v, want %v", got, want)
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
			if got := a.listFeed(s, l.ID, 100); !slices.Equal(got, []string{pb3.ID, pb2.ID, pb1.ID}) {
				return fmt.Errorf("a's list reads %v, want b's posts only", got)
			}
			return sameSet(s.inspectList(l.ID), []string{pb3.ID, pb2.ID, pb1.ID})
		})
		if got := a.users(s, path+"/members"); !slices.Equal(got, []string{b.name, c.name}) {
			t.Fatalf("members after the block %v, want b and c", got)
		}
		a.must(s, "PUT", path+"/members/"+c.name, nil, 403)

		// A deleted post leaves; a rename keeps the list.
		b.must(s, "DELETE", "/v1/posts/"+pb2.ID, nil, 204)
		testenv.Eventually(t, "b's deleted post leaves a's list", func() error {
			if got := a.listFeed(s, l.ID, 100); !slices.Equal(got, []string{pb3.ID, pb1.ID}) {
				return fmt.Errorf("a's list reads %v, want b's first and third posts", got)
			}
			return sameSet(s.inspectList(l.ID), []string{pb3.ID, pb1.ID})
		})
		var renamed userList
		a.must(s, "PATCH", path, map[string]string{"name": "old news"}, 200).decode(t, &renamed)
		var lists list[userList]
		a.must(s, "GET", "/v1/lists", nil, 200).decode(t, &lists)
		if len(lists.Items) != 1 || lists.Items[0] != (userList{ID: l.ID, Name: "old news"}) {
			t.Fatalf("a's lists %+v, want the renamed list", lists.Items)
		}

		// Removing b takes its posts out at once: no event to wait for.
		a.must(s, "DELETE", path+"/members/"+b.name, nil, 204)
		if err := sameSet(s.inspectList(l.ID), nil); err != nil {
			t.Fatalf("a's list as stored after b's removal: %v", err)
		}
		if got := a.listFeed(s, l.ID, 100); len(got) != 0 {
			t.Fatalf("a's list reads %v after b's removal, want nothing", got)
		}

		a.must(s, "DELETE", path, nil, 204)
		a.must(s, "GET", path+"/feed", nil, 404)
		a.must(s, "GET", path+"/members", nil, 404)
		s.down()
	})
}
