package cassandra

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gocql/gocql"
	"golang.org/x/sync/errgroup"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/internal/testenv"
)

// followerReads counts the followers-table queries a Store runs and the rows
// they return, so tests and benchmarks can see what a Followers call costs.
type followerReads struct{ queries, rows atomic.Int64 }

// ObserveQuery implements gocql.QueryObserver.
func (r *followerReads) ObserveQuery(_ context.Context, q gocql.ObservedQuery) {
	if strings.Contains(q.Statement, "FROM followers") {
		r.queries.Add(1)
		r.rows.Add(int64(q.Rows))
	}
}

// openGraphStore migrates a throwaway keyspace and opens a Store on it whose
// followers reads are counted in the returned followerReads.
func openGraphStore(tb testing.TB) (*Store, *followerReads) {
	tb.Helper()
	hosts := testenv.Require(tb, "FEEDSVC_CASSANDRA_HOSTS")
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cfg := Config{
		Hosts:       strings.Split(hosts, ","),
		Keyspace:    "feedsvc_graph_" + strconv.FormatInt(time.Now().UnixNano(), 36),
		Consistency: "LOCAL_QUORUM", // the weakest the store accepts
		Timeout:     20 * time.Second,
	}
	tb.Cleanup(func() {
		c, err := newCluster(cfg, "", nil)
		if err != nil {
			tb.Errorf("drop keyspace: %v", err)
			return
		}
		session, err := c.CreateSession()
		if err != nil {
			tb.Errorf("drop keyspace: %v", err)
			return
		}
		defer session.Close()
		if err := session.Query(`DROP KEYSPACE IF EXISTS ` + cfg.Keyspace).Exec(); err != nil {
			tb.Errorf("drop keyspace %s: %v", cfg.Keyspace, err)
		}
	})
	if err := Migrate(ctx, cfg, log); err != nil {
		tb.Fatalf("Migrate: %v", err)
	}
	// Built like Open, plus the observer (Open has no hook for one).
	c, err := newCluster(cfg, cfg.Keyspace, log)
	if err != nil {
		tb.Fatal(err)
	}
	reads := &followerReads{}
	c.QueryObserver = reads
	session, err := c.CreateSession()
	if err != nil {
		tb.Fatal(err)
	}
	s := &Store{session: session, log: log}
	tb.Cleanup(func() { _ = s.Close() })
	return s, reads
}

// addFollowers writes the followers rows of followee directly (no follows
// rows, no LWTs): Followers reads only that table and the bucket hints,
// and plain writes make large fixtures quick.
func addFollowers(tb testing.TB, s *Store, followee string, followers []string) {
	tb.Helper()
	g, ctx := errgroup.WithContext(context.Background())
	g.SetLimit(64)
	for _, f := range followers {
		g.Go(func() error {
			return s.writeFollowers(ctx, f, followee, true)
		})
	}
	if err := g.Wait(); err != nil {
		tb.Fatalf("add followers of %s: %v", followee, err)
	}
}

// fans returns n follower names.
func fans(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("fan%06d", i)
	}
	return names
}

// fansIn returns perBucket follower names for each of buckets.
func fansIn(perBucket int, buckets ...int) []string {
	var names []string
	for _, b := range buckets {
		for i, found := 0, 0; found < perBucket; i++ {
			if name := fmt.Sprintf("b%d-%d", b, i); followerBucket(name) == b {
				names = append(names, name)
				found++
			}
		}
	}
	return names
}

// wantFollowerOrder is the documented order of Followers: bucket by bucket,
// names in order within a bucket.
func wantFollowerOrder(followers []string) []string {
	want := slices.Clone(followers)
	slices.SortFunc(want, func(a, b string) int {
		return cmp.Or(cmp.Compare(followerBucket(a), followerBucket(b)), strings.Compare(a, b))
	})
	return want
}

