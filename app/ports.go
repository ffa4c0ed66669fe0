package app

import (
	"context"
	"time"
)

// PostStore keeps posts: by ID and by author (newest first).
type PostStore interface {
	// SavePost stores a post, adds it to its author's timeline and records
	// out in the outbox, all atomically (once any of it is visible, all of
	// it is or will be). Saving the same post again is harmless; a
	// different post under the same ID is refused (ErrIDConflict).
	SavePost(ctx context.Context, p Post, out ...OutboxRecord) error
	// GetPosts returns the posts found among ids; missing IDs are absent from
	// the map.
	GetPosts(ctx context.Context, ids []ID) (map[ID]Post, error)
	// DeletePost removes a post and its timeline entry and records the
	// deletion (see WasDeleted) and out, atomically. p is the post as
	// stored (its author, parent and original name the rows to remove) or
	// its ID alone, and then the store reads the rest. Deleting a missing
	// post is not an error.
	DeletePost(ctx context.Context, p Post, out ...OutboxRecord) error
	// WasDeleted reports whether DeletePost deleted post id. Consumers ask it
	// when GetPosts does not return the post of an event, to tell a deleted
	// post from one not visible yet (a lagging replica). A store keeps the
	// record at least as long as the event log keeps events.
	WasDeleted(ctx context.Context, id ID) (bool, error)
	// HidePost marks the stored post p (ID and Author, and InReplyTo for
	// a reply, which leaves its parent's replies) moderated by rule.
	// It never brings back a deleted post, whichever of the two lands
	// first; on a missing post it has no visible effect.
	HidePost(ctx context.Context, p Post, rule string) error
	// AuthorPosts returns up to limit posts of author with ID < before (0 means
	// no bound), newest first.
	AuthorPosts(ctx context.Context, author string, before ID, limit int) ([]Post, error)
}

// Graph keeps users and who follows whom.
type Graph interface {
	// EnsureUser records that user exists; repeated calls are harmless.
	EnsureUser(ctx context.Context, user string) error
	// UserExists reports whether user was ever recorded.
	UserExists(ctx context.Context, user string) (bool, error)
	// Follow records follower -> followee and reports whether it changed
	// anything: the edge is new, or an earlier call stopped halfway. out
	// is recorded in the outbox, atomically with the change, exactly when
	// it reports true, so an existing edge announces nothing again.
	Follow(ctx context.Context, follower, followee string, out ...OutboxRecord) (bool, error)
	// IsFollowing reports whether follower follows followee now.
	IsFollowing(ctx context.Context, follower, followee string) (bool, error)
	// Unfollow removes follower -> followee and reports whether it changed
	// anything, recording out exactly then, like Follow.
	Unfollow(ctx context.Context, follower, followee string, out ...OutboxRecord) (bool, error)
	// Followers pages through the users following user, in a stable order.
	// An empty cursor starts at the beginning; an empty next cursor means the end.
	Followers(ctx context.Context, user, cursor string, limit int) (users []string, next string, err error)
	// Following pages through the users that user follows.
	Following(ctx context.Context, user, cursor string, limit int) (users []string, next string, err error)
	// FollowersAmong returns those of users who follow followee now, in
	// any order: one batched membership read for a page of candidates
	// (fan-out's reply rule asks it once per page of an author's
	// followers), never one read per user.
	FollowersAmong(ctx context.Context, followee string, users []string) ([]string, error)
	// FolloweesAmong returns those of users whom follower follows now, in
	// any order, in one read (a feed page's or a merge's reply rule).
	FolloweesAmong(ctx context.Context, follower string, users []string) ([]string, error)

	// Block records blocker -> blocked and reports whether it changed
	// anything; out is recorded in the outbox, atomically with the change,
	// exactly when it reports true, like Follow. It touches no follow
	// edge: Service.Block ends those.
	Block(ctx context.Context, blocker, blocked string, out ...OutboxRecord) (bool, error)
	// Unblock removes blocker -> blocked, recording out exactly when it
	// changed anything, like Block.
	Unblock(ctx context.Context, blocker, blocked string, out ...OutboxRecord) (bool, error)
	// IsBlocked reports whether blocker blocks blocked now.
	IsBlocked(ctx context.Context, blocker, blocked string) (bool, error)
	// Blocking pages through the users user blocks, in name order; the
	// cursor is opaque, as for Followers.
	Blocking(ctx context.Context, user, cursor string, limit int) (users []string, next string, err error)
	// BlockedBy pages through the users who block user, in name order.
	BlockedBy(ctx context.Context, user, cursor string, limit int) (users []string, next string, err error)

	// Mute records m (muter -> muted until m.ExpiresAt, zero: until
	// unmuted), replacing a mute of the pair already there, and reports
	// whether it changed anything (a new mute, or another expiry); out is
	// recorded in the outbox, atomically with the change, exactly when it
	// reports true, like Block. Expiries are kept to the millisecond.
	Mute(ctx context.Context, m Mute, out ...OutboxRecord) (bool, error)
	// Unmute removes muter -> muted (expired or not), recording out
	// exactly when there was a mute to remove.
	Unmute(ctx context.Context, muter, muted string, out ...OutboxRecord) (bool, error)
	// ExpireMute removes m only if the pair's mute is still the one that
	// expires at m.ExpiresAt (a mute made again since stays), recording
	// out when it removes it; the relay needs not complete such a record
	// (an expired mute left behind is ignored, and expired again by the
	// next read that meets it).
	ExpireMute(ctx context.Context, m Mute, out ...OutboxRecord) (bool, error)
	// GetMute returns the mute muter -> muted, expired or not, and
	// whether there is one.
	GetMute(ctx context.Context, muter, muted string) (Mute, bool, error)
	// Muting pages through the mutes user made (expired ones too), in
	// name order of the muted; the cursor is opaque, as for Followers.
	Muting(ctx context.Context, user, cursor string, limit int) (mutes []Mute, next string, err error)
	// MutedBy pages through the mutes of user (expired ones too), in
	// name order of the muters.
	MutedBy(ctx context.Context, user, cursor string, limit int) (mutes []Mute, next string, err error)
}

