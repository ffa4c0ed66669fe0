package pebble

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/feedsvc/feedsvc/app"
)

var _ app.Reposts = (*Store)(nil)

// Repost key layout. A post's live reposts are one key range, in
// (reposter, ID) order: SavePost writes a repost's key with the post,
// DeletePost and HidePost take it out. The first-repost keys are written
// with every repost and never deleted (the notification's key). The
// repost settings are kept both ways: by followee for fan-out's page of
// followers, by follower for a feed page.
const (
	prefixRepost      = "rp/" // rp/<original BE><reposter>\0<id BE> -> empty
	prefixFirstRepost = "rf/" // rf/<original BE><reposter>\0<id BE> -> empty, kept through unreposts
	prefixNoReposts   = "rh/" // rh/<followee>\0<follower>: follower hides followee's reposts
	prefixNoRepostsBy = "rb/" // rb/<follower>\0<followee>: the same, by follower
)

func repostKey(prefix string, original app.ID, reposter string, id app.ID) []byte {
	k := make([]byte, 0, len(prefix)+8+len(reposter)+9)
	k = append(k, prefix...)
	k = append(k, idBytes(original)...)
	k = append(k, reposter...)
	k = append(k, 0)
	return append(k, idBytes(id)...)
}

// reposterRange bounds the keys of reposter's reposts of original.
func reposterRange(prefix string, original app.ID, reposter string) (lower, upper []byte) {
	lower = repostKey(prefix, original, reposter, 0)
	lower = lower[:len(lower)-8]
	upper = bytes.Clone(lower)
	upper[len(upper)-1] = 1
	return lower, upper
}

// originalRange bounds the keys of original's reposts.
func originalRange(prefix string, original app.ID) (lower, upper []byte) {
	lower = append([]byte(prefix), idBytes(original)...)
	upper = append([]byte(prefix), idBytes(original+1)...)
	return lower, upper
}

// parseRepostKey reads the reposter and ID of a repost key.
func parseRepostKey(prefix string, k []byte) app.Repost {
	name := k[len(prefix)+8 : len(k)-9]
	return app.Repost{Reposter: string(name), ID: app.ID(binary.BigEndian.Uint64(k[len(k)-8:]))}
}

// firstKey returns the parsed first key of [lower, upper), if any.
func (s *Store) firstKey(prefix string, lower, upper []byte) (app.Repost, bool, error) {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return app.Repost{}, false, err
	}
	var (
		r  app.Repost
		ok = it.First()
	)
	if ok {
		r = parseRepostKey(prefix, it.Key())
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return app.Repost{}, false, err
	}
	return r, ok, nil
}

// RepostBy implements app.Reposts.
func (s *Store) RepostBy(_ context.Context, user string, original app.ID) (app.ID, bool, error) {
	lower, upper := reposterRange(prefixRepost, original, user)
	r, ok, err := s.firstKey(prefixRepost, lower, upper)
	if err != nil {
		return 0, false, fmt.Errorf("pebble: repost of %s by %s: %w", original, user, err)
	}
	return r.ID, ok, nil
}

// FirstRepost implements app.Reposts.
func (s *Store) FirstRepost(_ context.Context, user string, original app.ID) (app.ID, bool, error) {
	lower, upper := reposterRange(prefixFirstRepost, original, user)
	r, ok, err := s.firstKey(prefixFirstRepost, lower, upper)
	if err != nil {
		return 0, false, fmt.Errorf("pebble: first repost of %s by %s: %w", original, user, err)
	}
	return r.ID, ok, nil
}

// RepostsOf implements app.Reposts.
func (s *Store) RepostsOf(_ context.Context, original app.ID, after app.Repost, limit int) ([]app.Repost, error) {
	lower, upper := originalRange(prefixRepost, original)
	if after.Reposter != "" || after.ID != 0 {
		lower = append(repostKey(prefixRepost, original, after.Reposter, after.ID), 0) // strictly after
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return nil, fmt.Errorf("pebble: reposts of %s: %w", original, err)
	}
	var out []app.Repost
	for ok := it.First(); ok && len(out) < limit; ok = it.Next() {
		out = append(out, parseRepostKey(prefixRepost, it.Key()))
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return nil, fmt.Errorf("pebble: reposts of %s: %w", original, err)
	}
	return out, nil
}

// RepostCounts implements app.Reposts: a scan of each post's range (a
// local read).
func (s *Store) RepostCounts(_ context.Context, reader string, originals []app.ID) (map[app.ID]app.RepostCount, error) {
	out := make(map[app.ID]app.RepostCount, len(originals))
	for _, id := range originals {
		lower, upper := originalRange(prefixRepost, id)
		it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
		if err != nil {
			return nil, fmt.Errorf("pebble: reposts of %s: %w", id, err)
		}
		var c app.RepostCount
		for ok := it.First(); ok; ok = it.Next() {
			c.Count++
			if parseRepostKey(prefixRepost, it.Key()).Reposter == reader {
				c.Reposted = true
			}
		}
		if err := errors.Join(it.Error(), it.Close()); err != nil {
			return nil, fmt.Errorf("pebble: reposts of %s: %w", id, err)
		}
		if c.Count > 0 {
			out[id] = c
		}
	}
	return out, nil
}

// SetShowReposts implements app.Reposts: both keys in one batch.
func (s *Store) SetShowReposts(_ context.Context, follower, followee string, show bool) error {
	b := s.db.NewBatch()
	defer b.Close()
	fwd, rev := pairKey(prefixNoReposts, followee, follower), pairKey(prefixNoRepostsBy, follower, followee)
	if show {
		_ = b.Delete(fwd, nil)
		_ = b.Delete(rev, nil)
	} else {
		_ = b.Set(fwd, nil, nil)
		_ = b.Set(rev, nil, nil)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("pebble: repost setting %s -> %s: %w", follower, followee, err)
	}
	return nil
}

// RepostsHiddenAmong implements app.Reposts: a point read per user, local.
func (s *Store) RepostsHiddenAmong(_ context.Context, followee string, followers []string) ([]string, error) {
	return s.among(prefixNoReposts, followee, followers)
}

// RepostsHiddenFrom implements app.Reposts: a point read per user, local.
func (s *Store) RepostsHiddenFrom(_ context.Context, follower string, followees []string) ([]string, error) {
	return s.among(prefixNoRepostsBy, follower, followees)
}

// repostKeys adds p's repost keys to b (p a repost; live unless moderated).
func repostKeys(b *pebble.Batch, p app.Post, live bool) {
	if live {
		_ = b.Set(repostKey(prefixRepost, p.RepostOf, p.Author, p.ID), nil, nil)
	}
	_ = b.Set(repostKey(prefixFirstRepost, p.RepostOf, p.Author, p.ID), nil, nil)
}
