package app

import (
	"context"
	"fmt"
	"slices"
)

// List feeds in fan-out (see list.go): the lists an author is in are, to
// fan-out, a second audience beside its followers. Each list feed is
// written under the rules of its owner, the reader: the author's hidden
// set and the reply and repost rules apply to the owner. Unfollows records
// a member's removal as the list feed "unfollowing" the member
// (listFollow), so takeBack and rebuilds close its races as an unfollow's.
//
// Celebrities' posts go to their lists too: a list is read by its owner
// alone and lists are few beside followers, so no list feed merges
// timelines on read.

// listFollow is the pair Unfollows records for member's removal from the
// list ref: its feed stopped "following" the member.
func listFollow(ref ListRef, member string) Follow {
	return Follow{Follower: ListFeed(ref.ID), Followee: member}
}

// listFanout is the fan-out the api uses to merge a list's membership
// changes into its feed (AddListMember, RemoveListMember).
func (s *Service) listFanout() *Fanout {
	return &Fanout{Posts: s.Posts, Graph: s.Graph, Feeds: s.Feeds, Unfollows: s.Unfollows, Lists: s.Lists,
		FeedCap: s.FeedCap, Now: s.Now, Log: s.logger()}
}

// toLists applies the posts ids of author to the feeds of the lists it is
// in, a page of lists at a time, as toFollowers does to its followers'
// feeds; skip and aud apply to each list's owner.
func (f *Fanout) toLists(ctx context.Context, author string, ids []ID, apply func(context.Context, []FeedEntry) error, skip HiddenSet, aud *replyAudience) error {
	if f.Lists == nil {
		return nil
	}
	var after ListRef
	for {
		refs, err := f.Lists.ListsOf(ctx, author, after, f.pageSize())
		if err != nil {
			return fmt.Errorf("fan out posts %v of %s: lists: %w", ids, author, err)
		}
		if len(refs) == 0 {
			return nil
		}
		if aud != nil {
			owners := make([]string, 0, len(refs))
			for _, r := range refs {
				if !slices.Contains(owners, r.Owner) {
					owners = append(owners, r.Owner)
				}
			}
			if err := aud.page(ctx, owners); err != nil {
				return fmt.Errorf("fan out posts %v of %s: lists: %w", ids, author, err)
			}
		}
		var entries []FeedEntry
		for _, r := range refs {
			if skip.Has(r.Owner) {
				continue
			}
			for i, id := range ids {
				if aud == nil || aud.gets(i, r.Owner) {
					entries = append(entries, FeedEntry{User: ListFeed(r.ID), Post: id})
				}
			}
		}
		if len(entries) > 0 {
			if err := apply(ctx, entries); err != nil {
				return fmt.Errorf("fan out posts %v of %s to lists: %w", ids, author, err)
			}
		}
		if len(refs) < f.pageSize() {
			return nil
		}
		after = refs[len(refs)-1]
	}
}

// celebrityToLists fans out ps (posts of author, a celebrity, whose
// followers merge its timeline on read) to the lists author is in, with
// toFollowers' rules, takeBack and dropDeadReposts. An author in no list
// costs one read.
func (f *Fanout) celebrityToLists(ctx context.Context, author string, ps []Post, ids []ID) error {
	if f.Lists == nil {
		return nil
	}
	if refs, err := f.Lists.ListsOf(ctx, author, ListRef{}, 1); err != nil || len(refs) == 0 {
		return err
	}
	hidden, aud, start, err := f.audience(ctx, author, ps, ids)
	if err != nil {
		return err
	}
	if err := f.toLists(ctx, author, ids, f.Feeds.Add, hidden, aud); err != nil {
		return err
	}
	if err := f.takeBack(ctx, author, ids, start); err != nil {
		return err
	}
	return f.dropDeadReposts(ctx, author, ps, false)
}

// applyListChange merges member's posts into the feed of the list ref
// (adding) or takes them out, as applyFollowChange does for a follow,
// with the owner as the reader.
func (f *Fanout) applyListChange(ctx context.Context, ref ListRef, member string, adding bool) error {
	fl := listFollow(ref, member)
	record := f.Unfollows.RecordUnfollow
	if adding {
		record = f.Unfollows.ClearUnfollow
	}
	if err := record(ctx, fl); err != nil {
		return err
	}
	if err := f.mergeFollowee(ctx, fl, ref.Owner, adding); err != nil || adding {
		return err
	}
	return f.dropGone(ctx, fl, true)
}

