package apptest

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/feedsvc/feedsvc/app"
)

// Tickets is an in-memory app.StreamTickets. Advance moves its clock, so a
// test can let a ticket expire without waiting.
type Tickets struct {
	mu      sync.Mutex
	now     time.Time
	tickets map[string]ticket
}

type ticket struct {
	user    string
	expires time.Time
}

var _ app.StreamTickets = (*Tickets)(nil)

// NewTickets returns Tickets holding none.
func NewTickets() *Tickets { return &Tickets{now: time.Now(), tickets: map[string]ticket{}} }

// Advance moves the clock of the tickets' expiry by d.
func (t *Tickets) Advance(d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.now = t.now.Add(d)
}

// PutTicket implements app.StreamTickets.
func (t *Tickets) PutTicket(_ context.Context, id, user string, ttl time.Duration) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.tickets[id] = ticket{user: user, expires: t.now.Add(ttl)}
	return nil
}

// TakeTicket implements app.StreamTickets.
func (t *Tickets) TakeTicket(_ context.Context, id string) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	tk, ok := t.tickets[id]
	delete(t.tickets, id)
	if !ok || !t.now.Before(tk.expires) {
		return "", fmt.Errorf("stream ticket: %w", app.ErrNotFound)
	}
	return tk.user, nil
}
