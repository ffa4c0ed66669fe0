package cassandra

import (
	"context"
	"maps"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/feedsvc/feedsvc/app"
)

var addColumn = regexp.MustCompile(`^ALTER TABLE \{ks\}\.(\w+) ADD (\w+) `)

// wantSchema lists, from the migration statements themselves, every table
// and added column of every version, so a new migration is checked without
// editing this test.
func wantSchema(t *testing.T) (tables []string, columns map[string][]string) {
	columns = map[string][]string{}
	for _, m := range migrations {
		for _, stmt := range m.stmts {
			if createTable.MatchString(stmt) {
				continue // in Tables
			} else if g := addColumn.FindStringSubmatch(stmt); g != nil {
				columns[g[1]] = append(columns[g[1]], g[2])
			} else {
				t.Fatalf("migration %d: statement this test cannot check: %s", m.version, firstLine(stmt))
			}
		}
	}
	return Tables(), columns
}

// TestMigrate migrates a fresh keyspace and checks that every table and
// column of every migration exists and every version is recorded; that a
// second run changes nothing; and that rerunning a migration whose version
// was not recorded (a crash after its DDL) succeeds.
func TestMigrate(t *testing.T) {
	ctx := context.Background()
	cfg := testConfig(t, "feedsvc_migrate_")
	log := testLog()
	wantTables, wantColumns := wantSchema(t)
	var wantVersions []int
	for _, m := range migrations {
		wantVersions = append(wantVersions, m.version)
	}

	c, err := newCluster(cfg, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	session, err := c.CreateSession()
	if err != nil {
		t.Fatal(err)
	}
	defer session.Close()
	versions := func() map[int]time.Time {
		t.Helper()
		out := map[int]time.Time{}
		iter := session.Query(`SELECT version, applied_at FROM ` + cfg.Keyspace + `.schema_migrations`).WithContext(ctx).Iter()
		var (
			v  int
			at time.Time
		)
		for iter.Scan(&v, &at) {
			out[v] = at
		}
		if err := iter.Close(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	checkSchema := func(when string) {
		t.Helper()
		tables := scanStrings(t, session.Query(`SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?`, cfg.Keyspace))
		slices.Sort(tables)
		if !slices.Equal(tables, wantTables) {
			t.Fatalf("%s: tables %v, want %v", when, tables, wantTables)
		}
		for table, cols := range wantColumns {
			got := scanStrings(t, session.Query(`SELECT column_name FROM system_schema.columns WHERE keyspace_name = ? AND table_name = ?`, cfg.Keyspace, table))
			for _, col := range cols {
				if !slices.Contains(got, col) {
					t.Fatalf("%s: %s has no column %s (columns: %v)", when, table, col, got)
				}
			}
		}
		if got := slices.Sorted(maps.Keys(versions())); !slices.Equal(got, wantVersions) {
			t.Fatalf("%s: recorded versions %v, want %v", when, got, wantVersions)
		}
	}

	if err := Migrate(ctx, cfg, log); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	checkSchema("first run")
	first := versions()

	if err := Migrate(ctx, cfg, log); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	checkSchema("second run")
	if again := versions(); !maps.Equal(again, first) {
		t.Fatalf("second run rerecorded versions: %v, before %v", again, first)
	}

	// Forget the last version, as if the process died after its DDL: the
	// rerun must accept what is already there (ADD of an existing column
	// included) and record the version again.
	last := wantVersions[len(wantVersions)-1]
	if err := session.Query(`DELETE FROM `+cfg.Keyspace+`.schema_migrations WHERE version = ?`, last).WithContext(ctx).Exec(); err != nil {
		t.Fatal(err)
	}
	if err := Migrate(ctx, cfg, log); err != nil {
		t.Fatalf("Migrate after losing version %d: %v", last, err)
	}
	checkSchema("rerun of an unrecorded version")
}

// TestBackfillFollowerBuckets: followers written before the bucket hints
// existed (rows without a hint) are found by Followers once migration 7's
// backfill has run.
func TestBackfillFollowerBuckets(t *testing.T) {
	s, _ := openGraphStore(t)
	ctx := context.Background()
	followers := fansIn(2, 3, 40)
	for _, f := range followers { // as a release before the hints wrote them
		if err := s.session.Query(`INSERT INTO followers (followee, bucket, follower) VALUES (?, ?, ?)`,
			"old-star", followerBucket(f), f).WithContext(ctx).Exec(); err != nil {
			t.Fatal(err)
		}
	}
	got, _, err := s.Followers(ctx, "old-star", "", 100)
	if err != nil || len(got) != 0 {
		t.Fatalf("before the backfill: %v, %v; want none (no hints)", got, err)
	}
	ks := s.session.Query(`SELECT bucket FROM follower_buckets`).Keyspace() // the session's
	if err := backfillFollowerBuckets(ctx, s.session, ks); err != nil {
		t.Fatal(err)
	}
	got, _, err = s.Followers(ctx, "old-star", "", 100)
	if want := wantFollowerOrder(followers); err != nil || !slices.Equal(got, want) {
		t.Fatalf("after the backfill: %v, %v; want %v", got, err, want)
	}
}

func scanStrings(t *testing.T, q *gocql.Query) []string {
	t.Helper()
	var out []string
	iter := q.Iter()
	for s := ""; iter.Scan(&s); {
		out = append(out, s)
	}
	if err := iter.Close(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestBackfillListMemberships: list members written before the index
// existed (migration 14) are found by ListsOf once its backfill has run.
func TestBackfillListMemberships(t *testing.T) {
	s, _ := openGraphStore(t)
	ctx := context.Background()
	owner, member := "lister-"+randomHex(t, 4), "listed-"+randomHex(t, 4)
	ids := []app.ID{app.ID(time.Now().UnixNano()), app.ID(time.Now().UnixNano() + 1)}
	for _, id := range ids { // as a release before the index wrote them
		if err := s.session.Query(`INSERT INTO list_members (owner, list_id, member) VALUES (?, ?, ?)`,
			owner, int64(id), member).WithContext(ctx).Exec(); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := s.ListsOf(ctx, member, app.ListRef{}, 10); err != nil || len(got) != 0 {
		t.Fatalf("before the backfill: %v, %v; want none", got, err)
	}
	ks := s.session.Query(`SELECT member FROM list_memberships`).Keyspace() // the session's
	if err := backfillListMemberships(ctx, s.session, ks); err != nil {
		t.Fatal(err)
	}
	want := []app.ListRef{{Owner: owner, ID: ids[0]}, {Owner: owner, ID: ids[1]}}
	if got, err := s.ListsOf(ctx, member, app.ListRef{}, 10); err != nil || !slices.Equal(got, want) {
		t.Fatalf("after the backfill: %v, %v; want %v", got, err, want)
	}
}
