package app

import (
	"context"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// hiddenCacheMax bounds how many hidden sets one process keeps: past it,
// the expired ones are dropped, and if none had expired, all of them.
const hiddenCacheMax = 50_000

// hiddenCache keeps the hidden sets the api reads for a short time: every
// feed page, notification page, search and follower listing reads one,
// three store listings each, and a reader's next page follows within
// seconds. A change made through this process (block, mute, their undoing)
// forgets both users' sets at once, so a user sees its own change on its
// next read; another api process serves the older set for at most the TTL.
// Fan-out never uses it: what it writes is stored, not filtered again.
type hiddenCache struct {
	mu      sync.Mutex
	sets    map[hiddenKey]hiddenEntry
	flights singleflight.Group
	// gen moves on at every forget: a read that started before a forget
	// does not store what it read (it may predate the change).
	gen uint64
}

type hiddenKey struct {
	user string
	side MuteSide
}

type hiddenEntry struct {
	set     HiddenSet
	expires time.Time
}

// read returns user's hidden set for side, from the cache for ttl,
// else through load (concurrent misses share one load). Expired mutes are
// returned only by the read that loaded them.
func (c *hiddenCache) read(ctx context.Context, user string, side MuteSide, now time.Time, ttl time.Duration,
	load func(context.Context) (HiddenSet, []Mute, error)) (HiddenSet, []Mute, error) {
	k := hiddenKey{user, side}
	c.mu.Lock()
	e, ok := c.sets[k]
	gen := c.gen
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.set, nil, nil
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
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.gen == gen {
			if c.sets == nil || len(c.sets) >= hiddenCacheMax {
				c.sets = sweep(c.sets, now)
			}
			c.sets[k] = hiddenEntry{set, now.Add(ttl)}
		}
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
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for _, u := range users {
		for _, side := range []MuteSide{NoMutes, MutedByUser, MutingUser} {
			delete(c.sets, hiddenKey{u, side})
		}
	}
}

// sweep drops the expired entries of sets, or all of them if none had.
func sweep(sets map[hiddenKey]hiddenEntry, now time.Time) map[hiddenKey]hiddenEntry {
	for k, e := range sets {
		if !now.Before(e.expires) {
			delete(sets, k)
		}
	}
	if sets == nil || len(sets) >= hiddenCacheMax {
		return map[hiddenKey]hiddenEntry{}
	}
	return sets
}
