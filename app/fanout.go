package app

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// Fanout keeps home feeds up to date from events: it writes each new post ID
// into the feeds of the author's followers, removes deleted posts, and merges
// or removes a followee's posts when a follow starts or ends. Every step is
// idempotent (set insert/remove), so redelivery and replay are harmless.
//
// The lists an author is in get its posts too, with the list's owner as
// the reader (listfeed.go).
//
// Hybrid fan-out: an author with more than CelebrityThreshold followers
// becomes a celebrity. Its posts then go to its own cached timeline only
// (O(1) writes per post), and each follower's feed read merges the
// timelines of the celebrities it follows (Service.ReadFeed).
type Fanout struct {
	Posts PostStore
	Graph Graph
	Feeds FeedCache
	// Unfollows closes the race of a post fanned out from a follower list
	// read just before an unfollow (see Unfollows).
	Unfollows Unfollows
	// Timelines caches celebrities' recent posts, keyed by author.
	Timelines   FeedCache
	Celebrities Celebrities
	// Reposts finds the reposts of a deleted or moderated post and the
	// followers hiding an author's reposts (nil: no repost index; reposts
	// go to every follower and stay when their original goes).
	Reposts Reposts
	// Lists finds the lists an author is in, whose feeds get its posts
	// (nil: no list feeds).
	Lists Lists
	// ListFeeds drops the list feeds when Redis lost writes (StoreLost;
	// nil: they are kept).
	ListFeeds ListFeedsReset
	// CelebrityThreshold is the follower count above which an author is a
	// celebrity (0: every author is fanned out on write).
	CelebrityThreshold int
	// FeedCap is the feed length; a follow merges at most this many posts.
	FeedCap int
	// PageSize is how many followers are read, and feed writes pipelined, at once.
	PageSize int
	// PendingWindow is how long a post.created whose post is not visible
	// yet (and not recorded deleted) is retried (0: DefaultPendingWindow).
	PendingWindow time.Duration
	// Now is the clock the window is measured with, and mutes' expiries
	// (nil: time.Now).
	Now func() time.Time
	Log *slog.Logger
	// Quiet, when not nil, remembers the authors whose hidden set was
	// read empty lately, so their posts skip that read (see quietFor).
	Quiet *QuietAuthors
}

var _ BatchHandler = (*Fanout)(nil)

// quietFor is how long fan-out trusts that an author's hidden set, read
// empty, still is: most authors block and are muted by nobody, and
// reading it for each of their posts was three of fan-out's five store
// reads per post. A block or mute made meanwhile is closed as one made
// after a fresh read is: takeBack's window starts at the read (see
// postCreated), and the block's or mute's own event takes the author's
// posts out. A set that is not empty is read for every batch, so an
// unblock or unmute is never missed.
const quietFor = 10 * time.Second

// QuietAuthors remembers when each author's hidden set was last read
// empty, for one fan-out process (NewQuietAuthors). It is bounded by
// forgetting everything at maxQuiet authors; nil remembers nothing.
type QuietAuthors struct {
	mu sync.Mutex
	at map[string]time.Time
}

// NewQuietAuthors makes an empty QuietAuthors.
func NewQuietAuthors() *QuietAuthors { return &QuietAuthors{at: map[string]time.Time{}} }

const maxQuiet = 100_000

