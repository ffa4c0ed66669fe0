package cassandra

import (
	"context"
	"errors"
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

// TestFollowRepairsHalfwayWrites: the follows LWT and the batch of the
// followers row and the event are separate writes; a crash between them
// leaves the edge without its row and event, and the next call writes both.
func TestFollowRepairsHalfwayWrites(t *testing.T) {
	_, s := migrated(t, "feedsvc_halfway_")
	ctx := context.Background()
	rec := func(typ string) app.OutboxRecord {
		return followRecord(typ, app.MinIDAt(time.Now())+app.ID(time.Now().UnixNano()%4096), "b", "a")
	}
	found := func(r app.OutboxRecord) bool { return hasRecord(t, s, r) }
	// The LWT applied, the batch did not.
	if err := s.session.Query(`INSERT INTO follows (follower, followee, created_at) VALUES ('b', 'a', toTimestamp(now()))`).Exec(); err != nil {
		t.Fatal(err)
	}
	r := rec(app.UserFollowed)
	if changed, err := s.Follow(ctx, "b", "a", r); err != nil || !changed {
		t.Fatalf("follow after a halfway follow: changed=%v err=%v, want a repair", changed, err)
	}
	if !found(r) {
		t.Fatal("the repair recorded no event")
	}
	if f, _, _ := s.Followers(ctx, "a", "", 10); len(f) != 1 || f[0] != "b" {
		t.Fatalf("followers of a = %v", f)
	}
	time.Sleep(2 * time.Millisecond) // a fresh ID for the next record
	if changed, err := s.Follow(ctx, "b", "a", rec(app.UserFollowed)); err != nil || changed {
		t.Fatalf("follow of a complete edge: changed=%v err=%v", changed, err)
	}
	// Unfollow: the LWT applied, the batch did not.
	if err := s.session.Query(`DELETE FROM follows WHERE follower = 'b' AND followee = 'a'`).Exec(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Millisecond)
	u := rec(app.UserUnfollowed)
	if changed, err := s.Unfollow(ctx, "b", "a", u); err != nil || !changed {
		t.Fatalf("unfollow after a halfway unfollow: changed=%v err=%v, want a repair", changed, err)
	}
	if !found(u) {
		t.Fatal("the unfollow repair recorded no event")
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
	must(s.CompleteOutbox(ctx, []app.OutboxRecord{created}))
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
	must(s.CompleteOutbox(ctx, []app.OutboxRecord{deleted}))
	if got, _ := s.GetPosts(ctx, []app.ID{p.ID}); len(got) != 0 {
		t.Fatalf("post present after its deletion was completed: %+v", got)
	}
	if d, err := s.WasDeleted(ctx, p.ID); err != nil || !d {
		t.Fatalf("WasDeleted after completion = %v %v", d, err)
	}
	if tl, _ := s.AuthorPosts(ctx, "a", 0, 10); len(tl) != 0 {
		t.Fatalf("timeline after the deletion was completed: %+v", tl)
	}

	// The follow's LWT applied; the record landed, the followers row not.
	must(s.session.Query(`INSERT INTO follows (follower, followee, created_at) VALUES ('b', 'a', toTimestamp(now()))`).Exec())
	follow := record(app.UserFollowed, nil, &app.Follow{Follower: "b", Followee: "a"})
	must(s.writeOutbox(ctx, []app.OutboxRecord{follow}))
	must(s.CompleteOutbox(ctx, []app.OutboxRecord{follow}))
	if f, _, err := s.Followers(ctx, "a", "", 10); err != nil || len(f) != 1 || f[0] != "b" {
		t.Fatalf("followers of a after completion = %v %v", f, err)
	}
}

// TestFinishEdgeCompletesAHalfwayFollow: a follow whose LWT applied but
// whose record and followers row failed is completed in the background;
// one whose edge changed again since is left to the call that changed it.
func TestFinishEdgeCompletesAHalfwayFollow(t *testing.T) {
	_, s := migrated(t, "feedsvc_finish_")
	ctx := context.Background()
	gen := app.NewIDGen(9)
	record := func(typ, follower string) app.OutboxRecord {
		id, err := gen.Next()
		if err != nil {
			t.Fatal(err)
		}
		return followRecord(typ, id, follower, "a")
	}
	found := func(r app.OutboxRecord) bool { return hasRecord(t, s, r) }
	// b's follow: the LWT applied, nothing after it.
	if err := s.session.Query(`INSERT INTO follows (follower, followee, created_at) VALUES ('b', 'a', toTimestamp(now()))`).Exec(); err != nil {
		t.Fatal(err)
	}
	rb := record(app.UserFollowed, "b")
	s.finishEdge("b", "a", true, []app.OutboxRecord{rb})
	// c's follow was undone before the completion ran: no edge, nothing to do.
	rc := record(app.UserFollowed, "c")
	s.finishEdge("c", "a", true, []app.OutboxRecord{rc})
	// d followed a long ago; a follow whose LWT's outcome was unknown finds
	// the edge and its row in line: it changed nothing, and says nothing.
	if _, err := s.Follow(ctx, "d", "a", record(app.UserFollowed, "d")); err != nil {
		t.Fatal(err)
	}
	rd := record(app.UserFollowed, "d")
	s.finishEdge("d", "a", true, []app.OutboxRecord{rd})
	s.bg.Wait()
	if found(rd) {
		t.Fatal("a follow that changed nothing was announced")
	}
	if !found(rb) {
		t.Fatal("the halfway follow's record was not written")
	}
	if f, _, err := s.Followers(ctx, "a", "", 10); err != nil || len(f) != 2 || f[0] != "b" || f[1] != "d" {
		t.Fatalf("followers of a = %v %v, want [b d]", f, err)
	}
	if found(rc) {
		t.Fatal("a follow undone since was announced")
	}
}

// followRecord is the outbox record of a follow event.
func followRecord(typ string, id app.ID, follower, followee string) app.OutboxRecord {
	f := &app.Follow{Follower: follower, Followee: followee}
	return app.NewOutboxRecord(id, app.Event{ID: typ + ":" + id.String(), Type: typ, Time: time.Now().UTC(), Follow: f})
}

// hasRecord reports whether the outbox holds r.
func hasRecord(t *testing.T, s *Store, r app.OutboxRecord) bool {
	t.Helper()
	got, err := s.ScanOutbox(context.Background(), r.Shard, r.ID-1, 1)
	if err != nil {
		t.Fatal(err)
	}
	return len(got) == 1 && got[0].ID == r.ID
}
