package app

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Notifier turns events into notifications: a mention (@user) in a new post
// notifies each mentioned user that exists, a reply notifies the parent's
// author (reply.go), a new follower notifies the followee; nothing notifies across a block (either way), and a mention
// does not notify a user who mutes its author. Notification
// IDs come from the event, so redelivery and replay
// rewrite the same rows instead of adding duplicates.
//
// A deleted or moderated post takes its mentions back (post.deleted,
// post.moderated), and a post.created whose post is deleted or moderated
// by the time it is handled (a replay, a re-driven dead letter) notifies
// nobody, so a mention never points to a post its reader cannot see.
type Notifier struct {
	Graph         Graph
	Notifications NotificationStore
	// Posts is read for posts that mention someone, to skip deleted and
	// moderated ones.
	Posts PostStore
	// PendingWindow is how long a post.created whose post is not visible
	// yet (and not recorded deleted) is retried (0: DefaultPendingWindow).
	PendingWindow time.Duration
	// Now is the clock the window is measured with, and mutes' expiries
	// (nil: time.Now).
	Now func() time.Time
	// Signals, when set, wake the feed streams of the users notified, so
	// their unread count shows at once (nil: on the streams' slow poll).
	Signals FeedSignals
	Log     *slog.Logger
	// Likes, when set, is read for the first like of a liker and post,
	// which a post.liked notifies (nil: likes notify nobody).
	Likes Likes
	// Reposts, when set, is read for the first repost of a reposter and
	// post, which keys a repost's notification (nil: reposts notify
	// nobody).
	Reposts Reposts
}

func (n *Notifier) now() time.Time {
	if n.Now != nil {
		return n.Now()
	}
	return time.Now()
}

// signal wakes user's feed streams after a notification; a failed signal
// only delays the unread count until the streams' slow poll.
func (n *Notifier) signal(ctx context.Context, user string) {
	if n.Signals == nil {
		return
	}
	if err := n.Signals.Signal(ctx, []string{user}); err != nil && n.Log != nil {
		n.Log.Debug("notification signal not sent", "user", user, "err", err)
	}
}

// MaxMentionsNotified caps the users one post notifies: the first this
// many it mentions (its author aside), so a post cannot page everyone.
const MaxMentionsNotified = 20

