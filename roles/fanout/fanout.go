// Package fanout is the fanout role: consumer group "fanout" on the post and
// follow topics, writing post IDs into followers' home feeds.
package fanout

import (
	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/roles"
)

// Group is the fanout consumer group.
const Group = "fanout"

// New builds the fanout role.
var New = roles.Consumer(Group, func(d *roles.Deps) (app.Handler, error) {
	return &app.Fanout{Posts: d.Posts, Graph: d.Graph, Feeds: d.Feeds,
		Timelines: d.Timelines, Celebrities: d.Celebrities, CelebrityThreshold: d.CelebrityThreshold,
		FeedCap: d.FeedCap, PageSize: d.Batch, Log: d.Log}, nil
})
