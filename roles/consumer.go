package roles

import (
	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/events"
)

// Consumer returns the constructor of a consumer role: consumer group
// `group` on every topic, each event handed to the handler newHandler builds.
// A new consumer role is one handler and one registry line.
func Consumer(group string, newHandler func(d *Deps) (app.Handler, error)) Constructor {
	return func(d *Deps) (Role, error) {
		h, err := newHandler(d)
		if err != nil {
			return nil, err
		}
		return &events.Runner{
			Brokers: d.Brokers,
			Group:   group,
			Topics:  d.Topics.All(),
			Handler: h,
			Log:     d.Log.With("role", group),
			Metrics: d.Events,
			Healthy: d.Healthy,
		}, nil
	}
}
