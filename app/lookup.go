package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// DefaultPendingWindow is how long a consumer retries a post.created whose
// post the store neither returns nor records as deleted, when its handler
// sets no PendingWindow.
const DefaultPendingWindow = 2 * time.Minute

// ErrPostPending means the store neither returns the post of an event nor
// has a record of its deletion: a replica has not seen the write yet (a
// second data centre, a lagging node). The handler fails so the event is
// retried; it is not the event's fault.
var ErrPostPending = errors.New("post not visible in the store yet")

// postLookup reads the post a post.created event announces and tells
// "deleted" from "not visible yet". Deletion is a recorded fact
// (PostStore.WasDeleted), not an inference from absence; only a post
// missing for longer than the window without a record (say, deleted before
// deletions were recorded) counts as gone, with a warning.
type postLookup struct {
	posts  PostStore
	window time.Duration
	now    func() time.Time
	log    *slog.Logger
}

func newPostLookup(posts PostStore, window time.Duration, now func() time.Time, log *slog.Logger) postLookup {
	if window <= 0 {
		window = DefaultPendingWindow
	}
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return postLookup{posts: posts, window: window, now: now, log: log}
}

// get returns the stored post of ev (ok) or reports that it is gone (not
// ok, nil error: skip the event). It returns an error wrapping
// ErrPostPending while the post may still appear.
func (l postLookup) get(ctx context.Context, ev Event) (Post, bool, error) {
	ps, err := l.getAll(ctx, []Event{ev})
	if err != nil || len(ps) == 0 {
		return Post{}, false, err
	}
	return ps[0], true, nil
}

// getAll is get for several post.created events in one store read: the
// stored posts of those not gone, in the events' order.
func (l postLookup) getAll(ctx context.Context, evs []Event) ([]Post, error) {
	ids := make([]ID, len(evs))
	for i, ev := range evs {
		ids[i] = ev.Post.ID
	}
	found, err := l.posts.GetPosts(ctx, ids)
	if err != nil {
		if len(ids) == 1 {
			return nil, fmt.Errorf("look up post %s: %w", ids[0], err)
		}
		return nil, fmt.Errorf("look up %d posts: %w", len(ids), err)
	}
	ps := make([]Post, 0, len(evs))
	for _, ev := range evs {
		if p, ok := found[ev.Post.ID]; ok {
			ps = append(ps, p)
			continue
		}
		if err := l.absent(ctx, ev); err != nil {
			return nil, err
		}
	}
	return ps, nil
}

// absent tells, for an event whose post the store did not return, whether
// it is gone (nil) or may still appear (an error wrapping ErrPostPending).
func (l postLookup) absent(ctx context.Context, ev Event) error {
	id := ev.Post.ID
	deleted, err := l.posts.WasDeleted(ctx, id)
	if err != nil {
		return fmt.Errorf("look up deletion of post %s: %w", id, err)
	}
	if deleted {
		return nil
	}
	// The later of the post's and the event's time: an event published late
	// (by a relay after an outage) gets its whole window too.
	since := id.Time()
	if ev.Time.After(since) {
		since = ev.Time
	}
	if age := l.now().Sub(since); age < l.window {
		return fmt.Errorf("post %s, %s after its event: %w", id, age.Truncate(time.Millisecond), ErrPostPending)
	}
	l.log.Warn("post of an event is neither in the store nor recorded as deleted; skipping it as deleted",
		"post", id, "author", ev.Post.Author, "event", ev.ID, "window", l.window)
	return nil
}
