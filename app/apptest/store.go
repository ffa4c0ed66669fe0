package apptest

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/feedsvc/feedsvc/app"
)

// Store is an in-memory app.PostStore, app.Graph, app.NotificationStore and
// app.ModerationLog.
type Store struct {
	mu        sync.Mutex
	posts     map[app.ID]app.Post
	deleted   map[app.ID]bool
	users     map[string]bool
	follows   map[[2]string]bool      // {follower, followee}
	blocks    map[[2]string]bool      // {blocker, blocked}
	mutes     map[[2]string]time.Time // {muter, muted} -> expiry (zero: none)
	likes     likeRows                // see likes.go
	reads     replyReads              // see replies.go
	reposts   repostRows              // see reposts.go
	lists     listRows                // see lists.go
	notes     map[string]map[app.ID]app.Notification
	read      map[string]app.ID // per user: notifications up to this ID are read
	decisions map[app.ID]app.Decision
	outbox    map[app.ID]app.OutboxRecord
	cursors   map[int]app.ID
	keys      map[[2]string]app.KeyBinding
	// FailSave makes the next SavePost fail with it, writing nothing.
	FailSave   error
	completed  []app.ID
	completion map[app.ID]app.Completion
}

var (
	_ app.PostStore         = (*Store)(nil)
	_ app.Graph             = (*Store)(nil)
	_ app.UserScanner       = (*Store)(nil)
	_ app.NotificationStore = (*Store)(nil)
	_ app.ModerationLog     = (*Store)(nil)
	_ app.Outbox            = (*Store)(nil)
	_ app.IdempotencyKeys   = (*Store)(nil)
)

// NewStore returns an empty Store.
func NewStore() *Store {
	return &Store{
		posts:     map[app.ID]app.Post{},
		deleted:   map[app.ID]bool{},
		users:     map[string]bool{},
		follows:   map[[2]string]bool{},
		blocks:    map[[2]string]bool{},
		mutes:     map[[2]string]time.Time{},
		notes:     map[string]map[app.ID]app.Notification{},
		read:      map[string]app.ID{},
		decisions: map[app.ID]app.Decision{},
		outbox:    map[app.ID]app.OutboxRecord{},
		cursors:   map[int]app.ID{},
		keys:      map[[2]string]app.KeyBinding{},
	}
}

// record adds out to the outbox; a record already there keeps its state.
func (s *Store) record(out []app.OutboxRecord) {
	for _, r := range out {
		if _, ok := s.outbox[r.ID]; !ok {
			s.outbox[r.ID] = r
		}
	}
}

// ScanOutbox implements app.Outbox.
func (s *Store) ScanOutbox(_ context.Context, shard int, after app.ID, limit int) ([]app.OutboxRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []app.OutboxRecord
	for _, r := range s.outbox {
		if r.Shard == shard && r.ID > after {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b app.OutboxRecord) int { return cmp.Compare(a.ID, b.ID) })
	return out[:min(limit, len(out))], nil
}

// MarkOutboxDone implements app.Outbox.
func (s *Store) MarkOutboxDone(_ context.Context, _ int, ids []app.ID) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		if r, ok := s.outbox[id]; ok {
			r.Done = true
			s.outbox[id] = r
		}
	}
	return nil
}

// OutboxCursor implements app.Outbox.
func (s *Store) OutboxCursor(_ context.Context, shard int) (app.ID, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cursors[shard], nil
}

// SetOutboxCursor implements app.Outbox.
func (s *Store) SetOutboxCursor(_ context.Context, shard int, c app.ID) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cursors[shard] = c
	return nil
}

// CompleteOutbox implements app.Outbox: the Store writes a change and its
// record at once, so there is nothing to complete and every record is
// published, unless SetCompletion said otherwise; it remembers the calls.
func (s *Store) CompleteOutbox(_ context.Context, recs []app.OutboxRecord) ([]app.Completion, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	verdicts := make([]app.Completion, len(recs))
	for i, r := range recs {
		s.completed = append(s.completed, r.ID)
		verdicts[i] = s.completion[r.ID]
	}
	return verdicts, nil
}

// SetCompletion makes CompleteOutbox answer v for the record id, as a
// store whose changes may not happen would.
func (s *Store) SetCompletion(id app.ID, v app.Completion) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.completion == nil {
		s.completion = map[app.ID]app.Completion{}
	}
	s.completion[id] = v
}

// Completed lists the records CompleteOutbox was given, in order.
func (s *Store) Completed() []app.ID {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.completed)
}

// Outbox returns every record, in ID order.
func (s *Store) Outbox() []app.OutboxRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]app.OutboxRecord, 0, len(s.outbox))
	for _, r := range s.outbox {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b app.OutboxRecord) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// BindKey implements app.IdempotencyKeys.
func (s *Store) BindKey(_ context.Context, user, key string, b app.KeyBinding) (app.KeyBinding, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := [2]string{user, key}
	if held, ok := s.keys[k]; ok {
		return held, nil
	}
	s.keys[k] = b
	return b, nil
}

