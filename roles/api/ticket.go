package api

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/feedsvc/feedsvc/app"
)

// TicketPath is the route that hands out a feed stream's ticket.
const TicketPath = StreamPath + "/ticket"

// Ticket settings.
const (
	// TicketTTL is how long a ticket may wait to be used: the page opens
	// its stream right after asking, and a ticket leaked from a log line
	// is worthless soon after.
	TicketTTL = 60 * time.Second
	// ticketBytes of randomness: a ticket cannot be guessed.
	ticketBytes = 32
)

// ticketLen is the length of a ticket's text (unpadded base64url).
var ticketLen = base64.RawURLEncoding.EncodedLen(ticketBytes)

// streamTicket is the answer of POST /v1/feed/stream/ticket.
type streamTicket struct {
	// Ticket opens one feed stream of the caller: GET
	// /v1/feed/stream?ticket=...
	Ticket string `json:"ticket"`
	// ExpiresIn is how many seconds the ticket stays valid.
	ExpiresIn int `json:"expires_in"`
}

// streamTicket hands the caller a one-use ticket for the feed stream.
func (h *handlers) streamTicket(c echo.Context) error {
	b := make([]byte, ticketBytes)
	if _, err := rand.Read(b); err != nil {
		return fmt.Errorf("make stream ticket: %w", err)
	}
	ticket := base64.RawURLEncoding.EncodeToString(b)
	if err := h.tickets.PutTicket(c.Request().Context(), ticket, caller(c), TicketTTL); err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return c.JSON(http.StatusCreated, streamTicket{Ticket: ticket, ExpiresIn: int(TicketTTL / time.Second)})
}

// takeTicket returns the user of ticket and spends it. Text that is not a
// ticket (a bearer token, say) is refused without asking the store.
func (h *handlers) takeTicket(ctx context.Context, ticket string) (string, error) {
	if len(ticket) != ticketLen {
		return "", fmt.Errorf("%w: not a stream ticket (get one from POST %s)", app.ErrInvalid, TicketPath)
	}
	if _, err := base64.RawURLEncoding.DecodeString(ticket); err != nil {
		return "", fmt.Errorf("%w: not a stream ticket (get one from POST %s)", app.ErrInvalid, TicketPath)
	}
	user, err := h.tickets.TakeTicket(ctx, ticket)
	if errors.Is(err, app.ErrNotFound) {
		return "", fmt.Errorf("%w: stream ticket unknown, expired or used already; get a new one from POST %s", app.ErrNotFound, TicketPath)
	}
	if err != nil {
		return "", err
	}
	return user, nil
}
