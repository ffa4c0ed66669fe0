package redis

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/rueidis"

	"github.com/feedsvc/feedsvc/app"
)

// Tickets are the feed streams' one-use tickets (app.StreamTickets): one
// key per ticket with its expiry, taken with GETDEL so that a ticket
// opens one stream only, whichever api process serves it.
type Tickets struct {
	client rueidis.Client
	keys   Keys
}

var _ app.StreamTickets = (*Tickets)(nil)

// NewTickets returns the tickets kept in client.
func NewTickets(client rueidis.Client) *Tickets {
	return &Tickets{client: client, keys: KeysOf(client)}
}

// PutTicket implements app.StreamTickets.
func (t *Tickets) PutTicket(ctx context.Context, ticket, user string, ttl time.Duration) error {
	cmd := t.client.B().Set().Key(t.keys.StreamTicket(ticket)).Value(user).Px(ttl).Build()
	if err := t.client.Do(ctx, cmd).Error(); err != nil {
		return fmt.Errorf("keep stream ticket: %w", err)
	}
	return nil
}

// TakeTicket implements app.StreamTickets.
func (t *Tickets) TakeTicket(ctx context.Context, ticket string) (string, error) {
	user, err := t.client.Do(ctx, t.client.B().Getdel().Key(t.keys.StreamTicket(ticket)).Build()).ToString()
	if rueidis.IsRedisNil(err) {
		return "", fmt.Errorf("stream ticket: %w (unknown, expired or used)", app.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("take stream ticket: %w", err)
	}
	return user, nil
}
