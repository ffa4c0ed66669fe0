// Package pebble is the embedded store: posts, users and the follow graph in
// a Pebble database under the data directory. It is the zero-setup default;
// production uses store/cassandra behind the same interfaces.
package pebble

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/internal/setting"
)

// Key layout (the outbox keys are in outbox.go, the likes' in likes.go, the
// replies' in replies.go, the reposts' in reposts.go, the lists' in lists.go: no
// prefix may be a prefix of another). User IDs never contain 0x00, so "prefix user 0x00 other"
// keys sort by user and then by other.
const (
	prefixPost      = "p/"  // p/<id BE>            -> JSON post
	prefixByAuthor  = "a/"  // a/<author>\0<id BE>  -> empty
	prefixUser      = "u/"  // u/<user>             -> RFC 3339 creation time
	prefixFollowing = "f/"  // f/<follower>\0<followee>
	prefixFollowers = "r/"  // r/<followee>\0<follower>
	prefixBlocking  = "b/"  // b/<blocker>\0<blocked>
	prefixBlockedBy = "y/"  // y/<blocked>\0<blocker>
	prefixMuting    = "w/"  // w/<muter>\0<muted>   -> expiry (unix ms BE; empty: none)
	prefixMutedBy   = "v/"  // v/<muted>\0<muter>   -> expiry, as w/
	prefixDeleted   = "x/"  // x/<id BE>            -> RFC 3339 deletion time
	prefixLease     = "l/"  // l/<node BE uint16>   -> JSON lease
	prefixIssued    = "li/" // li/<node BE uint16> -> until when the node's holders may have issued IDs (unix µs BE)
)

// Store implements app.PostStore, app.Graph, app.NotificationStore and
// app.ModerationLog on Pebble.
type Store struct {
	db *pebble.DB
	// graphMu makes Follow/Unfollow's (and Block/Unblock's)
	// check-then-write atomic, so "is the edge new" is answered exactly
	// once per edge.
	graphMu sync.Mutex
	// postMu makes HidePost's read-modify-write atomic with DeletePost, so
	// a moderation never writes back a post deleted after it was read.
	postMu sync.Mutex
	// saveMu makes SavePost's check for a different post under the same
	// ID atomic with its write; striped by ID, so that saves of different
	// posts still commit together.
	saveMu [64]sync.Mutex
	// leaseMu makes each node lease operation atomic.
	leaseMu sync.Mutex
	// keyMu makes BindKey's check-then-write atomic.
	keyMu sync.Mutex
	// likeMu makes Like/Unlike's check-then-write atomic (likes.go).
	likeMu sync.Mutex
	// listMu makes the list writes that check the list first atomic with
	// DeleteList (lists.go), so no member outlives its list.
	listMu sync.Mutex
}

var (
	_ app.PostStore   = (*Store)(nil)
	_ app.Graph       = (*Store)(nil)
	_ app.UserScanner = (*Store)(nil)
)

// Config says where the store lives.
type Config struct {
	// Dir is the data directory; the database is its subdirectory "store".
	Dir string
}

// Validate reports every invalid field as *setting.Error values joined with
// errors.Join.
func (cfg Config) Validate() error {
	if cfg.Dir == "" {
		return setting.Errorf("Dir", "no directory configured")
	}
	return nil
}

// Open opens (creating if needed) the store in cfg.Dir/store. Opening is
// local, so ctx is not consulted; it is taken like every adapter's Open.
func Open(_ context.Context, cfg Config, log *slog.Logger) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("pebble: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	db, err := pebble.Open(filepath.Join(cfg.Dir, "store"), &pebble.Options{Logger: pebbleLogger{log}})
	if err != nil {
		return nil, fmt.Errorf("pebble: open %s: %w", cfg.Dir, err)
	}
	s := &Store{db: db}
	if err := s.indexListsOf(); err != nil {
		return nil, errors.Join(err, db.Close())
	}
	return s, nil
}

