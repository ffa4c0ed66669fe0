package cassandra

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/gocql/gocql"
	"golang.org/x/sync/errgroup"
)

// migration is one schema version. Statements use {ks} for the keyspace and
// must be idempotent (IF NOT EXISTS and the like): a crash between the DDL and
// the schema_migrations row leaves the version unrecorded, and the next run
// applies it again.
type migration struct {
	version int
	name    string
	stmts   []string
	// backfill, if set, runs after stmts; like them it must be idempotent.
	backfill func(ctx context.Context, session *gocql.Session, ks string) error
}

// migrations is the schema history, oldest first. Append new versions; never
// edit one that has shipped.
var migrations = []migration{
	{
		version: 1,
		name:    "initial schema",
		stmts: []string{
			// Posts by ID: the source of truth GetPosts reads.
			`CREATE TABLE IF NOT EXISTS {ks}.posts (
				id bigint PRIMARY KEY,
				author text,
				text text,
				created_at timestamp
			)`,
			// An author's timeline, one partition per author and month so a
			// prolific author never builds an unbounded partition. Posts are
			// immutable, so the body is copied here: AuthorPosts then needs
			// no second lookup in posts.
			`CREATE TABLE IF NOT EXISTS {ks}.posts_by_author (
				author text,
				month text,
				id bigint,
				text text,
				created_at timestamp,
				PRIMARY KEY ((author, month), id)
			) WITH CLUSTERING ORDER BY (id DESC)`,
			// The months in which an author posted, newest first, so
			// AuthorPosts can skip the months with no posts instead of
			// probing every month back to the epoch. A few rows per year.
			`CREATE TABLE IF NOT EXISTS {ks}.user_post_months (
				author text,
				month text,
				PRIMARY KEY ((author), month)
			) WITH CLUSTERING ORDER BY (month DESC)`,
			`CREATE TABLE IF NOT EXISTS {ks}.users (
				id text PRIMARY KEY,
				created_at timestamp
			)`,
			// Whom a user follows. Written only through LWTs (Follow,
			// Unfollow), which tell whether the edge is new; one partition
			// per follower, as large as the number of users it follows.
			`CREATE TABLE IF NOT EXISTS {ks}.follows (
				follower text,
				followee text,
				created_at timestamp,
				PRIMARY KEY ((follower), followee)
			)`,
			// Who follows a user. A popular user has far too many followers
			// for one partition, so each follower lands in one of
			// followerBuckets partitions by a hash of its name: no counters
			// or coordination needed, and 100k followers make ~1.6k rows
			// per partition.
			`CREATE TABLE IF NOT EXISTS {ks}.followers (
				followee text,
				bucket int,
				follower text,
				PRIMARY KEY ((followee, bucket), follower)
			)`,
		},
	},
	{
		version: 2,
		name:    "moderation and notifications",
		stmts: []string{
			// Cassandra has no ADD COLUMN IF NOT EXISTS: columnExists makes
			// these re-runnable.
			`ALTER TABLE {ks}.posts ADD moderated text`,
			`ALTER TABLE {ks}.posts_by_author ADD moderated text`,
			// A user's notifications, newest first. They expire after 90
			// days, which bounds the partition of even a much-mentioned user.
			`CREATE TABLE IF NOT EXISTS {ks}.notifications (
				user text,
				id bigint,
				kind text,
				actor text,
				post_id bigint,
				created_at timestamp,
				PRIMARY KEY ((user), id)
			) WITH CLUSTERING ORDER BY (id DESC) AND default_time_to_live = 7776000`,
			// Read state is one marker per user: everything up to it is read.
			`CREATE TABLE IF NOT EXISTS {ks}.notification_reads (
				user text PRIMARY KEY,
				up_to bigint
			)`,
			// Moderation decisions by month of the post, newest first.
			`CREATE TABLE IF NOT EXISTS {ks}.moderation_decisions (
				month text,
				post_id bigint,
				author text,
				rule text,
				detail text,
				decided_at timestamp,
				PRIMARY KEY ((month), post_id)
			) WITH CLUSTERING ORDER BY (post_id DESC)`,
		},
	},
	{
		version: 3,
		name:    "node leases",
		stmts: []string{
			// Which process holds each ID node: a row per node, written
			// only through LWTs at SERIAL, with a TTL the holder renews.
			// At most MaxNodeID+1 rows, so a full scan is cheap.
			`CREATE TABLE IF NOT EXISTS {ks}.node_leases (
				node int PRIMARY KEY,
				owner text
			)`,
		},
	},
	{
		version: 4,
		name:    "deletion records and notifications by post",
		stmts: []string{
			// A deleted post, so consumers tell "deleted" from "not
			// replicated here yet" (WasDeleted). Kept 30 days, longer than
			// the topics' retention (Kafka's default is 7 days), so a replay
			// finds it; past that, a consumer skips a long-missing post
			// anyway, with a warning.
			`CREATE TABLE IF NOT EXISTS {ks}.deleted_posts (
				id bigint PRIMARY KEY,
				author text,
				deleted_at timestamp
			) WITH default_time_to_live = 2592000`,
			// Who was notified about a post, so deleting or moderating it
			// removes its mentions: the post.deleted event has no text to
			// recompute them from. Expires with the notifications.
			`CREATE TABLE IF NOT EXISTS {ks}.notifications_by_post (
				post_id bigint,
				user text,
				id bigint,
				PRIMARY KEY ((post_id), user)
			) WITH default_time_to_live = 7776000`,
		},
	},
	{
		version: 5,
		name:    "transactional outbox and idempotency keys",
		stmts: []string{
			// The events of api writes, written before the change (see
			// SavePost). Partitions are (shard, ten minutes), so a relay
			// reads bounded partitions and never scans rows it deleted:
			// published records are marked done, and everything expires
			// after 7 days (a Kafka outage longer than that loses the
			// oldest events). Time-window compaction drops whole expired
			// SSTables.
			`CREATE TABLE IF NOT EXISTS {ks}.outbox (
				shard int,
				bucket bigint,
				id bigint,
				event blob,
				done boolean,
				PRIMARY KEY ((shard, bucket), id)
			) WITH default_time_to_live = 604800
			AND compaction = {'class': 'TimeWindowCompactionStrategy', 'compaction_window_unit': 'HOURS', 'compaction_window_size': 6}`,
			// Per shard: every record at or below the cursor is done.
			`CREATE TABLE IF NOT EXISTS {ks}.outbox_cursors (
				shard int PRIMARY KEY,
				cursor bigint
			)`,
			// Which api process relays each shard, like node_leases.
			`CREATE TABLE IF NOT EXISTS {ks}.outbox_leases (
				shard int PRIMARY KEY,
				owner text
			)`,
			// Idempotency-Key -> the post it created, for a day.
			`CREATE TABLE IF NOT EXISTS {ks}.idempotency_keys (
				user text,
				key text,
				post_id bigint,
				fingerprint text,
				PRIMARY KEY ((user, key))
			) WITH default_time_to_live = 86400`,
		},
	},
	{
		version: 6,
		name:    "follow edge IDs",
		stmts: []string{
			// The ID of the follow that made the edge, so the relay can
			// tell whether a follow or unfollow record whose LWT's answer
			// was lost changed the edge (completeEdge).
			`ALTER TABLE {ks}.follows ADD edge_id bigint`,
		},
	},
	{
		version: 7,
		name:    "follower bucket hints",
		stmts: []string{
			// Which of a user's followerBuckets partitions hold followers,
			// so Followers reads those only: fan-out reads the followers
			// of every post's author, and a user with a few followers
			// cost 64 reads. Written before a bucket's first row.
			`CREATE TABLE IF NOT EXISTS {ks}.follower_buckets (
				followee text,
				bucket int,
				PRIMARY KEY ((followee), bucket)
			)`,
		},
		backfill: backfillFollowerBuckets,
	},
	{
		version: 8,
		name:    "blocks",
		stmts: []string{
			// Whom a user blocks, one partition per blocker: its side of
			// the block set that fan-out reads once per post and a feed
			// read once per page (bounded by app.MaxBlocks). Plain writes
			// at the timestamp of the change's record (see blocks.go).
			`CREATE TABLE IF NOT EXISTS {ks}.blocks (
				blocker text,
				blocked text,
				PRIMARY KEY ((blocker), blocked)
			)`,
			// Who blocks a user, one partition per blocked user: the
			// other side of its block set.
			`CREATE TABLE IF NOT EXISTS {ks}.blocked_by (
				blocked text,
				blocker text,
				PRIMARY KEY ((blocked), blocker)
			)`,
		},
	},
	{
		version: 9,
		name:    "mutes",
		stmts: []string{
			// Whom a user mutes, one partition per muter: the mutes a feed
			// read drops (bounded by app.MaxMutes). expires_at is null for
			// a mute until unmuted. Plain writes at the timestamp of the
			// change's record, with a TTL past the expiry (see mutes.go).
			`CREATE TABLE IF NOT EXISTS {ks}.mutes (
				muter text,
				muted text,
				expires_at timestamp,
				PRIMARY KEY ((muter), muted)
			)`,
			// Who mutes a user, one partition per muted user: the
			// followers fan-out skips for its posts.
			`CREATE TABLE IF NOT EXISTS {ks}.muted_by (
				muted text,
				muter text,
				expires_at timestamp,
				PRIMARY KEY ((muted), muter)
			)`,
		},
	},
	// 10, not 9: mutes take 9 on a parallel branch. Versions are a set,
	// so a keyspace may get 10 before 9 (see Migrate).
	{
		version: 10,
		name:    "likes",
		stmts: []string{
			// Who likes a post now, one partition per post: its count and
			// a reader's own like, read for a page of posts at once (see
			// likes.go). Plain writes at the timestamp of the change's
			// record, like blocks.
			`CREATE TABLE IF NOT EXISTS {ks}.likes (
				post_id bigint,
				liker text,
				PRIMARY KEY ((post_id), liker)
			)`,
			// The ID of every like of a pair, kept through unlikes: the
			// smallest is the first like, which the notification is
			// keyed by, so liking again notifies nobody again.
			`CREATE TABLE IF NOT EXISTS {ks}.like_ids (
				post_id bigint,
				liker text,
				like_id bigint,
				PRIMARY KEY ((post_id), liker, like_id)
			)`,
		},
	},
	{
		version: 11,
		name:    "replies",
		stmts: []string{
			// A reply's parent and the parent's author, on the post and on
			// its author's timeline: fan-out, feed rebuilds and merges
			// apply the reply rule from these, with no read of the parent.
			`ALTER TABLE {ks}.posts ADD in_reply_to bigint`,
			`ALTER TABLE {ks}.posts ADD in_reply_to_author text`,
			`ALTER TABLE {ks}.posts_by_author ADD in_reply_to bigint`,
			`ALTER TABLE {ks}.posts_by_author ADD in_reply_to_author text`,
			// A post's live replies, one partition per parent, oldest
			// first: the thread's pages and its reply count (a COUNT over
			// the partition, for a page of posts at once, like likes).
			// Written with the reply at its ID's timestamp; a deletion or
			// a moderation deletes the row later, so it wins.
			`CREATE TABLE IF NOT EXISTS {ks}.replies (
				parent_id bigint,
				id bigint,
				PRIMARY KEY ((parent_id), id)
			) WITH CLUSTERING ORDER BY (id ASC)`,
		},
	},
	{
		version: 12,
		name:    "reposts",
		stmts: []string{
			// A repost's original and its author, on the post and on the
			// reposter's timeline: fan-out and reads need no read of the
			// original to know whose post it is.
			`ALTER TABLE {ks}.posts ADD repost_of bigint`,
			`ALTER TABLE {ks}.posts ADD repost_of_author text`,
			`ALTER TABLE {ks}.posts_by_author ADD repost_of bigint`,
			`ALTER TABLE {ks}.posts_by_author ADD repost_of_author text`,
			// A post's live reposts, one partition per original: the
			// count (a COUNT over the partition, like likes), whether the
			// reader reposted it, and the reposts fan-out takes out of
			// feeds when the original goes. Written with the repost at
			// its ID's timestamp; its deletion or moderation deletes the
			// row by its ID, so a repost made again stays.
			`CREATE TABLE IF NOT EXISTS {ks}.reposts (
				original_id bigint,
				reposter text,
				id bigint,
				PRIMARY KEY ((original_id), reposter, id)
			)`,
			// Every repost of a pair, kept through unreposts: the
			// smallest is the first, which keys the notification.
			`CREATE TABLE IF NOT EXISTS {ks}.repost_ids (
				original_id bigint,
				reposter text,
				id bigint,
				PRIMARY KEY ((original_id), reposter, id)
			)`,
			// Followers hiding a followee's reposts: by followee for
			// fan-out's page of followers (one partition, an IN), by
			// follower for a feed page.
			`CREATE TABLE IF NOT EXISTS {ks}.reposts_hidden (
				followee text,
				follower text,
				PRIMARY KEY ((followee), follower)
			)`,
			`CREATE TABLE IF NOT EXISTS {ks}.reposts_hidden_by (
				follower text,
				followee text,
				PRIMARY KEY ((follower), followee)
			)`,
		},
	},
	{
		version: 13,
		name:    "lists",
		stmts: []string{
			// A user's lists, one partition per owner (app.MaxLists rows),
			// oldest first: every read names the owner, so another user
			// finds no list. A rename writes the title only, and reads
			// skip a row without created_at, so a rename landing after a
			// delete brings nothing back (see lists.go).
			`CREATE TABLE IF NOT EXISTS {ks}.lists (
				owner text,
				list_id bigint,
				title text,
				created_at timestamp,
				PRIMARY KEY ((owner), list_id)
			) WITH CLUSTERING ORDER BY (list_id ASC)`,
			// A list's members, one partition per list (app.MaxListMembers
			// rows), in name order: the members' pages, their count (a
			// COUNT over the partition) and a list timeline's sources.
			// The owner is in the key, so a list's members are read only
			// as its owner's, and a delete drops the partition whole.
			`CREATE TABLE IF NOT EXISTS {ks}.list_members (
				owner text,
				list_id bigint,
				member text,
				PRIMARY KEY ((owner, list_id), member)
			)`,
		},
	},
	{
		version: 14,
		name:    "lists of a member",
		stmts: []string{
			// The lists each user is in, one partition per member, by
			// owner then list: fan-out's audience of list feeds
			// (app.Lists.ListsOf). Written in a logged batch with
			// list_members, so the two agree.
			`CREATE TABLE IF NOT EXISTS {ks}.list_memberships (
				member text,
				owner text,
				list_id bigint,
				PRIMARY KEY ((member), owner, list_id)
			)`,
		},
		backfill: backfillListMemberships,
	},
	{
		version: 15,
		name:    "node ID marks",
		stmts: []string{
			// Until when each ID node's holders may have issued IDs: it
			// outlives the leases (no TTL), and a new holder issues above
			// it. Written with the time as the write's timestamp, so the
			// latest time wins whatever the writers' clocks.
			`CREATE TABLE IF NOT EXISTS {ks}.node_ids (
				node int PRIMARY KEY,
				issued_until timestamp
			)`,
		},
	},
}

