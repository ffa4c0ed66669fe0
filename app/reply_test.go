package app_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/feedsvc/feedsvc/app"
)

// replyWorld: "a" posts replies to "p"'s post. a's followers: "both"
// (follows p too), "only" and "only2" (follow a alone) and p itself; with
// the world's page size of 2 they come in two pages. Every feed is cached.
func replyWorld(t *testing.T) (*world, app.Post) {
	t.Helper()
	ctx := context.Background()
	w := newWorld("a", "p", "both", "only", "only2")
	w.svc.Replies = w.store
	for _, u := range []string{"both", "only", "only2", "p"} {
		w.read(t, u)
		must(t, w.svc.Follow(ctx, u, "a"))
	}
	must(t, w.svc.Follow(ctx, "both", "p"))
	w.bus.Drain(t, w.fanout)
	parent, err := w.svc.CreatePost(ctx, "p", "a question", "")
	must(t, err)
	w.bus.Drain(t, w.fanout)
	return w, parent
}

// TestReplyFanoutRule: a reply reaches the followers who also follow the
// parent's author, and the parent's author; fan-out asks which do once
// per page of followers, for a batch of posts too. A reply to oneself
// reaches every follower without asking.
func TestReplyFanoutRule(t *testing.T) {
	ctx := context.Background()
	w, parent := replyWorld(t)
	before := w.store.FollowersAmongReads()
	reply, err := w.svc.CreateReply(ctx, "a", "an answer", "", parent.ID)
	must(t, err)
	if reply.InReplyTo != parent.ID || reply.InReplyToAuthor != "p" {
		t.Fatalf("reply %+v, want its parent %s by p", reply, parent.ID)
	}
	w.bus.Drain(t, w.fanout)
	if reads := w.store.FollowersAmongReads() - before; reads != 2 {
		t.Fatalf("fan-out asked FollowersAmong %d times for 2 pages of followers, want 2", reads)
	}
	for user, want := range map[string]bool{"both": true, "p": true, "only": false, "only2": false} {
		if got := slices.Contains(w.feeds.IDs(user), reply.ID); got != want {
			t.Errorf("%s's feed has the reply: %v, want %v", user, got, want)
		}
	}

	// A thread: a's reply to its own post reaches every follower, with
	// no membership read.
	own, err := w.svc.CreatePost(ctx, "a", "a thread", "")
	must(t, err)
	w.bus.Drain(t, w.fanout)
	before = w.store.FollowersAmongReads()
	next, err := w.svc.CreateReply(ctx, "a", "and more", "", own.ID)
	must(t, err)
	w.bus.Drain(t, w.fanout)
	if reads := w.store.FollowersAmongReads() - before; reads != 0 {
		t.Fatalf("a reply to oneself asked FollowersAmong %d times, want 0", reads)
	}
	for _, u := range []string{"both", "only", "only2", "p"} {
		if !slices.Contains(w.feeds.IDs(u), next.ID) {
			t.Errorf("%s's feed lacks the thread's reply", u)
		}
	}

	// A batch of a's posts (two replies to p, a plain post) asks once per
	// page of followers, not once per post.
	var evs []app.Event
	var replies []app.ID
	for i := range 3 {
		var p app.Post
		if i < 2 {
			p, err = w.svc.CreateReply(ctx, "a", "batched", "", parent.ID)
			replies = append(replies, p.ID)
		} else {
			p, err = w.svc.CreatePost(ctx, "a", "plain", "")
		}
		must(t, err)
	}
	for _, ev := range w.bus.Pending() {
		if ev.Type == app.PostCreated && ev.Post.Author == "a" {
			evs = append(evs, ev)
		}
	}
	before = w.store.FollowersAmongReads()
	must(t, w.fanout.HandleBatch(ctx, evs[len(evs)-3:]))
	if reads := w.store.FollowersAmongReads() - before; reads != 2 {
		t.Fatalf("a batch asked FollowersAmong %d times, want 2 (one per page)", reads)
	}
	for _, id := range replies {
		if slices.Contains(w.feeds.IDs("only"), id) || !slices.Contains(w.feeds.IDs("both"), id) {
			t.Fatalf("batched reply %s: only %v, both %v", id, w.feeds.IDs("only"), w.feeds.IDs("both"))
		}
	}
}

