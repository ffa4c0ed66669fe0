package app_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/feedsvc/feedsvc/app"
)

// repostWorld: "a" reposts "p"'s post. a's followers: "f1" (follows p
// too), "f2", "quiet" (hides a's reposts) and "m" (mutes p); with the
// world's page size of 2 they come in two pages. Every feed is cached.
func repostWorld(t *testing.T) (*world, app.Post) {
	t.Helper()
	ctx := context.Background()
	w := newWorld("a", "p", "b", "f1", "f2", "quiet", "m")
	w.svc.Reposts = w.store
	w.fanout.Reposts = w.store
	for _, u := range []string{"f1", "f2", "quiet", "m"} {
		w.read(t, u)
		must(t, w.svc.Follow(ctx, u, "a"))
	}
	must(t, w.svc.Follow(ctx, "f1", "p"))
	must(t, w.svc.Follow(ctx, "f1", "b"))
	off := false
	must(t, w.svc.FollowWith(ctx, "quiet", "a", &off))
	must(t, w.svc.Mute(ctx, "m", "p", 0))
	w.bus.Drain(t, w.fanout)
	orig, err := w.svc.CreatePost(ctx, "p", "worth sharing", "")
	must(t, err)
	w.bus.Drain(t, w.fanout)
	return w, orig
}

// feedItems reads user's first feed page as rendered.
func feedItems(t *testing.T, w *world, user string) []app.Post {
	t.Helper()
	page, err := w.svc.ReadFeed(context.Background(), user, "", 20)
	must(t, err)
	return page.Items
}

// TestRepostFanout: a repost reaches the reposter's followers, not those
// hiding its reposts nor those muting the original's author; fan-out asks
// who hides reposts once per page of followers. A feed renders it as the
// original with the reposter. Reposting again makes nothing new.
func TestRepostFanout(t *testing.T) {
	ctx := context.Background()
	w, orig := repostWorld(t)
	before := w.store.RepostsHiddenAmongReads()
	r, err := w.svc.Repost(ctx, "a", orig.ID)
	must(t, err)
	if r.RepostOf != orig.ID || r.RepostOfAuthor != "p" || r.Author != "a" || r.ID == orig.ID {
		t.Fatalf("repost %+v, want a's own post of %s by p", r, orig.ID)
	}
	w.bus.Drain(t, w.fanout)
	if reads := w.store.RepostsHiddenAmongReads() - before; reads != 2 {
		t.Fatalf("fan-out asked RepostsHiddenAmong %d times for 2 pages of followers, want 2", reads)
	}
	for user, want := range map[string]bool{"f1": true, "f2": true, "quiet": false, "m": false} {
		if got := slices.Contains(w.feeds.IDs(user), r.ID); got != want {
			t.Errorf("%s's stored feed has the repost: %v, want %v", user, got, want)
		}
	}
	items := feedItems(t, w, "f2")
	if len(items) != 1 || items[0].ID != orig.ID || items[0].RepostedBy != "a" || items[0].RepostID != r.ID || items[0].Text != orig.Text {
		t.Fatalf("f2 reads %+v, want the original reposted by a", items)
	}

	// Again: the same repost, no new event.
	again, err := w.svc.Repost(ctx, "a", orig.ID)
	must(t, err)
	if again.ID != r.ID || len(w.bus.Pending()) != 0 {
		t.Fatalf("reposting again made %s and %d events, want %s and none", again.ID, len(w.bus.Pending()), r.ID)
	}
	// A repost's ID reposts its original.
	viaRepost, err := w.svc.Repost(ctx, "f2", r.ID)
	must(t, err)
	if viaRepost.RepostOf != orig.ID {
		t.Fatalf("reposting a repost reposts %s, want the original %s", viaRepost.RepostOf, orig.ID)
	}

	// Turning reposts off hides those already in the feed at read time.
	off := false
	must(t, w.svc.FollowWith(ctx, "f2", "a", &off))
	if items := feedItems(t, w, "f2"); len(items) != 0 {
		t.Fatalf("f2 hides a's reposts but reads %+v", items)
	}
	// Following again without a setting keeps it; a new follow resets it.
	must(t, w.svc.Follow(ctx, "f2", "a"))
	if items := feedItems(t, w, "f2"); len(items) != 0 {
		t.Fatalf("following again showed a's reposts: %+v", items)
	}
	must(t, w.svc.Unfollow(ctx, "f2", "a"))
	must(t, w.svc.Follow(ctx, "f2", "a"))
	w.bus.Drain(t, w.fanout)
	if items := feedItems(t, w, "f2"); len(items) != 1 || items[0].RepostedBy != "a" {
		t.Fatalf("a new follow reads %+v, want a's repost shown again", items)
	}
}

