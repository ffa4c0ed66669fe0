package app_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/feedsvc/feedsvc/app"
)

// listWorld is a world whose Service keeps lists (and reposts, so that
// list timelines render them).
func listWorld(users ...string) *world {
	w := newWorld(users...)
	w.svc.Lists = w.store
	w.svc.Reposts = w.store
	w.fanout.Lists = w.store
	w.fanout.Reposts = w.store
	return w
}

// listFeed reads owner's whole list timeline in pages of limit, newest
// first.
func listFeed(t *testing.T, w *world, owner string, id app.ID, limit int) []app.Post {
	t.Helper()
	var got []app.Post
	cursor := ""
	for range 1000 {
		page, err := w.svc.ReadListFeed(context.Background(), owner, id, cursor, limit)
		must(t, err)
		got = append(got, page.Items...)
		if page.NextCursor == "" {
			return got
		}
		cursor = page.NextCursor
	}
	t.Fatal("the list timeline never ended")
	return nil
}

func postIDs(ps []app.Post) []app.ID {
	out := make([]app.ID, len(ps))
	for i, p := range ps {
		out[i] = p.ID
	}
	return out
}

func TestValidateListName(t *testing.T) {
	for _, c := range []struct {
		in, want string
		ok       bool
	}{
		{"friends", "friends", true},
		{"  spaced out \t", "spaced out", true},
		{strings.Repeat("é", 100), strings.Repeat("é", 100), true},
		{" " + strings.Repeat("x", 100) + " ", strings.Repeat("x", 100), true},
		{strings.Repeat("x", 101), "", false},
		{"", "", false},
		{"   ", "", false},
		{"two\nlines", "", false},
		{"bell\a", "", false},
		{"bad \xff utf-8", "", false},
	} {
		got, err := app.ValidateListName(c.in)
		if c.ok && (err != nil || got != c.want) {
			t.Errorf("ValidateListName(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
		if !c.ok && !errors.Is(err, app.ErrInvalid) {
			t.Errorf("ValidateListName(%q) = %q, %v; want ErrInvalid", c.in, got, err)
		}
	}
}

// TestListCaps: past MaxLists lists and MaxListMembers members a write is
// ErrLimit and changes nothing; adding a member already there passes at
// the cap; a bad name changes nothing.
func TestListCaps(t *testing.T) {
	ctx := context.Background()
	w := listWorld("owner")
	var first app.List
	for i := range app.MaxLists {
		l, err := w.svc.CreateList(ctx, "owner", fmt.Sprintf("list %d", i))
		must(t, err)
		if i == 0 {
			first = l
		}
	}
	if _, err := w.svc.CreateList(ctx, "owner", "one too many"); !errors.Is(err, app.ErrLimit) {
		t.Fatalf("list %d: %v, want ErrLimit", app.MaxLists+1, err)
	}
	if _, err := w.svc.CreateList(ctx, "owner", "  "); !errors.Is(err, app.ErrInvalid) {
		t.Fatalf("a blank name: %v, want ErrInvalid", err)
	}
	if _, err := w.svc.RenameList(ctx, "owner", first.ID, strings.Repeat("x", 101)); !errors.Is(err, app.ErrInvalid) {
		t.Fatalf("a long name: %v, want ErrInvalid", err)
	}
	ls, err := w.svc.OwnerLists(ctx, "owner")
	must(t, err)
	if len(ls) != app.MaxLists || ls[0].ID != first.ID || ls[0].Name != "list 0" {
		t.Fatalf("owner has %d lists, the first %+v; want %d, the first unchanged", len(ls), ls[0], app.MaxLists)
	}

	for i := range app.MaxListMembers {
		u := fmt.Sprintf("m%d", i)
		must(t, w.store.EnsureUser(ctx, u))
		must(t, w.svc.AddListMember(ctx, "owner", first.ID, u))
	}
	must(t, w.store.EnsureUser(ctx, "late"))
	if err := w.svc.AddListMember(ctx, "owner", first.ID, "late"); !errors.Is(err, app.ErrLimit) {
		t.Fatalf("member %d: %v, want ErrLimit", app.MaxListMembers+1, err)
	}
	must(t, w.svc.AddListMember(ctx, "owner", first.ID, "m7")) // there already
	if n, _ := w.store.CountListMembers(ctx, "owner", first.ID); n != app.MaxListMembers {
		t.Fatalf("the list has %d members, want %d", n, app.MaxListMembers)
	}
	must(t, w.svc.RemoveListMember(ctx, "owner", first.ID, "m7"))
	must(t, w.svc.AddListMember(ctx, "owner", first.ID, "late"))
}

// TestListOwnership: only the owner sees or changes a list; anyone else
// gets ErrNotFound, as for a list that does not exist, and changes
// nothing.
func TestListOwnership(t *testing.T) {
	ctx := context.Background()
	w := listWorld("owner", "eve", "m")
	l, err := w.svc.CreateList(ctx, "owner", "mine")
	must(t, err)
	must(t, w.svc.AddListMember(ctx, "owner", l.ID, "m"))
	for name, call := range map[string]func() error{
		"get":    func() error { _, err := w.svc.GetList(ctx, "eve", l.ID); return err },
		"rename": func() error { _, err := w.svc.RenameList(ctx, "eve", l.ID, "hers"); return err },
		"delete": func() error { return w.svc.DeleteList(ctx, "eve", l.ID) },
		"add":    func() error { return w.svc.AddListMember(ctx, "eve", l.ID, "eve") },
		"remove": func() error { return w.svc.RemoveListMember(ctx, "eve", l.ID, "m") },
		"members": func() error {
			_, _, err := w.svc.ListMembers(ctx, "eve", l.ID, "", 10)
			return err
		},
		"feed": func() error { _, err := w.svc.ReadListFeed(ctx, "eve", l.ID, "", 10); return err },
	} {
		if err := call(); !errors.Is(err, app.ErrNotFound) {
			t.Errorf("%s as another user: %v, want ErrNotFound", name, err)
		}
	}
	if ls, err := w.svc.OwnerLists(ctx, "eve"); err != nil || len(ls) != 0 {
		t.Fatalf("eve's lists: %v %v, want none", ls, err)
	}
	got, err := w.svc.GetList(ctx, "owner", l.ID)
	must(t, err)
	members, _, err := w.svc.ListMembers(ctx, "owner", l.ID, "", 10)
	must(t, err)
	if got.Name != "mine" || !slices.Equal(members, []string{"m"}) {
		t.Fatalf("after eve's calls: %+v with %v, want it unchanged", got, members)
	}
	if err := w.svc.AddListMember(ctx, "owner", l.ID, "nobody"); !errors.Is(err, app.ErrNotFound) {
		t.Fatalf("adding an unknown user: %v, want ErrNotFound", err)
	}
	must(t, w.svc.DeleteList(ctx, "owner", l.ID))
	if _, err := w.svc.GetList(ctx, "owner", l.ID); !errors.Is(err, app.ErrNotFound) {
		t.Fatalf("a deleted list: %v, want ErrNotFound", err)
	}
}

// TestListFeedMergesMembersAcrossPages: a list timeline is its members'
// posts only, newest first, every page size giving the same sequence
// (the cursor cuts every member's posts at one place), without deleted
// or moderated posts.
func TestListFeedMergesMembersAcrossPages(t *testing.T) {
	ctx := context.Background()
	w := listWorld("owner", "a", "b", "c", "x")
	l, err := w.svc.CreateList(ctx, "owner", "abc")
	must(t, err)
	for _, m := range []string{"a", "b", "c"} {
		must(t, w.svc.AddListMember(ctx, "owner", l.ID, m))
	}
	var want []app.ID
	var gone, hidden app.Post
	for i := range 7 {
		for _, author := range []string{"a", "x", "b", "a", "c"} {
			p, err := w.svc.CreatePost(ctx, author, fmt.Sprintf("%s %d", author, i), "")
			must(t, err)
			switch {
			case author == "x":
				continue // not a member
			case i == 2 && author == "b":
				gone = p
				continue
			case i == 4 && author == "c":
				hidden = p
				continue
			}
			want = append(want, p.ID)
		}
	}
	slices.Reverse(want)
	must(t, w.svc.DeletePost(ctx, "b", gone.ID))
	must(t, w.store.HidePost(ctx, hidden, "spam"))
	for _, limit := range []int{1, 2, 3, 5, 100} {
		if got := postIDs(listFeed(t, w, "owner", l.ID, limit)); !slices.Equal(got, want) {
			t.Fatalf("pages of %d: %v\nwant %v", limit, got, want)
		}
	}
	// A moderated post is in no stored feed, as in home feeds: not in a
	// list of its author's own either.
	mine, err := w.svc.CreateList(ctx, "c", "me")
	must(t, err)
	must(t, w.svc.AddListMember(ctx, "c", mine.ID, "c"))
	if got := postIDs(listFeed(t, w, "c", mine.ID, 100)); len(got) != 6 || slices.Contains(got, hidden.ID) {
		t.Fatalf("c's own list %v: want its 6 posts without the moderated one", got)
	}
	// An empty list, and a list taken off a member, read empty.
	must(t, w.svc.RemoveListMember(ctx, "c", mine.ID, "c"))
	if got := listFeed(t, w, "c", mine.ID, 10); len(got) != 0 {
		t.Fatalf("an empty list reads %v", postIDs(got))
	}
}

// TestListFeedHides: the owner's hidden set (a block either way, its
// mutes) hides a member's posts without taking the member off the list;
// adding across a block is ErrForbidden; the reply rule holds; a member's
// repost renders as the original.
func TestListFeedHides(t *testing.T) {
	ctx := context.Background()
	w := listWorld("owner", "a", "b", "c", "d", "x")
	l, err := w.svc.CreateList(ctx, "owner", "all")
	must(t, err)
	for _, m := range []string{"a", "b", "c", "d"} {
		must(t, w.svc.AddListMember(ctx, "owner", l.ID, m))
	}
	post := func(author, text string) app.Post {
		p, err := w.svc.CreatePost(ctx, author, text, "")
		must(t, err)
		return p
	}
	pa, pb, pc, pd := post("a", "a"), post("b", "b"), post("c", "c"), post("d", "d")
	px := post("x", "by a non-member")
	reply, err := w.svc.CreateReply(ctx, "a", "to x", "", px.ID)
	must(t, err)
	self, err := w.svc.CreateReply(ctx, "a", "to myself", "", pa.ID)
	must(t, err)
	repost, err := w.svc.Repost(ctx, "d", px.ID)
	must(t, err)

	must(t, w.svc.Block(ctx, "owner", "b")) // the owner blocks b
	must(t, w.svc.Block(ctx, "c", "owner")) // c blocks the owner
	must(t, w.svc.Mute(ctx, "owner", "d", 0))
	w.bus.Drain(t, w.fanout)
	// b and c: hidden by blocks; d: muted (its post and repost); the reply
	// to x: x is not followed.
	got := listFeed(t, w, "owner", l.ID, 2)
	if ids := postIDs(got); !slices.Equal(ids, []app.ID{self.ID, pa.ID}) {
		t.Fatalf("list timeline %v, want a's reply to itself then a's post %v", ids, []app.ID{self.ID, pa.ID})
	}
	members, _, err := w.svc.ListMembers(ctx, "owner", l.ID, "", 10)
	must(t, err)
	if !slices.Equal(members, []string{"a", "b", "c", "d"}) {
		t.Fatalf("members %v: a block or mute took one off the list", members)
	}
	for _, m := range []string{"b", "c"} {
		if err := w.svc.AddListMember(ctx, "owner", l.ID, m); !errors.Is(err, app.ErrForbidden) {
			t.Fatalf("adding %s across a block: %v, want ErrForbidden", m, err)
		}
	}

	// Lifting them brings their posts back into the stored list feed (the
	// unblock's and unmute's merges); d's repost shows as x's post,
	// reposted by d. a's reply to x was fanned out before the owner
	// followed x, and stays out, as in a home feed; a reply after the
	// follow goes in.
	must(t, w.svc.Unblock(ctx, "owner", "b"))
	must(t, w.svc.Unblock(ctx, "c", "owner"))
	must(t, w.svc.Unmute(ctx, "owner", "d"))
	must(t, w.svc.Follow(ctx, "owner", "x"))
	reply2, err := w.svc.CreateReply(ctx, "a", "to x, again", "", px.ID)
	must(t, err)
	w.bus.Drain(t, w.fanout)
	got = listFeed(t, w, "owner", l.ID, 3)
	want := []app.ID{reply2.ID, px.ID, self.ID, pd.ID, pc.ID, pb.ID, pa.ID}
	if ids := postIDs(got); !slices.Equal(ids, want) {
		t.Fatalf("list timeline %v, want %v (reply %v stays out)", ids, want, reply.ID)
	}
	stored, _, err := w.feeds.Page(ctx, app.ListFeed(l.ID), 0, 100)
	must(t, err)
	if want := []app.ID{reply2.ID, repost.ID, self.ID, pd.ID, pc.ID, pb.ID, pa.ID}; !slices.Equal(stored, want) {
		t.Fatalf("stored list feed %v, want %v", stored, want)
	}
	if got[1].RepostedBy != "d" || got[1].RepostID != repost.ID {
		t.Fatalf("the repost renders as %+v, want x's post reposted by d", got[1])
	}
}
