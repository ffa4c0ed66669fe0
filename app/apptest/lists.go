package apptest

import (
	"cmp"
	"context"
	"slices"

	"github.com/feedsvc/feedsvc/app"
)

var _ app.Lists = (*Store)(nil)

// listKey names one list: by its owner, as the stores keep it.
type listKey struct {
	owner string
	id    app.ID
}

// listRows are the fake's lists: made lazily, under Store.mu.
type listRows struct {
	lists   map[listKey]app.List
	members map[listKey]map[string]bool
}

func (s *Store) listRows() *listRows {
	if s.lists.lists == nil {
		s.lists.lists = map[listKey]app.List{}
		s.lists.members = map[listKey]map[string]bool{}
	}
	return &s.lists
}

// CreateList implements app.Lists.
func (s *Store) CreateList(_ context.Context, l app.List) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.listRows()
	k := listKey{l.Owner, l.ID}
	if _, ok := r.lists[k]; !ok {
		r.lists[k] = l
	}
	return nil
}

// RenameList implements app.Lists.
func (s *Store) RenameList(_ context.Context, owner string, id app.ID, title string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.listRows()
	k := listKey{owner, id}
	if l, ok := r.lists[k]; ok {
		l.Name = title
		r.lists[k] = l
	}
	return nil
}

// GetList implements app.Lists.
func (s *Store) GetList(_ context.Context, owner string, id app.ID) (app.List, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.listRows().lists[listKey{owner, id}]
	return l, ok, nil
}

// OwnerLists implements app.Lists.
func (s *Store) OwnerLists(_ context.Context, owner string, limit int) ([]app.List, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []app.List
	for k, l := range s.listRows().lists {
		if k.owner == owner {
			out = append(out, l)
		}
	}
	slices.SortFunc(out, func(a, b app.List) int { return cmp.Compare(a.ID, b.ID) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// DeleteList implements app.Lists.
func (s *Store) DeleteList(_ context.Context, owner string, id app.ID) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.listRows()
	delete(r.lists, listKey{owner, id})
	delete(r.members, listKey{owner, id})
	return nil
}

// AddListMember implements app.Lists.
func (s *Store) AddListMember(_ context.Context, owner string, id app.ID, member string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.listRows()
	k := listKey{owner, id}
	if r.members[k] == nil {
		r.members[k] = map[string]bool{}
	}
	r.members[k][member] = true
	return nil
}

// RemoveListMember implements app.Lists.
func (s *Store) RemoveListMember(_ context.Context, owner string, id app.ID, member string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.listRows().members[listKey{owner, id}], member)
	return nil
}

// ListMembers implements app.Lists.
func (s *Store) ListMembers(_ context.Context, owner string, id app.ID, after string, limit int) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for m := range s.listRows().members[listKey{owner, id}] {
		if m > after {
			out = append(out, m)
		}
	}
	slices.Sort(out)
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// CountListMembers implements app.Lists.
func (s *Store) CountListMembers(_ context.Context, owner string, id app.ID) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.listRows().members[listKey{owner, id}]), nil
}

// IsListMember implements app.Lists.
func (s *Store) IsListMember(_ context.Context, owner string, id app.ID, member string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.listRows().members[listKey{owner, id}][member], nil
}

// ListsOf implements app.Lists: a scan of every list's members (a fake's
// lists are few).
func (s *Store) ListsOf(_ context.Context, member string, after app.ListRef, limit int) ([]app.ListRef, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []app.ListRef
	for k, ms := range s.listRows().members {
		if ms[member] && listRefAfter(app.ListRef{Owner: k.owner, ID: k.id}, after) {
			out = append(out, app.ListRef{Owner: k.owner, ID: k.id})
		}
	}
	slices.SortFunc(out, compareListRefs)
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func compareListRefs(a, b app.ListRef) int {
	return cmp.Or(cmp.Compare(a.Owner, b.Owner), cmp.Compare(a.ID, b.ID))
}

func listRefAfter(r, after app.ListRef) bool { return compareListRefs(r, after) > 0 }