// Close flushes and closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Ping reports whether the store is usable.
func (s *Store) Ping(context.Context) error {
	_, closer, err := s.db.Get([]byte(prefixUser))
	if err == nil {
		return closer.Close()
	}
	if errors.Is(err, pebble.ErrNotFound) {
		return nil
	}
	return fmt.Errorf("pebble: ping: %w", err)
}

func idBytes(id app.ID) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(id))
	return b[:]
}

func postKey(id app.ID) []byte { return append([]byte(prefixPost), idBytes(id)...) }

func pairKey(prefix, a, b string) []byte {
	k := make([]byte, 0, len(prefix)+len(a)+1+len(b))
	k = append(k, prefix...)
	k = append(k, a...)
	k = append(k, 0)
	return append(k, b...)
}

func byAuthorKey(author string, id app.ID) []byte {
	return pairKey(prefixByAuthor, author, string(idBytes(id)))
}

// SavePost implements app.PostStore. A different post under the same ID is
// refused (app.ErrIDConflict); saving the same post again is harmless.
func (s *Store) SavePost(ctx context.Context, p app.Post, out ...app.OutboxRecord) error {
	v, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("pebble: encode post: %w", err)
	}
	mu := &s.saveMu[uint64(p.ID)%uint64(len(s.saveMu))]
	mu.Lock()
	defer mu.Unlock()
	found, err := s.GetPosts(ctx, []app.ID{p.ID})
	if err != nil {
		return err
	}
	stored, ok := found[p.ID]
	if ok && stored.Conflicts(p) {
		return fmt.Errorf("pebble: save post %s by %s: %w (held by a post of %s)", p.ID, p.Author, app.ErrIDConflict, stored.Author)
	}
	b := s.db.NewBatch()
	defer b.Close()
	_ = b.Set(postKey(p.ID), v, nil)
	_ = b.Set(byAuthorKey(p.Author, p.ID), nil, nil)
	if p.IsReply() && (!ok || stored.Moderated == "") {
		// A moderated reply saved again stays out of its parent's replies.
		_ = b.Set(replyKey(p.InReplyTo, p.ID), nil, nil)
	}
	if p.IsRepost() {
		// Likewise a moderated repost stays out of the original's reposts.
		repostKeys(b, p, !ok || stored.Moderated == "")
	}
	if err := addOutbox(b, out); err != nil {
		return err
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("pebble: save post %s: %w", p.ID, err)
	}
	return nil
}

// GetPosts implements app.PostStore.
func (s *Store) GetPosts(_ context.Context, ids []app.ID) (map[app.ID]app.Post, error) {
	out := make(map[app.ID]app.Post, len(ids))
	for _, id := range ids {
		v, closer, err := s.db.Get(postKey(id))
		if errors.Is(err, pebble.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("pebble: get post %s: %w", id, err)
		}
		var p app.Post
		err = json.Unmarshal(v, &p)
		closer.Close()
		if err != nil {
			return nil, fmt.Errorf("pebble: decode post %s: %w", id, err)
		}
		out[id] = p
	}
	return out, nil
}

func deletedKey(id app.ID) []byte { return append([]byte(prefixDeleted), idBytes(id)...) }

