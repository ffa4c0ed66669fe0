package pebble

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/feedsvc/feedsvc/app"
)

const (
	prefixNotification = "n/" // n/<user>\0<id BE>  -> JSON notification
	prefixReadMarker   = "m/" // m/<user>           -> id BE
	prefixDecision     = "d/" // d/<post id BE>     -> JSON decision
	prefixPostNotes    = "q/" // q/<post id BE><user> -> notification id BE
)

var (
	_ app.NotificationStore = (*Store)(nil)
	_ app.ModerationLog     = (*Store)(nil)
)

func notificationKey(user string, id app.ID) []byte {
	return pairKey(prefixNotification, user, string(idBytes(id)))
}

// postNotesPrefix is where the notifications about post are listed. The ID
// has a fixed length, so the user after it needs no separator.
func postNotesPrefix(post app.ID) []byte { return append([]byte(prefixPostNotes), idBytes(post)...) }

// AddNotification implements app.NotificationStore. A notification about a
// post is listed under the post in the same batch.
func (s *Store) AddNotification(_ context.Context, n app.Notification) error {
	n.Read = false
	v, err := json.Marshal(n)
	if err != nil {
		return fmt.Errorf("pebble: encode: %w", err)
	}
	b := s.db.NewBatch()
	defer b.Close()
	_ = b.Set(notificationKey(n.User, n.ID), v, nil)
	if n.Post != 0 {
		_ = b.Set(append(postNotesPrefix(n.Post), n.User...), idBytes(n.ID), nil)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("pebble: add notification for %s: %w", n.User, err)
	}
	return nil
}

// RemovePostNotifications implements app.NotificationStore: the
// notifications listed under post and the list go in one batch.
func (s *Store) RemovePostNotifications(_ context.Context, post app.ID) error {
	prefix := postNotesPrefix(post)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: append(bytes.Clone(prefix), 0xff)})
	if err != nil {
		return fmt.Errorf("pebble: notifications of post %s: %w", post, err)
	}
	b := s.db.NewBatch()
	defer b.Close()
	for ok := it.First(); ok; ok = it.Next() {
		user := string(it.Key()[len(prefix):])
		_ = b.Delete(notificationKey(user, app.ID(binary.BigEndian.Uint64(it.Value()))), nil)
		_ = b.Delete(it.Key(), nil)
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return fmt.Errorf("pebble: notifications of post %s: %w", post, err)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("pebble: remove notifications of post %s: %w", post, err)
	}
	return nil
}

func (s *Store) putJSON(key []byte, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("pebble: encode: %w", err)
	}
	if err := s.db.Set(key, b, pebble.Sync); err != nil {
		return fmt.Errorf("pebble: write: %w", err)
	}
	return nil
}

// readMarker returns user's read marker (0 if none).
func (s *Store) readMarker(user string) (app.ID, error) {
	v, closer, err := s.db.Get([]byte(prefixReadMarker + user))
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("pebble: read marker of %s: %w", user, err)
	}
	defer closer.Close()
	return app.ID(binary.BigEndian.Uint64(v)), nil
}

// Notifications implements app.NotificationStore.
func (s *Store) Notifications(_ context.Context, user string, before app.ID, limit int) ([]app.Notification, error) {
	upTo, err := s.readMarker(user)
	if err != nil {
		return nil, err
	}
	var out []app.Notification
	err = s.scanBack(pairKey(prefixNotification, user, ""), before, limit, func(v []byte) error {
		var n app.Notification
		if err := json.Unmarshal(v, &n); err != nil {
			return err
		}
		n.User, n.Read = user, n.ID <= upTo
		out = append(out, n)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pebble: notifications of %s: %w", user, err)
	}
	return out, nil
}

// scanBack visits up to limit values under prefix whose keys end in an ID
// below before (0: no bound), highest ID first.
func (s *Store) scanBack(prefix []byte, before app.ID, limit int, visit func(v []byte) error) error {
	upper := append(append([]byte{}, prefix...), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	if before > 0 {
		upper = append(append([]byte{}, prefix...), idBytes(before)...)
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: upper})
	if err != nil {
		return err
	}
	n := 0
	for ok := it.Last(); ok && n < limit; ok = it.Prev() {
		if err := visit(it.Value()); err != nil {
			it.Close()
			return err
		}
		n++
	}
	return errors.Join(it.Error(), it.Close())
}

// MarkRead implements app.NotificationStore; the marker only moves forward.
func (s *Store) MarkRead(_ context.Context, user string, upTo app.ID) error {
	s.graphMu.Lock()
	defer s.graphMu.Unlock()
	cur, err := s.readMarker(user)
	if err != nil || upTo <= cur {
		return err
	}
	if err := s.db.Set([]byte(prefixReadMarker+user), idBytes(upTo), pebble.Sync); err != nil {
		return fmt.Errorf("pebble: mark read for %s: %w", user, err)
	}
	return nil
}

// RecordDecision implements app.ModerationLog.
func (s *Store) RecordDecision(_ context.Context, d app.Decision) error {
	return s.putJSON(append([]byte(prefixDecision), idBytes(d.Post)...), d)
}

// Decisions implements app.ModerationLog.
func (s *Store) Decisions(_ context.Context, before app.ID, limit int) ([]app.Decision, error) {
	var out []app.Decision
	err := s.scanBack([]byte(prefixDecision), before, limit, func(v []byte) error {
		var d app.Decision
		if err := json.Unmarshal(v, &d); err != nil {
			return err
		}
		out = append(out, d)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pebble: decisions: %w", err)
	}
	return out, nil
}
