package testenv

import (
	"context"
	"slices"
	"testing"

	"github.com/redis/rueidis"
)

// RedisKeys returns the keys matching pattern on every node of c (a
// Cluster's masters and replicas), each once, sorted.
func RedisKeys(t testing.TB, c rueidis.Client, pattern string) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	for addr, node := range c.Nodes() {
		var cursor uint64
		for {
			e, err := node.Do(ctx, node.B().Scan().Cursor(cursor).Match(pattern).Count(1000).Build()).AsScanEntry()
			if err != nil {
				t.Fatalf("scan %s: %v", addr, err)
			}
			out = append(out, e.Elements...)
			if cursor = e.Cursor; cursor == 0 {
				break
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
