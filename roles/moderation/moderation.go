// Package moderation is the moderation role: consumer group "moderation",
// checking new posts against the configured rules and hiding the ones that
// break them.
package moderation

import (
	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/roles"
)

// New builds the moderation role.
var New = roles.Consumer("moderation", func(d *roles.Deps) (app.Handler, error) {
	return app.NewModerator(app.Moderator{
		Posts: d.Posts, Decisions: d.Moderation, Events: d.Publisher, Rules: d.ModerationRules, Log: d.Log,
	})
})