// TestFollowersPaging walks the followers of users with few followers spread
// over many mostly empty buckets, page by page with small limits, and checks
// the contract: pages concatenate to the full ordered list (the same as one
// large page), every page but the last is full, the cursor is
// "bucket:lastFollower", and the last page is not empty and ends with an
// empty cursor.
func TestFollowersPaging(t *testing.T) {
	s, _ := openGraphStore(t)
	ctx := context.Background()
	cases := []struct {
		name      string
		followers []string
		limits    []int
	}{
		{"none", nil, []int{1, 3}},
		{"one", fans(1), []int{1, 2}},
		{"ten", fans(10), []int{1, 2, 3, 4, 5, 9, 10, 11, 1000}},
		{"first and last bucket", fansIn(2, 0, 63), []int{1, 2, 3, 4, 5}},
		{"last bucket only", fansIn(3, 63), []int{1, 2, 3, 4}},
		{"one dense bucket among sparse", append(fansIn(40, 17), fans(20)...), []int{1, 7, 39, 40, 41, 59, 60, 61}},
		{"two hundred", fans(200), []int{1, 3, 64, 65, 199, 200, 201}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			user := "star-" + strings.ReplaceAll(c.name, " ", "-")
			addFollowers(t, s, user, c.followers)
			want := wantFollowerOrder(c.followers)

			all, next, err := s.Followers(ctx, user, "", len(want)+1000)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(all, want) || next != "" {
				t.Fatalf("one page = %v (next %q), want %v", all, next, want)
			}

			for _, limit := range c.limits {
				var got []string
				cursor := ""
				for pages := 1; ; pages++ {
					page, next, err := s.Followers(ctx, user, cursor, limit)
					if err != nil {
						t.Fatalf("limit %d, cursor %q: %v", limit, cursor, err)
					}
					got = append(got, page...)
					if next == "" {
						if len(page) == 0 && len(want) > 0 {
							t.Fatalf("limit %d: empty last page after cursor %q", limit, cursor)
						}
						break
					}
					if len(page) != limit {
						t.Fatalf("limit %d: page %d has %d followers but is not the last", limit, pages, len(page))
					}
					last := page[len(page)-1]
					if wantNext := fmt.Sprintf("%d:%s", followerBucket(last), last); next != wantNext {
						t.Fatalf("limit %d: cursor %q, want %q", limit, next, wantNext)
					}
					if pages > len(want) {
						t.Fatalf("limit %d: paging does not terminate", limit)
					}
					cursor = next
				}
				if !slices.Equal(got, want) {
					t.Fatalf("limit %d: pages concatenate to %v, want %v", limit, got, want)
				}
			}
		})
	}
}

// TestFollowersCursors checks cursors the paging walk never produces: bad
// ones are app.ErrInvalid, and well-formed ones resume where they point.
func TestFollowersCursors(t *testing.T) {
	s, _ := openGraphStore(t)
	ctx := context.Background()
	followers := append(fansIn(2, 0, 5, 63), fans(5)...)
	addFollowers(t, s, "star", followers)
	want := wantFollowerOrder(followers)
	last := want[len(want)-1]
	cases := []struct {
		cursor  string
		want    []string
		invalid bool
	}{
		{cursor: "x", invalid: true},
		{cursor: "1", invalid: true},
		{cursor: ":a", invalid: true},
		{cursor: "-1:a", invalid: true},
		{cursor: "64:a", invalid: true},
		{cursor: " 1:a", invalid: true},
		{cursor: "0:", want: want},
		{cursor: "63:", want: want[slices.IndexFunc(want, func(u string) bool { return followerBucket(u) == 63 }):]},
		{cursor: "63:" + last, want: nil},
		{cursor: "6:", want: want[slices.IndexFunc(want, func(u string) bool { return followerBucket(u) >= 6 }):]},
	}
	for _, c := range cases {
		got, next, err := s.Followers(ctx, "star", c.cursor, 1000)
		if c.invalid {
			if !errors.Is(err, app.ErrInvalid) {
				t.Errorf("cursor %q: err = %v, want app.ErrInvalid", c.cursor, err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, c.want) || next != "" {
			t.Errorf("cursor %q: %v (next %q, err %v), want %v", c.cursor, got, next, err, c.want)
		}
	}

	// A failed read (here: a canceled context) is an error, not a short page.
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if got, _, err := s.Followers(canceled, "star", "", 1000); err == nil {
		t.Errorf("canceled context: %v, want an error", got)
	}
}

// BenchmarkFollowers measures a full Followers walk (every page, page size
// 1000) for users of different follower counts. queries/op and rows/op count
// the followers-table reads behind one walk.
//
//	eval "$(scripts/testinfra env)"
//	go test -run '^$' -bench BenchmarkFollowers ./store/cassandra/
func BenchmarkFollowers(b *testing.B) {
	s, reads := openGraphStore(b)
	ctx := context.Background()
	const pageSize = 1000
	for _, n := range []int{10, 5_000, 100_000} {
		user := fmt.Sprintf("star%d", n)
		addFollowers(b, s, user, fans(n))
		b.Run(fmt.Sprintf("followers=%d", n), func(b *testing.B) {
			reads.queries.Store(0)
			reads.rows.Store(0)
			for b.Loop() {
				total, cursor := 0, ""
				for {
					page, next, err := s.Followers(ctx, user, cursor, pageSize)
					if err != nil {
						b.Fatal(err)
					}
					total += len(page)
					if next == "" {
						break
					}
					cursor = next
				}
				if total != n {
					b.Fatalf("walked %d followers, want %d", total, n)
				}
			}
			b.ReportMetric(float64(reads.queries.Load())/float64(b.N), "queries/op")
			b.ReportMetric(float64(reads.rows.Load())/float64(b.N), "rows/op")
		})
	}
}
