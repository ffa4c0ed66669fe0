package redis

import (
	"context"
	"slices"
	"testing"

	"github.com/alicebob/miniredis/v2"

	"github.com/feedsvc/feedsvc/app"
)

// TestRewriteRefusesAStaleReadOfAListThatEndsTheSame: a compaction that
// read the feed, then lost the race to another rewrite, must not write back
// its stale view even when appends since (redelivered events) left the
// same element at the same place. Its rewrite used to compare only that
// element, and dropped every entry the other writers had added.
func TestRewriteRefusesAStaleReadOfAListThatEndsTheSame(t *testing.T) {
	m := miniredis.RunT(t)
	c, err := Open(context.Background(), Config{Addrs: []string{m.Addr()}, Embedded: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	ctx := context.Background()
	f := NewFeeds(c, 8, 0)
	add := func(ids ...app.ID) {
		t.Helper()
		var es []app.FeedEntry
		for _, id := range ids {
			es = append(es, app.FeedEntry{User: "u", Post: id})
		}
		if err := f.Add(ctx, es); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Fill(ctx, "u", []app.ID{1, 2}); err != nil {
		t.Fatal(err)
	}
	add(3, 9) // [C 1 2 3 9]
	stale, err := f.read(ctx, "u", false)
	if err != nil {
		t.Fatal(err)
	}
	// 5 is appended, another writer removes 2 (its rewrite sorts: [C 1 3 5
	// 9]), and 9 is redelivered: the fifth element is 9 again, as in the
	// stale read.
	add(5)
	if err := f.Remove(ctx, []app.FeedEntry{{User: "u", Post: 2}}); err != nil {
		t.Fatal(err)
	}
	add(9) // [C 1 3 5 9 9]
	ok, err := rewriteScript.Exec(ctx, c, []string{f.key("u")}, f.rewriteArgs(stale.n, stale.sum, "0", "", stale.state, stale.floor, stale.visible)).AsInt64()
	if err != nil {
		t.Fatal(err)
	}
	if ok != 0 {
		t.Fatal("a rewrite from a stale read went through")
	}
	got, _, err := f.Page(ctx, "u", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if want := []app.ID{9, 5, 3, 1}; !slices.Equal(got, want) {
		t.Fatalf("feed = %v, want %v", got, want)
	}
}
