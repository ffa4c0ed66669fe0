package redis_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/feedsvc/feedsvc/app"
	redisstore "github.com/feedsvc/feedsvc/store/redis"
	"github.com/feedsvc/feedsvc/store/redistest"
)

// TestSearchConformance runs the search suite (store/redistest) on every
// backend.
func TestSearchConformance(t *testing.T) {
	ctx := context.Background()
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			client := open(t)
			keys := redisstore.KeysOf(client)
			redistest.RunSearch(t, redistest.SearchBackend{
				New: func(t *testing.T, capPerTerm int, retention time.Duration) app.SearchIndex {
					return redisstore.NewSearch(client, capPerTerm, retention)
				},
				HasTermList: func(_ app.SearchIndex, id app.ID) (bool, error) {
					n, err := client.Do(ctx, client.B().Exists().Key(keys.Doc(id)).Build()).AsInt64()
					return n != 0, err
				},
				Forget: func(terms []string, posts []app.ID) error {
					var cmds rueidis.Commands
					for _, term := range terms {
						cmds = append(cmds, client.B().Del().Key(keys.Term(term)).Build())
					}
					for _, id := range posts {
						cmds = append(cmds, client.B().Del().Key(keys.Doc(id)).Build())
					}
					var errs []error
					for _, r := range client.DoMulti(ctx, cmds...) {
						errs = append(errs, r.Error())
					}
					return errors.Join(errs...)
				},
			})
		})
	}
}
