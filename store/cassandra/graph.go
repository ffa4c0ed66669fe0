package cassandra

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"

	"github.com/feedsvc/feedsvc/app"
	"github.com/gocql/gocql"
	"golang.org/x/sync/errgroup"
)

var (
	_ app.Graph       = (*Store)(nil)
	_ app.UserScanner = (*Store)(nil)
)

// followerBuckets is how many partitions hold one user's followers. Changing
// it moves followers between buckets, so it is part of the schema: a new
// value needs a migration that rewrites the followers table.
const followerBuckets = 64

// followerBucket places follower in one of the followee's partitions. FNV-1a
// is stable across processes and releases, unlike Go's map hash.
func followerBucket(follower string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(follower))
	return int(h.Sum32() % followerBuckets)
}

// lwt marks a conditional statement as not to be retried, nor sent to a
// second coordinator while the first one works on it (see speculation): a
// second attempt could find the first one applied and misreport it.
func lwt(q *gocql.Query) *gocql.Query { return q.RetryPolicy(nil).Idempotent(false) }

// EnsureUser implements app.Graph. The common case (the user exists) is a
// plain read; only the first call pays for an LWT, which keeps the original
// created_at when two first calls race.
func (s *Store) EnsureUser(ctx context.Context, user string) (err error) {
	ctx, end := s.bound(ctx)
	defer func() { err = end(err) }()
	ok, err := s.UserExists(ctx, user)
	if err != nil || ok {
		return err
	}
	_, err = lwt(s.query(`INSERT INTO users (id, created_at) VALUES (?, ?) IF NOT EXISTS`,
		user, time.Now().UTC())).WithContext(ctx).MapScanCAS(map[string]any{})
	if err != nil {
		return failf("cassandra: ensure user %s: %w", user, err)
	}
	return nil
}

// UserExists implements app.Graph.
func (s *Store) UserExists(ctx context.Context, user string) (_ bool, err error) {
	ctx, end := s.bound(ctx)
	defer func() { err = end(err) }()
	var id string
	err = s.query(`SELECT id FROM users WHERE id = ?`, user).WithContext(ctx).Scan(&id)
	if errors.Is(err, gocql.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, failf("cassandra: user exists %s: %w", user, err)
	}
	return true, nil
}

// Users implements app.UserScanner, in token order (the partition key's
// hash): a scan of the whole users table, one page at a time; the cursor
// is the last user returned.
func (s *Store) Users(ctx context.Context, cursor string, limit int) (_ []string, _ string, err error) {
	ctx, end := s.bound(ctx)
	defer func() { err = end(err) }()
	if limit <= 0 {
		return nil, "", nil
	}
	// One extra row tells whether another page exists.
	q := s.query(`SELECT id FROM users LIMIT ?`, limit+1)
	if cursor != "" {
		q = s.query(`SELECT id FROM users WHERE token(id) > token(?) LIMIT ?`, cursor, limit+1)
	}
	iter := q.WithContext(ctx).Iter()
	users := make([]string, 0, min(limit+1, 1024))
	var id string
	for iter.Scan(&id) {
		users = append(users, id)
	}
	if err := iter.Close(); err != nil {
		return nil, "", failf("cassandra: list users after %q: %w", cursor, err)
	}
	if len(users) > limit {
		return users[:limit], users[limit-1], nil
	}
	return users, "", nil
}

// IsFollowing implements app.Graph.
func (s *Store) IsFollowing(ctx context.Context, follower, followee string) (_ bool, err error) {
	ctx, end := s.bound(ctx)
	defer func() { err = end(err) }()
	var f string
	err = s.query(`SELECT followee FROM follows WHERE follower = ? AND followee = ?`, follower, followee).
		WithContext(ctx).Scan(&f)
	if errors.Is(err, gocql.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, failf("cassandra: is following %s -> %s: %w", follower, followee, err)
	}
	return true, nil
}

