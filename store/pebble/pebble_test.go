package pebble_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/feedsvc/feedsvc/store/pebble"
	"github.com/feedsvc/feedsvc/store/storetest"
)

func TestStoreConformance(t *testing.T) {
	s, err := pebble.Open(context.Background(), pebble.Config{Dir: t.TempDir()}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	// Runs once every case, the parallel ones included, has finished.
	t.Cleanup(func() { s.Close() })
	storetest.Run(t, "pebble", s, storetest.Options{})
}