// TestRepostDedup: a feed shows a post once per page, the entry it had
// first: a follower with the original gets no second entry from reposts
// of it, and two reposts of one post show once.
func TestRepostDedup(t *testing.T) {
	ctx := context.Background()
	w, orig := repostWorld(t)
	_, err := w.svc.Repost(ctx, "a", orig.ID)
	must(t, err)
	_, err = w.svc.Repost(ctx, "b", orig.ID)
	must(t, err)
	w.bus.Drain(t, w.fanout)
	if n := len(w.feeds.IDs("f1")); n != 3 {
		t.Fatalf("f1's stored feed holds %d entries, want 3 (de-duplication is at read time)", n)
	}
	items := feedItems(t, w, "f1")
	if len(items) != 1 || items[0].ID != orig.ID || items[0].RepostedBy != "" {
		t.Fatalf("f1 reads %+v, want the original once, as posted", items)
	}

	// Without the original: two reposts of it show once, the older.
	w2, orig2 := repostWorld(t)
	must(t, w2.svc.Unfollow(ctx, "f1", "p"))
	w2.bus.Drain(t, w2.fanout)
	first, err := w2.svc.Repost(ctx, "a", orig2.ID)
	must(t, err)
	_, err = w2.svc.Repost(ctx, "b", orig2.ID)
	must(t, err)
	w2.bus.Drain(t, w2.fanout)
	items = feedItems(t, w2, "f1")
	if len(items) != 1 || items[0].RepostID != first.ID {
		t.Fatalf("f1 reads %+v, want one entry: a's repost %s", items, first.ID)
	}
}

// TestRepostOriginalRemoved: deleting or moderating the original takes
// its reposts out of every stored feed, also when the event comes again.
func TestRepostOriginalRemoved(t *testing.T) {
	ctx := context.Background()
	for _, how := range []string{"delete", "moderate"} {
		t.Run(how, func(t *testing.T) {
			w, orig := repostWorld(t)
			r, err := w.svc.Repost(ctx, "a", orig.ID)
			must(t, err)
			w.bus.Drain(t, w.fanout)
			if !slices.Contains(w.feeds.IDs("f2"), r.ID) {
				t.Fatal("f2 lacks the repost")
			}
			ev := app.Event{Type: app.PostDeleted, Post: &app.Post{ID: orig.ID, Author: "p"}}
			if how == "delete" {
				must(t, w.svc.DeletePost(ctx, "p", orig.ID))
				w.bus.Drain(t, w.fanout)
			} else {
				must(t, w.store.HidePost(ctx, orig, "spam"))
				ev = app.Event{Type: app.PostModerated, Post: &orig}
			}
			for range 2 { // redelivery
				must(t, w.fanout.Handle(ctx, ev))
			}
			for _, u := range []string{"f1", "f2"} {
				if ids := w.feeds.IDs(u); slices.Contains(ids, r.ID) || slices.Contains(ids, orig.ID) {
					t.Errorf("%s's feed %v still holds the original or its repost", u, ids)
				}
			}
			// A repost made after the removal (a race) goes nowhere.
			if _, err := w.svc.Repost(ctx, "b", orig.ID); !errors.Is(err, app.ErrNotFound) {
				t.Fatalf("reposting a removed post: %v, want ErrNotFound", err)
			}
		})
	}
}

