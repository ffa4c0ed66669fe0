// Package search is the search role: consumer group "search" on every
// topic, keeping the post search index up to date.
package search

import (
	"errors"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/roles"
)

// Group is the search consumer group.
const Group = "search"

// New builds the search role.
var New = roles.Consumer(Group, func(d *roles.Deps) (app.Handler, error) {
	if d.Search == nil {
		return nil, errors.New("search role: no search index configured")
	}
	return &app.Indexer{Posts: d.Posts, Search: d.Search}, nil
})