// since is when author's hidden set was read empty, if within quietFor of now.
func (q *QuietAuthors) since(author string, now time.Time) (time.Time, bool) {
	if q == nil {
		return time.Time{}, false
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	at, ok := q.at[author]
	if !ok || now.Sub(at) >= quietFor {
		return time.Time{}, false
	}
	return at, true
}

// note records that author's hidden set, read from at on, was empty.
func (q *QuietAuthors) note(author string, at time.Time) {
	if q == nil {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.at) >= maxQuiet {
		q.at = map[string]time.Time{}
	}
	q.at[author] = at
}

// forget drops what is remembered of users (a block or mute names them).
func (q *QuietAuthors) forget(users ...string) {
	if q == nil {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, u := range users {
		delete(q.at, u)
	}
}

// Handle implements Handler.
func (f *Fanout) Handle(ctx context.Context, ev Event) error {
	switch {
	case ev.Type == PostCreated && ev.Post != nil:
		return f.postsCreated(ctx, []Event{ev})
	case (ev.Type == PostDeleted || ev.Type == PostModerated) && ev.Post != nil:
		return f.postRemoved(ctx, ev.Post)
	case ev.Type == UserFollowed && ev.Follow != nil:
		return f.onFollowChange(ctx, *ev.Follow, true)
	case ev.Type == UserUnfollowed && ev.Follow != nil:
		return f.onFollowChange(ctx, *ev.Follow, false)
	case ev.Type == UserBlocked && ev.Block != nil:
		return f.onBlock(ctx, *ev.Block)
	case ev.Type == UserUnblocked && ev.Block != nil:
		return f.onUnblock(ctx, *ev.Block)
	case ev.Type == UserMuted && ev.Mute != nil:
		return f.onMute(ctx, *ev.Mute)
	case ev.Type == UserUnmuted && ev.Mute != nil:
		return f.onUnmute(ctx, *ev.Mute)
	}
	return nil // not ours: other consumers' event types are skipped
}

// HandleBatch implements BatchHandler. Events of different keys are
// independent (Runner lanes reorder them already), so the batch is split by
// key, each key's events in order. Each run of one author's post.created
// events goes out together, with one read of the author's followers and
// one write per follower's feed for the whole run (after an outage, a
// backlog holds many posts of each author); other events are handled one
// by one.
func (f *Fanout) HandleBatch(ctx context.Context, evs []Event) error {
	byKey := map[string][]Event{}
	var keys []string
	for _, ev := range evs {
		k := ev.Key()
		if _, ok := byKey[k]; !ok {
			keys = append(keys, k)
		}
		byKey[k] = append(byKey[k], ev)
	}
	for _, k := range keys {
		for evs := byKey[k]; len(evs) > 0; {
			n := 1
			if created(evs[0]) {
				for n < len(evs) && created(evs[n]) && evs[n].Post.Author == evs[0].Post.Author {
					n++
				}
				if err := f.postsCreated(ctx, evs[:n]); err != nil {
					return err
				}
			} else if err := f.Handle(ctx, evs[0]); err != nil {
				return err
			}
			evs = evs[n:]
		}
	}
	return nil
}

func created(ev Event) bool { return ev.Type == PostCreated && ev.Post != nil }

// postsCreated fans out the posts of evs, all post.created of one author.
// A replayed post.created of a since-deleted (or moderated) post must not
// come back: each post is looked up first.
func (f *Fanout) postsCreated(ctx context.Context, evs []Event) error {
	lookup := newPostLookup(f.Posts, f.PendingWindow, f.Now, f.Log)
	ps, err := lookup.getAll(ctx, evs)
	if err != nil {
		return err
	}
	ps = slices.DeleteFunc(ps, func(p Post) bool { return p.Moderated != "" })
	// A repost of a post gone or moderated by now goes nowhere.
	if ps, err = liveReposts(ctx, f.Posts, ps); err != nil {
		return err
	}
	if len(ps) == 0 {
		return nil
	}
	return f.postCreated(ctx, ps)
}

func (f *Fanout) hybrid() bool { return f.CelebrityThreshold > 0 && f.Celebrities != nil }

// status is author's celebrity status (NotCelebrity without hybrid fan-out).
func (f *Fanout) status(ctx context.Context, author string) (CelebrityStatus, error) {
	if !f.hybrid() {
		return NotCelebrity, nil
	}
	st, err := f.Celebrities.Statuses(ctx, []string{author})
	if err != nil {
		return 0, fmt.Errorf("celebrity status of %s: %w", author, err)
	}
	return st[0], nil
}

// postCreated fans out ps, posts of one author.
func (f *Fanout) postCreated(ctx context.Context, ps []Post) error {
	author := ps[0].Author
	ids := make([]ID, len(ps))
	for i, p := range ps {
		ids[i] = p.ID
	}
	st, err := f.status(ctx, author)
	if err != nil {
		return err
	}
	if st == NotCelebrity {
		hidden, aud, start, err := f.audience(ctx, author, ps, ids)
		if err != nil {
			return err
		}
		n, err := f.toFollowers(ctx, author, ids, f.Feeds.Add, f.CelebrityThreshold, hidden, aud)
		if err == nil {
			err = f.toLists(ctx, author, ids, f.Feeds.Add, hidden, aud)
		}
		if err == nil {
			err = f.takeBack(ctx, author, ids, start)
		}
		if err == nil {
			err = f.dropDeadReposts(ctx, author, ps, true)
		}
		if err != nil || !f.hybrid() || n <= f.CelebrityThreshold {
			return err
		}
		// This post found more followers than the threshold: the author
		// becomes a celebrity. The followers written so far keep the post
		// in their feeds; reads merge duplicates away. One by one, the
		// posts after it would have gone to the timeline only: a batch's
		// go back out of those feeds.
		if len(ids) > 1 {
			if _, err := f.toFollowers(ctx, author, ids[1:], f.Feeds.Remove, f.CelebrityThreshold, nil, nil); err != nil {
				return err
			}
		}
		st = CelebrityMarking
	} else if err := f.celebrityToLists(ctx, author, ps, ids); err != nil {
		return err
	}
	if st == CelebrityMarking {
		if err := f.markCelebrity(ctx, author); err != nil {
			return err
		}
	}
	entries := make([]FeedEntry, len(ids))
	for i, id := range ids {
		entries[i] = FeedEntry{User: author, Post: id}
	}
	if err := f.Timelines.Add(ctx, entries); err != nil {
		return fmt.Errorf("add posts %v to the timeline of %s: %w", ids, author, err)
	}
	return nil
}

// audience is what fan-out of ps (posts of author) needs to tell who gets
// which post, and when its reads began (takeBack's window starts there).
// Followers on either side of a block with the author, or who mute it,
// get none of its posts: one read of its hidden set (blocks and "muted
// by") for the whole batch. A block or mute landing after this read is
// handled by takeBack (each records the pair as unfollowed). Expired mutes
// are ignored here; the muter's next feed read expires them. Replies to
// another user reach only the followers who follow that user too (or are
// that user), and reposts skip the followers hiding the author's reposts
// and those hidden from the original's author: aud reads that per page.
func (f *Fanout) audience(ctx context.Context, author string, ps []Post, ids []ID) (HiddenSet, *replyAudience, time.Time, error) {
	start := time.Now()
	hidden, readAt, err := f.hiddenSet(ctx, author)
	if err != nil {
		return nil, nil, start, fmt.Errorf("fan out posts %v of %s: %w", ids, author, err)
	}
	// A set read earlier (see quietFor) widens the window in which
	// takeBack looks for blocks, mutes and unfollows.
	if readAt.Before(start) {
		start = readAt
	}
	aud, err := newReplyAudience(ctx, f.Graph, f.Reposts, author, ps, f.now())
	if err != nil {
		return nil, nil, start, fmt.Errorf("fan out posts %v of %s: %w", ids, author, err)
	}
	return hidden, aud, start, nil
}

// dropDeadReposts takes back the reposts among ps (all of author) whose
// original went while they were fanned out: the original's removal takes
// its reposts out of the feeds they are in, and one written after that
// would stay. Followers' feeds are written only with followers (a
// celebrity's posts went to its lists only).
func (f *Fanout) dropDeadReposts(ctx context.Context, author string, ps []Post, followers bool) error {
	dead, err := deadReposts(ctx, f.Posts, ps)
	if err != nil || len(dead) == 0 {
		return err
	}
	ids := slices.Collect(maps.Keys(dead))
	if followers {
		if _, err = f.toFollowers(ctx, author, ids, f.Feeds.Remove, 0, nil, nil); err != nil {
			return err
		}
	}
	return f.toLists(ctx, author, ids, f.Feeds.Remove, nil, nil)
}

// deadReposts is the set of the reposts among ps whose original is gone
// or moderated (liveReposts' complement).
func deadReposts(ctx context.Context, posts PostStore, ps []Post) (map[ID]bool, error) {
	reposts := slices.DeleteFunc(slices.Clone(ps), func(p Post) bool { return !p.IsRepost() })
	if len(reposts) == 0 {
		return nil, nil
	}
	live, err := liveReposts(ctx, posts, slices.Clone(reposts))
	if err != nil {
		return nil, err
	}
	dead := map[ID]bool{}
	for _, p := range reposts {
		if !slices.ContainsFunc(live, func(q Post) bool { return q.ID == p.ID }) {
			dead[p.ID] = true
		}
	}
	return dead, nil
}

// hiddenSet is author's hidden set (as fan-out uses it: blocks both ways,
// users muting the author) and when its read began: an empty set read
// within quietFor is not read again (see quietFor).
func (f *Fanout) hiddenSet(ctx context.Context, author string) (HiddenSet, time.Time, error) {
	now := time.Now()
	if at, ok := f.Quiet.since(author, now); ok {
		return nil, at, nil
	}
	hidden, _, err := ReadHiddenSet(ctx, f.Graph, author, MutingUser, f.now())
	if err != nil {
		return nil, now, err
	}
	if len(hidden) == 0 {
		f.Quiet.note(author, now)
	}
	return hidden, now, nil
}

// unfollowRaceMargin widens the window a writer asks Unfollows about
// beyond the time since its graph read: the unfollows are timed by the
// cache server's clock, which may step.
const unfollowRaceMargin = time.Minute

// takeBack removes the posts ids of author from the feeds of the users who
// unfollowed it since fan-out began reading the followers: a post may have
// landed in such a feed after the unfollow took the author's posts out.
// The window reaches back to the oldest post's creation: an earlier attempt
// at its event (one that failed after writing) may have read the followers
// before this one began.
func (f *Fanout) takeBack(ctx context.Context, author string, ids []ID, start time.Time) error {
	for _, id := range ids {
		if created := id.Time(); created.Before(start) {
			start = created
		}
	}
	users, err := f.Unfollows.RecentUnfollowers(ctx, author, time.Since(start)+unfollowRaceMargin)
	if err != nil {
		return fmt.Errorf("fan out posts %v of %s: %w", ids, author, err)
	}
	for _, u := range users {
		if err := f.Unfollows.RemoveUnfollowed(ctx, Follow{Follower: u, Followee: author}, ids); err != nil {
			return fmt.Errorf("fan out posts %v of %s: %w", ids, author, err)
		}
	}
	return nil
}

// markCelebrity records that author is a celebrity: first the status (so
// that follows handled from now on are recorded as celebrity follows), then
// every follower's list of followed celebrities, then the final status. A
// crash in between leaves CelebrityMarking, and the next post redoes it.
func (f *Fanout) markCelebrity(ctx context.Context, author string) error {
	if err := f.Celebrities.SetStatus(ctx, author, CelebrityMarking); err != nil {
		return err
	}
	follows := make([]Follow, 0, f.pageSize())
	err := forEachPage(ctx, func(cursor string) ([]string, string, error) {
		return f.Graph.Followers(ctx, author, cursor, f.pageSize())
	}, 0, func(followers []string) error {
		follows = follows[:0]
		for _, u := range followers {
			follows = append(follows, Follow{Follower: u, Followee: author})
		}
		return f.Celebrities.AddFollows(ctx, follows)
	})
	if err != nil {
		return fmt.Errorf("mark %s as a celebrity: %w", author, err)
	}
	if err := f.Celebrities.SetStatus(ctx, author, Celebrity); err != nil {
		return err
	}
	f.Log.Info("author became a celebrity: posts are merged into feeds on read", "author", author, "threshold", f.CelebrityThreshold)
	return nil
}

// postRemoved takes a deleted or moderated post out of feeds, and its
// reposts with it. A celebrity's post leaves its timeline only: reads hide
// it from the few feeds that got it before the author crossed the
// threshold.
func (f *Fanout) postRemoved(ctx context.Context, p *Post) error {
	if !p.IsRepost() {
		// First the reposts: a failure retries the event, and the
		// original's own removal below is idempotent.
		if err := f.removeReposts(ctx, p.ID); err != nil {
			return err
		}
	}
	return f.removePost(ctx, p)
}

// removePost takes one post (or repost) out of feeds.
func (f *Fanout) removePost(ctx context.Context, p *Post) error {
	st, err := f.status(ctx, p.Author)
	if err != nil {
		return err
	}
	// Only celebrities have a timeline: other authors' deletes skip it.
	if st != NotCelebrity {
		if err := f.Timelines.Remove(ctx, []FeedEntry{{User: p.Author, Post: p.ID}}); err != nil {
			return fmt.Errorf("remove post %s from the timeline of %s: %w", p.ID, p.Author, err)
		}
	}
	if err := f.toLists(ctx, p.Author, []ID{p.ID}, f.Feeds.Remove, nil, nil); err != nil || st == Celebrity {
		return err
	}
	_, err = f.toFollowers(ctx, p.Author, []ID{p.ID}, f.Feeds.Remove, 0, nil, nil)
	return err
}

// onFollowChange applies a follow or unfollow only if the graph still agrees,
// so replaying an old event never undoes a newer change (a replayed
// user.unfollowed after a re-follow would otherwise empty the feed).
func (f *Fanout) onFollowChange(ctx context.Context, fl Follow, following bool) error {
	now, err := f.Graph.IsFollowing(ctx, fl.Follower, fl.Followee)
	if err != nil {
		return fmt.Errorf("check follow %s -> %s: %w", fl.Follower, fl.Followee, err)
	}
	if now != following {
		if !following {
			// An unfollow handled once the graph follows again: the
			// followee's posts stay, but those deleted or moderated
			// while the follower was away had their removal skip its
			// feed, and the re-follow's merge cannot name a deleted one.
			return f.dropGone(ctx, fl, false)
		}
		return nil
	}
	if following {
		// A follow across a block (one that raced the block; the api
		// undoes it), or of a user the follower mutes, merges nothing.
		hidden, err := f.hiddenPair(ctx, fl)
		if err != nil || hidden {
			return err
		}
	}
	return f.applyFollowChange(ctx, fl, following)
}

// hiddenPair reports whether the followee's posts stay out of the
// follower's feed although it follows them: a block either way, or an
// active mute by the follower.
func (f *Fanout) hiddenPair(ctx context.Context, fl Follow) (bool, error) {
	blocked, err := blockedEither(ctx, f.Graph, fl.Follower, fl.Followee)
	if err != nil {
		return false, fmt.Errorf("check blocks %s, %s: %w", fl.Follower, fl.Followee, err)
	}
	if blocked {
		return true, nil
	}
	return mutedNow(ctx, f.Graph, fl.Follower, fl.Followee, f.now())
}

// onMute takes the muted user's posts out of the muter's feed, as an
// unfollow does (whether or not the muter follows them: a post may be in
// flight), and records the pair as unfollowed, so that fan-out and feed
// rebuilds that read the graph before the mute take their writes back
// (see Unfollows). The follow stays. It applies only while the mute is
// active, so a replay after an unmute or the expiry changes nothing.
func (f *Fanout) onMute(ctx context.Context, m Mute) error {
	f.Quiet.forget(m.Muted)
	muted, err := mutedNow(ctx, f.Graph, m.Muter, m.Muted, f.now())
	if err != nil || !muted {
		return err
	}
	if err := f.applyFollowChange(ctx, Follow{Follower: m.Muter, Followee: m.Muted}, false); err != nil {
		return fmt.Errorf("mute %s -> %s: %w", m.Muter, m.Muted, err)
	}
	if err := f.listsChange(ctx, m.Muter, m.Muted, false); err != nil {
		return fmt.Errorf("mute %s -> %s: %w", m.Muter, m.Muted, err)
	}
	return nil
}

// onUnmute merges the muted user's posts back into the muter's feed, as
// a follow does, if the muter follows them and nothing else keeps them
// apart (a mute made again, active; a block). An unmute by expiry
// (ExpireMute's event) comes the same way. A replay merges again what is
// there already.
func (f *Fanout) onUnmute(ctx context.Context, m Mute) error {
	fl := Follow{Follower: m.Muter, Followee: m.Muted}
	hidden, err := f.hiddenPair(ctx, fl)
	if err != nil || hidden {
		return err
	}
	following, err := f.Graph.IsFollowing(ctx, fl.Follower, fl.Followee)
	if err != nil {
		return fmt.Errorf("check follow %s -> %s: %w", fl.Follower, fl.Followee, err)
	}
	if following {
		if err := f.applyFollowChange(ctx, fl, true); err != nil {
			return fmt.Errorf("unmute %s -> %s: %w", m.Muter, m.Muted, err)
		}
	}
	// The muter's lists holding the muted user get its posts back,
	// followed or not.
	if err := f.listsChange(ctx, m.Muter, m.Muted, true); err != nil {
		return fmt.Errorf("unmute %s -> %s: %w", m.Muter, m.Muted, err)
	}
	return nil
}

func (f *Fanout) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

// onBlock takes each side's posts out of the other's feed, as an unfollow
// of each direction does (whether or not they followed: a post may be in
// flight from a follower list read before the follows ended), and records
// both directions as unfollowed, so that fan-out and feed rebuilds that
// read the graph before the block take their writes back (see Unfollows).
// It applies only while the block holds, so a replay after an unblock
// changes nothing; a replay while it holds removes what is gone already.
func (f *Fanout) onBlock(ctx context.Context, b Block) error {
	f.Quiet.forget(b.Blocker, b.Blocked)
	now, err := f.Graph.IsBlocked(ctx, b.Blocker, b.Blocked)
	if err != nil {
		return fmt.Errorf("check block %s -> %s: %w", b.Blocker, b.Blocked, err)
	}
	if !now {
		return nil
	}
	for _, fl := range []Follow{{Follower: b.Blocker, Followee: b.Blocked}, {Follower: b.Blocked, Followee: b.Blocker}} {
		if err := f.applyFollowChange(ctx, fl, false); err != nil {
			return fmt.Errorf("block %s -> %s: %w", b.Blocker, b.Blocked, err)
		}
		// Each side's lists that hold the other keep it listed, without
		// its posts.
		if err := f.listsChange(ctx, fl.Follower, fl.Followee, false); err != nil {
			return fmt.Errorf("block %s -> %s: %w", b.Blocker, b.Blocked, err)
		}
	}
	return nil
}

// applyFollowChange merges (following) or takes out the followee's posts
// in the follower's feed, once the graph agreed.
func (f *Fanout) applyFollowChange(ctx context.Context, fl Follow, following bool) error {
	// Before the followee's posts go in or out (see Unfollows).
	record := f.Unfollows.RecordUnfollow
	if following {
		record = f.Unfollows.ClearUnfollow
	}
	if err := record(ctx, fl); err != nil {
		return err
	}
	st, err := f.status(ctx, fl.Followee)
	if err != nil {
		return err
	}
	if st != NotCelebrity {
		// Reads merge a celebrity's posts: record the follow, copy nothing.
		// An unfollow also removes what the feed got before the author
		// became a celebrity.
		if following {
			return f.Celebrities.AddFollows(ctx, []Follow{fl})
		}
		if err := f.Celebrities.RemoveFollows(ctx, []Follow{fl}); err != nil {
			return err
		}
	}
	if err := f.mergeFollowee(ctx, fl, fl.Follower, following); err != nil || following {
		return err
	}
	return f.dropGone(ctx, fl, true)
}

// dropGone removes from the follower's feed what the unfollow's merge
// cannot name: the followee's posts deleted before it ran. Their
// post.deleted may have been handled after the unfollow changed the graph
// (the follow and post topics are not ordered together), so it skipped this
// feed, and the store no longer lists them as the followee's. Reads hide
// such entries, but they would hold places in the capped feed. With
// unfollowed false (the follower follows again) the followee's posts that
// stand stay, and only its moderated ones go with the deleted.
func (f *Fanout) dropGone(ctx context.Context, fl Follow, unfollowed bool) error {
	ids, complete, err := f.Feeds.Page(ctx, fl.Follower, 0, f.FeedCap)
	if err != nil || !complete || len(ids) == 0 {
		return err // an absent feed is rebuilt from the store on read
	}
	posts, err := f.Posts.GetPosts(ctx, ids)
	if err != nil {
		return fmt.Errorf("posts in the feed of %s: %w", fl.Follower, err)
	}
	var gone []FeedEntry
	for _, id := range ids {
		p, ok := posts[id]
		if ok {
			if p.Author == fl.Followee && (unfollowed || p.Moderated != "") {
				gone = append(gone, FeedEntry{User: fl.Follower, Post: id})
			}
			continue
		}
		deleted, err := f.Posts.WasDeleted(ctx, id)
		if err != nil {
			return fmt.Errorf("post %s in the feed of %s: %w", id, fl.Follower, err)
		}
		if deleted {
			gone = append(gone, FeedEntry{User: fl.Follower, Post: id})
		}
	}
	if len(gone) == 0 {
		return nil
	}
	if err := f.Feeds.Remove(ctx, gone); err != nil {
		return fmt.Errorf("drop deleted posts from the feed of %s: %w", fl.Follower, err)
	}
	return nil
}

// toFollowers applies the posts ids of author to the feeds of its
// followers, page by page, and returns how many followers it reached. With
// stopAbove > 0 it stops once it reached more than stopAbove (the celebrity
// threshold). Followers in skip (the author's hidden set) are counted but
// get no write; with aud (the posts' reply audience, ids in its posts'
// order) a follower gets only the posts the reply rule lets through.
func (f *Fanout) toFollowers(ctx context.Context, author string, ids []ID, apply func(context.Context, []FeedEntry) error, stopAbove int, skip HiddenSet, aud *replyAudience) (int, error) {
	entries := make([]FeedEntry, 0, f.pageSize())
	seen := 0
	max := 0
	if stopAbove > 0 {
		max = stopAbove + 1
	}
	ctx, end := startSpan(ctx, "fanout.feeds", attribute.String("post.author", author), attribute.Int64("post.id", int64(ids[0])),
		attribute.Int("fanout.posts", len(ids)))
	err := forEachPage(ctx, func(cursor string) ([]string, string, error) {
		return f.Graph.Followers(ctx, author, cursor, f.pageSize())
	}, max, func(followers []string) error {
		seen += len(followers)
		if aud != nil {
			if err := aud.page(ctx, followers); err != nil {
				return err
			}
		}
		// Writes go pipelined, at most a page of entries at a time.
		entries = entries[:0]
		for _, u := range followers {
			if skip.Has(u) {
				continue
			}
			for i, id := range ids {
				if aud != nil && !aud.gets(i, u) {
					continue
				}
				if len(entries) == cap(entries) {
					if err := apply(ctx, entries); err != nil {
						return err
					}
					entries = entries[:0]
				}
				entries = append(entries, FeedEntry{User: u, Post: id})
			}
		}
		return apply(ctx, entries)
	})
	trace.SpanFromContext(ctx).SetAttributes(attribute.Int("fanout.followers", seen))
	end(err)
	if err != nil {
		return seen, fmt.Errorf("fan out posts %v of %s: %w", ids, author, err)
	}
	return seen, nil
}

// mergeFollowee adds (or removes) the followee's newest FeedCap posts to (or
// from) the follower's feed, whose reader is reader (the follower, or a
// list's owner). A followee's posts older than those cannot be in the feed:
// the newer ones would have pushed them past the cap.
func (f *Fanout) mergeFollowee(ctx context.Context, fl Follow, reader string, adding bool) error {
	apply := f.Feeds.Remove
	if adding {
		apply = f.Feeds.Add
	}
	posts, err := f.Posts.AuthorPosts(ctx, fl.Followee, 0, f.FeedCap)
	if err != nil {
		return fmt.Errorf("posts of %s: %w", fl.Followee, err)
	}
	if len(posts) == 0 {
		return nil
	}
	if adding {
		// The reply rule: the followee's replies to users the follower
		// does not follow stay out (one read for the merge).
		if posts, err = applyReplyRule(ctx, f.Graph, reader, posts, nil); err != nil {
			return fmt.Errorf("merge %s into feed of %s: %w", fl.Followee, fl.Follower, err)
		}
	}
	entries := make([]FeedEntry, 0, len(posts))
	var moderated []FeedEntry
	for _, p := range posts {
		e := FeedEntry{User: fl.Follower, Post: p.ID}
		if adding && p.Moderated != "" {
			moderated = append(moderated, e)
			continue
		}
		entries = append(entries, e)
	}
	if adding && len(moderated) > 0 {
		// A moderated post is merged into no feed, and taken out of this
		// one: an earlier follow's merge may have written it before it
		// was moderated, while its post.moderated skipped this feed (the
		// follower was between an unfollow and this follow, whose
		// unfollow then found the graph following again and did nothing).
		if err := f.Feeds.Remove(ctx, moderated); err != nil {
			return fmt.Errorf("merge %s into feed of %s: take out moderated posts: %w", fl.Followee, fl.Follower, err)
		}
	}
	if len(entries) == 0 {
		return nil
	}
	if err := apply(ctx, entries); err != nil {
		return fmt.Errorf("merge %s into feed of %s: %w", fl.Followee, fl.Follower, err)
	}
	if !adding {
		return nil
	}
	return f.dropMergedGone(ctx, fl, entries)
}

// dropMergedGone takes back out of the follower's feed the merged posts
// that were deleted or moderated after the merge read them: their
// post.deleted (or post.moderated) may have been handled between that read
// and the write (the follow and post topics are not ordered together), so
// it removed nothing from this feed yet. A removal after this check is
// handled later and finds the follower already in the graph.
func (f *Fanout) dropMergedGone(ctx context.Context, fl Follow, merged []FeedEntry) error {
	ids := make([]ID, len(merged))
	for i, e := range merged {
		ids[i] = e.Post
	}
	posts, err := f.Posts.GetPosts(ctx, ids)
	if err != nil {
		return fmt.Errorf("merge %s into feed of %s: check the posts: %w", fl.Followee, fl.Follower, err)
	}
	// Reposts whose original is gone or moderated by now (the merge
	// copies the followee's reposts as they are stored; the original's
	// removal may have run before the follow was in the graph).
	dead, err := deadReposts(ctx, f.Posts, slices.Collect(maps.Values(posts)))
	if err != nil {
		return fmt.Errorf("merge %s into feed of %s: check the reposts: %w", fl.Followee, fl.Follower, err)
	}
	var gone []FeedEntry
	for _, e := range merged {
		if p, ok := posts[e.Post]; ok {
			if p.Moderated != "" || dead[p.ID] {
				gone = append(gone, e)
			}
			continue
		}
		deleted, err := f.Posts.WasDeleted(ctx, e.Post)
		if err != nil {
			return fmt.Errorf("merge %s into feed of %s: post %s: %w", fl.Followee, fl.Follower, e.Post, err)
		}
		if deleted {
			gone = append(gone, e)
		}
	}
	if len(gone) == 0 {
		return nil
	}
	if err := f.Feeds.Remove(ctx, gone); err != nil {
		return fmt.Errorf("merge %s into feed of %s: take out deleted posts: %w", fl.Followee, fl.Follower, err)
	}
	return nil
}

func (f *Fanout) pageSize() int {
	if f.PageSize > 0 {
		return f.PageSize
	}
	return 1000
}
