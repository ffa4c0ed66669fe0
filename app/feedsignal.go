package app

import (
	"context"
	"log/slog"
)

// SignalingFeeds returns feeds that, after each change that succeeded,
// signal the owners of the feeds changed (fan-out's writes wake the feed
// streams of those users). A failed signal is logged and not returned:
// the write is done, and streams read on a slow timer anyway.
func SignalingFeeds(feeds FeedCache, signals FeedSignals, log *slog.Logger) FeedCache {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &signalingFeeds{FeedCache: feeds, signals: signals, log: log}
}

type signalingFeeds struct {
	FeedCache
	signals FeedSignals
	log     *slog.Logger
}

func (f *signalingFeeds) Add(ctx context.Context, entries []FeedEntry) error {
	if err := f.FeedCache.Add(ctx, entries); err != nil {
		return err
	}
	f.signal(ctx, entries)
	return nil
}

func (f *signalingFeeds) Remove(ctx context.Context, entries []FeedEntry) error {
	if err := f.FeedCache.Remove(ctx, entries); err != nil {
		return err
	}
	f.signal(ctx, entries)
	return nil
}

func (f *signalingFeeds) Fill(ctx context.Context, user string, ids []ID) error {
	if err := f.FeedCache.Fill(ctx, user, ids); err != nil {
		return err
	}
	f.signal(ctx, []FeedEntry{{User: user}})
	return nil
}

// signal sends the distinct owners of entries, in one signal.
func (f *signalingFeeds) signal(ctx context.Context, entries []FeedEntry) {
	if len(entries) == 0 {
		return
	}
	seen := make(map[string]struct{}, len(entries))
	users := make([]string, 0, len(entries))
	for _, e := range entries {
		if _, ok := seen[e.User]; !ok {
			seen[e.User] = struct{}{}
			users = append(users, e.User)
		}
	}
	if err := f.signals.Signal(ctx, users); err != nil {
		f.log.Debug("feed signal not sent; open streams see the change on their slow poll", "users", len(users), "err", err)
	}
}
