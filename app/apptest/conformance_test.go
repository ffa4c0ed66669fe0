package apptest_test

import (
	"testing"
	"time"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/app/apptest"
	"github.com/feedsvc/feedsvc/store/redistest"
	"github.com/feedsvc/feedsvc/store/storetest"
)

// fakeStore is the fakes that stand for one store adapter: the Store and
// the NodeLeases (Pebble and Cassandra keep both).
type fakeStore struct {
	*apptest.Store
	*apptest.NodeLeases
}

// TestStoreConformance runs the store adapters' suite against the fakes, so
// a unit test on them describes behaviour the adapters have.
func TestStoreConformance(t *testing.T) {
	storetest.Run(t, "fake", fakeStore{apptest.NewStore(), apptest.NewNodeLeases()}, storetest.Options{})
}

// TestFeedConformance runs the Redis feed cache's suite against Feeds.
func TestFeedConformance(t *testing.T) {
	t.Run("fake", func(t *testing.T) {
		redistest.RunFeeds(t, redistest.FeedBackend{
			New: func(t *testing.T, capacity int) redistest.Feeds { return apptest.NewCappedFeeds(capacity) },
		})
	})
}

// TestAnalyticsConformance runs the Redis analytics suite against
// Analytics.
func TestAnalyticsConformance(t *testing.T) {
	t.Run("fake", func(t *testing.T) {
		redistest.RunAnalytics(t, redistest.AnalyticsBackend{Analytics: apptest.NewAnalytics()})
	})
}

// TestSearchConformance runs the Redis search index's suite against Search.
func TestSearchConformance(t *testing.T) {
	t.Run("fake", func(t *testing.T) {
		redistest.RunSearch(t, redistest.SearchBackend{
			New: func(t *testing.T, capPerTerm int, retention time.Duration) app.SearchIndex {
				return apptest.NewBoundedSearch(capPerTerm, retention)
			},
			HasTermList: func(x app.SearchIndex, id app.ID) (bool, error) {
				_, ok := x.(*apptest.Search).Docs()[id]
				return ok, nil
			},
		})
	})
}