// TestReplyRuleOnRebuildMergeAndRead: a rebuilt feed, a follow's merge
// and a feed read (which the celebrity merge goes through) apply the
// same rule.
func TestReplyRuleOnRebuildMergeAndRead(t *testing.T) {
	ctx := context.Background()
	w, parent := replyWorld(t)
	reply, err := w.svc.CreateReply(ctx, "a", "an answer", "", parent.ID)
	must(t, err)
	w.bus.Drain(t, w.fanout)

	// Rebuilds: no read beyond the followees.
	for user, want := range map[string]bool{"both": true, "only": false, "p": true} {
		w.feeds.Evict(user)
		before := w.store.FolloweesAmongReads()
		got := w.read(t, user)
		if has := slices.Contains(w.feeds.IDs(user), reply.ID); has != want || slices.Contains(got, reply.ID) != want {
			t.Errorf("%s's rebuilt feed has the reply: %v (read %v), want %v", user, has, got, want)
		}
		if user == "only" && w.store.FolloweesAmongReads() != before {
			t.Errorf("a rebuild and read of a feed without the reply asked FolloweesAmong")
		}
	}

	// Merges: a new follower of a gets the reply only if it follows p.
	must(t, w.store.EnsureUser(ctx, "late"))
	must(t, w.store.EnsureUser(ctx, "fan"))
	w.read(t, "late")
	w.read(t, "fan")
	must(t, w.svc.Follow(ctx, "fan", "p"))
	w.bus.Drain(t, w.fanout)
	before := w.store.FolloweesAmongReads()
	must(t, w.svc.Follow(ctx, "late", "a"))
	must(t, w.svc.Follow(ctx, "fan", "a"))
	w.bus.Drain(t, w.fanout)
	if reads := w.store.FolloweesAmongReads() - before; reads != 2 {
		t.Fatalf("two merges asked FolloweesAmong %d times, want 2", reads)
	}
	if slices.Contains(w.feeds.IDs("late"), reply.ID) || !slices.Contains(w.feeds.IDs("fan"), reply.ID) {
		t.Fatalf("merged feeds: late %v (want no reply), fan %v (want it)", w.feeds.IDs("late"), w.feeds.IDs("fan"))
	}

	// A read drops a reply that reached a feed by another way (a
	// celebrity's timeline, an unfollow of p since): one read per page.
	must(t, w.feeds.Add(ctx, []app.FeedEntry{{User: "only", Post: reply.ID}}))
	before = w.store.FolloweesAmongReads()
	page, err := w.svc.ReadFeed(ctx, "only", "", 20)
	must(t, err)
	if slices.ContainsFunc(page.Items, func(p app.Post) bool { return p.ID == reply.ID }) {
		t.Fatal("a read showed a reply to a user the reader does not follow")
	}
	if reads := w.store.FolloweesAmongReads() - before; reads != 1 {
		t.Fatalf("a feed page asked FolloweesAmong %d times, want 1", reads)
	}
	must(t, w.svc.Unfollow(ctx, "both", "p"))
	w.bus.Drain(t, w.fanout)
	if got := w.read(t, "both"); slices.Contains(got, reply.ID) {
		t.Fatalf("both unfollowed p, its feed still shows the reply: %v", got)
	}
}

// TestReplyRuleOnCelebrityMerge: a celebrity's reply, merged on read,
// shows only to the readers who follow the parent's author.
func TestReplyRuleOnCelebrityMerge(t *testing.T) {
	ctx := context.Background()
	w := hybridWorld(t) // star has f1, f2, f3; threshold 2
	w.svc.Replies = w.store
	must(t, w.svc.Follow(ctx, "f1", "small"))
	w.bus.Drain(t, w.fanout)
	first, err := w.svc.CreatePost(ctx, "star", "crossing the threshold", "")
	must(t, err)
	w.bus.Drain(t, w.fanout)
	parent, err := w.svc.CreatePost(ctx, "small", "hello star", "")
	must(t, err)
	w.bus.Drain(t, w.fanout)
	reply, err := w.svc.CreateReply(ctx, "star", "hello small", "", parent.ID)
	must(t, err)
	w.bus.Drain(t, w.fanout)
	for _, f := range []string{"f1", "f2"} {
		if slices.Contains(w.feeds.IDs(f), reply.ID) {
			t.Fatalf("the celebrity's reply was fanned out to %s", f)
		}
	}
	if got := w.read(t, "f1"); !slices.Contains(got, reply.ID) || !slices.Contains(got, first.ID) {
		t.Fatalf("f1 (follows small) reads %v, want the reply", got)
	}
	if got := w.read(t, "f2"); slices.Contains(got, reply.ID) || !slices.Contains(got, first.ID) {
		t.Fatalf("f2 (does not follow small) reads %v, want star's post without the reply", got)
	}
}

