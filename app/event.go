package app

import "time"

// Event types. The names are the CloudEvents "type" attribute on the wire.
const (
	PostCreated    = "post.created"
	PostDeleted    = "post.deleted"
	PostModerated  = "post.moderated"
	UserFollowed   = "user.followed"
	UserUnfollowed = "user.unfollowed"
	UserBlocked    = "user.blocked"
	UserUnblocked  = "user.unblocked"
	UserMuted      = "user.muted"
	UserUnmuted    = "user.unmuted"
	PostLiked      = "post.liked"
	PostUnliked    = "post.unliked"
)

// Event is a domain event. Posts events carry Post, follow events carry
// Follow, block events carry Block, mute events carry Mute.
type Event struct {
	// ID is unique per event (the CloudEvents id); consumers may dedupe by it.
	ID   string
	Type string
	Time time.Time
	// Post is set for post.* events (for post.deleted only ID and Author matter).
	Post *Post `json:",omitempty"`
	// Follow is set for user.followed / user.unfollowed.
	Follow *Follow `json:",omitempty"`
	// Block is set for user.blocked / user.unblocked.
	Block *Block `json:",omitempty"`
	// Mute is set for user.muted / user.unmuted.
	Mute *Mute `json:",omitempty"`
	// Like is set for post.liked / post.unliked.
	Like *Like `json:",omitempty"`
	// TraceParent and TraceState are the W3C trace context of the request
	// that caused the event (empty: none), kept with it in the outbox and
	// sent as the CloudEvents distributed-tracing extension, so that the
	// consumers' spans join that request's trace (see WithTrace).
	TraceParent string `json:",omitempty"`
	TraceState  string `json:",omitempty"`
	// Resent marks an event the relay publishes again only to keep its
	// key's order (it went out once, after an earlier event of its key
	// that failed): consumers handle it again rather than skip it as a
	// copy. Set on the way to the log, never stored.
	Resent bool `json:"-"`
}

// Follow is a follower -> followee edge.
type Follow struct {
	Follower string `json:"follower"`
	Followee string `json:"followee"`
}

// Block is a blocker -> blocked edge: neither sees the other's posts, and
// neither may follow the other.
type Block struct {
	Blocker string `json:"blocker"`
	Blocked string `json:"blocked"`
}

// Mute is a muter -> muted edge: the muter's feed holds none of the
// muted user's posts, and the muted user's mentions do not notify the
// muter, until ExpiresAt (zero: until unmuted). The follow, if any, stays.
//
// On user.unmuted, ExpiresAt is set when the unmute is the expiry of a
// mute (the first read that met it expired; see Service.expireMutes).
type Mute struct {
	Muter     string    `json:"muter"`
	Muted     string    `json:"muted"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// Active reports whether the mute holds at now: it has no expiry, or it
// expires after now. Every filter ignores a mute that is not active.
func (m Mute) Active(now time.Time) bool {
	return m.ExpiresAt.IsZero() || now.Before(m.ExpiresAt)
}

// Key is the partition key: the author for post events (keeps per-author
// order), the follower for follow events, the blocker for block events,
// the muter for mute events (so a muter's follows and mutes keep their
// order), the liker for like events.
func (e Event) Key() string {
	switch {
	case e.Post != nil:
		return e.Post.Author
	case e.Follow != nil:
		return e.Follow.Follower
	case e.Block != nil:
		return e.Block.Blocker
	case e.Mute != nil:
		return e.Mute.Muter
	case e.Like != nil:
		return e.Like.User
	}
	return ""
}
