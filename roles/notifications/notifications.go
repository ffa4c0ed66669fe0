// Package notifications is the notifications role: consumer group
// "notifications", storing mention and new-follower notifications.
package notifications

import (
	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/roles"
)

// New builds the notifications role.
var New = roles.Consumer("notifications", func(d *roles.Deps) (app.Handler, error) {
	return &app.Notifier{Graph: d.Graph, Notifications: d.Notifications}, nil
})
