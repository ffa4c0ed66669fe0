package pebble

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/feedsvc/feedsvc/app"
)

var _ app.Replies = (*Store)(nil)

// prefixReply is the reply index: a parent's live replies are one key
// range, in ID order. SavePost writes a reply's key with the post;
// DeletePost and HidePost take it out, so the range holds exactly the
// replies neither deleted nor moderated.
const prefixReply = "t/" // t/<parent BE><id BE> -> empty

func replyKey(parent, id app.ID) []byte {
	k := make([]byte, 0, len(prefixReply)+16)
	k = append(k, prefixReply...)
	k = append(k, idBytes(parent)...)
	return append(k, idBytes(id)...)
}

// Replies implements app.Replies.
func (s *Store) Replies(_ context.Context, parent, after app.ID, limit int) ([]app.ID, error) {
	lower := replyKey(parent, after+1)
	upper := replyKey(parent+1, 0)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return nil, fmt.Errorf("pebble: replies to %s: %w", parent, err)
	}
	var ids []app.ID
	for ok := it.First(); ok && len(ids) < limit; ok = it.Next() {
		k := it.Key()
		ids = append(ids, app.ID(binary.BigEndian.Uint64(k[len(k)-8:])))
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return nil, fmt.Errorf("pebble: replies to %s: %w", parent, err)
	}
	return ids, nil
}

// ReplyCounts implements app.Replies: a scan of each parent's range (a
// local read, so counting keys costs no round trip).
func (s *Store) ReplyCounts(_ context.Context, parents []app.ID) (map[app.ID]int64, error) {
	out := make(map[app.ID]int64, len(parents))
	for _, id := range parents {
		it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: replyKey(id, 0), UpperBound: replyKey(id+1, 0)})
		if err != nil {
			return nil, fmt.Errorf("pebble: replies to %s: %w", id, err)
		}
		var n int64
		for ok := it.First(); ok; ok = it.Next() {
			n++
		}
		if err := errors.Join(it.Error(), it.Close()); err != nil {
			return nil, fmt.Errorf("pebble: replies to %s: %w", id, err)
		}
		if n > 0 {
			out[id] = n
		}
	}
	return out, nil
}

// FollowersAmong implements app.Graph: a point read per user, local.
func (s *Store) FollowersAmong(_ context.Context, followee string, users []string) ([]string, error) {
	return s.among(prefixFollowers, followee, users)
}

// FolloweesAmong implements app.Graph: a point read per user, local.
func (s *Store) FolloweesAmong(_ context.Context, follower string, users []string) ([]string, error) {
	return s.among(prefixFollowing, follower, users)
}

func (s *Store) among(prefix, user string, users []string) ([]string, error) {
	var out []string
	seen := make(map[string]bool, len(users))
	for _, u := range users {
		if seen[u] {
			continue
		}
		seen[u] = true
		ok, err := s.has(pairKey(prefix, user, u))
		if err != nil {
			return nil, fmt.Errorf("pebble: edges of %s: %w", user, err)
		}
		if ok {
			out = append(out, u)
		}
	}
	return out, nil
}
