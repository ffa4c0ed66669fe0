package apptest

import (
	"cmp"
	"context"
	"slices"

	"github.com/feedsvc/feedsvc/app"
)

var _ app.Reposts = (*Store)(nil)

// repostRows are the fake's repost state beyond the posts (under
// Store.mu): the live reposts are the stored, unmoderated posts with
// RepostOf set.
type repostRows struct {
	// first is each {reposter, original}'s first repost, kept through
	// unreposts.
	first map[repostPair]app.ID
	// hidden is {follower, followee} pairs whose reposts are hidden.
	hidden map[[2]string]bool
	// amongReads counts RepostsHiddenAmong calls, countReads RepostCounts
	// calls.
	amongReads, countReads int
}

type repostPair struct {
	user     string
	original app.ID
}

// saveRepost records p's first repost (under Store.mu).
func (s *Store) saveRepost(p app.Post) {
	if !p.IsRepost() {
		return
	}
	if s.reposts.first == nil {
		s.reposts.first = map[repostPair]app.ID{}
	}
	k := repostPair{p.Author, p.RepostOf}
	if id, ok := s.reposts.first[k]; !ok || p.ID < id {
		s.reposts.first[k] = p.ID
	}
}

// liveReposts are the live reposts of original, in (Reposter, ID) order.
func (s *Store) liveReposts(original app.ID) []app.Repost {
	var out []app.Repost
	for _, p := range s.posts {
		if p.RepostOf == original && p.Moderated == "" {
			out = append(out, app.Repost{Reposter: p.Author, ID: p.ID})
		}
	}
	slices.SortFunc(out, func(a, b app.Repost) int {
		return cmp.Or(cmp.Compare(a.Reposter, b.Reposter), cmp.Compare(a.ID, b.ID))
	})
	return out
}

// RepostBy implements app.Reposts.
func (s *Store) RepostBy(_ context.Context, user string, original app.ID) (app.ID, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.liveReposts(original) {
		if r.Reposter == user {
			return r.ID, true, nil
		}
	}
	return 0, false, nil
}

// FirstRepost implements app.Reposts.
func (s *Store) FirstRepost(_ context.Context, user string, original app.ID) (app.ID, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.reposts.first[repostPair{user, original}]
	return id, ok, nil
}

// RepostsOf implements app.Reposts.
func (s *Store) RepostsOf(_ context.Context, original app.ID, after app.Repost, limit int) ([]app.Repost, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []app.Repost
	for _, r := range s.liveReposts(original) {
		if cmp.Or(cmp.Compare(r.Reposter, after.Reposter), cmp.Compare(r.ID, after.ID)) > 0 && len(out) < limit {
			out = append(out, r)
		}
	}
	return out, nil
}

// RepostCounts implements app.Reposts.
func (s *Store) RepostCounts(_ context.Context, reader string, originals []app.ID) (map[app.ID]app.RepostCount, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reposts.countReads++
	out := map[app.ID]app.RepostCount{}
	for _, p := range s.posts {
		if p.IsRepost() && p.Moderated == "" && slices.Contains(originals, p.RepostOf) {
			c := out[p.RepostOf]
			c.Count++
			c.Reposted = c.Reposted || p.Author == reader
			out[p.RepostOf] = c
		}
	}
	return out, nil
}

// SetShowReposts implements app.Reposts.
func (s *Store) SetShowReposts(_ context.Context, follower, followee string, show bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.reposts.hidden == nil {
		s.reposts.hidden = map[[2]string]bool{}
	}
	if show {
		delete(s.reposts.hidden, [2]string{follower, followee})
	} else {
		s.reposts.hidden[[2]string{follower, followee}] = true
	}
	return nil
}

// RepostsHiddenAmong implements app.Reposts.
func (s *Store) RepostsHiddenAmong(_ context.Context, followee string, followers []string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reposts.amongReads++
	var out []string
	for _, u := range followers {
		if s.reposts.hidden[[2]string{u, followee}] && !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	return out, nil
}

// RepostsHiddenFrom implements app.Reposts.
func (s *Store) RepostsHiddenFrom(_ context.Context, follower string, followees []string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, u := range followees {
		if s.reposts.hidden[[2]string{follower, u}] && !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	return out, nil
}

// RepostsHiddenAmongReads reports how many times RepostsHiddenAmong was
// called, for tests that fan-out asks once per page of followers.
func (s *Store) RepostsHiddenAmongReads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reposts.amongReads
}

// RepostCountReads reports how many times RepostCounts was called.
func (s *Store) RepostCountReads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reposts.countReads
}
