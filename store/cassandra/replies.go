package cassandra

import (
	"context"
	"slices"

	"golang.org/x/sync/errgroup"

	"github.com/feedsvc/feedsvc/app"
)

var _ app.Replies = (*Store)(nil)

// Replies live in the replies table (migration 11), one partition per
// parent, oldest first: writePost adds a reply's row, deletePost and
// HidePost delete it, so the partition holds the live replies and a count
// is a COUNT over it, as for likes (and with likes' cost: a post with
// very many replies makes its readers count them).

// Replies implements app.Replies.
func (s *Store) Replies(ctx context.Context, parent, after app.ID, limit int) (_ []app.ID, err error) {
	ctx, end := s.bound(ctx)
	defer func() { err = end(err) }()
	if limit <= 0 {
		return nil, nil
	}
	iter := s.query(`SELECT id FROM replies WHERE parent_id = ? AND id > ? LIMIT ?`, int64(parent), int64(after), limit).
		WithContext(ctx).Iter()
	ids := make([]app.ID, 0, min(limit, 256))
	var id int64
	for iter.Scan(&id) {
		ids = append(ids, app.ID(id))
	}
	if err := iter.Close(); err != nil {
		return nil, failf("cassandra: replies to %s: %w", parent, err)
	}
	return ids, nil
}

// ReplyCounts implements app.Replies: one query for the page, over the
// parents' partitions.
func (s *Store) ReplyCounts(ctx context.Context, parents []app.ID) (_ map[app.ID]int64, err error) {
	ctx, end := s.bound(ctx)
	defer func() { err = end(err) }()
	out := make(map[app.ID]int64, len(parents))
	if len(parents) == 0 {
		return out, nil
	}
	ids := make([]int64, len(parents))
	for i, id := range parents {
		ids[i] = int64(id)
	}
	var parent, count int64
	iter := s.query(`SELECT parent_id, COUNT(*) FROM replies WHERE parent_id IN ? GROUP BY parent_id`, ids).WithContext(ctx).Iter()
	for iter.Scan(&parent, &count) {
		out[app.ID(parent)] = count
	}
	if err := iter.Close(); err != nil {
		return nil, failf("cassandra: count replies: %w", err)
	}
	return out, nil
}

// FollowersAmong implements app.Graph. The candidates are grouped by
// their followers bucket (the hash of their name, the same for every
// followee), and each bucket is one single-partition query with the
// bucket's names in an IN: for a page of 1,000 candidates at most
// followerBuckets queries, run concurrently, where one query per
// candidate would be a thousand.
func (s *Store) FollowersAmong(ctx context.Context, followee string, users []string) (_ []string, err error) {
	ctx, end := s.bound(ctx)
	defer func() { err = end(err) }()
	byBucket := map[int][]string{}
	for _, u := range users {
		b := followerBucket(u)
		if !slices.Contains(byBucket[b], u) {
			byBucket[b] = append(byBucket[b], u)
		}
	}
	found := make([][]string, followerBuckets)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for b, names := range byBucket {
		g.Go(func() error {
			iter := s.query(`SELECT follower FROM followers WHERE followee = ? AND bucket = ? AND follower IN ?`, followee, b, names).
				WithContext(gctx).Iter()
			var name string
			for iter.Scan(&name) {
				found[b] = append(found[b], name)
			}
			if err := iter.Close(); err != nil {
				return failf("cassandra: followers of %s among %d users: %w", followee, len(names), err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var out []string
	for _, names := range found {
		out = append(out, names...)
	}
	return out, nil
}

// FolloweesAmong implements app.Graph: one query on the follower's
// partition of follows.
func (s *Store) FolloweesAmong(ctx context.Context, follower string, users []string) (_ []string, err error) {
	ctx, end := s.bound(ctx)
	defer func() { err = end(err) }()
	if len(users) == 0 {
		return nil, nil
	}
	names := slices.Compact(slices.Sorted(slices.Values(users)))
	iter := s.query(`SELECT followee FROM follows WHERE follower = ? AND followee IN ?`, follower, names).WithContext(ctx).Iter()
	var (
		out  []string
		name string
	)
	for iter.Scan(&name) {
		out = append(out, name)
	}
	if err := iter.Close(); err != nil {
		return nil, failf("cassandra: followees of %s among %d users: %w", follower, len(names), err)
	}
	return out, nil
}