// Handle implements Handler.
func (n *Notifier) Handle(ctx context.Context, ev Event) error {
	switch {
	case ev.Type == PostCreated && ev.Post != nil:
		reply := ev.Post.IsReply() && ev.Post.InReplyToAuthor != ev.Post.Author
		repost := ev.Post.IsRepost() && ev.Post.RepostOfAuthor != ev.Post.Author && n.Reposts != nil
		if !reply && !repost && !slices.ContainsFunc(Mentions(ev.Post.Text), func(u string) bool { return u != ev.Post.Author }) {
			return nil // nobody to notify: no need to read the post
		}
		p, ok, err := newPostLookup(n.Posts, n.PendingWindow, n.Now, n.Log).get(ctx, ev)
		if err != nil || !ok || p.Moderated != "" {
			return err
		}
		// A mention across a block, or of a user who mutes the author,
		// notifies nobody: one read of the author's hidden set per post.
		// An expired mute is ignored (the muter's reads expire it).
		hidden, _, err := ReadHiddenSet(ctx, n.Graph, p.Author, MutingUser, n.now())
		if err != nil {
			return fmt.Errorf("notify mentions of post %s: %w", p.ID, err)
		}
		if err := n.notifyReply(ctx, p, hidden); err != nil {
			return err
		}
		if p.IsRepost() {
			return n.notifyRepost(ctx, p, hidden)
		}
		notified := 0
		for _, user := range Mentions(p.Text) {
			// The parent's author is notified of the reply, under the
			// same ID: not of a mention in it too.
			if user == p.Author || hidden.Has(user) || (p.IsReply() && user == p.InReplyToAuthor) {
				continue
			}
			if notified == MaxMentionsNotified {
				break // the rest of a mass mention notifies nobody
			}
			ok, err := n.Graph.UserExists(ctx, user)
			if err != nil {
				return fmt.Errorf("notify mention of %s: %w", user, err)
			}
			if !ok {
				continue
			}
			err = n.Notifications.AddNotification(ctx, Notification{
				ID: p.ID, User: user, Kind: NotifyMention, Actor: p.Author, Post: p.ID, CreatedAt: p.CreatedAt,
			})
			if err != nil {
				return fmt.Errorf("notify mention of %s: %w", user, err)
			}
			n.signal(ctx, user)
			notified++
		}
	case (ev.Type == PostDeleted || ev.Type == PostModerated) && ev.Post != nil:
		if err := n.Notifications.RemovePostNotifications(ctx, ev.Post.ID); err != nil {
			return fmt.Errorf("remove notifications of post %s: %w", ev.Post.ID, err)
		}
	case ev.Type == UserFollowed && ev.Follow != nil:
		id, ok := eventSeq(ev)
		if !ok {
			return nil // not one of ours: nothing to key it by
		}
		// A follow that raced a block (the api undoes it) notifies nobody.
		blocked, err := blockedEither(ctx, n.Graph, ev.Follow.Follower, ev.Follow.Followee)
		if err != nil {
			return fmt.Errorf("notify follow of %s: %w", ev.Follow.Followee, err)
		}
		if blocked {
			return nil
		}
		err = n.Notifications.AddNotification(ctx, Notification{
			ID: id, User: ev.Follow.Followee, Kind: NotifyFollow, Actor: ev.Follow.Follower, CreatedAt: ev.Time.UTC(),
		})
		if err != nil {
			return fmt.Errorf("notify follow of %s: %w", ev.Follow.Followee, err)
		}
		n.signal(ctx, ev.Follow.Followee)
	case ev.Type == PostLiked && ev.Like != nil:
		return n.notifyLike(ctx, *ev.Like)
	}
	return nil
}

// eventSeq is the ID part of an event ID ("type:ID").
func eventSeq(ev Event) (ID, bool) {
	_, s, ok := strings.Cut(ev.ID, ":")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return ID(n), err == nil && n > 0
}

// Notifications pages through user's notifications, newest first.
func (s *Service) Notifications(ctx context.Context, user, cursor string, limit int) ([]Notification, string, error) {
	before, err := parseCursor(cursor)
	if err != nil {
		return nil, "", err
	}
	ns, err := s.Notes.Notifications(ctx, user, before, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("notifications: %w", err)
	}
	ns, next := cutPage(ns, limit, func(n Notification) ID { return n.ID })
	if len(ns) > 0 {
		// Those made before a block or a mute (a mention, a follow) stay
		// stored but are not shown while it holds: one read of the
		// reader's hidden set.
		hidden, err := s.readHidden(ctx, user)
		if err != nil {
			return nil, "", fmt.Errorf("notifications: %w", err)
		}
		ns = slices.DeleteFunc(ns, func(n Notification) bool { return hidden.Has(n.Actor) })
	}
	return ns, next, nil
}

// NotifiedPosts returns the posts ns name that user may see (one batch
// read): a notification shows what it is about, and says nothing of a post
// deleted or moderated since.
func (s *Service) NotifiedPosts(ctx context.Context, user string, ns []Notification) (map[ID]Post, error) {
	var ids []ID
	for _, n := range ns {
		if n.Post != 0 {
			ids = append(ids, n.Post)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	posts, err := s.Posts.GetPosts(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("notified posts: %w", err)
	}
	maps.DeleteFunc(posts, func(_ ID, p Post) bool { return !p.VisibleTo(user) })
	return posts, nil
}

// MarkNotificationsRead marks user's notifications up to upTo read (0: all
// there are now).
func (s *Service) MarkNotificationsRead(ctx context.Context, user string, upTo ID) error {
	if upTo == 0 {
		var err error
		if upTo, err = s.IDs.Next(); err != nil {
			return fmt.Errorf("mark notifications read: %w", err)
		}
	}
	if err := s.Notes.MarkRead(ctx, user, upTo); err != nil {
		return fmt.Errorf("mark notifications read: %w", err)
	}
	return nil
}