// TestRepostCountsExact: repost_count and reposted come from the index,
// two batched reads per page, unchanged by redelivery; an unrepost takes the
// repost out of the count and of the feeds.
func TestRepostCountsExact(t *testing.T) {
	ctx := context.Background()
	w, orig := repostWorld(t)
	n := &app.Notifier{Graph: w.store, Notifications: w.store, Posts: w.store, Reposts: w.store}
	r, err := w.svc.Repost(ctx, "a", orig.ID)
	must(t, err)
	_, err = w.svc.Repost(ctx, "b", orig.ID)
	must(t, err)
	deliverAll(t, w, []app.Handler{w.fanout, n}, 3)
	w.bus.Drain(t, w.fanout)
	before := w.store.RepostCountReads()
	views, err := w.svc.ViewPosts(ctx, "a", []app.Post{orig, orig})
	must(t, err)
	// The page's counts, then a's reposts among the reposted posts.
	if reads := w.store.RepostCountReads() - before; reads != 2 {
		t.Fatalf("a page read RepostCounts %d times, want 2", reads)
	}
	if v := views[0]; v.RepostCount != 2 || !v.Reposted {
		t.Fatalf("a sees count %d, reposted %v; want 2, true", v.RepostCount, v.Reposted)
	}
	must(t, w.svc.Unrepost(ctx, "a", orig.ID))
	must(t, w.svc.Unrepost(ctx, "a", orig.ID)) // harmless
	w.bus.Drain(t, w.fanout)
	views, err = w.svc.ViewPosts(ctx, "a", []app.Post{orig})
	must(t, err)
	if v := views[0]; v.RepostCount != 1 || v.Reposted {
		t.Fatalf("after the unrepost a sees count %d, reposted %v; want 1, false", v.RepostCount, v.Reposted)
	}
	if slices.Contains(w.feeds.IDs("f2"), r.ID) {
		t.Fatal("the unreposted repost stays in f2's feed")
	}
}

// TestRepostNotifies: the original's author is notified once per
// reposter and post, under redelivery and a repost again after an
// unrepost; not for a repost of one's own post, nor from a muted user;
// reposting across a block is refused.
func TestRepostNotifies(t *testing.T) {
	ctx := context.Background()
	w, orig := repostWorld(t)
	n := &app.Notifier{Graph: w.store, Notifications: w.store, Posts: w.store, Reposts: w.store}
	notes := func() []app.Notification {
		t.Helper()
		ns, err := w.store.Notifications(ctx, "p", 0, 100)
		must(t, err)
		return slices.DeleteFunc(ns, func(n app.Notification) bool { return n.Kind != app.NotifyRepost })
	}
	first, err := w.svc.Repost(ctx, "a", orig.ID)
	must(t, err)
	_, err = w.svc.Repost(ctx, "p", orig.ID) // one's own: nobody
	must(t, err)
	deliverAll(t, w, []app.Handler{n}, 3)
	w.bus.Drain(t, w.fanout)
	must(t, w.svc.Unrepost(ctx, "a", orig.ID))
	_, err = w.svc.Repost(ctx, "a", orig.ID)
	must(t, err)
	deliverAll(t, w, []app.Handler{n}, 2)
	w.bus.Drain(t, w.fanout)
	got := notes()
	if len(got) != 1 || got[0].ID != first.ID || got[0].Actor != "a" || got[0].Post != orig.ID {
		t.Fatalf("p's repost notifications %+v, want one by a keyed %s", got, first.ID)
	}

	must(t, w.svc.Mute(ctx, "p", "f2", 0))
	_, err = w.svc.Repost(ctx, "f2", orig.ID)
	must(t, err)
	must(t, w.svc.Block(ctx, "p", "b"))
	if _, err := w.svc.Repost(ctx, "b", orig.ID); !errors.Is(err, app.ErrForbidden) {
		t.Fatalf("a repost across a block: %v, want ErrForbidden", err)
	}
	deliverAll(t, w, []app.Handler{n}, 1)
	if got := notes(); len(got) != 1 {
		t.Fatalf("p has %+v after a muted user's repost, want only a's", got)
	}
}

// TestRepostHiddenAuthor: a repost of a post whose author the reader
// blocks is not shown, whatever its source (a rebuild included).
func TestRepostHiddenAuthor(t *testing.T) {
	ctx := context.Background()
	w, orig := repostWorld(t)
	_, err := w.svc.Repost(ctx, "a", orig.ID)
	must(t, err)
	w.bus.Drain(t, w.fanout)
	must(t, w.svc.Block(ctx, "f2", "p"))
	w.bus.Drain(t, w.fanout)
	w.feeds.Evict("f2")
	if items := feedItems(t, w, "f2"); len(items) != 0 {
		t.Fatalf("f2 blocks p but reads %+v", items)
	}
	// The reposter's own page shows it to others as the original.
	posts, _, err := w.svc.AuthorPosts(ctx, "f1", "a", "", 10)
	must(t, err)
	if len(posts) != 1 || posts[0].ID != orig.ID || posts[0].RepostedBy != "a" {
		t.Fatalf("a's posts as f1 sees them: %+v, want p's post reposted by a", posts)
	}
}

