package pebble_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/feedsvc/feedsvc/store/pebble"
	"github.com/feedsvc/feedsvc/store/storetest"
)

func TestStoreConformance(t *testing.T) {
	storetest.Run(t, "pebble", func(t *testing.T) storetest.Store {
		s, err := pebble.Open(context.Background(), pebble.Config{Dir: t.TempDir()}, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}, storetest.Options{})
}