// TestReplyNotifies: the parent's author is notified once, under
// redelivery, and not for a reply to itself, from a user it mutes, or
// across a block; a mention of it in the reply is not notified twice; the
// reply's deletion takes the notification back.
func TestReplyNotifies(t *testing.T) {
	ctx := context.Background()
	w, parent := replyWorld(t)
	n := &app.Notifier{Graph: w.store, Notifications: w.store, Posts: w.store}
	replies := func(user string) []app.Notification {
		t.Helper()
		ns, err := w.store.Notifications(ctx, user, 0, 100)
		must(t, err)
		return slices.DeleteFunc(ns, func(n app.Notification) bool { return n.Kind == app.NotifyMention && n.Actor == "a" })
	}
	reply, err := w.svc.CreateReply(ctx, "a", "an answer for @p", "", parent.ID)
	must(t, err)
	_, err = w.svc.CreateReply(ctx, "p", "adding to it", "", parent.ID) // to oneself: nobody
	must(t, err)
	deliverAll(t, w, []app.Handler{n}, 3)
	got := replies("p")
	if len(got) != 1 || got[0].Kind != app.NotifyReply || got[0].Actor != "a" || got[0].Post != reply.ID || got[0].ID != reply.ID {
		t.Fatalf("p's notifications %+v, want one reply notification of %s by a", got, reply.ID)
	}
	must(t, w.svc.DeletePost(ctx, "a", reply.ID))
	deliverAll(t, w, []app.Handler{n}, 1)
	if got := replies("p"); len(got) != 0 {
		t.Fatalf("after the reply's deletion p has %+v", got)
	}

	// Muted, then blocked: nothing.
	must(t, w.svc.Mute(ctx, "p", "only", 0))
	muted, err := w.svc.CreateReply(ctx, "only", "muted answer", "", parent.ID)
	must(t, err)
	must(t, w.svc.Block(ctx, "p", "only2"))
	if _, err := w.svc.CreateReply(ctx, "only2", "blocked", "", parent.ID); !errors.Is(err, app.ErrForbidden) {
		t.Fatalf("a reply across a block: %v, want ErrForbidden", err)
	}
	deliverAll(t, w, []app.Handler{n}, 1)
	if got := replies("p"); len(got) != 0 {
		t.Fatalf("p has %+v after a muted user's reply (%s), want none", got, muted.ID)
	}
}

// TestReplyCountsExact: the count is the live replies, however often every
// consumer handles the events; a deleted or moderated reply leaves it; a
// deleted parent leaves its replies standing.
func TestReplyCountsExact(t *testing.T) {
	ctx := context.Background()
	w, _, all := likeWorld("a", "b", "c")
	w.svc.Replies = w.store
	parent, err := w.svc.CreatePost(ctx, "a", "the parent", "")
	must(t, err)
	var rs []app.Post
	for _, u := range []string{"b", "c", "a", "b"} {
		r, err := w.svc.CreateReply(ctx, u, "re", "", parent.ID)
		must(t, err)
		rs = append(rs, r)
	}
	count := func(want int64) {
		t.Helper()
		v, err := w.svc.ViewPosts(ctx, "c", []app.Post{parent})
		must(t, err)
		if v[0].ReplyCount != want {
			t.Fatalf("reply_count %d, want %d", v[0].ReplyCount, want)
		}
	}
	deliverAll(t, w, all, 3)
	count(4)
	must(t, w.svc.DeletePost(ctx, "b", rs[0].ID))
	must(t, w.store.HidePost(ctx, rs[1], "test-rule"))
	deliverAll(t, w, all, 2)
	count(2)
	got, _, err := w.svc.RepliesTo(ctx, "c", parent.ID, "", 10)
	must(t, err)
	if len(got) != 2 || got[0].ID != rs[2].ID || got[1].ID != rs[3].ID {
		t.Fatalf("replies %v, want %s, %s oldest first", got, rs[2].ID, rs[3].ID)
	}

	must(t, w.svc.DeletePost(ctx, "a", parent.ID))
	deliverAll(t, w, all, 1)
	for _, r := range rs[2:] {
		p, err := w.svc.GetPost(ctx, "c", r.ID)
		must(t, err)
		if p.InReplyTo != parent.ID {
			t.Fatalf("reply %+v lost its parent", p)
		}
	}
	if _, _, err := w.svc.RepliesTo(ctx, "c", parent.ID, "", 10); !errors.Is(err, app.ErrNotFound) {
		t.Fatalf("replies of a deleted post: %v, want ErrNotFound", err)
	}
	if _, err := w.svc.CreateReply(ctx, "b", "too late", "", parent.ID); !errors.Is(err, app.ErrNotFound) {
		t.Fatalf("a reply to a deleted post: %v, want ErrNotFound", err)
	}
}

// TestReplyRuleIgnoresFollowAcrossBlock: a follow stored across a block
// (its LWT's outcome unknown as the block read the graph) is never used:
// a reply to the blocker does not reach the blocked follower's feed read,
// nor a rebuild of it.
func TestReplyRuleIgnoresFollowAcrossBlock(t *testing.T) {
	ctx := context.Background()
	w, parent := replyWorld(t)
	// Straight into the store: "both" keeps its follow of p.
	_, err := w.store.Block(ctx, "p", "both")
	must(t, err)
	reply, err := w.svc.CreateReply(ctx, "a", "an answer", "", parent.ID)
	must(t, err)
	w.bus.Drain(t, w.fanout)
	for _, when := range []string{"read", "rebuilt"} {
		if when == "rebuilt" {
			must(t, w.feeds.Drop(ctx, "both"))
		}
		if slices.ContainsFunc(feedItems(t, w, "both"), func(p app.Post) bool { return p.ID == reply.ID }) {
			t.Errorf("%s: both's feed shows a's reply to p, who blocks both", when)
		}
	}
}