// FeedEntry places one post in one user's home feed.
type FeedEntry struct {
	User string
	Post ID
}

// FeedCache holds home feeds: per user, a capped set of post IDs ordered by ID.
// It holds only data that can be rebuilt from the PostStore and Graph. The
// same interface caches celebrities' recent posts for hybrid fan-out, keyed
// by author.
//
// A feed is cached only while its owner reads it: one nobody read for a
// while may expire, and Add skips feeds that are not cached, so fan-out
// costs nothing for inactive users; their next read rebuilds the feed.
type FeedCache interface {
	// Add inserts entries (idempotently) into the feeds that are cached and
	// trims each touched feed to its cap; entries of absent feeds are dropped.
	Add(ctx context.Context, entries []FeedEntry) error
	// Remove deletes entries; missing ones are ignored.
	Remove(ctx context.Context, entries []FeedEntry) error
	// Page returns up to limit IDs of user's feed below before (0: from the
	// top), newest first, and whether the feed is complete (false when it was
	// never built, expired or was evicted: the caller must rebuild it).
	// Reading the first page keeps the feed cached.
	Page(ctx context.Context, user string, before ID, limit int) (ids []ID, complete bool, err error)
	// Prepare makes an absent feed present but incomplete before a rebuild
	// reads the store, so entries fan-out adds meanwhile are kept.
	Prepare(ctx context.Context, user string) error
	// Fill adds ids to user's feed and marks it complete.
	Fill(ctx context.Context, user string, ids []ID) error
	// Drop deletes user's cached feed: the next read rebuilds it.
	Drop(ctx context.Context, user string) error
}

// RebuildLocks keep one rebuild of a feed at a time across processes:
// readers of one missing feed on several api replicas wait for one rebuild
// instead of each reading the store for it.
type RebuildLocks interface {
	// TryLockRebuild takes the lock on user's feed rebuild for ttl, unless
	// another process holds it (false). release frees it if still held.
	TryLockRebuild(ctx context.Context, user string, ttl time.Duration) (release func(context.Context), ok bool, err error)
}

// Unfollows remembers recent unfollows next to the feeds, for an hour. It
// closes the race between an unfollow and a fan-out (or a feed rebuild)
// that read the graph just before it: the posts and follows topics are not
// ordered together, so such a write can land after the unfollow took the
// followee's posts out of the feed. The writer asks afterwards who
// unfollowed since it read the graph and takes its posts back out of those
// feeds, guarded by the record, so a follow again is never undone.
type Unfollows interface {
	// RecordUnfollow notes that f.Follower stopped following f.Followee; it
	// must happen before the followee's posts are taken out of the feed.
	RecordUnfollow(ctx context.Context, f Follow) error
	// ClearUnfollow forgets it (a follow again), before the posts go back in.
	ClearUnfollow(ctx context.Context, f Follow) error
	// RecentUnfollowers returns who stopped following author within the
	// last within (a hint: RemoveUnfollowed decides).
	RecentUnfollowers(ctx context.Context, author string, within time.Duration) ([]string, error)
	// RecentUnfollowees returns whom user stopped following within the last within.
	RecentUnfollowees(ctx context.Context, user string, within time.Duration) ([]string, error)
	// RemoveUnfollowed takes posts out of f.Follower's feed if the unfollow
	// of f is still recorded, in one step with that check.
	RemoveUnfollowed(ctx context.Context, f Follow, posts []ID) error
}