// Follow implements app.Graph. The records go first (as in SavePost), so
// that no crash after the LWT loses the event; the LWT on follows, which
// stores the first record's ID with the edge, decides whether the edge is
// new, and the relay publishes the records only if it is (completeEdge).
// The followers row follows the LWT; a call that finds the edge but not
// its row puts the row right.
func (s *Store) Follow(ctx context.Context, follower, followee string, out ...app.OutboxRecord) (_ bool, err error) {
	ctx, end := s.bound(ctx)
	defer func() { err = end(err) }()
	if err := s.writeOutbox(ctx, out); err != nil {
		return false, fmt.Errorf("cassandra: follow %s -> %s: %w", follower, followee, err)
	}
	id := edgeID(out)
	prev := map[string]any{}
	applied, err := lwt(s.query(`INSERT INTO follows (follower, followee, created_at, edge_id) VALUES (?, ?, ?, ?) IF NOT EXISTS`,
		follower, followee, time.Now().UTC(), int64(id))).WithContext(ctx).MapScanCAS(prev)
	if err != nil {
		// The outcome is unknown: the relay finds it out from the edge.
		return false, failf("cassandra: follow %s -> %s: %w", follower, followee, err)
	}
	if e, _ := prev["edge_id"].(int64); !applied && id != 0 && app.ID(e) == id {
		// Under contention Paxos may finish this call's own proposal on a
		// retry and then answer "not applied": the edge is this call's.
		applied = true
	}
	return s.edgeIndex(ctx, follower, followee, applied, true, out)
}

// Unfollow implements app.Graph, mirroring Follow: the records first, then
// the LWT decides, then the followers row.
//
// A Follow racing an Unfollow of the same edge: the LWTs are ordered, the
// index writes are not, so each reads the edge again after its write and
// puts the followers row in line (edgeIndex; see there for what is left).
func (s *Store) Unfollow(ctx context.Context, follower, followee string, out ...app.OutboxRecord) (_ bool, err error) {
	ctx, end := s.bound(ctx)
	defer func() { err = end(err) }()
	if err := s.writeOutbox(ctx, out); err != nil {
		return false, fmt.Errorf("cassandra: unfollow %s -> %s: %w", follower, followee, err)
	}
	applied, err := lwt(s.query(`DELETE FROM follows WHERE follower = ? AND followee = ? IF EXISTS`,
		follower, followee)).WithContext(ctx).MapScanCAS(map[string]any{})
	if err != nil {
		return false, failf("cassandra: unfollow %s -> %s: %w", follower, followee, err)
	}
	return s.edgeIndex(ctx, follower, followee, applied, false, out)
}

// edgeID is the ID a follow stores with its edge: its first record's.
func edgeID(out []app.OutboxRecord) app.ID {
	if len(out) == 0 {
		return 0
	}
	return out[0].ID
}

// edgeIndex finishes a follow (present) or unfollow once its LWT answered.
// When the LWT applied it writes the followers row. When it did not, the
// records announce nothing: they are marked done at once (should that
// fail, the relay drops them, see completeEdge). Either way the row is
// then settled against the edge (settleFollowers). It reports whether the
// edge changed.
func (s *Store) edgeIndex(ctx context.Context, follower, followee string, applied, present bool, out []app.OutboxRecord) (bool, error) {
	if !applied {
		if len(out) > 0 {
			if err := s.MarkOutboxDone(ctx, out[0].Shard, recordIDs(out)); err != nil {
				s.log.Warn("cassandra: records of a follow that changed nothing not marked done; the relay drops them",
					"follower", follower, "followee", followee, "err", err)
			}
		}
		return false, s.settleFollowers(ctx, follower, followee, false, false)
	}
	if err := s.writeFollowers(ctx, follower, followee, present); err != nil {
		return false, err
	}
	if err := s.settleFollowers(ctx, follower, followee, true, present); err != nil {
		// The change happened; the row is put right by the next change
		// of the edge or by the relay (completeEdge).
		s.log.Warn("cassandra: followers index not checked after a follow change", "follower", follower, "followee", followee, "err", err)
	}
	return true, nil
}

// settleRounds bounds settleFollowers: each round needs yet another change
// of the edge to land between a read and a write.
const settleRounds = 4

// settleFollowers puts the followers row in line with the edge. A Follow
// and an Unfollow of one edge at once: their LWTs are ordered, their
// followers writes are not, and a write (or a fix read from an edge that
// changed since) may land after a change it did not see. So every write is
// followed by a read of the edge, until a read agrees with the last write
// or the row is found in line (nothing written, nothing to undo): the last
// write of the row then comes after the last change of the edge, from a
// writer that read that change. wrote and last say whether the caller has
// just written the row, and which way. Writers whose clocks disagree (the
// rows' timestamps are theirs) can still leave the row out of line.
func (s *Store) settleFollowers(ctx context.Context, follower, followee string, wrote, last bool) error {
	for range settleRounds {
		now, err := s.edgePresent(ctx, follower, followee)
		if err != nil || (wrote && now == last) {
			return err
		}
		if wrote, err = s.alignFollowers(ctx, follower, followee, now); err != nil || !wrote {
			return err
		}
		last = now
	}
	s.log.Warn("cassandra: followers index still changing after settling; the next change of the edge settles it",
		"follower", follower, "followee", followee)
	return nil
}

