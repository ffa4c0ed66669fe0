package app_test

import (
	"context"
	"errors"
	"testing"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/app/apptest"
)

// likeWorld is a world whose Service keeps likes, with a notifier and the
// other consumers that see like events.
func likeWorld(users ...string) (*world, *app.Notifier, []app.Handler) {
	w := newWorld(users...)
	w.svc.Likes = w.store
	n := &app.Notifier{Graph: w.store, Notifications: w.store, Posts: w.store, Likes: w.store}
	all := []app.Handler{w.fanout, n, &app.Analyst{Analytics: apptest.NewAnalytics()},
		&app.Indexer{Posts: w.store, Search: apptest.NewSearch()}}
	return w, n, all
}

// deliverAll hands every pending event to each handler times times (a
// redelivery, a replay), without draining the bus.
func deliverAll(t *testing.T, w *world, hs []app.Handler, times int) {
	t.Helper()
	for range times {
		for _, ev := range w.bus.Pending() {
			for _, h := range hs {
				if err := h.Handle(context.Background(), ev); err != nil {
					t.Fatalf("%T on %s: %v", h, ev.Type, err)
				}
			}
		}
	}
}

func likesOf(t *testing.T, w *world, reader string, p app.Post) app.PostView {
	t.Helper()
	v, err := w.svc.ViewPosts(context.Background(), reader, []app.Post{p})
	must(t, err)
	return v[0]
}

func likeNotes(t *testing.T, w *world, user string) []app.Notification {
	t.Helper()
	ns, err := w.store.Notifications(context.Background(), user, 0, 100)
	must(t, err)
	var out []app.Notification
	for _, n := range ns {
		if n.Kind == app.NotifyLike {
			out = append(out, n)
		}
	}
	return out
}

// TestLikeCountsExact: a count is the likers, whoever liked how often, and
// every consumer handling the like events again (redelivery, replay)
// changes no count; liked is the reader's own.
func TestLikeCountsExact(t *testing.T) {
	ctx := context.Background()
	w, _, all := likeWorld("a", "b", "c", "d")
	p, err := w.svc.CreatePost(ctx, "a", "like me", "")
	must(t, err)
	for _, u := range []string{"b", "b", "c", "a", "d"} {
		must(t, w.svc.Like(ctx, u, p.ID))
	}
	must(t, w.svc.Unlike(ctx, "d", p.ID))
	must(t, w.svc.Unlike(ctx, "d", p.ID))
	deliverAll(t, w, all, 3)
	for reader, liked := range map[string]bool{"a": true, "b": true, "c": true, "d": false, "nobody": false} {
		if v := likesOf(t, w, reader, p); v.LikeCount != 3 || v.Liked != liked {
			t.Fatalf("as %s: like_count %d liked %v, want 3 and %v", reader, v.LikeCount, v.Liked, liked)
		}
	}
	var liked, unliked int
	for _, ev := range w.bus.Pending() {
		switch ev.Type {
		case app.PostLiked:
			liked++
		case app.PostUnliked:
			unliked++
		}
	}
	if liked != 4 || unliked != 1 {
		t.Fatalf("%d post.liked and %d post.unliked published, want 4 and 1: only changes are announced", liked, unliked)
	}
}

// TestLikeNotifiesOncePerLiker: the author gets one notification per
// liker and post, keyed by the first like, through redeliveries and a like
// again after an unlike; none for their own like, nor for a like taken
// back before its event was handled.
func TestLikeNotifiesOncePerLiker(t *testing.T) {
	ctx := context.Background()
	w, _, all := likeWorld("a", "b", "c", "d")
	p, err := w.svc.CreatePost(ctx, "a", "like me", "")
	must(t, err)
	for _, u := range []string{"a", "b", "c"} {
		must(t, w.svc.Like(ctx, u, p.ID))
	}
	deliverAll(t, w, all, 2)
	first := likeNotes(t, w, "a")
	if len(first) != 2 {
		t.Fatalf("a's like notifications %+v, want b's and c's", first)
	}
	for _, n := range first {
		if n.Post != p.ID || (n.Actor != "b" && n.Actor != "c") {
			t.Fatalf("notification %+v", n)
		}
	}
	must(t, w.svc.Unlike(ctx, "b", p.ID))
	must(t, w.svc.Like(ctx, "b", p.ID))
	must(t, w.svc.Like(ctx, "d", p.ID))
	must(t, w.svc.Unlike(ctx, "d", p.ID))
	deliverAll(t, w, all, 2)
	again := likeNotes(t, w, "a")
	if len(again) != 2 || again[0].ID != first[0].ID || again[1].ID != first[1].ID {
		t.Fatalf("after b liked again and d liked and unliked: %+v, want the same two as %+v", again, first)
	}
	if n := likeNotes(t, w, "b"); len(n) != 0 {
		t.Fatalf("the liker was notified: %+v", n)
	}
}

// TestLikeAcrossBlock: a like across a block is refused either way
// (ErrForbidden); a like made before a block notifies nobody once the
// block stands.
func TestLikeAcrossBlock(t *testing.T) {
	ctx := context.Background()
	w, _, all := likeWorld("a", "b", "c")
	p, err := w.svc.CreatePost(ctx, "a", "like me", "")
	must(t, err)
	pb, err := w.svc.CreatePost(ctx, "b", "by b", "")
	must(t, err)
	must(t, w.svc.Like(ctx, "c", p.ID))
	must(t, w.svc.Block(ctx, "a", "b"))
	must(t, w.svc.Block(ctx, "a", "c"))
	for _, c := range []struct {
		user string
		post app.ID
	}{{"b", p.ID}, {"a", pb.ID}} {
		if err := w.svc.Like(ctx, c.user, c.post); !errors.Is(err, app.ErrForbidden) {
			t.Fatalf("%s likes %s across a block: %v, want ErrForbidden", c.user, c.post, err)
		}
	}
	deliverAll(t, w, all, 1)
	if n := likeNotes(t, w, "a"); len(n) != 0 {
		t.Fatalf("notified across a block: %+v", n)
	}
	must(t, w.svc.Unlike(ctx, "c", p.ID)) // taking a like back is allowed
	if v := likesOf(t, w, "a", p); v.LikeCount != 0 {
		t.Fatalf("like_count %d after the unlike, want 0", v.LikeCount)
	}
}

// TestLikeDeletedPost: a deleted or moderated post cannot be liked
// (ErrNotFound, but by the author of a moderated one), and the events of
// its likes are handled without a notification or an error.
func TestLikeDeletedPost(t *testing.T) {
	ctx := context.Background()
	w, _, all := likeWorld("a", "b")
	p, err := w.svc.CreatePost(ctx, "a", "soon gone", "")
	must(t, err)
	q, err := w.svc.CreatePost(ctx, "a", "soon moderated", "")
	must(t, err)
	must(t, w.svc.Like(ctx, "b", p.ID))
	must(t, w.svc.Like(ctx, "b", q.ID))
	must(t, w.svc.DeletePost(ctx, "a", p.ID))
	must(t, w.store.HidePost(ctx, q, "rule"))
	deliverAll(t, w, all, 2)
	if n := likeNotes(t, w, "a"); len(n) != 0 {
		t.Fatalf("notified of likes of a deleted or moderated post: %+v", n)
	}
	for _, id := range []app.ID{p.ID, q.ID} {
		if err := w.svc.Like(ctx, "b", id); !errors.Is(err, app.ErrNotFound) {
			t.Fatalf("like of %s: %v, want ErrNotFound", id, err)
		}
	}
	must(t, w.svc.Like(ctx, "a", q.ID)) // its author still sees it
}
