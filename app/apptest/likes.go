package apptest

import (
	"context"

	"github.com/feedsvc/feedsvc/app"
)

var _ app.Likes = (*Store)(nil)

// likeRows are the fake's likes: made lazily, under Store.mu.
type likeRows struct {
	// liked holds the pairs liked now, first the first like of each pair
	// ever (kept through unlikes, as the stores keep it).
	liked map[app.ID]map[string]bool
	first map[app.ID]map[string]app.ID
	// countReads counts LikeCounts calls (LikeCountReads).
	countReads int
}

func (s *Store) likeRows() *likeRows {
	if s.likes.liked == nil {
		s.likes.liked = map[app.ID]map[string]bool{}
		s.likes.first = map[app.ID]map[string]app.ID{}
	}
	return &s.likes
}

// Like implements app.Likes.
func (s *Store) Like(_ context.Context, l app.Like, out ...app.OutboxRecord) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.likeRows()
	if r.liked[l.Post][l.User] {
		return false, nil
	}
	if r.liked[l.Post] == nil {
		r.liked[l.Post] = map[string]bool{}
		r.first[l.Post] = map[string]app.ID{}
	}
	r.liked[l.Post][l.User] = true
	if _, ok := r.first[l.Post][l.User]; !ok {
		r.first[l.Post][l.User] = l.ID
	}
	s.record(out)
	return true, nil
}

// Unlike implements app.Likes.
func (s *Store) Unlike(_ context.Context, l app.Like, out ...app.OutboxRecord) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.likeRows()
	if !r.liked[l.Post][l.User] {
		return false, nil
	}
	delete(r.liked[l.Post], l.User)
	s.record(out)
	return true, nil
}

// LikeCounts implements app.Likes.
func (s *Store) LikeCounts(_ context.Context, reader string, posts []app.ID) (map[app.ID]app.LikeCount, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.likeRows()
	r.countReads++
	out := map[app.ID]app.LikeCount{}
	for _, id := range posts {
		if n := len(r.liked[id]); n > 0 {
			out[id] = app.LikeCount{Count: int64(n), Liked: r.liked[id][reader]}
		}
	}
	return out, nil
}

// FirstLike implements app.Likes.
func (s *Store) FirstLike(_ context.Context, user string, post app.ID) (app.ID, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.likeRows()
	if !r.liked[post][user] {
		return 0, false, nil
	}
	return r.first[post][user], true, nil
}

// LikeCountReads reports how many times LikeCounts was called, for tests
// that a page of posts costs one read.
func (s *Store) LikeCountReads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.likes.countReads
}