// backfillListMemberships indexes every list member there is (a scan of
// list_members).
func backfillListMemberships(ctx context.Context, session *gocql.Session, ks string) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(32)
	iter := session.Query(`SELECT owner, list_id, member FROM ` + ks + `.list_members`).WithContext(gctx).PageSize(1000).Iter()
	var (
		owner, member string
		id            int64
	)
	for iter.Scan(&owner, &id, &member) {
		o, i, m := owner, id, member
		g.Go(func() error {
			return session.Query(`INSERT INTO `+ks+`.list_memberships (member, owner, list_id) VALUES (?, ?, ?)`, m, o, i).WithContext(gctx).Exec()
		})
	}
	scanErr := iter.Close()
	if err := errors.Join(g.Wait(), scanErr); err != nil {
		return fmt.Errorf("cassandra: migrate: backfill list_memberships: %w", err)
	}
	return nil
}

// backfillFollowerBuckets writes the hint of every followers partition that
// exists (a scan of the partition keys).
// createTable matches a migration's CREATE TABLE statement, naming the table.
var createTable = regexp.MustCompile(`^\s*CREATE TABLE IF NOT EXISTS \{ks\}\.(\w+)`)

// Tables lists, sorted, every table a migrated keyspace holds: those the
// migrations create and schema_migrations.
func Tables() []string {
	tables := []string{"schema_migrations"}
	for _, m := range migrations {
		for _, stmt := range m.stmts {
			if t := createTable.FindStringSubmatch(stmt); t != nil {
				tables = append(tables, t[1])
			}
		}
	}
	slices.Sort(tables)
	return slices.Compact(tables)
}

