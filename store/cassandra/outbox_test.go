package cassandra

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/feedsvc/feedsvc/app"
)

func TestShardLeases(t *testing.T) {
	_, s := migrated(t, "feedsvc_shards_")
	ctx := context.Background()
	ok, err := s.LeaseShard(ctx, 3, "one", time.Minute)
	if err != nil || !ok {
		t.Fatalf("first lease: %v %v", ok, err)
	}
	if ok, err := s.LeaseShard(ctx, 3, "two", time.Minute); err != nil || ok {
		t.Fatalf("a held shard was leased to another: %v %v", ok, err)
	}
	if ok, err := s.LeaseShard(ctx, 3, "one", time.Minute); err != nil || !ok {
		t.Fatalf("the holder asking again: %v %v", ok, err)
	}
	if err := s.RenewShard(ctx, 3, "one", time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.RenewShard(ctx, 3, "two", time.Minute); !errors.Is(err, app.ErrLeaseLost) {
		t.Fatalf("renewal by a non-holder: %v, want ErrLeaseLost", err)
	}
	// Shard and node leases are apart: node 3 is still free.
	if err := s.Renew(ctx, 3, "one", time.Minute); !errors.Is(err, app.ErrLeaseLost) {
		t.Fatalf("node 3 renewed through a shard lease: %v", err)
	}
	if err := s.ReleaseShard(ctx, 3, "two"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.LeaseShard(ctx, 3, "two", time.Minute); ok {
		t.Fatal("a release by a non-holder freed the shard")
	}
	if err := s.ReleaseShard(ctx, 3, "one"); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.LeaseShard(ctx, 3, "two", time.Second); err != nil || !ok {
		t.Fatalf("lease after release: %v %v", ok, err)
	}
	// Expiry: a lease not renewed is free after its TTL.
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok, err := s.LeaseShard(ctx, 3, "three", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("an expired shard lease was never free")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestFollowRepairsHalfwayWrites: the follows LWT and the followers row
// are separate writes; a crash between them leaves the edge without its
// row, and the next call on the edge writes the row. It announces nothing:
// the first call's record does (TestCompleteEdge), so its own is done.
func TestFollowRepairsHalfwayWrites(t *testing.T) {
	_, s := migrated(t, "feedsvc_halfway_")
	ctx := context.Background()
	gen := app.NewIDGen(11)
	rec := func(typ string) app.OutboxRecord {
		id, err := gen.Next()
		if err != nil {
			t.Fatal(err)
		}
		return followRecord(typ, id, "b", "a")
	}
	done := func(r app.OutboxRecord) bool {
		got, err := s.ScanOutbox(ctx, r.Shard, r.ID-1, 1)
		if err != nil || len(got) != 1 || got[0].ID != r.ID {
			t.Fatalf("record %s not found: %v", r.ID, err)
		}
		return got[0].Done
	}
	// The LWT applied, the followers row did not.
	if err := s.session.Query(`INSERT INTO follows (follower, followee, created_at, edge_id) VALUES ('b', 'a', toTimestamp(now()), 1)`).Exec(); err != nil {
		t.Fatal(err)
	}
	r := rec(app.UserFollowed)
	if changed, err := s.Follow(ctx, "b", "a", r); err != nil || changed {
		t.Fatalf("follow after a halfway follow: changed=%v err=%v, want no change", changed, err)
	}
	if !done(r) {
		t.Fatal("the record of a follow that changed nothing is not done")
	}
	if f, _, _ := s.Followers(ctx, "a", "", 10); len(f) != 1 || f[0] != "b" {
		t.Fatalf("followers of a = %v, want the row repaired", f)
	}
	// Unfollow: the LWT applied, the followers row is left.
	if err := s.session.Query(`DELETE FROM follows WHERE follower = 'b' AND followee = 'a'`).Exec(); err != nil {
		t.Fatal(err)
	}
	u := rec(app.UserUnfollowed)
	if changed, err := s.Unfollow(ctx, "b", "a", u); err != nil || changed {
		t.Fatalf("unfollow after a halfway unfollow: changed=%v err=%v, want no change", changed, err)
	}
	if !done(u) {
		t.Fatal("the record of an unfollow that changed nothing is not done")
	}
	if f, _, _ := s.Followers(ctx, "a", "", 10); len(f) != 0 {
		t.Fatalf("followers of a after unfollow = %v", f)
	}
}

// TestOutboxScanCrossesBuckets: records of one shard in partitions of
// different ten minutes come back in ID order from one scan.
func TestOutboxScanCrossesBuckets(t *testing.T) {
	_, s := migrated(t, "feedsvc_buckets_")
	ctx := context.Background()
	var want []app.ID
	for _, ago := range []time.Duration{45 * time.Minute, 25 * time.Minute, 12 * time.Minute, time.Second} {
		id := app.MinIDAt(time.Now().Add(-ago)) + 1
		p := app.Post{ID: id, Author: "a", Text: "t", CreatedAt: id.Time().UTC()}
		r := app.NewOutboxRecord(id, app.Event{ID: "post.created:" + id.String(), Type: app.PostCreated, Time: p.CreatedAt, Post: &p})
		if err := s.SavePost(ctx, p, r); err != nil {
			t.Fatal(err)
		}
		want = append(want, id)
	}
	got, err := s.ScanOutbox(ctx, app.OutboxShard("a"), 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("scan found %d records, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].ID != want[i] {
			t.Fatalf("record %d = %s, want %s", i, got[i].ID, want[i])
		}
	}
	// Bounded: a limit of 2 from the first stops in the second bucket.
	got, err = s.ScanOutbox(ctx, app.OutboxShard("a"), want[0], 2)
	if err != nil || len(got) != 2 || got[0].ID != want[1] || got[1].ID != want[2] {
		t.Fatalf("scan after the first, limit 2: %v %v", got, err)
	}
}

// TestCompleteOutboxWritesWhatDidNotLand: SavePost, DeletePost and Follow
// write the record before the change; when the change did not land (a
// crash, a failed write), CompleteOutbox writes it from the record.
func TestCompleteOutboxWritesWhatDidNotLand(t *testing.T) {
	_, s := migrated(t, "feedsvc_complete_")
	ctx := context.Background()
	gen := app.NewIDGen(7)
	record := func(typ string, p *app.Post, f *app.Follow) app.OutboxRecord {
		id, err := gen.Next()
		if err != nil {
			t.Fatal(err)
		}
		return app.NewOutboxRecord(id, app.Event{ID: typ + ":" + id.String(), Type: typ, Time: time.Now().UTC(), Post: p, Follow: f})
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	id, err := gen.Next()
	must(err)
	p := app.Post{ID: id, Author: "a", Text: "only its record landed", CreatedAt: id.Time().UTC()}
	created := record(app.PostCreated, &p, nil)
	must(s.writeOutbox(ctx, []app.OutboxRecord{created}))
	if got, _ := s.GetPosts(ctx, []app.ID{p.ID}); len(got) != 0 {
		t.Fatal("the post exists before CompleteOutbox")
	}
	complete := func(r app.OutboxRecord) app.Completion {
		t.Helper()
		v, err := s.CompleteOutbox(ctx, []app.OutboxRecord{r})
		must(err)
		return v[0]
	}
	if v := complete(created); v != app.Publish {
		t.Fatalf("completed post: verdict %d, want Publish", v)
	}
	got, err := s.GetPosts(ctx, []app.ID{p.ID})
	must(err)
	if got[p.ID] != p {
		t.Fatalf("completed post = %+v, want %+v", got[p.ID], p)
	}
	if tl, err := s.AuthorPosts(ctx, "a", 0, 10); err != nil || len(tl) != 1 || tl[0] != p {
		t.Fatalf("timeline after completion: %+v %v", tl, err)
	}

	deleted := record(app.PostDeleted, &app.Post{ID: p.ID, Author: "a"}, nil)
	must(s.writeOutbox(ctx, []app.OutboxRecord{deleted}))
	if v := complete(deleted); v != app.Publish {
		t.Fatalf("completed deletion: verdict %d, want Publish", v)
	}
	if got, _ := s.GetPosts(ctx, []app.ID{p.ID}); len(got) != 0 {
		t.Fatalf("post present after its deletion was completed: %+v", got)
	}
	if d, err := s.WasDeleted(ctx, p.ID); err != nil || !d {
		t.Fatalf("WasDeleted after completion = %v %v", d, err)
	}
	if tl, _ := s.AuthorPosts(ctx, "a", 0, 10); len(tl) != 0 {
		t.Fatalf("timeline after the deletion was completed: %+v", tl)
	}

}

// TestCompleteEdge: the relay publishes a follow or unfollow whose LWT's
// answer was lost (a crash, a timeout) only if it changed the edge; while
// the LWT may still be in flight the record waits, and once settled one
// that changed nothing is dropped. A change that happened gets its
// followers row.
func TestCompleteEdge(t *testing.T) {
	_, s := migrated(t, "feedsvc_edges_")
	ctx := context.Background()
	gen := app.NewIDGen(9)
	fresh := func() app.ID {
		id, err := gen.Next()
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	old := app.MinIDAt(time.Now().Add(-2*edgeSettle)) + app.ID(rand.Int64N(1<<20))
	exec := func(stmt string, args ...any) {
		t.Helper()
		if err := s.session.Query(stmt, args...).Exec(); err != nil {
			t.Fatal(err)
		}
	}
	// applied sets the edge as a follow with ID id left it: the LWT, but
	// not the followers row.
	applied := func(follower string, id app.ID) {
		exec(`INSERT INTO follows (follower, followee, created_at, edge_id) VALUES (?, 'a', toTimestamp(now()), ?)`, follower, int64(id))
	}
	for _, c := range []struct {
		name     string
		typ      string
		id       app.ID
		setup    func(follower string, rec app.ID)
		want     app.Completion
		follower bool // whether the followers row is there afterwards
	}{
		{"follow applied, crash before the followers row", app.UserFollowed, fresh(), applied, app.Publish, true},
		{"follow applied, followed again since", app.UserFollowed, fresh(),
			func(f string, id app.ID) { applied(f, id+1) }, app.Publish, true},
		{"follow whose LWT is not there yet", app.UserFollowed, fresh(), func(string, app.ID) {}, app.Wait, false},
		{"follow made by a release before edge IDs", app.UserFollowed, fresh(),
			func(f string, _ app.ID) { applied(f, 0) }, app.Publish, true},
		{"follow whose LWT never came", app.UserFollowed, old, func(string, app.ID) {}, app.Drop, false},
		{"follow of an edge that existed, answer lost", app.UserFollowed, old,
			func(f string, id app.ID) { applied(f, id-1) }, app.Drop, false},
		{"unfollow applied, crash before the followers row", app.UserUnfollowed, fresh(),
			func(f string, _ app.ID) {
				exec(`INSERT INTO followers (followee, bucket, follower) VALUES ('a', ?, ?)`, followerBucket(f), f)
			},
			app.Publish, false},
		{"unfollow applied, followed again since", app.UserUnfollowed, fresh(),
			func(f string, id app.ID) { applied(f, id+1) }, app.Publish, true},
		{"unfollow whose LWT is not there yet", app.UserUnfollowed, fresh(),
			func(f string, id app.ID) { applied(f, id-1) }, app.Wait, false},
		{"unfollow whose LWT never came", app.UserUnfollowed, old,
			func(f string, id app.ID) { applied(f, id-1) }, app.Drop, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			follower := fmt.Sprintf("u%d", c.id)
			rec := followRecord(c.typ, c.id, follower, "a")
			if err := s.writeOutbox(ctx, []app.OutboxRecord{rec}); err != nil {
				t.Fatal(err)
			}
			c.setup(follower, c.id)
			v, err := s.CompleteOutbox(ctx, []app.OutboxRecord{rec})
			if err != nil {
				t.Fatal(err)
			}
			if v[0] != c.want {
				t.Fatalf("verdict %d, want %d", v[0], c.want)
			}
			var f string
			err = s.session.Query(`SELECT follower FROM followers WHERE followee = 'a' AND bucket = ? AND follower = ?`,
				followerBucket(follower), follower).Scan(&f)
			if row := err == nil; row != c.follower {
				t.Fatalf("followers row present = %v (%v), want %v", row, err, c.follower)
			}
		})
	}
}

// followRecord is the outbox record of a follow event.
func followRecord(typ string, id app.ID, follower, followee string) app.OutboxRecord {
	f := &app.Follow{Follower: follower, Followee: followee}
	return app.NewOutboxRecord(id, app.Event{ID: typ + ":" + id.String(), Type: typ, Time: time.Now().UTC(), Follow: f})
}
