// Package fanout is the fanout role: consumer group "fanout" on the post and
// follow topics, writing post IDs into followers' home feeds.
package fanout

import (
	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/events"
	"github.com/feedsvc/feedsvc/roles"
)

// Group is the fanout consumer group.
const Group = "fanout"

// New builds the fanout role.
func New(d *roles.Deps) (roles.Role, error) {
	return &events.Runner{
		Brokers: d.Brokers,
		Group:   Group,
		Topics:  d.Topics.All(),
		Handler: &app.Fanout{Posts: d.Posts, Graph: d.Graph, Feeds: d.Feeds, FeedCap: d.FeedCap, PageSize: d.Batch, Log: d.Log},
		Log:     d.Log.With("role", "fanout"),
		Metrics: d.Events,
		Healthy: d.Healthy,
	}, nil
}