// SavePost implements app.PostStore.
func (s *Store) SavePost(_ context.Context, p app.Post, out ...app.OutboxRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.FailSave; err != nil {
		s.FailSave = nil
		return err
	}
	if old, ok := s.posts[p.ID]; ok && old.Conflicts(p) {
		return fmt.Errorf("save post %s: %w", p.ID, app.ErrIDConflict)
	}
	s.posts[p.ID] = p
	s.saveRepost(p)
	s.record(out)
	return nil
}

// GetPosts implements app.PostStore.
func (s *Store) GetPosts(_ context.Context, ids []app.ID) (map[app.ID]app.Post, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[app.ID]app.Post{}
	for _, id := range ids {
		if p, ok := s.posts[id]; ok {
			out[id] = p
		}
	}
	return out, nil
}

// DeletePost implements app.PostStore.
func (s *Store) DeletePost(_ context.Context, p app.Post, out ...app.OutboxRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.posts, p.ID)
	s.deleted[p.ID] = true
	s.record(out)
	return nil
}

// WasDeleted implements app.PostStore.
func (s *Store) WasDeleted(_ context.Context, id app.ID) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deleted[id], nil
}

// HidePost implements app.PostStore: only a stored post is changed.
func (s *Store) HidePost(_ context.Context, p app.Post, rule string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if stored, ok := s.posts[p.ID]; ok {
		stored.Moderated = rule
		s.posts[p.ID] = stored
	}
	return nil
}

// AuthorPosts implements app.PostStore.
func (s *Store) AuthorPosts(_ context.Context, author string, before app.ID, limit int) ([]app.Post, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []app.Post
	for _, p := range s.posts {
		if p.Author == author && (before == 0 || p.ID < before) {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID > out[j].ID })
	return out[:min(limit, len(out))], nil
}

// EnsureUser implements app.Graph.
func (s *Store) EnsureUser(_ context.Context, u string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[u] = true
	return nil
}

// Users implements app.UserScanner, in name order. A cancelled ctx
// fails it, as it does a real store's scan.
func (s *Store) Users(ctx context.Context, cursor string, limit int) ([]string, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var all []string
	for u := range s.users {
		if u > cursor {
			all = append(all, u)
		}
	}
	slices.Sort(all)
	if limit <= 0 {
		return nil, "", nil
	}
	if len(all) > limit {
		return all[:limit], all[limit-1], nil
	}
	return all, "", nil
}

// UserExists implements app.Graph.
func (s *Store) UserExists(_ context.Context, u string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.users[u], nil
}

func (s *Store) setEdge(a, b string, on bool, out []app.OutboxRecord) (bool, error) {
	return s.setPair(s.follows, a, b, on, out)
}

func (s *Store) setPair(edges map[[2]string]bool, a, b string, on bool, out []app.OutboxRecord) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := [2]string{a, b}
	changed := edges[k] != on
	if on {
		edges[k] = true
	} else {
		delete(edges, k)
	}
	if changed {
		s.record(out)
	}
	return changed, nil
}

// Follow implements app.Graph.
func (s *Store) Follow(_ context.Context, a, b string, out ...app.OutboxRecord) (bool, error) {
	return s.setEdge(a, b, true, out)
}

// Unfollow implements app.Graph.
func (s *Store) Unfollow(_ context.Context, a, b string, out ...app.OutboxRecord) (bool, error) {
	return s.setEdge(a, b, false, out)
}

// IsFollowing implements app.Graph.
func (s *Store) IsFollowing(_ context.Context, a, b string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.follows[[2]string{a, b}], nil
}

// list pages one side of the sorted edge list; the cursor is the last user
// of the previous page.
func (s *Store) list(side int, user, cursor string, limit int) ([]string, string, error) {
	return s.listPairs(s.follows, side, user, cursor, limit)
}

func (s *Store) listPairs(edges map[[2]string]bool, side int, user, cursor string, limit int) ([]string, string, error) {
	return pagePairs(s, edges, side, user, cursor, limit, func(k [2]string, _ bool) string { return k[1-side] })
}

// pagePairs pages one side of an edge map, in name order of the other
// side, as item makes each edge; the cursor is the last name of the
// previous page.
func pagePairs[V, T any](s *Store, edges map[[2]string]V, side int, user, cursor string, limit int, item func([2]string, V) T) ([]T, string, error) {
	s.mu.Lock()
	var keys [][2]string
	for k := range edges {
		if k[side] == user && k[1-side] > cursor {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i][1-side] < keys[j][1-side] })
	next := ""
	if len(keys) > limit {
		keys = keys[:limit]
		next = keys[limit-1][1-side]
	}
	all := make([]T, len(keys))
	for i, k := range keys {
		all[i] = item(k, edges[k])
	}
	s.mu.Unlock()
	return all, next, nil
}

// Followers implements app.Graph.
func (s *Store) Followers(_ context.Context, u, c string, n int) ([]string, string, error) {
	return s.list(1, u, c, n)
}

// Following implements app.Graph.
func (s *Store) Following(_ context.Context, u, c string, n int) ([]string, string, error) {
	return s.list(0, u, c, n)
}

