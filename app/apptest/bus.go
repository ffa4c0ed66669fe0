package apptest

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/feedsvc/feedsvc/app"
)

// ErrBusDown is what Bus.Publish returns while the bus is down.
var ErrBusDown = errors.New("broker unreachable")

// Bus is an app.Publisher that queues published events until Drain hands
// them to a consumer; SetDown makes it fail.
type Bus struct {
	mu   sync.Mutex
	evs  []app.Event
	down bool
}

var _ app.Publisher = (*Bus)(nil)

// Publish implements app.Publisher.
func (b *Bus) Publish(_ context.Context, ev app.Event) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.down {
		return ErrBusDown
	}
	b.evs = append(b.evs, ev)
	return nil
}

// SetDown makes Publish fail (down) or succeed again.
func (b *Bus) SetDown(down bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.down = down
}

// Pending returns the events published and not drained yet, oldest first.
func (b *Bus) Pending() []app.Event {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.evs)
}

// Drain hands every pending event to h, oldest first, like a consumer group
// would, and fails t on the first error.
func (b *Bus) Drain(t testing.TB, h app.Handler) {
	t.Helper()
	b.mu.Lock()
	evs := b.evs
	b.evs = nil
	b.mu.Unlock()
	for _, ev := range evs {
		if err := h.Handle(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
}