func backfillFollowerBuckets(ctx context.Context, session *gocql.Session, ks string) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(32)
	iter := session.Query(`SELECT DISTINCT followee, bucket FROM ` + ks + `.followers`).WithContext(gctx).PageSize(1000).Iter()
	var (
		followee string
		bucket   int
	)
	for iter.Scan(&followee, &bucket) {
		f, b := followee, bucket
		g.Go(func() error {
			return session.Query(`INSERT INTO `+ks+`.follower_buckets (followee, bucket) VALUES (?, ?)`, f, b).WithContext(gctx).Exec()
		})
	}
	scanErr := iter.Close()
	if err := errors.Join(g.Wait(), scanErr); err != nil {
		return fmt.Errorf("cassandra: migrate: backfill follower_buckets: %w", err)
	}
	return nil
}

// columnExists reports whether err says an ALTER TABLE ... ADD found its
// column already there: a re-run of a migration that crashed half-way.
func columnExists(stmt string, err error) bool {
	return strings.HasPrefix(stmt, "ALTER TABLE") && strings.Contains(stmt, " ADD ") &&
		strings.Contains(strings.ToLower(err.Error()), "already exist")
}

// Migrate creates cfg.Keyspace if needed and applies the migrations not yet
// recorded in its schema_migrations table. Running it again is harmless.
// Run it from one process at a time: concurrent DDL on the same table can
// disagree on schema versions.
func Migrate(ctx context.Context, cfg Config, log *slog.Logger) error {
	return MigrateWithProgress(ctx, cfg, log, nil)
}

