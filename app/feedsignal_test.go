package app_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/app/apptest"
)

// failingFeeds fails every write.
type failingFeeds struct{ app.FeedCache }

func (failingFeeds) Add(context.Context, []app.FeedEntry) error { return errors.New("down") }

// TestSignalingFeeds: each write that succeeded signals the distinct
// owners of the feeds it changed, in one signal; a failed write signals
// nothing and returns its error.
func TestSignalingFeeds(t *testing.T) {
	ctx := context.Background()
	sig := &apptest.FeedSignals{}
	feeds := app.SignalingFeeds(apptest.NewFeeds(), sig, nil)
	if err := feeds.Add(ctx, []app.FeedEntry{{User: "bob", Post: 1}, {User: "carol", Post: 1}, {User: "bob", Post: 2}}); err != nil {
		t.Fatal(err)
	}
	if err := feeds.Remove(ctx, []app.FeedEntry{{User: "carol", Post: 1}}); err != nil {
		t.Fatal(err)
	}
	if err := feeds.Fill(ctx, "dave", []app.ID{3}); err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"bob", "carol"}, {"carol"}, {"dave"}}
	if got := sig.Sent(); !slices.EqualFunc(got, want, slices.Equal[[]string]) {
		t.Fatalf("signals %q, want %q", got, want)
	}

	failing := app.SignalingFeeds(failingFeeds{}, sig, nil)
	if err := failing.Add(ctx, []app.FeedEntry{{User: "erin", Post: 1}}); err == nil {
		t.Fatal("a failed write returned no error")
	}
	if got := sig.Sent(); len(got) != len(want) {
		t.Fatalf("a failed write signalled: %q", got[len(want):])
	}
}