// edgePresent reads whether follower follows followee.
func (s *Store) edgePresent(ctx context.Context, follower, followee string) (bool, error) {
	var edge int64
	err := s.query(`SELECT edge_id FROM follows WHERE follower = ? AND followee = ?`, follower, followee).WithContext(ctx).Scan(&edge)
	switch {
	case errors.Is(err, gocql.ErrNotFound):
		return false, nil
	case err != nil:
		return false, failf("cassandra: follow %s -> %s: %w", follower, followee, err)
	}
	return true, nil
}

func recordIDs(out []app.OutboxRecord) []app.ID {
	ids := make([]app.ID, len(out))
	for i, r := range out {
		ids[i] = r.ID
	}
	return ids
}

// alignFollowers writes the followers row when it disagrees with present,
// and reports whether it wrote.
func (s *Store) alignFollowers(ctx context.Context, follower, followee string, present bool) (bool, error) {
	var f string
	err := s.query(`SELECT follower FROM followers WHERE followee = ? AND bucket = ? AND follower = ?`,
		followee, followerBucket(follower), follower).WithContext(ctx).Scan(&f)
	switch {
	case errors.Is(err, gocql.ErrNotFound):
		if !present {
			return false, nil
		}
	case err != nil:
		return false, failf("cassandra: follow %s -> %s: followers index: %w", follower, followee, err)
	case present:
		return false, nil
	}
	return true, s.writeFollowers(ctx, follower, followee, present)
}

// writeFollowers puts follower's row in followee's followers, or takes it
// out. A bucket's hint is written before its first row, so a reader that
// finds a row found its hint first; hints are never taken out (an emptied
// bucket costs Followers one empty read).
func (s *Store) writeFollowers(ctx context.Context, follower, followee string, present bool) error {
	bucket := followerBucket(follower)
	q := s.query(`INSERT INTO followers (followee, bucket, follower) VALUES (?, ?, ?)`, followee, bucket, follower)
	if present {
		err := s.query(`INSERT INTO follower_buckets (followee, bucket) VALUES (?, ?)`, followee, bucket).WithContext(ctx).Exec()
		if err != nil {
			return failf("cassandra: follow %s -> %s: followers index: %w", follower, followee, err)
		}
	} else {
		q = s.query(`DELETE FROM followers WHERE followee = ? AND bucket = ? AND follower = ?`, followee, bucket, follower)
	}
	if err := q.WithContext(ctx).Exec(); err != nil {
		return failf("cassandra: follow %s -> %s: followers index: %w", follower, followee, err)
	}
	return nil
}

// edgeSettle is how long after its ID a follow or unfollow may still
// change the edge: its LWT is sent within the request's deadline (at most
// 30 s) and a coordinator gives up on it within seconds; and the ID comes
// from the writer's clock, which may be behind the relay's by as much as
// the relay's grace allows (app.DefaultRelayGrace). Until then a record
// whose edge does not show its change waits; past it, a read at SERIAL,
// which finishes any Paxos round left accepted but uncommitted, decides
// for good.
const edgeSettle = app.DefaultRelayGrace + 30*time.Second

// completeEdge says whether the follow or unfollow of r happened, from the
// edge as it is now: a follow happened if the edge carries its ID or a
// later one (a later follow implies an unfollow in between, whose record
// comes after r); an unfollow happened if the edge is gone or was made
// again after it. A follow undone before this check counts as not
// happened once settled (its unfollow is published). A change that
// happened gets its followers row put in line.
func (s *Store) completeEdge(ctx context.Context, r app.OutboxRecord) (app.Completion, error) {
	f := *r.Event.Follow
	settled := time.Since(r.ID.Time()) >= edgeSettle
	cl := s.consistency
	if settled {
		cl = s.serial
	}
	var edge int64
	err := s.query(`SELECT edge_id FROM follows WHERE follower = ? AND followee = ?`, f.Follower, f.Followee).
		Consistency(cl).WithContext(ctx).Scan(&edge)
	present := err == nil
	if err != nil && !errors.Is(err, gocql.ErrNotFound) {
		return 0, failf("cassandra: follow %s -> %s: %w", f.Follower, f.Followee, err)
	}
	// An edge without an ID (0) was made by a release before edge IDs,
	// which wrote a follow's record only once its LWT had applied.
	happened := present && (edge == 0 || app.ID(edge) >= r.ID)
	if r.Event.Type == app.UserUnfollowed {
		happened = !present || app.ID(edge) > r.ID
	}
	switch {
	case happened:
		return app.Publish, s.settleFollowers(ctx, f.Follower, f.Followee, false, false)
	case settled:
		return app.Drop, nil
	default:
		return app.Wait, nil
	}
}