// DeletePost implements app.PostStore. The deletion record is written in
// the same batch and kept for good: a few bytes per deleted post, where
// Cassandra expires it.
func (s *Store) DeletePost(ctx context.Context, p app.Post, out ...app.OutboxRecord) error {
	s.postMu.Lock()
	defer s.postMu.Unlock()
	if p.Author == "" || (!p.IsReply() && !p.IsRepost()) {
		// The caller may know only the ID (and author): the author, the
		// parent (or a repost's original) come from the stored post.
		found, err := s.GetPosts(ctx, []app.ID{p.ID})
		if err != nil {
			return err
		}
		if f, ok := found[p.ID]; ok {
			if p.Author == "" {
				p.Author = f.Author
			}
			p.InReplyTo, p.RepostOf = f.InReplyTo, f.RepostOf
		}
	}
	b := s.db.NewBatch()
	defer b.Close()
	if p.IsReply() {
		_ = b.Delete(replyKey(p.InReplyTo, p.ID), nil)
	}
	if p.IsRepost() {
		_ = b.Delete(repostKey(prefixRepost, p.RepostOf, p.Author, p.ID), nil)
	}
	_ = b.Delete(postKey(p.ID), nil)
	_ = b.Delete(byAuthorKey(p.Author, p.ID), nil)
	_ = b.Set(deletedKey(p.ID), []byte(time.Now().UTC().Format(time.RFC3339)), nil)
	if err := addOutbox(b, out); err != nil {
		return err
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("pebble: delete post %s: %w", p.ID, err)
	}
	return nil
}

// WasDeleted implements app.PostStore.
func (s *Store) WasDeleted(_ context.Context, id app.ID) (bool, error) {
	ok, err := s.has(deletedKey(id))
	if err != nil {
		return false, fmt.Errorf("pebble: deletion of post %s: %w", id, err)
	}
	return ok, nil
}

// HidePost implements app.PostStore: the post is read and written back
// under postMu, so a post deleted before stays deleted.
func (s *Store) HidePost(ctx context.Context, p app.Post, rule string) error {
	s.postMu.Lock()
	defer s.postMu.Unlock()
	found, err := s.GetPosts(ctx, []app.ID{p.ID})
	if err != nil {
		return err
	}
	stored, ok := found[p.ID]
	if !ok {
		return nil
	}
	stored.Moderated = rule
	v, err := json.Marshal(stored)
	if err != nil {
		return fmt.Errorf("pebble: encode post: %w", err)
	}
	b := s.db.NewBatch()
	defer b.Close()
	_ = b.Set(postKey(p.ID), v, nil)
	if stored.IsReply() {
		// A moderated reply leaves its parent's replies (and count).
		_ = b.Delete(replyKey(stored.InReplyTo, p.ID), nil)
	}
	if stored.IsRepost() {
		_ = b.Delete(repostKey(prefixRepost, stored.RepostOf, stored.Author, p.ID), nil)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("pebble: hide post %s: %w", p.ID, err)
	}
	return nil
}

// AuthorPosts implements app.PostStore.
func (s *Store) AuthorPosts(ctx context.Context, author string, before app.ID, limit int) ([]app.Post, error) {
	lower := pairKey(prefixByAuthor, author, "")
	upper := pairKey(prefixByAuthor, author, "\xff\xff\xff\xff\xff\xff\xff\xff\xff")
	if before > 0 {
		upper = byAuthorKey(author, before)
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return nil, fmt.Errorf("pebble: author posts: %w", err)
	}
	var ids []app.ID
	for ok := it.Last(); ok && len(ids) < limit; ok = it.Prev() {
		k := it.Key()
		ids = append(ids, app.ID(binary.BigEndian.Uint64(k[len(k)-8:])))
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return nil, fmt.Errorf("pebble: author posts: %w", err)
	}
	found, err := s.GetPosts(ctx, ids)
	if err != nil {
		return nil, err
	}
	posts := make([]app.Post, 0, len(ids))
	for _, id := range ids {
		if p, ok := found[id]; ok {
			posts = append(posts, p)
		}
	}
	return posts, nil
}

// EnsureUser implements app.Graph.
func (s *Store) EnsureUser(ctx context.Context, user string) error {
	ok, err := s.UserExists(ctx, user)
	if err != nil || ok {
		return err
	}
	v := []byte(time.Now().UTC().Format(time.RFC3339))
	if err := s.db.Set([]byte(prefixUser+user), v, pebble.Sync); err != nil {
		return fmt.Errorf("pebble: ensure user %s: %w", user, err)
	}
	return nil
}

// UserExists implements app.Graph.
func (s *Store) UserExists(_ context.Context, user string) (bool, error) {
	return s.has([]byte(prefixUser + user))
}

