package roles

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/feedsvc/feedsvc/app"
)

// Feed write operations, the op label of feedsvc_feed_writes_total.
const (
	FeedOpAdd      = "add"      // fan-out of a post, or a follow merging the followee's posts
	FeedOpRemove   = "remove"   // a deleted or moderated post, an unfollow, a gone post dropped
	FeedOpRebuild  = "rebuild"  // a missing feed (or timeline) filled from the store on read
	FeedOpTakeBack = "takeback" // posts of an unfollowed author taken back out (see app.Unfollows)
	FeedOpDrop     = "drop"     // a whole feed dropped: the next read rebuilds it
)

// CountFeedWrites returns c with its home feeds, timelines and take-backs
// counted in feedsvc_feed_writes_total, registered on reg. Every writer of
// the feeds in a process (fan-out, the api's rebuilds on read) goes
// through Caches, so this counts every write the process makes. A cache
// that is not set (a process without Redis) stays unset.
//
// The counter counts post IDs written into (add, rebuild) or taken out of
// (remove, takeback) one feed, as asked of Redis (an add to a feed nobody
// reads is skipped there), and whole feeds dropped (drop); a failed call
// counts nothing. feed is home (a user's feed) or timeline (a celebrity's
// recent posts, merged into feeds on read). The series of each feed and op
// start at 0.
func CountFeedWrites(c Caches, reg prometheus.Registerer) Caches {
	writes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "feedsvc_feed_writes_total",
		Help: "Feed writes: post IDs written into (op add, rebuild) or taken out of (remove, takeback) one home feed or celebrity timeline, and whole feeds dropped (drop), by feed (home, timeline) and op.",
	}, []string{"feed", "op"})
	reg.MustRegister(writes)
	if c.Feeds != nil {
		c.Feeds = countedFeeds{FeedCache: c.Feeds, writes: writes, feed: "home"}
		for _, op := range []string{FeedOpAdd, FeedOpRemove, FeedOpRebuild, FeedOpTakeBack, FeedOpDrop} {
			writes.WithLabelValues("home", op)
		}
	}
	if c.Unfollows != nil {
		c.Unfollows = countedUnfollows{Unfollows: c.Unfollows, writes: writes}
	}
	if c.Timelines != nil {
		c.Timelines = countedFeeds{FeedCache: c.Timelines, writes: writes, feed: "timeline"}
		for _, op := range []string{FeedOpAdd, FeedOpRemove, FeedOpRebuild} {
			writes.WithLabelValues("timeline", op)
		}
	}
	return c
}

// countedFeeds counts the writes of one FeedCache.
type countedFeeds struct {
	app.FeedCache
	writes *prometheus.CounterVec
	feed   string
}

func (f countedFeeds) count(op string, n int, err error) {
	if err == nil && n > 0 {
		f.writes.WithLabelValues(f.feed, op).Add(float64(n))
	}
}

func (f countedFeeds) Add(ctx context.Context, entries []app.FeedEntry) error {
	err := f.FeedCache.Add(ctx, entries)
	f.count(FeedOpAdd, len(entries), err)
	return err
}

func (f countedFeeds) Remove(ctx context.Context, entries []app.FeedEntry) error {
	err := f.FeedCache.Remove(ctx, entries)
	f.count(FeedOpRemove, len(entries), err)
	return err
}

func (f countedFeeds) Fill(ctx context.Context, user string, ids []app.ID) error {
	err := f.FeedCache.Fill(ctx, user, ids)
	f.count(FeedOpRebuild, len(ids), err)
	return err
}

func (f countedFeeds) Drop(ctx context.Context, user string) error {
	err := f.FeedCache.Drop(ctx, user)
	f.count(FeedOpDrop, 1, err)
	return err
}

// countedUnfollows counts the take-backs, which rewrite home feeds.
type countedUnfollows struct {
	app.Unfollows
	writes *prometheus.CounterVec
}

func (u countedUnfollows) RemoveUnfollowed(ctx context.Context, fl app.Follow, posts []app.ID) error {
	err := u.Unfollows.RemoveUnfollowed(ctx, fl, posts)
	if err == nil && len(posts) > 0 {
		u.writes.WithLabelValues("home", FeedOpTakeBack).Add(float64(len(posts)))
	}
	return err
}