// Followers implements app.Graph. Users come bucket by bucket (0 to
// followerBuckets-1), each bucket in name order. The cursor is
// "bucket:lastFollower"; callers must treat it as opaque.
//
// Only the buckets follower_buckets names are read: a user with a few
// followers costs a few reads, not followerBuckets (fan-out pays this for
// every post). Reading those one after another would still cost a round
// trip each, so they are read in concurrent windows sized by the density
// seen so far (see bucketWindow), and the results are taken in bucket
// order exactly as a sequential walk would take them.
func (s *Store) Followers(ctx context.Context, user, cursor string, limit int) (_ []string, _ string, err error) {
	ctx, end := s.bound(ctx)
	defer func() { err = end(err) }()
	if limit <= 0 {
		return nil, "", nil
	}
	bucket, after := 0, ""
	if cursor != "" {
		b, name, ok := strings.Cut(cursor, ":")
		n, err := strconv.Atoi(b)
		if !ok || err != nil || n < 0 || n >= followerBuckets {
			return nil, "", failf("cassandra: followers of %s: %w: bad cursor %q", user, app.ErrInvalid, cursor)
		}
		bucket, after = n, name
	}
	buckets, err := s.followerBucketsFrom(ctx, user, bucket)
	if err != nil {
		return nil, "", err
	}
	if len(buckets) == 0 || buckets[0] != bucket {
		after = "" // the cursor's bucket is not hinted: the next hinted one is read from its start
	}
	users := make([]string, 0, min(limit, 1024))
	last := "" // cursor after the last user in users
	// The buckets read from their start and the rows they held: the
	// density estimate. The cursor's bucket, read from a name on, is not
	// one of them.
	seenBuckets, seenRows := 0, 0
	for len(buckets) > 0 {
		// One row more than the page still needs: it tells whether the
		// page ends inside a bucket and, once the page is full, whether
		// another page follows, so the last page ends with an empty
		// cursor instead of a further, empty page.
		need := limit - len(users) + 1
		n := bucketWindow(need, seenRows, seenBuckets, len(buckets))
		window, err := s.readFollowerBuckets(ctx, user, buckets[:n], after, need)
		if err != nil {
			return nil, "", err
		}
		for i, got := range window {
			b, want := buckets[i], limit-len(users)
			switch {
			case want == 0: // page full: any row means a next page exists
				if len(got) > 0 {
					return users, last, nil
				}
			case len(got) > want: // the page ends inside bucket b
				users = append(users, got[:want]...)
				return users, followerCursor(b, got[want-1]), nil
			case len(got) > 0:
				users = append(users, got...)
				last = followerCursor(b, got[len(got)-1])
			}
			// Not returned: got is all of bucket b (or of its rest).
			if i > 0 || after == "" {
				seenBuckets++
				seenRows += len(got)
			}
		}
		buckets, after = buckets[n:], ""
	}
	return users, "", nil
}

// followerBucketsFrom returns the buckets of user's followers from first on
// that follower_buckets names, in order.
func (s *Store) followerBucketsFrom(ctx context.Context, user string, first int) ([]int, error) {
	iter := s.query(`SELECT bucket FROM follower_buckets WHERE followee = ? AND bucket >= ?`, user, first).WithContext(ctx).Iter()
	var (
		buckets []int
		b       int
	)
	for iter.Scan(&b) {
		buckets = append(buckets, b)
	}
	if err := iter.Close(); err != nil {
		return nil, failf("cassandra: followers of %s: buckets: %w", user, err)
	}
	return buckets, nil
}

// followerCursor is the Followers cursor after follower in bucket.
func followerCursor(bucket int, follower string) string {
	return strconv.Itoa(bucket) + ":" + follower
}