// MigrateWithProgress is Migrate calling progress (when not nil) before
// each migration it applies and once when done: migrations applied so far
// of those to apply, and the one about to be ("" when done).
func MigrateWithProgress(ctx context.Context, cfg Config, log *slog.Logger, progress func(done, total int, name string)) error {
	if progress == nil {
		progress = func(int, int, string) {}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// The keyspace may not exist yet, so the session is not bound to it and
	// every statement names it explicitly.
	c, err := newCluster(cfg, "", log)
	if err != nil {
		return err
	}
	// A schema change waits for the node to apply it and write its schema
	// tables, seconds on a busy node: longer than a request of the service
	// may take, and migrate has no caller waiting.
	c.Timeout = max(c.Timeout, ddlTimeout)
	session, err := c.CreateSession()
	if err != nil {
		return fmt.Errorf("cassandra: connect to %s: %w", strings.Join(cfg.Hosts, ","), err)
	}
	defer session.Close()

	ks := cfg.Keyspace
	replication := cfg.Replication
	if strings.TrimSpace(replication) == "" {
		replication = DefaultReplication
	}
	ddl := func(stmt string) error {
		stmt = strings.ReplaceAll(stmt, "{ks}", ks)
		err := retryUnavailable(ctx, log, func() error {
			if err := session.Query(stmt).WithContext(ctx).Exec(); err != nil && !columnExists(stmt, err) {
				return err
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("cassandra: migrate: %s: %w", firstLine(stmt), err)
		}
		// Later statements (and other nodes serving the next request) must
		// see this change before we build on it.
		if err := session.AwaitSchemaAgreement(ctx); err != nil {
			return fmt.Errorf("cassandra: migrate: schema agreement: %w", err)
		}
		return nil
	}
	if err := ddl(`CREATE KEYSPACE IF NOT EXISTS {ks} WITH replication = ` + replication); err != nil {
		return err
	}
	if err := ddl(`CREATE TABLE IF NOT EXISTS {ks}.schema_migrations (
		version int PRIMARY KEY,
		name text,
		applied_at timestamp
	)`); err != nil {
		return err
	}
	var applied map[int]bool
	err = retryUnavailable(ctx, log, func() (err error) {
		applied, err = appliedVersions(ctx, session, ks)
		return err
	})
	if err != nil {
		return fmt.Errorf("cassandra: migrate: %w", err)
	}
	total := 0
	for _, m := range migrations {
		if !applied[m.version] {
			total++
		}
	}
	done := 0
	for _, m := range migrations {
		if applied[m.version] {
			continue
		}
		progress(done, total, m.name)
		for _, stmt := range m.stmts {
			if err := ddl(stmt); err != nil {
				return fmt.Errorf("%w (migration %d %s)", err, m.version, m.name)
			}
		}
		if m.backfill != nil {
			if err := m.backfill(ctx, session, ks); err != nil {
				return fmt.Errorf("%w (migration %d %s)", err, m.version, m.name)
			}
		}
		// Recorded only after every statement succeeded, so a crash before
		// this point reruns the whole (idempotent) migration.
		err := retryUnavailable(ctx, log, func() error {
			return session.Query(`INSERT INTO `+ks+`.schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
				m.version, m.name, time.Now().UTC()).WithContext(ctx).Exec()
		})
		if err != nil {
			return fmt.Errorf("cassandra: migrate: record version %d: %w", m.version, err)
		}
		log.Info("cassandra: applied migration", "keyspace", ks, "version", m.version, "name", m.name)
		done++
	}
	progress(done, total, "")
	return nil
}

// ddlTimeout is the shortest request timeout of migrate's session.
const ddlTimeout = 30 * time.Second

// migrateRetryFor bounds how long migrate retries a statement that failed
// because Cassandra could not answer in time.
const migrateRetryFor = 2 * time.Minute

// retryUnavailable runs op until it succeeds, fails for a reason other than
// unavailable, ctx ends or migrateRetryFor has passed, pausing 1 s, 2 s, 4 s
// (at most 8 s) between attempts. Every statement of a migration is
// idempotent (IF NOT EXISTS, columnExists, an INSERT of the same row), so
// re-running one whose first attempt timed out but applied is harmless; a
// busy node (a CI machine running several suites, a node restarting) times
// a schema change out now and then.
func retryUnavailable(ctx context.Context, log *slog.Logger, op func() error) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	deadline := time.Now().Add(migrateRetryFor)
	for pause := time.Second; ; pause = min(2*pause, 8*time.Second) {
		err := op()
		if err == nil || !unavailable(err) || time.Now().Add(pause).After(deadline) {
			return err
		}
		log.Warn("cassandra: migrate: retrying", "err", err, "in", pause)
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(pause):
		}
	}
}

// appliedVersions reads the set of recorded migration versions.
func appliedVersions(ctx context.Context, session *gocql.Session, ks string) (map[int]bool, error) {
	applied := map[int]bool{}
	iter := session.Query(`SELECT version FROM ` + ks + `.schema_migrations`).WithContext(ctx).Iter()
	var v int
	for iter.Scan(&v) {
		applied[v] = true
	}
	if err := iter.Close(); err != nil {
		return nil, fmt.Errorf("read %s.schema_migrations: %w", ks, err)
	}
	return applied, nil
}

// firstLine shortens a statement for error messages.
func firstLine(stmt string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(stmt), "\n")
	return line
}
