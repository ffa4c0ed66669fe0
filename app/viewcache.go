package app

import (
	"context"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// viewCacheMax bounds how many entries one of the api's view caches keeps:
// past it, the expired ones are dropped, and if none had expired, all.
const viewCacheMax = 100_000

// ttlMap is a bounded map whose entries are served until they expire. Its
// generation moves on at every forget: a read that started before a
// forget (it may predate the change) does not store what it read.
type ttlMap[K comparable, V any] struct {
	mu  sync.Mutex
	m   map[K]ttlEntry[V]
	gen uint64
}

type ttlEntry[V any] struct {
	v       V
	expires time.Time
}

// get returns k's value while it has not expired at now, and the
// generation to hand put for a value read on a miss.
func (c *ttlMap[K, V]) get(k K, now time.Time) (V, bool, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok || !now.Before(e.expires) {
		var zero V
		return zero, false, c.gen
	}
	return e.v, true, c.gen
}

// stale returns k's value if it expired less than maxStale before now
// (or has not expired), for a read degraded by a store outage.
func (c *ttlMap[K, V]) stale(k K, now time.Time, maxStale time.Duration) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok || !now.Before(e.expires.Add(maxStale)) {
		var zero V
		return zero, false
	}
	return e.v, true
}

// put keeps v for k until expires, unless a forget came after gen.
func (c *ttlMap[K, V]) put(gen uint64, k K, v V, now, expires time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if c.m == nil || len(c.m) >= viewCacheMax {
		for k, e := range c.m {
			if !now.Before(e.expires) {
				delete(c.m, k)
			}
		}
		if c.m == nil || len(c.m) >= viewCacheMax {
			c.m = map[K]ttlEntry[V]{}
		}
	}
	c.m[k] = ttlEntry[V]{v, expires}
}

// forget drops keys, after a change to what they hold.
func (c *ttlMap[K, V]) forget(keys ...K) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for _, k := range keys {
		delete(c.m, k)
	}
}

// hiddenCache keeps the hidden sets the api reads for a short time: every
// feed page, notification page, search and follower listing reads one,
// three store listings each, and a reader's next page follows within
// seconds. A change made through this process (block, mute, their undoing)
// forgets both users' sets at once, so a user sees its own change on its
// next read; another api process serves the older set for at most the TTL.
// Fan-out never uses it: what it writes is stored, not filtered again.
type hiddenCache struct {
	sets    ttlMap[hiddenKey, HiddenSet]
	flights singleflight.Group
}

type hiddenKey struct {
	user string
	side MuteSide
}

// read returns user's hidden set for side, from the cache for ttl, else
// through load (concurrent misses share one load). Expired mutes are
// returned only by the read that loaded them.
func (c *hiddenCache) read(ctx context.Context, user string, side MuteSide, now time.Time, ttl time.Duration,
	load func(context.Context) (HiddenSet, []Mute, error)) (HiddenSet, []Mute, error) {
	k := hiddenKey{user, side}
	set, ok, gen := c.sets.get(k, now)
	if ok {
		return set, nil, nil
	}
	type loaded struct {
		set     HiddenSet
		expired []Mute
	}
	// The generation in the key: a read after a forget never joins a load
	// that started before it.
	v, err, shared := c.flights.Do(fmt.Sprintf("%d/%d/%s", gen, side, user), func() (any, error) {
		set, expired, err := load(ctx)
		if err != nil {
			return nil, err
		}
		c.sets.put(gen, k, set, now, now.Add(ttl))
		return loaded{set, expired}, nil
	})
	if err != nil {
		return nil, nil, err
	}
	l := v.(loaded)
	if shared {
		return l.set, nil, nil // the loader expires them
	}
	return l.set, l.expired, nil
}

// forget drops the sets of users, after a change between them.
func (c *hiddenCache) forget(users ...string) {
	var keys []hiddenKey
	for _, u := range users {
		for _, side := range []MuteSide{NoMutes, MutedByUser, MutingUser} {
			keys = append(keys, hiddenKey{u, side})
		}
	}
	c.sets.forget(keys...)
}
