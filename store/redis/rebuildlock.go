package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/redis/rueidis"

	"github.com/feedsvc/feedsvc/app"
)

var _ app.RebuildLocks = (*Feeds)(nil)

// unlockScript deletes KEYS[1] if it still holds ARGV[1]: a lock that
// expired and was taken by another process is not freed by the first.
var unlockScript = rueidis.NewLuaScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// TryLockRebuild implements app.RebuildLocks: SET NX with an expiry and a
// random token, freed by a compare-and-delete.
func (f *Feeds) TryLockRebuild(ctx context.Context, user string, ttl time.Duration) (func(context.Context), bool, error) {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	token, key := hex.EncodeToString(b), f.keys.RebuildLock(user)
	err := f.client.Do(ctx, f.client.B().Set().Key(key).Value(token).Nx().Px(ttl).Build()).Error()
	if rueidis.IsRedisNil(err) {
		return nil, false, nil // held by another process
	}
	if err != nil {
		return nil, false, fmt.Errorf("lock rebuild of feed %s: %w", user, err)
	}
	return func(ctx context.Context) {
		// An unlock that fails leaves the lock to expire.
		_ = unlockScript.Exec(ctx, f.client, []string{key}, []string{token}).Error()
	}, true, nil
}