func (s *Store) has(key []byte) (bool, error) {
	_, closer, err := s.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("pebble: get: %w", err)
	}
	return true, closer.Close()
}

// value reads key's value (a copy) and whether it exists.
func (s *Store) value(key []byte) ([]byte, bool, error) {
	v, closer, err := s.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("pebble: get: %w", err)
	}
	v = bytes.Clone(v)
	return v, true, closer.Close()
}

// IsFollowing implements app.Graph.
func (s *Store) IsFollowing(_ context.Context, follower, followee string) (bool, error) {
	return s.has(pairKey(prefixFollowing, follower, followee))
}

// Follow implements app.Graph.
func (s *Store) Follow(_ context.Context, follower, followee string, out ...app.OutboxRecord) (bool, error) {
	return s.setEdge(follower, followee, true, out)
}

// Unfollow implements app.Graph.
func (s *Store) Unfollow(_ context.Context, follower, followee string, out ...app.OutboxRecord) (bool, error) {
	return s.setEdge(follower, followee, false, out)
}

// setEdge adds or removes follower -> followee in both directions and
// reports whether anything changed; out is written with the change.
func (s *Store) setEdge(follower, followee string, present bool, out []app.OutboxRecord) (bool, error) {
	return s.setPair(prefixFollowing, prefixFollowers, "follow", follower, followee, present, out)
}

// setPair adds or removes the edge from -> to, kept under fwdPrefix
// (from's list) and revPrefix (to's), in one batch with out.
func (s *Store) setPair(fwdPrefix, revPrefix, what, from, to string, present bool, out []app.OutboxRecord) (bool, error) {
	return s.changePair(fwdPrefix, revPrefix, what, from, to, out, func(_ []byte, exists bool) (bool, []byte) {
		return exists != present, nil
	}, present)
}

// changePair changes the edge from -> to, kept under fwdPrefix (from's
// list) and revPrefix (to's), both with one value: decide gets the
// edge's value (if it exists) and says whether to write and the value to
// set; present false removes the edge instead. out goes in the same batch,
// exactly when it writes. The check and the write are atomic (graphMu).
func (s *Store) changePair(fwdPrefix, revPrefix, what, from, to string, out []app.OutboxRecord, decide func(old []byte, exists bool) (bool, []byte), present bool) (bool, error) {
	s.graphMu.Lock()
	defer s.graphMu.Unlock()
	fwd := pairKey(fwdPrefix, from, to)
	rev := pairKey(revPrefix, to, from)
	old, exists, err := s.value(fwd)
	if err != nil {
		return false, err
	}
	write, val := decide(old, exists)
	if !write {
		return false, nil
	}
	b := s.db.NewBatch()
	defer b.Close()
	if present {
		_ = b.Set(fwd, val, nil)
		_ = b.Set(rev, val, nil)
	} else {
		_ = b.Delete(fwd, nil)
		_ = b.Delete(rev, nil)
	}
	if err := addOutbox(b, out); err != nil {
		return false, err
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return false, fmt.Errorf("pebble: %s %s -> %s: %w", what, from, to, err)
	}
	return true, nil
}

// Block implements app.Graph.
func (s *Store) Block(_ context.Context, blocker, blocked string, out ...app.OutboxRecord) (bool, error) {
	return s.setPair(prefixBlocking, prefixBlockedBy, "block", blocker, blocked, true, out)
}

// Unblock implements app.Graph.
func (s *Store) Unblock(_ context.Context, blocker, blocked string, out ...app.OutboxRecord) (bool, error) {
	return s.setPair(prefixBlocking, prefixBlockedBy, "block", blocker, blocked, false, out)
}

// IsBlocked implements app.Graph.
func (s *Store) IsBlocked(_ context.Context, blocker, blocked string) (bool, error) {
	return s.has(pairKey(prefixBlocking, blocker, blocked))
}