// CelebrityStatus is where an author stands in hybrid fan-out.
type CelebrityStatus int

// Celebrity statuses. An author becomes a celebrity on the first post after
// its follower count passed the threshold; it stays one.
const (
	// NotCelebrity: posts are fanned out on write.
	NotCelebrity CelebrityStatus = iota
	// CelebrityMarking: passed the threshold; its followers are being told
	// to merge its posts on read (a crash here redoes the marking).
	CelebrityMarking
	// Celebrity: posts go to its timeline only; readers merge them.
	Celebrity
)

// Celebrities keeps hybrid fan-out's state: which authors are merged into
// feeds on read, and which of them each user follows. The per-user lists
// live next to the cached feed and, like it, can be rebuilt from the Graph.
type Celebrities interface {
	// Statuses returns the status of each author, in order.
	Statuses(ctx context.Context, authors []string) ([]CelebrityStatus, error)
	// SetStatus records author's status.
	SetStatus(ctx context.Context, author string, s CelebrityStatus) error
	// AddFollows records that each Follower follows the celebrity Followee,
	// for followers whose feed is cached (others get it from a rebuild).
	AddFollows(ctx context.Context, follows []Follow) error
	// RemoveFollows forgets those follows.
	RemoveFollows(ctx context.Context, follows []Follow) error
	// Followed returns the celebrities user follows.
	Followed(ctx context.Context, user string) ([]string, error)
}

// Publisher publishes domain events durably: when Publish returns nil the
// event is safe in the log.
type Publisher interface {
	Publish(ctx context.Context, ev Event) error
}

// Handler reacts to events; consumer roles implement it. Handle must be
// idempotent: replays and redeliveries call it again with the same event.
type Handler interface {
	Handle(ctx context.Context, ev Event) error
}

// BatchHandler is a Handler that can also handle several events at once
// (a backlog of a lane's events, each key's in log order) for less than the cost of
// each alone. HandleBatch has Handle's effect on each event, in order; it
// succeeds or fails as a whole, and a failed batch is handled again (so
// idempotence covers it too).
type BatchHandler interface {
	Handler
	HandleBatch(ctx context.Context, evs []Event) error
}

// StreamTickets keep the short-lived, one-use tickets that open a feed
// stream: a browser's EventSource cannot send the bearer header, and a
// token in the URL would land in proxies' access logs. They live next to
// the feeds, so any api process takes a ticket another one issued.
type StreamTickets interface {
	// PutTicket keeps ticket for user for ttl.
	PutTicket(ctx context.Context, ticket, user string, ttl time.Duration) error
	// TakeTicket returns ticket's user and forgets the ticket; a ticket
	// unknown, expired or taken already is ErrNotFound.
	TakeTicket(ctx context.Context, ticket string) (string, error)
}

// FeedSignals tell the api processes whose feeds changed, so that an open
// feed stream reads its feed when it changed instead of polling it. A
// signal may be lost: streams still read on a slow timer, so a lost signal
// only delays an update.
type FeedSignals interface {
	// Signal says the feeds of users changed.
	Signal(ctx context.Context, users []string) error
}

// Replies indexes posts by the post they reply to (see reply.go). The
// store writes the index with the post (SavePost), and takes a reply out
// of it when the reply is deleted or moderated, so a count is the number
// of live replies, read from the rows, never a counter kept by events.
type Replies interface {
	// Replies returns up to limit IDs of the live replies to parent with
	// ID > after (0: from the first), oldest first.
	Replies(ctx context.Context, parent ID, after ID, limit int) ([]ID, error)
	// ReplyCounts returns how many live replies each of parents has: one
	// batched read for a page of posts. Posts without replies may be
	// absent from the map.
	ReplyCounts(ctx context.Context, parents []ID) (map[ID]int64, error)
}

// Likes keeps who likes which post (see like.go). A like is a user -> post
// edge, saved with its post.liked (or post.unliked) event like a block: the
// store's like rows are the one truth counts are read from, so a count is
// exact however often an event is delivered.
type Likes interface {
	// Like records that l.User likes l.Post and reports whether it
	// changed anything; out is recorded in the outbox, atomically with the
	// change, exactly when it reports true. l.ID (the ID of out's record)
	// orders the change against an unlike of the same pair, and the first
	// like of a pair keeps its ID for FirstLike.
	Like(ctx context.Context, l Like, out ...OutboxRecord) (bool, error)
	// Unlike removes l.User's like of l.Post, recording out exactly when
	// it changed anything, like Like.
	Unlike(ctx context.Context, l Like, out ...OutboxRecord) (bool, error)
	// LikeCounts returns, for each of posts, how many users like it and
	// whether reader does: one batched read for a page of posts. Posts
	// nobody likes may be absent from the map. An empty reader reads the
	// counts only.
	LikeCounts(ctx context.Context, reader string, posts []ID) (map[ID]LikeCount, error)
	// FirstLike returns the ID of user's first like of post (the one
	// notified) while user likes post now; false if it does not.
	FirstLike(ctx context.Context, user string, post ID) (ID, bool, error)
}

