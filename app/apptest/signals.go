package apptest

import (
	"context"
	"sync"

	"github.com/feedsvc/feedsvc/app"
)

// FeedSignals is an in-memory app.FeedSignals with the api's Watch: every
// watcher gets every signal sent while it watches. Sent lists what was
// sent, for tests of the senders.
type FeedSignals struct {
	mu       sync.Mutex
	watchers map[int]func([]string)
	next     int
	sent     [][]string
}

var _ app.FeedSignals = (*FeedSignals)(nil)

// Signal implements app.FeedSignals.
func (s *FeedSignals) Signal(_ context.Context, users []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent = append(s.sent, append([]string(nil), users...))
	for _, fn := range s.watchers {
		fn(users)
	}
	return nil
}

// Watch calls fn with every signal until ctx ends.
func (s *FeedSignals) Watch(ctx context.Context, fn func([]string)) error {
	s.mu.Lock()
	if s.watchers == nil {
		s.watchers = map[int]func([]string){}
	}
	id := s.next
	s.next++
	s.watchers[id] = fn
	s.mu.Unlock()
	<-ctx.Done()
	s.mu.Lock()
	delete(s.watchers, id)
	s.mu.Unlock()
	return nil
}

// Sent returns the signals sent so far.
func (s *FeedSignals) Sent() [][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]string(nil), s.sent...)
}

// Watching is how many Watch calls are watching.
func (s *FeedSignals) Watching() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.watchers)
}
