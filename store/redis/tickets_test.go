package redis_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/feedsvc/feedsvc/app"
	redisstore "github.com/feedsvc/feedsvc/store/redis"
)

// TestStreamTickets: a ticket is its user's once; a second take, or an
// unknown ticket, is not found.
func TestStreamTickets(t *testing.T) {
	ctx := context.Background()
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			tickets := redisstore.NewTickets(open(t))
			ticket := uniqueUser(t) + "_ticket"
			must(t, tickets.PutTicket(ctx, ticket, "alice", time.Minute))
			user, err := tickets.TakeTicket(ctx, ticket)
			if err != nil || user != "alice" {
				t.Fatalf("take: %q, %v; want alice", user, err)
			}
			if _, err := tickets.TakeTicket(ctx, ticket); !errors.Is(err, app.ErrNotFound) {
				t.Fatalf("a second take: %v, want ErrNotFound", err)
			}
			if _, err := tickets.TakeTicket(ctx, ticket+"_unknown"); !errors.Is(err, app.ErrNotFound) {
				t.Fatalf("an unknown ticket: %v, want ErrNotFound", err)
			}
		})
	}
}

// TestStreamTicketExpires: a ticket not taken within its ttl is gone.
func TestStreamTicketExpires(t *testing.T) {
	ctx := context.Background()
	m := miniredis.RunT(t)
	tickets := redisstore.NewTickets(dial(t, m.Addr(), true))
	must(t, tickets.PutTicket(ctx, "t1", "alice", time.Minute))
	m.FastForward(time.Minute + time.Second)
	if _, err := tickets.TakeTicket(ctx, "t1"); !errors.Is(err, app.ErrNotFound) {
		t.Fatalf("an expired ticket: %v, want ErrNotFound", err)
	}
}
