package apptest

import (
	"context"
	"slices"

	"github.com/feedsvc/feedsvc/app"
)

var _ app.Replies = (*Store)(nil)

// replyReads counts the batched reads of the reply rule and the reply
// counts, for tests that they are one per page (under Store.mu).
type replyReads struct {
	followersAmong, followeesAmong, replyCounts int
}

// FollowersAmong implements app.Graph.
func (s *Store) FollowersAmong(_ context.Context, followee string, users []string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads.followersAmong++
	var out []string
	for _, u := range users {
		if s.follows[[2]string{u, followee}] && !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	return out, nil
}

// FolloweesAmong implements app.Graph.
func (s *Store) FolloweesAmong(_ context.Context, follower string, users []string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads.followeesAmong++
	var out []string
	for _, u := range users {
		if s.follows[[2]string{follower, u}] && !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	return out, nil
}

// Replies implements app.Replies: the live replies are the stored posts
// with the parent, not moderated (a deleted one is no longer stored).
func (s *Store) Replies(_ context.Context, parent, after app.ID, limit int) ([]app.ID, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []app.ID
	for id, p := range s.posts {
		if p.InReplyTo == parent && p.Moderated == "" && id > after {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out[:min(limit, len(out))], nil
}

// ReplyCounts implements app.Replies.
func (s *Store) ReplyCounts(_ context.Context, parents []app.ID) (map[app.ID]int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads.replyCounts++
	out := map[app.ID]int64{}
	for _, p := range s.posts {
		if p.IsReply() && p.Moderated == "" && slices.Contains(parents, p.InReplyTo) {
			out[p.InReplyTo]++
		}
	}
	return out, nil
}

// FollowersAmongReads reports how many times FollowersAmong was called,
// for tests that fan-out asks once per page of followers.
func (s *Store) FollowersAmongReads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads.followersAmong
}

// FolloweesAmongReads reports how many times FolloweesAmong was called.
func (s *Store) FolloweesAmongReads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads.followeesAmong
}

// ReplyCountReads reports how many times ReplyCounts was called.
func (s *Store) ReplyCountReads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads.replyCounts
}