// addToList merges member's posts into the feed of the list ref, unless
// they stay out of it (a block either way, the owner's active mute: the
// member is listed, its posts hidden).
//
// Both are checked again after the merge, since nothing orders the merge
// with a concurrent mute, block or removal (the api merges an addition,
// fan-out an unmute's or unblock's): one stored between the first check
// and the merge's write may have taken the member's posts out of this
// list before the merge wrote them. The second check sees it and takes
// them out again; one stored after the second check takes them out after
// the merge's write.
func (f *Fanout) addToList(ctx context.Context, ref ListRef, member string) error {
	pair := Follow{Follower: ref.Owner, Followee: member}
	hidden, err := f.hiddenPair(ctx, pair)
	if err != nil || hidden {
		return err
	}
	if err := f.applyListChange(ctx, ref, member, true); err != nil {
		return err
	}
	if hidden, err = f.hiddenPair(ctx, pair); err != nil {
		return err
	}
	in, err := f.Lists.IsListMember(ctx, ref.Owner, ref.ID, member)
	if err != nil {
		return fmt.Errorf("list %s of %s: %w", ref.ID, ref.Owner, err)
	}
	if in && !hidden {
		return nil
	}
	return f.applyListChange(ctx, ref, member, false)
}

// listsWith returns the lists of owner that member is in (an owner has at
// most MaxLists: one read of them, one lookup each).
func (f *Fanout) listsWith(ctx context.Context, owner, member string) ([]ListRef, error) {
	if f.Lists == nil {
		return nil, nil
	}
	ls, err := f.Lists.OwnerLists(ctx, owner, 2*MaxLists)
	if err != nil {
		return nil, fmt.Errorf("lists of %s: %w", owner, err)
	}
	var out []ListRef
	for _, l := range ls {
		in, err := f.Lists.IsListMember(ctx, owner, l.ID, member)
		if err != nil {
			return nil, fmt.Errorf("list %s of %s: %w", l.ID, owner, err)
		}
		if in {
			out = append(out, ListRef{Owner: owner, ID: l.ID})
		}
	}
	return out, nil
}

// listsChange takes member's posts out of (adding false) or merges them
// into owner's lists that member is in, after a block, mute, unblock or
// unmute; adding merges only where nothing keeps them apart.
func (f *Fanout) listsChange(ctx context.Context, owner, member string, adding bool) error {
	refs, err := f.listsWith(ctx, owner, member)
	if err != nil {
		return err
	}
	for _, ref := range refs {
		if adding {
			err = f.addToList(ctx, ref, member)
		} else {
			err = f.applyListChange(ctx, ref, member, false)
		}
		if err != nil {
			return fmt.Errorf("list %s of %s, member %s: %w", ref.ID, owner, member, err)
		}
	}
	return nil
}

// onUnblock merges each side's posts back into the other's lists that
// hold it, once the block is gone (a replay while blocked again changes
// nothing). Follows ended by the block stay ended: home feeds get nothing.
func (f *Fanout) onUnblock(ctx context.Context, b Block) error {
	if f.Lists == nil {
		return nil
	}
	now, err := f.Graph.IsBlocked(ctx, b.Blocker, b.Blocked)
	if err != nil {
		return fmt.Errorf("check block %s -> %s: %w", b.Blocker, b.Blocked, err)
	}
	if now {
		return nil
	}
	if err := f.listsChange(ctx, b.Blocker, b.Blocked, true); err != nil {
		return fmt.Errorf("unblock %s -> %s: %w", b.Blocker, b.Blocked, err)
	}
	if err := f.listsChange(ctx, b.Blocked, b.Blocker, true); err != nil {
		return fmt.Errorf("unblock %s -> %s: %w", b.Blocker, b.Blocked, err)
	}
	return nil
}

// ListFeedsReset forgets every cached list feed: each is rebuilt from the
// store on its next read.
type ListFeedsReset interface {
	DropListFeeds(ctx context.Context) error
}

// StoreLost implements events.StoreLossHandler: a Redis that lost writes
// (a restart from an older snapshot, a failover to a lagging replica) may
// have lost what the api merged into list feeds, or took out of them, and
// no event redoes that; the list feeds are dropped, to be rebuilt from the
// lists as stored. Home feeds are redone by the replay.
func (f *Fanout) StoreLost(ctx context.Context) error {
	if f.ListFeeds == nil {
		return nil
	}
	if err := f.ListFeeds.DropListFeeds(ctx); err != nil {
		return fmt.Errorf("drop list feeds: %w", err)
	}
	f.Log.Warn("redis lost writes: every list feed dropped, to be rebuilt on its next read")
	return nil
}
