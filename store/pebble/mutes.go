package pebble

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/feedsvc/feedsvc/app"
)

// Mutes are kept like blocks, under w/ (the muter's list) and v/ (the
// muted user's), both keys holding the expiry: empty for a mute without
// one, else its Unix milliseconds, big-endian.

func expiryValue(at time.Time) []byte {
	if at.IsZero() {
		return []byte{}
	}
	return binary.BigEndian.AppendUint64(nil, uint64(at.UnixMilli()))
}

func expiryOf(v []byte) (time.Time, error) {
	switch len(v) {
	case 0:
		return time.Time{}, nil
	case 8:
		return time.UnixMilli(int64(binary.BigEndian.Uint64(v))).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("pebble: a mute's expiry of %d bytes", len(v))
}

// Mute implements app.Graph.
func (s *Store) Mute(_ context.Context, m app.Mute, out ...app.OutboxRecord) (bool, error) {
	val := expiryValue(m.ExpiresAt)
	return s.changePair(prefixMuting, prefixMutedBy, "mute", m.Muter, m.Muted, out, func(old []byte, exists bool) (bool, []byte) {
		return !exists || !bytes.Equal(old, val), val
	}, true)
}

// Unmute implements app.Graph.
func (s *Store) Unmute(_ context.Context, muter, muted string, out ...app.OutboxRecord) (bool, error) {
	return s.changePair(prefixMuting, prefixMutedBy, "unmute", muter, muted, out, func(_ []byte, exists bool) (bool, []byte) {
		return exists, nil
	}, false)
}

// ExpireMute implements app.Graph: the check of the expiry and the
// removal are atomic, so a mute made again since stays.
func (s *Store) ExpireMute(_ context.Context, m app.Mute, out ...app.OutboxRecord) (bool, error) {
	val := expiryValue(m.ExpiresAt)
	return s.changePair(prefixMuting, prefixMutedBy, "expire mute", m.Muter, m.Muted, out, func(old []byte, exists bool) (bool, []byte) {
		return exists && len(val) > 0 && bytes.Equal(old, val), nil
	}, false)
}

// GetMute implements app.Graph.
func (s *Store) GetMute(_ context.Context, muter, muted string) (app.Mute, bool, error) {
	v, ok, err := s.value(pairKey(prefixMuting, muter, muted))
	if err != nil || !ok {
		return app.Mute{}, false, err
	}
	at, err := expiryOf(v)
	if err != nil {
		return app.Mute{}, false, err
	}
	return app.Mute{Muter: muter, Muted: muted, ExpiresAt: at}, true, nil
}

// Muting implements app.Graph; the cursor is the last muted user returned.
func (s *Store) Muting(_ context.Context, user, cursor string, limit int) ([]app.Mute, string, error) {
	return scanEdges(s, prefixMuting, user, cursor, limit, func(muted string, v []byte) (app.Mute, error) {
		at, err := expiryOf(v)
		return app.Mute{Muter: user, Muted: muted, ExpiresAt: at}, err
	})
}

// MutedBy implements app.Graph; the cursor is the last muter returned.
func (s *Store) MutedBy(_ context.Context, user, cursor string, limit int) ([]app.Mute, string, error) {
	return scanEdges(s, prefixMutedBy, user, cursor, limit, func(muter string, v []byte) (app.Mute, error) {
		at, err := expiryOf(v)
		return app.Mute{Muter: muter, Muted: user, ExpiresAt: at}, err
	})
}
