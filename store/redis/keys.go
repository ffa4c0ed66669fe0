package redis

import (
	"regexp"
	"time"

	"github.com/redis/rueidis"

	"github.com/feedsvc/feedsvc/app"
)

// Keys names every key feedsvc reads or writes in Redis; nothing in this
// package builds a key any other way. A deployment's prefix
// (Config.KeyPrefix, --redis-key-prefix) goes before each of them, outside
// the hash tag: "prod:feed:{alice}". The slot of a key with a hash tag
// depends on the tag alone, so keys that share a tag still share a slot
// and the scripts that take several of them keep working on a Redis
// Cluster. The zero Keys (no prefix) names the keys of a deployment
// without one, byte for byte as before the prefix existed.
//
// Every adapter takes its Keys from the client it is given: Open returns
// a client that carries Config.KeyPrefix (see KeysOf), so a command that
// opens Redis with the deployment's configuration (serve, feed inspect,
// bench) uses the deployment's keys without being told.
type Keys struct{ prefix string }

// MaxKeyPrefix bounds Config.KeyPrefix: it is repeated in every key.
const MaxKeyPrefix = 64

// keyPrefixPattern is what a key prefix may hold: no '{' or '}' (a prefix
// with a hash tag would put every key on one slot, or move keys off the
// slot they share), and no glob characters, so that a SCAN MATCH on
// prefix+"*" finds exactly the deployment's keys.
var keyPrefixPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]*$`)

// NewKeys returns the keys under prefix ("": none). It does not check the
// prefix; Config.Validate does.
func NewKeys(prefix string) Keys { return Keys{prefix: prefix} }

// KeysOf returns the keys of a client from Open: those of its
// Config.KeyPrefix. A client from anywhere else has the unprefixed keys.
func KeysOf(c rueidis.Client) Keys {
	if cl, ok := c.(client); ok {
		return cl.keys
	}
	return Keys{}
}

// Prefix is what is put before every key ("" for none).
func (k Keys) Prefix() string { return k.prefix }

// Prefixed puts the prefix before key or SCAN MATCH pattern, for the
// keys and patterns of tools (the bench's own keys, its clean-up).
func (k Keys) Prefixed(key string) string { return k.prefix + key }

// Feed is the key of user's home feed.
func (k Keys) Feed(user string) string { return k.prefix + "feed:{" + user + "}" }

// Timeline is the key of a celebrity author's cached recent posts.
func (k Keys) Timeline(author string) string { return k.prefix + "timeline:{" + author + "}" }

// Celebrity is the key of author's celebrity status.
func (k Keys) Celebrity(author string) string { return k.prefix + "celebrity:{" + author + "}" }

// Followed is the key of the celebrities user follows, on the slot of the
// user's feed.
func (k Keys) Followed(user string) string { return k.prefix + "celebs:{" + user + "}" }

// Unfollowed is the key of the users user recently stopped following, on
// the slot of the user's feed (a feed rewrite checks it in one script).
func (k Keys) Unfollowed(user string) string { return k.prefix + "unfollowed:{" + user + "}" }

// Unfollowers is the key of the users who recently stopped following author.
func (k Keys) Unfollowers(author string) string { return k.prefix + "unfollowers:{" + author + "}" }

// RebuildLock is the key of the lock on user's feed rebuild, on the slot of
// the feed.
func (k Keys) RebuildLock(user string) string { return k.prefix + "rebuild:{" + user + "}" }

// FeedSignals is the pub/sub channel of feed changes (not a key; named
// here so that it carries the deployment's prefix).
func (k Keys) FeedSignals() string { return k.prefix + "feedsig" }

// StreamTicket is the key of a feed stream's one-use ticket; the ticket is
// its own hash tag, so tickets spread over a cluster's slots.
func (k Keys) StreamTicket(ticket string) string { return k.prefix + "streamticket:{" + ticket + "}" }

// Term is the key of a search term's posting set.
func (k Keys) Term(term string) string { return k.prefix + "sx:{" + term + "}" }

// Doc is the key listing the terms post id is indexed under.
func (k Keys) Doc(id app.ID) string { return k.prefix + "sd:{" + id.String() + "}" }

// Analytics returns the keys of the hour bucket holding time at, all on the
// slot of the hour: post memberships, tag and author rollups, tag and
// author counters by minute. Deleting them together and replaying the
// bucket's events reproduces its counts.
func (k Keys) Analytics(at time.Time) []string {
	p := k.prefix + "an:{" + at.UTC().Format(bucketLayout) + "}:"
	return []string{p + "posts", p + "tags", p + "authors", p + "mtags", p + "mauthors"}
}

// RateLimit is the key of a rate-limit count (key names the limit and the
// client, such as "posts:alice").
func (k Keys) RateLimit(key string) string { return k.prefix + "rl:" + key }

// checkpointKey prefixes the hashes of applied offsets: one hash per
// consumer group on each shard, a field per topic and partition.
const checkpointKey = "feedsvc:applied"

// checkpoint is the key of group's checkpoints on shard s.
func (k Keys) checkpoint(s shard, group string) string {
	return s.key(k.prefix+checkpointKey) + ":" + group
}

// healthKey prefixes the keys the health check writes; each expires soon.
const healthKey = "feedsvc:health"

// health is the key the health check writes on shard s.
func (k Keys) health(s shard) string { return s.key(k.prefix + healthKey) }
