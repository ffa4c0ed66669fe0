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

var _ app.Likes = (*Store)(nil)

// Like key layout. A post's likes are one key range, so its count is one
// bounded scan and the reader's own like one point read.
const (
	prefixLike      = "k/"  // k/<post BE><user>   -> empty: user likes post now
	prefixFirstLike = "kf/" // kf/<post BE><user>  -> id BE: user's first like of post, kept through unlikes
)

func likeKey(prefix string, post app.ID, user string) []byte {
	k := make([]byte, 0, len(prefix)+8+len(user))
	k = append(k, prefix...)
	k = append(k, idBytes(post)...)
	return append(k, user...)
}

// Like implements app.Likes.
func (s *Store) Like(_ context.Context, l app.Like, out ...app.OutboxRecord) (bool, error) {
	return s.setLike(l, true, out)
}

// Unlike implements app.Likes.
func (s *Store) Unlike(_ context.Context, l app.Like, out ...app.OutboxRecord) (bool, error) {
	return s.setLike(l, false, out)
}

// setLike writes the like (or its removal), the first like's ID if the
// pair has none, and out in one batch, when the call changes anything.
func (s *Store) setLike(l app.Like, present bool, out []app.OutboxRecord) (bool, error) {
	s.likeMu.Lock()
	defer s.likeMu.Unlock()
	key := likeKey(prefixLike, l.Post, l.User)
	exists, err := s.has(key)
	if err != nil || exists == present {
		return false, err
	}
	b := s.db.NewBatch()
	defer b.Close()
	if present {
		_ = b.Set(key, nil, nil)
		first := likeKey(prefixFirstLike, l.Post, l.User)
		had, err := s.has(first)
		if err != nil {
			return false, err
		}
		if !had {
			_ = b.Set(first, idBytes(l.ID), nil)
		}
	} else {
		_ = b.Delete(key, nil)
	}
	if err := addOutbox(b, out); err != nil {
		return false, err
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return false, fmt.Errorf("pebble: like %s by %s: %w", l.Post, l.User, err)
	}
	return true, nil
}

// LikeCounts implements app.Likes: a scan of each post's likes (a local
// read, so counting rows costs no round trip).
func (s *Store) LikeCounts(_ context.Context, reader string, posts []app.ID) (map[app.ID]app.LikeCount, error) {
	out := make(map[app.ID]app.LikeCount, len(posts))
	for _, id := range posts {
		lower := likeKey(prefixLike, id, "")
		upper := likeKey(prefixLike, id+1, "")
		it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
		if err != nil {
			return nil, fmt.Errorf("pebble: likes of %s: %w", id, err)
		}
		var c app.LikeCount
		for ok := it.First(); ok; ok = it.Next() {
			c.Count++
			if !c.Liked && bytes.Equal(it.Key()[len(lower):], []byte(reader)) {
				c.Liked = true
			}
		}
		if err := errors.Join(it.Error(), it.Close()); err != nil {
			return nil, fmt.Errorf("pebble: likes of %s: %w", id, err)
		}
		if c.Count > 0 {
			out[id] = c
		}
	}
	return out, nil
}

// FirstLike implements app.Likes.
func (s *Store) FirstLike(_ context.Context, user string, post app.ID) (app.ID, bool, error) {
	liked, err := s.has(likeKey(prefixLike, post, user))
	if err != nil || !liked {
		return 0, false, err
	}
	v, closer, err := s.db.Get(likeKey(prefixFirstLike, post, user))
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("pebble: first like of %s by %s: %w", post, user, err)
	}
	defer closer.Close()
	if len(v) != 8 {
		return 0, false, fmt.Errorf("pebble: first like of %s by %s: bad value of %d bytes", post, user, len(v))
	}
	return app.ID(binary.BigEndian.Uint64(v)), true, nil
}
