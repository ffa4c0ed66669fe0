package app

import (
	"context"
	"time"
)

// Ports of the consumer roles besides fanout. Each role owns its sink; none
// of them is on the post path.

// Notification tells a user that someone mentioned or followed them.
type Notification struct {
	// ID orders a user's notifications and makes them idempotent: it is
	// derived from the event (the post ID for a mention), so a redelivered
	// event rewrites the same notification.
	ID        ID        `json:"id,string"`
	User      string    `json:"-"`
	Kind      string    `json:"kind"` // NotifyMention, NotifyFollow, NotifyLike or NotifyReply
	Actor     string    `json:"actor"`
	Post      ID        `json:"post_id,string,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	Read      bool      `json:"read"`
}

// Notification kinds.
const (
	NotifyMention = "mention"
	NotifyFollow  = "follow"
)

// NotificationStore keeps users' notifications.
type NotificationStore interface {
	// AddNotification stores n; storing the same (User, ID) again is harmless.
	// A notification about a post (Post set) is also found by its post, for
	// RemovePostNotifications.
	AddNotification(ctx context.Context, n Notification) error
	// RemovePostNotifications removes every notification about post (the
	// mentions in it), for every user; repeating it is harmless. It works
	// from the store's own record of them: a post.deleted event does not
	// carry the text to recompute who was mentioned.
	RemovePostNotifications(ctx context.Context, post ID) error
	// Notifications returns up to limit of user's notifications with ID <
	// before (0: from the newest), newest first, with Read set.
	Notifications(ctx context.Context, user string, before ID, limit int) ([]Notification, error)
	// MarkRead marks every notification of user up to and including upTo read.
	MarkRead(ctx context.Context, user string, upTo ID) error
}

// TagCount is a hashtag and how often it was used.
type TagCount struct {
	Tag   string `json:"tag"`
	Count int64  `json:"count"`
}

// HourCount is a count for the hour starting at Hour.
type HourCount struct {
	Hour  time.Time `json:"hour"`
	Count int64     `json:"count"`
}

// Analytics keeps activity counters, bucketed by the post's time so a
// replay lands in the same buckets.
type Analytics interface {
	// RecordPost counts post (its author and its distinct tags) in the
	// bucket of at, once however often it is called, and not at all once
	// RemovePost removed it: a replayed post.created after the post.deleted
	// counts nothing.
	RecordPost(ctx context.Context, post ID, author string, tags []string, at time.Time) error
	// RemovePost takes back exactly what RecordPost counted for post (at is
	// the same time), once however often it is called, and keeps post from
	// being counted afterwards.
	RemovePost(ctx context.Context, post ID, at time.Time) error
	// TopTags returns the most used hashtags in [from, to), most used first.
	TopTags(ctx context.Context, from, to time.Time, limit int) ([]TagCount, error)
	// AuthorHourly returns the author's posts per hour in [from, to).
	AuthorHourly(ctx context.Context, author string, from, to time.Time) ([]HourCount, error)
}

// SearchIndex maps folded terms (see Terms) to posts.
type SearchIndex interface {
	// Index adds post id under each term; repeating it is harmless.
	Index(ctx context.Context, id ID, terms []string) error
	// Unindex removes post id from the index.
	Unindex(ctx context.Context, id ID) error
	// Search returns up to limit post IDs below before (0: newest) that
	// have every term, newest first.
	Search(ctx context.Context, terms []string, before ID, limit int) ([]ID, error)
}

// Decision is a moderation verdict on a post.
type Decision struct {
	Post      ID        `json:"post_id,string"`
	Author    string    `json:"author"`
	Rule      string    `json:"rule"`
	Detail    string    `json:"detail"`
	DecidedAt time.Time `json:"decided_at"`
}

// ModerationLog records moderation decisions for operators.
type ModerationLog interface {
	// RecordDecision stores d; one decision per post, repeats are harmless.
	RecordDecision(ctx context.Context, d Decision) error
	// Decisions returns up to limit decisions on posts with ID < before (0:
	// newest), newest first.
	Decisions(ctx context.Context, before ID, limit int) ([]Decision, error)
}