// Reposts indexes reposts by the post they repost and keeps the
// per-follow setting that hides a followee's reposts (see repost.go). The
// store writes a repost's index rows with the post (SavePost) and takes
// the live one out when the repost is deleted or moderated, so counts are
// read from rows, never kept by events.
type Reposts interface {
	// RepostBy returns the ID of user's live repost of original, if any.
	RepostBy(ctx context.Context, user string, original ID) (ID, bool, error)
	// FirstRepost returns the ID of user's first repost of original, kept
	// through unreposts (the notification's key); false if it never
	// reposted it.
	FirstRepost(ctx context.Context, user string, original ID) (ID, bool, error)
	// RepostsOf returns up to limit live reposts of original after the
	// repost after (zero: from the first), in (Reposter, ID) order. The
	// rows outlive the original's deletion, so that fan-out (and a replay
	// of the deletion) finds the reposts to take out of feeds.
	RepostsOf(ctx context.Context, original ID, after Repost, limit int) ([]Repost, error)
	// RepostCounts returns, for each of originals, how many live reposts
	// it has and whether reader reposted it: one batched read for a page
	// of posts. Posts nobody reposted may be absent from the map. An empty
	// reader reads the counts only.
	RepostCounts(ctx context.Context, reader string, originals []ID) (map[ID]RepostCount, error)
	// SetShowReposts records whether follower sees followee's reposts
	// (true, the default, removes the setting).
	SetShowReposts(ctx context.Context, follower, followee string, show bool) error
	// RepostsHiddenAmong returns those of followers who hide followee's
	// reposts: one batched read for a page of followers (fan-out).
	RepostsHiddenAmong(ctx context.Context, followee string, followers []string) ([]string, error)
	// RepostsHiddenFrom returns those of followees whose reposts follower
	// hides: one read for a page of a feed.
	RepostsHiddenFrom(ctx context.Context, follower string, followees []string) ([]string, error)
}

// Lists keeps users' lists of accounts (see list.go). Every call names the
// list's owner with its ID, and a list is stored under its owner: another
// user's ID names no list, so a list's existence never leaks. Writes are
// plain and idempotent (no outbox: the api merges membership changes into
// list feeds itself). An index of the lists each user is in (ListsOf)
// changes with the membership, atomically.
type Lists interface {
	// CreateList stores the new list l (l.Owner, l.ID, l.Name,
	// l.CreatedAt); saving it again is harmless.
	CreateList(ctx context.Context, l List) error
	// RenameList sets the name of owner's list id. A list that is gone
	// (deleted, maybe concurrently) stays gone: a rename never brings one
	// back.
	RenameList(ctx context.Context, owner string, id ID, name string) error
	// GetList returns owner's list id, and false when owner has none.
	GetList(ctx context.Context, owner string, id ID) (List, bool, error)
	// OwnerLists returns up to limit of owner's lists, oldest first. The
	// caps read it to count (an owner has at most MaxLists).
	OwnerLists(ctx context.Context, owner string, limit int) ([]List, error)
	// DeleteList removes owner's list id and its members; a missing list
	// is not an error.
	DeleteList(ctx context.Context, owner string, id ID) error
	// AddListMember adds member to owner's list id; adding one already
	// there is harmless. The caller checked that the list exists.
	AddListMember(ctx context.Context, owner string, id ID, member string) error
	// RemoveListMember removes member from owner's list id; removing one
	// not there is harmless.
	RemoveListMember(ctx context.Context, owner string, id ID, member string) error
	// ListMembers returns up to limit members of owner's list id whose
	// name sorts after after ("": from the first), in name order.
	ListMembers(ctx context.Context, owner string, id ID, after string, limit int) ([]string, error)
	// CountListMembers returns how many members owner's list id has (the
	// members' cap).
	CountListMembers(ctx context.Context, owner string, id ID) (int, error)
	// IsListMember reports whether member is in owner's list id.
	IsListMember(ctx context.Context, owner string, id ID, member string) (bool, error)
	// ListsOf returns up to limit of the lists member is in, ordered by
	// owner then ID, from the first after after (the zero ListRef: from
	// the first): the list feeds fan-out writes member's posts into.
	ListsOf(ctx context.Context, member string, after ListRef, limit int) ([]ListRef, error)
}
