package pebble

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/feedsvc/feedsvc/app"
)

var _ app.Lists = (*Store)(nil)

// List key layout. The first two are under the owner, so a list is found
// only by its owner; a list's members are one key range, deleted with the
// list in one batch. The third indexes the lists each member is in
// (app.Lists.ListsOf), written in the batch that adds or removes the
// member; user IDs hold no 0x00, so its keys sort by owner, then ID.
const (
	prefixList       = "ls/" // ls/<owner>\0<id BE>             -> JSON listValue
	prefixListMember = "lm/" // lm/<owner>\0<id BE><member>     -> empty
	prefixListsOf    = "lo/" // lo/<member>\0<owner>\0<id BE>  -> empty
)

// listValue is a list's stored value (its owner and ID are in the key).
type listValue struct {
	Title     string    `json:"title"`
	CreatedAt time.Time `json:"created_at"`
}

func listKey(owner string, id app.ID) []byte {
	return pairKey(prefixList, owner, string(idBytes(id)))
}

// listsOfKey is the index key of member in owner's list id; with owner
// "" and id 0 it is the lower bound of member's lists.
func listsOfKey(member, owner string, id app.ID) []byte {
	if owner == "" {
		return pairKey(prefixListsOf, member, "")
	}
	return append(pairKey(prefixListsOf, member, owner), append([]byte{0}, idBytes(id)...)...)
}

// memberKey is a member's key; with member "" it is the lower bound of
// the list's members, and of id+1 their upper bound.
func memberKey(owner string, id app.ID, member string) []byte {
	return append(pairKey(prefixListMember, owner, string(idBytes(id))), member...)
}

// CreateList implements app.Lists.
func (s *Store) CreateList(_ context.Context, l app.List) error {
	v, err := json.Marshal(listValue{Title: l.Name, CreatedAt: l.CreatedAt.UTC()})
	if err != nil {
		return fmt.Errorf("pebble: create list %s: %w", l.ID, err)
	}
	s.listMu.Lock()
	defer s.listMu.Unlock()
	// Saving again keeps the list as it is (a rename since stays).
	if ok, err := s.has(listKey(l.Owner, l.ID)); err != nil || ok {
		return err
	}
	if err := s.db.Set(listKey(l.Owner, l.ID), v, pebble.Sync); err != nil {
		return fmt.Errorf("pebble: create list %s: %w", l.ID, err)
	}
	return nil
}

// RenameList implements app.Lists.
func (s *Store) RenameList(_ context.Context, owner string, id app.ID, title string) error {
	s.listMu.Lock()
	defer s.listMu.Unlock()
	l, ok, err := s.getList(owner, id)
	if err != nil || !ok {
		return err
	}
	v, err := json.Marshal(listValue{Title: title, CreatedAt: l.CreatedAt})
	if err != nil {
		return fmt.Errorf("pebble: rename list %s: %w", id, err)
	}
	if err := s.db.Set(listKey(owner, id), v, pebble.Sync); err != nil {
		return fmt.Errorf("pebble: rename list %s: %w", id, err)
	}
	return nil
}

// GetList implements app.Lists.
func (s *Store) GetList(_ context.Context, owner string, id app.ID) (app.List, bool, error) {
	return s.getList(owner, id)
}

func (s *Store) getList(owner string, id app.ID) (app.List, bool, error) {
	v, ok, err := s.value(listKey(owner, id))
	if err != nil || !ok {
		return app.List{}, false, err
	}
	var lv listValue
	if err := json.Unmarshal(v, &lv); err != nil {
		return app.List{}, false, fmt.Errorf("pebble: list %s: %w", id, err)
	}
	return app.List{ID: id, Owner: owner, Name: lv.Title, CreatedAt: lv.CreatedAt}, true, nil
}

// OwnerLists implements app.Lists: the owner's key range, in ID order.
func (s *Store) OwnerLists(_ context.Context, owner string, limit int) ([]app.List, error) {
	lower := pairKey(prefixList, owner, "")
	// Owners hold no 0x00: 0x01 in its place bounds this owner's keys.
	upper := append([]byte(prefixList+owner), 1)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return nil, fmt.Errorf("pebble: lists of %s: %w", owner, err)
	}
	var out []app.List
	for ok := it.First(); ok && len(out) < limit; ok = it.Next() {
		k := it.Key()[len(lower):]
		if len(k) != 8 {
			continue
		}
		var lv listValue
		if err := json.Unmarshal(it.Value(), &lv); err != nil {
			_ = it.Close()
			return nil, fmt.Errorf("pebble: lists of %s: %w", owner, err)
		}
		out = append(out, app.List{ID: app.ID(binary.BigEndian.Uint64(k)), Owner: owner, Name: lv.Title, CreatedAt: lv.CreatedAt})
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return nil, fmt.Errorf("pebble: lists of %s: %w", owner, err)
	}
	return out, nil
}