// smallBucketSet is how many hinted buckets are read at once before any
// density is known: at worst (dense buckets) it reads that many times a
// page, once per walk.
const smallBucketSet = 8

// bucketWindow returns how many of the remaining buckets to read at once,
// when the page needs need more rows and the buckets fully read so far held
// rows rows in total. At that density the window should yield need rows plus
// a quarter (buckets vary), so a page usually completes in this round trip
// while the rows read past its end stay few: each bucket read may return up
// to need rows, so dense buckets are read one or two at a time.
func bucketWindow(need, rows, buckets, remaining int) int {
	switch {
	case buckets == 0 && remaining <= smallBucketSet:
		// Nothing known, but few buckets hold followers: a user with few
		// followers (fan-out's common case) is read in one round trip.
		return remaining
	case buckets == 0:
		// Nothing known: a single bucket, which may hold the whole page.
		return 1
	case rows == 0:
		// Only empty buckets so far: hashing spreads followers evenly,
		// so the user has few and reading every remaining bucket
		// returns few rows.
		return remaining
	}
	n := (need*buckets*5 + rows*4 - 1) / (rows * 4) // ceil(1.25 * need / (rows/buckets))
	return min(max(n, 1), remaining)
}

// readFollowerBuckets reads up to limit followers from each of buckets and
// returns them in that order. after applies to the first bucket only. The
// buckets read from their start go in one multi-partition query: for a
// user with a few followers, each in a bucket of its own (fan-out's common
// case), one request instead of one per follower, which on a loaded
// cluster was most of fan-out's cost per post.
func (s *Store) readFollowerBuckets(ctx context.Context, user string, buckets []int, after string, limit int) ([][]string, error) {
	window := make([][]string, len(buckets))
	g, gctx := errgroup.WithContext(ctx)
	first := 0
	if after != "" {
		first = 1
		g.Go(func() error {
			got, err := s.readFollowerBucket(gctx, user, buckets[0], after, limit)
			window[0] = got
			return err
		})
	}
	if rest := buckets[first:]; len(rest) == 1 {
		g.Go(func() error {
			got, err := s.readFollowerBucket(gctx, user, rest[0], "", limit)
			window[first] = got
			return err
		})
	} else if len(rest) > 1 {
		g.Go(func() error {
			at := make(map[int]int, len(rest))
			for i, b := range rest {
				at[b] = first + i
			}
			iter := s.query(`SELECT bucket, follower FROM followers WHERE followee = ? AND bucket IN ? PER PARTITION LIMIT ?`,
				user, rest, limit).WithContext(gctx).Iter()
			var (
				b    int
				name string
			)
			for iter.Scan(&b, &name) {
				if i, ok := at[b]; ok {
					window[i] = append(window[i], name)
				}
			}
			if err := iter.Close(); err != nil {
				return failf("cassandra: followers of %s, %d buckets: %w", user, len(rest), err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return window, nil
}

// readFollowerBucket reads up to n followers of user in bucket, after the name
// after ("" for the start).
func (s *Store) readFollowerBucket(ctx context.Context, user string, bucket int, after string, n int) ([]string, error) {
	iter := s.query(`SELECT follower FROM followers WHERE followee = ? AND bucket = ? AND follower > ? LIMIT ?`,
		user, bucket, after, n).WithContext(ctx).Iter()
	var (
		names []string
		name  string
	)
	for iter.Scan(&name) {
		names = append(names, name)
	}
	if err := iter.Close(); err != nil {
		return nil, failf("cassandra: followers of %s bucket %d: %w", user, bucket, err)
	}
	return names, nil
}

// Following implements app.Graph. Users come in name order; the cursor is
// the last user returned.
func (s *Store) Following(ctx context.Context, user, cursor string, limit int) (_ []string, _ string, err error) {
	ctx, end := s.bound(ctx)
	defer func() { err = end(err) }()
	if limit <= 0 {
		return nil, "", nil
	}
	// One extra row tells whether another page exists.
	iter := s.query(`SELECT followee FROM follows WHERE follower = ? AND followee > ? LIMIT ?`,
		user, cursor, limit+1).WithContext(ctx).Iter()
	users := make([]string, 0, min(limit+1, 1024))
	var name string
	for iter.Scan(&name) {
		users = append(users, name)
	}
	if err := iter.Close(); err != nil {
		return nil, "", failf("cassandra: following of %s: %w", user, err)
	}
	if len(users) > limit {
		return users[:limit], users[limit-1], nil
	}
	return users, "", nil
}
