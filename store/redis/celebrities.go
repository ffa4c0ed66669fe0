package redis

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/rueidis"

	"github.com/feedsvc/feedsvc/app"
)

// Celebrities implements app.Celebrities: one small string per celebrity
// ("celebrity:{AUTHOR}": "m" while its followers are being marked, "c"
// after), and per user a set of the celebrities they follow
// ("celebs:{USER}", on the slot of the user's feed). The set is written only
// while the user's feed is cached and expires with it, so it never outlives
// the feed it belongs to.
type Celebrities struct {
	client rueidis.Client
	keys   Keys
	ttl    time.Duration
}

var _ app.Celebrities = (*Celebrities)(nil)

// NewCelebrities returns the celebrity state on client; ttl is the feeds'
// expiry (0: none), which the per-user sets follow.
func NewCelebrities(client rueidis.Client, ttl time.Duration) *Celebrities {
	return &Celebrities{client: client, keys: KeysOf(client), ttl: ttl}
}

var statusValues = map[app.CelebrityStatus]string{app.CelebrityMarking: "m", app.Celebrity: "c"}

// Statuses implements app.Celebrities: one pipelined GET per author.
func (c *Celebrities) Statuses(ctx context.Context, authors []string) ([]app.CelebrityStatus, error) {
	out := make([]app.CelebrityStatus, len(authors))
	if len(authors) == 0 {
		return out, nil
	}
	cmds := make(rueidis.Commands, len(authors))
	for i, a := range authors {
		cmds[i] = c.client.B().Get().Key(c.keys.Celebrity(a)).Build()
	}
	for i, r := range c.client.DoMulti(ctx, cmds...) {
		v, err := r.ToString()
		if rueidis.IsRedisNil(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("celebrity status of %s: %w", authors[i], err)
		}
		for s, sv := range statusValues {
			if v == sv {
				out[i] = s
			}
		}
	}
	return out, nil
}

// SetStatus implements app.Celebrities.
func (c *Celebrities) SetStatus(ctx context.Context, author string, s app.CelebrityStatus) error {
	cmd := c.client.B().Del().Key(c.keys.Celebrity(author)).Build()
	if v, ok := statusValues[s]; ok {
		cmd = c.client.B().Set().Key(c.keys.Celebrity(author)).Value(v).Build()
	}
	if err := c.client.Do(ctx, cmd).Error(); err != nil {
		return fmt.Errorf("set celebrity status of %s: %w", author, err)
	}
	return nil
}

// addFollowedScript adds ARGV to set KEYS[2] if feed KEYS[1] is cached, and
// gives the set the feed's remaining lifetime.
var addFollowedScript = rueidis.NewLuaScript(`
local ttl = redis.call('PTTL', KEYS[1])
if ttl == -2 then return 0 end
redis.call('SADD', KEYS[2], unpack(ARGV))
if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
return 1
`)

// AddFollows implements app.Celebrities: one script call per follower, all
// pipelined.
func (c *Celebrities) AddFollows(ctx context.Context, follows []app.Follow) error {
	users, byUser := groupFollows(follows)
	if len(users) == 0 {
		return nil
	}
	execs := make([]rueidis.LuaExec, len(users))
	for i, u := range users {
		execs[i] = rueidis.LuaExec{Keys: []string{c.keys.Feed(u), c.keys.Followed(u)}, Args: byUser[u]}
	}
	for _, r := range addFollowedScript.ExecMulti(ctx, c.client, execs...) {
		if err := r.Error(); err != nil {
			return fmt.Errorf("record followed celebrities: %w", err)
		}
	}
	return nil
}

// RemoveFollows implements app.Celebrities.
func (c *Celebrities) RemoveFollows(ctx context.Context, follows []app.Follow) error {
	users, byUser := groupFollows(follows)
	if len(users) == 0 {
		return nil
	}
	cmds := make(rueidis.Commands, len(users))
	for i, u := range users {
		cmds[i] = c.client.B().Srem().Key(c.keys.Followed(u)).Member(byUser[u]...).Build()
	}
	for _, r := range c.client.DoMulti(ctx, cmds...) {
		if err := r.Error(); err != nil {
			return fmt.Errorf("forget followed celebrities: %w", err)
		}
	}
	return nil
}

// Followed implements app.Celebrities. Reading renews the set's expiry, as
// reading the first page renews the feed's.
func (c *Celebrities) Followed(ctx context.Context, user string) ([]string, error) {
	key := c.keys.Followed(user)
	cmds := rueidis.Commands{c.client.B().Smembers().Key(key).Build()}
	if c.ttl > 0 {
		cmds = append(cmds, c.client.B().Pexpire().Key(key).Milliseconds(c.ttl.Milliseconds()).Build())
	}
	rs := c.client.DoMulti(ctx, cmds...)
	names, err := rs[0].AsStrSlice()
	if err != nil {
		return nil, fmt.Errorf("celebrities followed by %s: %w", user, err)
	}
	return names, nil
}

// groupFollows lists each follower's followees, followers in first-seen order.
func groupFollows(follows []app.Follow) (users []string, byUser map[string][]string) {
	byUser = make(map[string][]string)
	for _, f := range follows {
		if _, ok := byUser[f.Follower]; !ok {
			users = append(users, f.Follower)
		}
		byUser[f.Follower] = append(byUser[f.Follower], f.Followee)
	}
	return users, byUser
}
