package redis_test

import (
	"context"
	"testing"
	"time"

	redisstore "github.com/feedsvc/feedsvc/store/redis"
)

// TestRebuildLocks: one holder at a time; a release frees only the lock it
// took, not one another process took after it expired.
func TestRebuildLocks(t *testing.T) {
	ctx := context.Background()
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			client := open(t)
			f := redisstore.NewFeeds(client, testCap, 0)
			u := uniqueUser(t)
			t.Cleanup(func() { client.Do(ctx, client.B().Del().Key(redisstore.KeysOf(client).RebuildLock(u)).Build()) })

			release, ok, err := f.TryLockRebuild(ctx, u, time.Minute)
			must(t, err)
			if !ok {
				t.Fatal("a free lock was not taken")
			}
			if _, ok, err := f.TryLockRebuild(ctx, u, time.Minute); err != nil || ok {
				t.Fatalf("a held lock was taken again (ok %v, err %v)", ok, err)
			}
			release(ctx)
			second, ok, err := f.TryLockRebuild(ctx, u, time.Minute)
			if err != nil || !ok {
				t.Fatalf("a released lock was not taken (ok %v, err %v)", ok, err)
			}
			release(ctx) // the first holder's, late: must not free the second's
			if _, ok, err := f.TryLockRebuild(ctx, u, time.Minute); err != nil || ok {
				t.Fatalf("a stale release freed another holder's lock (ok %v, err %v)", ok, err)
			}
			second(ctx)
		})
	}
}
