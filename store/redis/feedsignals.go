package redis

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/feedsvc/feedsvc/app"
)

// FeedSignals carry "these feeds changed" from fan-out to the api
// processes over one pub/sub channel (PUBLISH, which a Redis Cluster
// forwards to every node, and the embedded Redis supports; SPUBLISH would
// not reach the embedded one). A message is the users, comma-separated:
// one message per fan-out batch, not per user.
type FeedSignals struct {
	client  rueidis.Client
	channel string
	log     *slog.Logger
}

var _ app.FeedSignals = (*FeedSignals)(nil)

// signalRetry is how long Watch first waits before subscribing again
// after its subscription broke; it doubles up to signalRetryMax while
// Redis stays away, so an outage logs a line now and then, not each second.
const (
	signalRetry    = time.Second
	signalRetryMax = 30 * time.Second
)

// NewFeedSignals returns the signals of client's deployment (nil log:
// discarded).
func NewFeedSignals(client rueidis.Client, log *slog.Logger) *FeedSignals {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &FeedSignals{client: client, channel: KeysOf(client).FeedSignals(), log: log}
}

// Signal implements app.FeedSignals.
func (s *FeedSignals) Signal(ctx context.Context, users []string) error {
	if len(users) == 0 {
		return nil
	}
	cmd := s.client.B().Publish().Channel(s.channel).Message(strings.Join(users, ",")).Build()
	if err := s.client.Do(ctx, cmd).Error(); err != nil {
		return fmt.Errorf("publish feed signal: %w", err)
	}
	return nil
}

// Watch calls fn with the users of every signal until ctx ends,
// subscribing again (after signalRetry, then longer) whenever the
// subscription breaks;
// signals sent meanwhile are lost, which the streams' slow poll covers.
func (s *FeedSignals) Watch(ctx context.Context, fn func(users []string)) error {
	wait := signalRetry
	for {
		began := time.Now()
		// A connection of its own: on RESP2 (the embedded Redis) a
		// subscribed connection can send nothing else.
		conn, release := s.client.Dedicate()
		err := conn.Receive(ctx, conn.B().Subscribe().Channel(s.channel).Build(), func(m rueidis.PubSubMessage) {
			if m.Message != "" {
				fn(strings.Split(m.Message, ","))
			}
		})
		release()
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(began) > signalRetryMax {
			wait = signalRetry // it worked for a while: a new break
		}
		s.log.Warn("feed signals: the subscription broke; subscribing again (open streams poll slowly meanwhile)", "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		wait = min(2*wait, signalRetryMax)
	}
}