// Blocking implements app.Graph; the cursor is the last user returned.
func (s *Store) Blocking(_ context.Context, user, cursor string, limit int) ([]string, string, error) {
	return s.edges(prefixBlocking, user, cursor, limit)
}

// BlockedBy implements app.Graph; the cursor is the last user returned.
func (s *Store) BlockedBy(_ context.Context, user, cursor string, limit int) ([]string, string, error) {
	return s.edges(prefixBlockedBy, user, cursor, limit)
}

// Followers implements app.Graph; the cursor is the last user returned.
func (s *Store) Followers(_ context.Context, user, cursor string, limit int) ([]string, string, error) {
	return s.edges(prefixFollowers, user, cursor, limit)
}

// Following implements app.Graph; the cursor is the last user returned.
func (s *Store) Following(_ context.Context, user, cursor string, limit int) ([]string, string, error) {
	return s.edges(prefixFollowing, user, cursor, limit)
}

func (s *Store) edges(prefix, user, cursor string, limit int) ([]string, string, error) {
	return scanEdges(s, prefix, user, cursor, limit, func(other string, _ []byte) (string, error) { return other, nil })
}

// scanEdges pages user's edges under prefix, in name order of the other
// side, as item makes each of the other side's name and the edge's value;
// the cursor is the last name returned.
func scanEdges[T any](s *Store, prefix, user, cursor string, limit int, item func(other string, val []byte) (T, error)) ([]T, string, error) {
	base := pairKey(prefix, user, "")
	upper := append(bytes.Clone(base[:len(base)-1]), 1)
	lower := base
	if cursor != "" {
		lower = append(pairKey(prefix, user, cursor), 0) // strictly after cursor
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return nil, "", fmt.Errorf("pebble: list %s: %w", user, err)
	}
	var items []T
	last := ""
	ok := it.First()
	var ierr error
	for ; ok && len(items) < limit; ok = it.Next() {
		last = string(it.Key()[len(base):])
		v, err := item(last, it.Value())
		if err != nil {
			ierr = err
			break
		}
		items = append(items, v)
	}
	more := ok // the iterator already stands on the entry after the page
	if err := errors.Join(ierr, it.Error(), it.Close()); err != nil {
		return nil, "", fmt.Errorf("pebble: list %s: %w", user, err)
	}
	next := ""
	if more && ierr == nil {
		next = last
	}
	return items, next, nil
}

// pebbleLogger routes Pebble's logs to slog at debug level (errors at error).
type pebbleLogger struct{ log *slog.Logger }

func (l pebbleLogger) Infof(format string, args ...any) {
	l.log.Debug(fmt.Sprintf(format, args...), "component", "pebble")
}

func (l pebbleLogger) Errorf(format string, args ...any) {
	l.log.Error(fmt.Sprintf(format, args...), "component", "pebble")
}

func (l pebbleLogger) Fatalf(format string, args ...any) {
	l.log.Error(fmt.Sprintf(format, args...), "component", "pebble")
	panic(fmt.Sprintf(format, args...))
}

// Users implements app.UserScanner, in name order; the cursor is the last
// user returned.
func (s *Store) Users(_ context.Context, cursor string, limit int) ([]string, string, error) {
	if limit <= 0 {
		return nil, "", nil
	}
	lower := []byte(prefixUser + "\x00") // past the bare prefix Ping reads
	if cursor != "" {
		lower = append([]byte(prefixUser+cursor), 0) // strictly after cursor
	}
	upper := []byte(prefixUser)
	upper[len(upper)-1]++
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return nil, "", fmt.Errorf("pebble: list users: %w", err)
	}
	var users []string
	ok := it.First()
	for ; ok && len(users) < limit; ok = it.Next() {
		users = append(users, string(it.Key()[len(prefixUser):]))
	}
	more := ok // the iterator stands on the user after the page
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return nil, "", fmt.Errorf("pebble: list users: %w", err)
	}
	if !more {
		return users, "", nil
	}
	return users, users[len(users)-1], nil
}