// DeleteList implements app.Lists: the list and its members in one batch.
func (s *Store) DeleteList(ctx context.Context, owner string, id app.ID) error {
	s.listMu.Lock()
	defer s.listMu.Unlock()
	members, err := s.ListMembers(ctx, owner, id, "", 1<<30)
	if err != nil {
		return fmt.Errorf("pebble: delete list %s: %w", id, err)
	}
	b := s.db.NewBatch()
	defer b.Close()
	for _, m := range members {
		_ = b.Delete(listsOfKey(m, owner, id), nil)
	}
	_ = b.Delete(listKey(owner, id), nil)
	_ = b.DeleteRange(memberKey(owner, id, ""), memberKey(owner, id+1, ""), nil)
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("pebble: delete list %s: %w", id, err)
	}
	return nil
}

// AddListMember implements app.Lists. It writes nothing for a list that
// is gone (deleted after the caller's check), so no member outlives it.
func (s *Store) AddListMember(_ context.Context, owner string, id app.ID, member string) error {
	s.listMu.Lock()
	defer s.listMu.Unlock()
	if ok, err := s.has(listKey(owner, id)); err != nil || !ok {
		return err
	}
	b := s.db.NewBatch()
	defer b.Close()
	_ = b.Set(memberKey(owner, id, member), nil, nil)
	_ = b.Set(listsOfKey(member, owner, id), nil, nil)
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("pebble: add %s to list %s: %w", member, id, err)
	}
	return nil
}

// RemoveListMember implements app.Lists.
func (s *Store) RemoveListMember(_ context.Context, owner string, id app.ID, member string) error {
	b := s.db.NewBatch()
	defer b.Close()
	_ = b.Delete(memberKey(owner, id, member), nil)
	_ = b.Delete(listsOfKey(member, owner, id), nil)
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("pebble: remove %s from list %s: %w", member, id, err)
	}
	return nil
}

// ListMembers implements app.Lists. Names hold no 0x00, so the key of
// after with a 0x00 appended is the first key past it.
func (s *Store) ListMembers(_ context.Context, owner string, id app.ID, after string, limit int) ([]string, error) {
	base := len(memberKey(owner, id, ""))
	lower := memberKey(owner, id, "")
	if after != "" {
		lower = append(memberKey(owner, id, after), 0)
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: memberKey(owner, id+1, "")})
	if err != nil {
		return nil, fmt.Errorf("pebble: members of list %s: %w", id, err)
	}
	var out []string
	for ok := it.First(); ok && len(out) < limit; ok = it.Next() {
		out = append(out, string(it.Key()[base:]))
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return nil, fmt.Errorf("pebble: members of list %s: %w", id, err)
	}
	return out, nil
}

// CountListMembers implements app.Lists: a scan of the list's members (a
// local read, MaxListMembers keys at most).
func (s *Store) CountListMembers(_ context.Context, owner string, id app.ID) (int, error) {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: memberKey(owner, id, ""), UpperBound: memberKey(owner, id+1, "")})
	if err != nil {
		return 0, fmt.Errorf("pebble: count members of list %s: %w", id, err)
	}
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		n++
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return 0, fmt.Errorf("pebble: count members of list %s: %w", id, err)
	}
	return n, nil
}

// IsListMember implements app.Lists.
func (s *Store) IsListMember(_ context.Context, owner string, id app.ID, member string) (bool, error) {
	return s.has(memberKey(owner, id, member))
}

// ListsOf implements app.Lists: member's index key range, from after on.
func (s *Store) ListsOf(_ context.Context, member string, after app.ListRef, limit int) ([]app.ListRef, error) {
	base := listsOfKey(member, "", 0)
	lower := base
	if after.Owner != "" {
		lower = append(listsOfKey(member, after.Owner, after.ID), 0)
	}
	upper := append([]byte(prefixListsOf+member), 1)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return nil, fmt.Errorf("pebble: lists of %s: %w", member, err)
	}
	var out []app.ListRef
	for ok := it.First(); ok && len(out) < limit; ok = it.Next() {
		k := it.Key()[len(base):] // <owner>\0<id BE>
		if len(k) < 10 || k[len(k)-9] != 0 {
			continue
		}
		out = append(out, app.ListRef{Owner: string(k[:len(k)-9]), ID: app.ID(binary.BigEndian.Uint64(k[len(k)-8:]))})
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return nil, fmt.Errorf("pebble: lists of %s: %w", member, err)
	}
	return out, nil
}

// indexListsOf writes the ListsOf index of every list member, for a store
// made before it existed; it is idempotent, and cheap on a laptop's data.
func (s *Store) indexListsOf() error {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte(prefixListMember), UpperBound: []byte("lm0")})
	if err != nil {
		return fmt.Errorf("pebble: index lists of members: %w", err)
	}
	b := s.db.NewBatch()
	defer b.Close()
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()[len(prefixListMember):] // <owner>\0<id BE><member>
		i := bytes.IndexByte(k, 0)
		if i < 0 || len(k) < i+1+8 {
			continue
		}
		owner, id, member := string(k[:i]), app.ID(binary.BigEndian.Uint64(k[i+1:i+9])), string(k[i+9:])
		_ = b.Set(listsOfKey(member, owner, id), nil, nil)
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return fmt.Errorf("pebble: index lists of members: %w", err)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("pebble: index lists of members: %w", err)
	}
	return nil
}