// Block implements app.Graph.
func (s *Store) Block(_ context.Context, a, b string, out ...app.OutboxRecord) (bool, error) {
	return s.setPair(s.blocks, a, b, true, out)
}

// Unblock implements app.Graph.
func (s *Store) Unblock(_ context.Context, a, b string, out ...app.OutboxRecord) (bool, error) {
	return s.setPair(s.blocks, a, b, false, out)
}

// IsBlocked implements app.Graph.
func (s *Store) IsBlocked(_ context.Context, a, b string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.blocks[[2]string{a, b}], nil
}

// Blocking implements app.Graph.
func (s *Store) Blocking(_ context.Context, u, c string, n int) ([]string, string, error) {
	return s.listPairs(s.blocks, 0, u, c, n)
}

// BlockedBy implements app.Graph.
func (s *Store) BlockedBy(_ context.Context, u, c string, n int) ([]string, string, error) {
	return s.listPairs(s.blocks, 1, u, c, n)
}

// Mute implements app.Graph.
func (s *Store) Mute(_ context.Context, m app.Mute, out ...app.OutboxRecord) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := [2]string{m.Muter, m.Muted}
	old, ok := s.mutes[k]
	at := m.ExpiresAt.Truncate(time.Millisecond)
	if ok && old.Equal(at) {
		return false, nil
	}
	s.mutes[k] = at
	s.record(out)
	return true, nil
}

// Unmute implements app.Graph.
func (s *Store) Unmute(_ context.Context, muter, muted string, out ...app.OutboxRecord) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := [2]string{muter, muted}
	if _, ok := s.mutes[k]; !ok {
		return false, nil
	}
	delete(s.mutes, k)
	s.record(out)
	return true, nil
}

// ExpireMute implements app.Graph.
func (s *Store) ExpireMute(_ context.Context, m app.Mute, out ...app.OutboxRecord) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := [2]string{m.Muter, m.Muted}
	if at, ok := s.mutes[k]; !ok || at.IsZero() || !at.Equal(m.ExpiresAt) {
		return false, nil
	}
	delete(s.mutes, k)
	s.record(out)
	return true, nil
}

// GetMute implements app.Graph.
func (s *Store) GetMute(_ context.Context, muter, muted string) (app.Mute, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	at, ok := s.mutes[[2]string{muter, muted}]
	if !ok {
		return app.Mute{}, false, nil
	}
	return app.Mute{Muter: muter, Muted: muted, ExpiresAt: at}, true, nil
}

func muteOf(k [2]string, at time.Time) app.Mute {
	return app.Mute{Muter: k[0], Muted: k[1], ExpiresAt: at}
}

// Muting implements app.Graph.
func (s *Store) Muting(_ context.Context, u, c string, n int) ([]app.Mute, string, error) {
	return pagePairs(s, s.mutes, 0, u, c, n, muteOf)
}

// MutedBy implements app.Graph.
func (s *Store) MutedBy(_ context.Context, u, c string, n int) ([]app.Mute, string, error) {
	return pagePairs(s, s.mutes, 1, u, c, n, muteOf)
}

// AddNotification implements app.NotificationStore.
func (s *Store) AddNotification(_ context.Context, n app.Notification) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.notes[n.User] == nil {
		s.notes[n.User] = map[app.ID]app.Notification{}
	}
	s.notes[n.User][n.ID] = n
	return nil
}

// RemovePostNotifications implements app.NotificationStore.
func (s *Store) RemovePostNotifications(_ context.Context, post app.ID) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, notes := range s.notes {
		for id, n := range notes {
			if n.Post == post {
				delete(notes, id)
			}
		}
	}
	return nil
}

// Notifications implements app.NotificationStore.
func (s *Store) Notifications(_ context.Context, user string, before app.ID, limit int) ([]app.Notification, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []app.Notification
	for id, n := range s.notes[user] {
		if before == 0 || id < before {
			n.Read = id <= s.read[user]
			out = append(out, n)
		}
	}
	slices.SortFunc(out, func(a, b app.Notification) int { return cmp.Compare(b.ID, a.ID) })
	return out[:min(limit, len(out))], nil
}

// MarkRead implements app.NotificationStore with a per-user marker that
// only moves forward, like the adapters.
func (s *Store) MarkRead(_ context.Context, user string, upTo app.ID) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.read[user] = max(s.read[user], upTo)
	return nil
}

// RecordDecision implements app.ModerationLog.
func (s *Store) RecordDecision(_ context.Context, d app.Decision) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.decisions[d.Post] = d
	return nil
}

// Decisions implements app.ModerationLog.
func (s *Store) Decisions(_ context.Context, before app.ID, limit int) ([]app.Decision, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []app.Decision
	for id, d := range s.decisions {
		if before == 0 || id < before {
			out = append(out, d)
		}
	}
	slices.SortFunc(out, func(a, b app.Decision) int { return cmp.Compare(b.Post, a.Post) })
	return out[:min(limit, len(out))], nil
}