// TestRepostOwnPostOnce: a user's page shows a post they reposted
// themselves once, as posted (the repost renders as the same post).
func TestRepostOwnPostOnce(t *testing.T) {
	ctx := context.Background()
	w, orig := repostWorld(t)
	_, err := w.svc.Repost(ctx, "p", orig.ID)
	must(t, err)
	posts, _, err := w.svc.AuthorPosts(ctx, "f2", "p", "", 20)
	must(t, err)
	if len(posts) != 1 || posts[0].ID != orig.ID || posts[0].RepostedBy != "" {
		t.Fatalf("p's page reads %+v, want the original once, as posted", posts)
	}
}

// TestRepostOfGoneOriginalStaysOut: once its original is deleted, a
// repost enters no feed: not by a follow's merge (the merge copies the
// reposter's stored posts), not by a rebuild, not by a fan-out that read
// the original before it went.
func TestRepostOfGoneOriginalStaysOut(t *testing.T) {
	ctx := context.Background()
	w, orig := repostWorld(t)
	r, err := w.svc.Repost(ctx, "a", orig.ID)
	must(t, err)
	w.bus.Drain(t, w.fanout)
	must(t, w.svc.DeletePost(ctx, "p", orig.ID))
	w.bus.Drain(t, w.fanout)

	// A new follower of the reposter: the merge.
	w.read(t, "b")
	must(t, w.svc.Follow(ctx, "b", "a"))
	w.bus.Drain(t, w.fanout)
	if ids := w.feeds.IDs("b"); slices.Contains(ids, r.ID) {
		t.Errorf("b's feed %v holds the repost of a deleted post after following its reposter", ids)
	}
	// A rebuild of a follower's lost feed.
	must(t, w.feeds.Drop(ctx, "f2"))
	w.read(t, "f2")
	if ids := w.feeds.IDs("f2"); slices.Contains(ids, r.ID) {
		t.Errorf("f2's rebuilt feed %v holds the repost of a deleted post", ids)
	}
	// The repost's own event handled again, as if read before the
	// deletion: it goes nowhere (and is taken back if written).
	for _, ev := range w.bus.Pending() {
		if ev.Type == app.PostCreated && ev.Post != nil && ev.Post.ID == r.ID {
			must(t, w.fanout.Handle(ctx, ev))
		}
	}
	for _, u := range []string{"f1", "f2", "b"} {
		if ids := w.feeds.IDs(u); slices.Contains(ids, r.ID) {
			t.Errorf("%s's feed %v holds the repost of a deleted post", u, ids)
		}
	}
}

// TestRepostOriginalDeletedDuringFanout: the original is deleted, and its
// removal handled, after the repost's fan-out read the followers and
// before it wrote: the repost is taken back.
func TestRepostOriginalDeletedDuringFanout(t *testing.T) {
	ctx := context.Background()
	w, orig := repostWorld(t)
	r, err := w.svc.Repost(ctx, "a", orig.ID)
	must(t, err)
	racing := *w.fanout
	racing.Graph = &racingGraph{Graph: w.store, hook: func() {
		must(t, w.svc.DeletePost(ctx, "p", orig.ID))
		for _, ev := range w.bus.Pending() {
			if ev.Type == app.PostDeleted {
				must(t, w.fanout.Handle(ctx, ev))
			}
		}
	}}
	for _, ev := range w.bus.Pending() {
		if ev.Type == app.PostCreated && ev.Post != nil && ev.Post.ID == r.ID {
			must(t, racing.Handle(ctx, ev))
		}
	}
	for _, u := range []string{"f1", "f2"} {
		if ids := w.feeds.IDs(u); slices.Contains(ids, r.ID) {
			t.Errorf("%s's feed %v holds the repost of a post deleted during its fan-out", u, ids)
		}
	}
}
