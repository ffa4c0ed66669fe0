package app_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/app/apptest"
)

// TestFullLastPageHasNoCursor: a page that ends a listing says so (no next
// cursor), also when it is full; a page with more after it has a cursor
// that leads to the rest, and that last page has none.
func TestFullLastPageHasNoCursor(t *testing.T) {
	w := listWorld("a", "b", "c", "d")
	ctx := context.Background()
	must(t, w.svc.Follow(ctx, "b", "a"))
	w.read(t, "b")
	w.bus.Drain(t, w.fanout)
	index := apptest.NewSearch()
	for i := range 3 {
		p, err := w.svc.CreatePost(ctx, "a", fmt.Sprint("findable post ", i), "")
		must(t, err)
		must(t, index.Index(ctx, p.ID, app.Terms(p.Text)))
	}
	w.bus.Drain(t, w.fanout)
	list, err := w.svc.CreateList(ctx, "b", "three")
	must(t, err)
	for _, m := range []string{"a", "c", "d"} {
		must(t, w.svc.AddListMember(ctx, "b", list.ID, m))
	}
	search := &app.Discovery{Index: index, Posts: w.store}

	type pager func(cursor string, limit int) (items int, next string)
	for name, page := range map[string]pager{
		"home feed": func(c string, l int) (int, string) {
			p, err := w.svc.ReadFeed(ctx, "b", c, l)
			must(t, err)
			return len(p.Items), p.NextCursor
		},
		"author's posts": func(c string, l int) (int, string) {
			p, next, err := w.svc.AuthorPosts(ctx, "b", "a", c, l)
			must(t, err)
			return len(p), next
		},
		"list feed": func(c string, l int) (int, string) {
			p, err := w.svc.ReadListFeed(ctx, "b", list.ID, c, l)
			must(t, err)
			return len(p.Items), p.NextCursor
		},
		"list members": func(c string, l int) (int, string) {
			m, next, err := w.svc.ListMembers(ctx, "b", list.ID, c, l)
			must(t, err)
			return len(m), next
		},
		"search": func(c string, l int) (int, string) {
			p, next, err := search.Search(ctx, "b", "findable", c, l)
			must(t, err)
			return len(p), next
		},
	} {
		if n, next := page("", 3); n != 3 || next != "" {
			t.Errorf("%s: the whole listing in a page of 3: %d items, cursor %q; want 3 and no cursor", name, n, next)
		}
		n, next := page("", 2)
		if n != 2 || next == "" {
			t.Errorf("%s: a page of 2 of 3: %d items, cursor %q; want 2 and a cursor", name, n, next)
			continue
		}
		if n, next := page(next, 2); n != 1 || next != "" {
			t.Errorf("%s: the page after: %d items, cursor %q; want 1 and no cursor", name, n, next)
		}
	}
}
