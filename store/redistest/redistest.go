// Package redistest holds the conformance suites of the ports the Redis
// adapter keeps (feeds and recent unfollows, analytics, search): the same
// cases, run against miniredis, a real Redis, a Redis Cluster and the
// in-memory fakes of app/apptest. A backend runs a suite inside its own
// subtest (TestFeedConformance/<backend>), so it can add cases of its own
// next to the shared ones.
package redistest

import (
	"crypto/rand"
	"encoding/hex"
	"testing"

	"github.com/feedsvc/feedsvc/app"
)

// uniqueUser isolates tests sharing one real server.
func uniqueUser(t *testing.T) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "t" + hex.EncodeToString(b)
}

func ids(ns ...int) []app.ID {
	out := make([]app.ID, len(ns))
	for i, n := range ns {
		out[i] = app.ID(n)
	}
	return out
}

func entries(user string, ns ...int) []app.FeedEntry {
	var out []app.FeedEntry
	for _, id := range ids(ns...) {
		out = append(out, app.FeedEntry{User: user, Post: id})
	}
	return out
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
