// Package analytics is the analytics role: consumer group "analytics" on
// every topic, counting posts per author and hour and hashtag use.
package analytics

import (
	"errors"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/roles"
)

// Group is the analytics consumer group.
const Group = "analytics"

// New builds the analytics role.
var New = roles.Consumer(Group, func(d *roles.Deps) (app.Handler, error) {
	if d.Analytics == nil {
		return nil, errors.New("analytics role: no analytics store configured")
	}
	return &app.Analyst{Analytics: d.Analytics}, nil
})
