package app_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/app/apptest"
	"github.com/feedsvc/feedsvc/internal/testenv"
)

// runRelay runs r until the test ends (or stop is called).
func runRelay(t *testing.T, r *app.Relay) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = r.Run(ctx)
	}()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	return stop
}

// savePosts writes n posts per author with their post.created records
// straight to the store, as another api process would, and returns the
// records.
func savePosts(t *testing.T, s *apptest.Store, ids *app.IDGen, n int, authors ...string) []app.OutboxRecord {
	t.Helper()
	var recs []app.OutboxRecord
	for i := range n {
		for _, a := range authors {
			id, err := ids.Next()
			must(t, err)
			p := app.Post{ID: id, Author: a, Text: fmt.Sprint(i), CreatedAt: id.Time().UTC()}
			rec := app.NewOutboxRecord(id, app.Event{ID: "post.created:" + id.String(), Type: app.PostCreated, Time: p.CreatedAt, Post: &p})
			must(t, s.SavePost(context.Background(), p, rec))
			recs = append(recs, rec)
		}
	}
	return recs
}

// checkPublished fails t unless the bus holds exactly the events of recs,
// each once, every author's in ID order.
func checkPublished(t *testing.T, bus *apptest.Bus, recs []app.OutboxRecord) {
	t.Helper()
	got := bus.Pending()
	seen := map[string]int{}
	last := map[string]app.ID{}
	for _, ev := range got {
		seen[ev.ID]++
		if ev.Post.ID <= last[ev.Post.Author] {
			t.Fatalf("author %s: post %s published after %s", ev.Post.Author, ev.Post.ID, last[ev.Post.Author])
		}
		last[ev.Post.Author] = ev.Post.ID
	}
	for _, r := range recs {
		if seen[r.Event.ID] != 1 {
			t.Fatalf("event %s published %d times, want once", r.Event.ID, seen[r.Event.ID])
		}
	}
	if len(got) != len(recs) {
		t.Fatalf("%d events published, want %d", len(got), len(recs))
	}
}

func allDone(s *apptest.Store) bool {
	for _, r := range s.Outbox() {
		if !r.Done {
			return false
		}
	}
	return true
}

func TestRelayPublishesWhatWaitedThroughAnOutage(t *testing.T) {
	store, bus := apptest.NewStore(), &apptest.Bus{}
	bus.SetDown(true)
	relay := &app.Relay{Outbox: store, Publisher: bus, Poll: 10 * time.Millisecond, Log: slog.New(slog.DiscardHandler)}
	runRelay(t, relay)
	testenv.Until(t, "the relay running", func() bool { return relay.Stats().Shards == app.OutboxShards })
	svc := &app.Service{Posts: store, Graph: store, Dispatch: relay, DispatchWait: 50 * time.Millisecond,
		IDs: app.NewIDGen(1), Log: slog.New(slog.DiscardHandler)}
	var recs []app.OutboxRecord
	for i := range 10 {
		for _, a := range []string{"ann", "bob", "cy"} {
			p, err := svc.CreatePost(context.Background(), a, fmt.Sprint(i), "")
			must(t, err) // durable: acknowledged with the bus down
			recs = append(recs, app.NewOutboxRecord(p.ID, app.Event{ID: "post.created:" + p.ID.String()}))
		}
	}
	testenv.Until(t, "the backlog counted", func() bool { return relay.Stats().Pending == len(recs) })
	if n := len(bus.Pending()); n != 0 {
		t.Fatalf("%d events published with the bus down", n)
	}
	if s := relay.Stats(); s.Failures == 0 || s.Oldest.IsZero() || s.Shards != app.OutboxShards {
		t.Fatalf("stats during the outage: %+v", s)
	}
	bus.SetDown(false)
	testenv.Until(t, "the backlog published", func() bool { return len(bus.Pending()) >= len(recs) && allDone(store) })
	checkPublished(t, bus, recs)
	if s := relay.Stats(); s.Pending != 0 || int(s.Published) != len(recs) || s.Completed != 0 {
		t.Fatalf("stats after the outage: %+v", s)
	}
	// Handed over once written: nothing to complete.
	if c := store.Completed(); len(c) != 0 {
		t.Fatalf("records of this process's writes were completed: %v", c)
	}
}

func TestRelayFindsRecordsItWasNotHanded(t *testing.T) {
	store, bus := apptest.NewStore(), &apptest.Bus{}
	relay := &app.Relay{Outbox: store, Publisher: bus, Poll: 10 * time.Millisecond}
	runRelay(t, relay)
	recs := savePosts(t, store, app.NewIDGen(2), 5, "ann", "bob")
	testenv.Until(t, "records found by polling", func() bool { return len(bus.Pending()) >= len(recs) })
	checkPublished(t, bus, recs)
	// Nobody said their changes landed: each was completed, once.
	completed := store.Completed()
	slices.Sort(completed)
	if want := recordIDs(recs); !slices.Equal(completed, want) {
		t.Fatalf("completed %v, want %v", completed, want)
	}
	if s := relay.Stats(); int(s.Completed) != len(recs) {
		t.Fatalf("stats: %+v, want %d completed", s, len(recs))
	}
}

func recordIDs(recs []app.OutboxRecord) []app.ID {
	ids := make([]app.ID, len(recs))
	for i, r := range recs {
		ids[i] = r.ID
	}
	slices.Sort(ids)
	return ids
}

func TestRelaySharesShardsAndTakesOver(t *testing.T) {
	store, bus, leases := apptest.NewStore(), &apptest.Bus{}, apptest.NewNodeLeases()
	newRelay := func(owner string) *app.Relay {
		// The leases expire by the wall clock: a TTL that a stalled
		// renewal cannot outlast (at 300 ms, a 200 ms stall showed a shard
		// free);
		// stop1 releases its shards, so the takeover needs no expiry.
		return &app.Relay{Outbox: store, Publisher: bus, Leases: leases, Owner: owner,
			Poll: 10 * time.Millisecond, LeaseTTL: 3 * time.Second}
	}
	r1, r2 := newRelay("one"), newRelay("two")
	stop1 := runRelay(t, r1)
	runRelay(t, r2)
	testenv.Until(t, "every shard relayed", func() bool { return r1.Stats().Shards+r2.Stats().Shards == app.OutboxShards })
	for s := range app.OutboxShards {
		if h := leases.ShardHolder(s); h != "one" && h != "two" {
			t.Fatalf("shard %d held by %q", s, h)
		}
	}
	ids := app.NewIDGen(3)
	recs := savePosts(t, store, ids, 5, "ann", "bob", "cy", "dee")
	testenv.Until(t, "first records published", func() bool { return len(bus.Pending()) >= len(recs) })
	stop1()
	testenv.Until(t, "the survivor relays every shard", func() bool { return r2.Stats().Shards == app.OutboxShards })
	recs = append(recs, savePosts(t, store, ids, 5, "ann", "bob", "cy", "dee")...)
	testenv.Until(t, "all records published", func() bool { return len(bus.Pending()) >= len(recs) })
	checkPublished(t, bus, recs)
}

// TestRelayHandsOffWhatItCannotPublish: a relay whose Kafka is down (it
// still reaches the store) gives up the shards it fails to publish, and a
// relay that can publish takes them over: every record gets out.
func TestRelayHandsOffWhatItCannotPublish(t *testing.T) {
	store, leases := apptest.NewStore(), apptest.NewNodeLeases()
	cut, up := &apptest.Bus{}, &apptest.Bus{}
	cut.SetDown(true)
	newRelay := func(owner string, bus *apptest.Bus) *app.Relay {
		return &app.Relay{Outbox: store, Publisher: bus, Leases: leases, Owner: owner,
			Poll: 10 * time.Millisecond, LeaseTTL: 300 * time.Millisecond, HandOff: 200 * time.Millisecond}
	}
	r1 := newRelay("cut-off", cut)
	runRelay(t, r1)
	testenv.Until(t, "the first relay holding every shard", func() bool { return r1.Stats().Shards == app.OutboxShards })
	runRelay(t, newRelay("connected", up))
	var authors []string
	for i := range 4 * app.OutboxShards {
		authors = append(authors, fmt.Sprintf("u%d", i))
	}
	recs := savePosts(t, store, app.NewIDGen(4), 2, authors...)
	testenv.Until(t, "every record published by the connected relay", func() bool { return len(up.Pending()) >= len(recs) && allDone(store) })
	checkPublished(t, up, recs)
	if n := len(cut.Pending()); n != 0 {
		t.Fatalf("%d events published on the bus that is down", n)
	}
}

// TestRelayTakesBackWhatNobodyTook: alone, a relay that gave its shards
// up while Kafka was down leases them again and publishes everything once
// Kafka is back.
func TestRelayTakesBackWhatNobodyTook(t *testing.T) {
	store, leases, bus := apptest.NewStore(), apptest.NewNodeLeases(), &apptest.Bus{}
	bus.SetDown(true)
	r := &app.Relay{Outbox: store, Publisher: bus, Leases: leases, Owner: "alone",
		Poll: 10 * time.Millisecond, LeaseTTL: 300 * time.Millisecond, HandOff: 200 * time.Millisecond}
	runRelay(t, r)
	recs := savePosts(t, store, app.NewIDGen(5), 3, "ann", "bob", "cy", "dee")
	testenv.Until(t, "a shard handed off", func() bool { return r.Stats().Shards < app.OutboxShards })
	bus.SetDown(false)
	testenv.Until(t, "every record published", func() bool { return len(bus.Pending()) >= len(recs) && allDone(store) })
	checkPublished(t, bus, recs)
	testenv.Until(t, "every shard relayed again", func() bool { return r.Stats().Shards == app.OutboxShards })
}

// TestRelayRemembersWhatItWroteAcrossWorkers: a follow this process wrote
// (Dispatch) and that was undone since, which the store cannot tell from
// one that never happened until it settles (Wait), is published at once by
// the shard's next worker, after a hand-off, not 2.5 minutes later.
func TestRelayRemembersWhatItWroteAcrossWorkers(t *testing.T) {
	ctx := context.Background()
	store, leases, bus := apptest.NewStore(), apptest.NewNodeLeases(), &apptest.Bus{}
	bus.SetDown(true)
	r := &app.Relay{Outbox: store, Publisher: bus, Leases: leases, Owner: "one",
		Poll: 10 * time.Millisecond, LeaseTTL: 300 * time.Millisecond, HandOff: 200 * time.Millisecond}
	runRelay(t, r)
	testenv.Until(t, "every shard relayed", func() bool { return r.Stats().Shards == app.OutboxShards })
	id, err := app.NewIDGen(6).Next()
	must(t, err)
	rec := app.NewOutboxRecord(id, app.Event{ID: "user.followed:" + id.String(), Type: app.UserFollowed, Time: id.Time().UTC(),
		Follow: &app.Follow{Follower: "ann", Followee: "bob"}})
	_, err = store.Follow(ctx, "ann", "bob", rec)
	must(t, err)
	store.SetCompletion(rec.ID, app.Wait) // as after an unfollow: the edge is gone
	dctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	r.Dispatch(dctx, rec)
	cancel()
	testenv.Until(t, "the failing shard handed off", func() bool { return r.Stats().Shards < app.OutboxShards })
	bus.SetDown(false)
	testenv.Until(t, "the follow published", func() bool {
		return slices.ContainsFunc(bus.Pending(), func(ev app.Event) bool { return ev.ID == rec.Event.ID })
	})
}

func TestRelayRestartPublishesNothingAgain(t *testing.T) {
	store, bus := apptest.NewStore(), &apptest.Bus{}
	recs := savePosts(t, store, app.NewIDGen(4), 3, "ann", "bob")
	must(t, (&app.Relay{Outbox: store, Publisher: bus}).Flush(context.Background()))
	must(t, (&app.Relay{Outbox: store, Publisher: bus}).Flush(context.Background()))
	checkPublished(t, bus, recs)
}

// oldRecord writes a post.created for author whose ID was made ago.
func oldRecord(t *testing.T, s *apptest.Store, author string, ago time.Duration) app.OutboxRecord {
	t.Helper()
	return recordAt(t, s, author, time.Now().Add(-ago))
}

func TestRelaySweepFindsLateRecordsAndMovesTheCursor(t *testing.T) {
	store, bus := apptest.NewStore(), &apptest.Bus{}
	relay := &app.Relay{Outbox: store, Publisher: bus, Grace: time.Minute}
	ctx := context.Background()
	old := oldRecord(t, store, "ann", 5*time.Minute)
	savePosts(t, store, app.NewIDGen(5), 1, "ann")
	must(t, relay.Flush(ctx))
	// A record made 10 s ago that lands only now (a write that timed out
	// and was applied later), on the same shard, within the grace.
	late := oldRecord(t, store, "ann", 10*time.Second)
	must(t, relay.Flush(ctx))
	got := bus.Pending()
	if len(got) != 3 || got[2].ID != late.Event.ID {
		t.Fatalf("published %v, want the late record last", got)
	}
	c, err := store.OutboxCursor(ctx, old.Shard)
	must(t, err)
	if c < old.ID || c >= app.MinIDAt(time.Now().Add(-time.Minute)) {
		t.Fatalf("cursor %s (%s) not past the old record and a grace behind now", c, c.Time())
	}
	for _, r := range store.Outbox() {
		if r.ID <= c && !r.Done {
			t.Fatalf("record %s below the cursor is not done", r.ID)
		}
	}
}

// TestRelayCursorPassesIdleShards: a shard nobody wrote to still has its
// cursor moved to the grace horizon, so its scans stay short.
func TestRelayCursorPassesIdleShards(t *testing.T) {
	store := apptest.NewStore()
	relay := &app.Relay{Outbox: store, Publisher: &apptest.Bus{}, Grace: time.Minute}
	ctx := context.Background()
	must(t, relay.Flush(ctx))
	horizon := app.MinIDAt(time.Now().Add(-time.Minute))
	for s := range app.OutboxShards {
		c, err := store.OutboxCursor(ctx, s)
		must(t, err)
		if c < app.MinIDAt(time.Now().Add(-2*time.Minute)) || c >= horizon {
			t.Fatalf("idle shard %d: cursor at %s, want just below the horizon %s", s, c.Time(), horizon.Time())
		}
	}
}

// TestRelayBacklogBeyondMemory: more records wait than a shard holds in
// memory while Kafka is down, and writes land behind the newest read;
// once Kafka is back every one is published, none is skipped by the
// cursor.
func TestRelayBacklogBeyondMemory(t *testing.T) {
	store, bus := apptest.NewStore(), &apptest.Bus{}
	bus.SetDown(true)
	relay := &app.Relay{Outbox: store, Publisher: bus, Grace: time.Minute}
	ctx := context.Background()
	// 10,500 records, a millisecond apart, made 20 minutes ago (an outage
	// that long).
	base := time.Now().Add(-20 * time.Minute)
	var recs []app.OutboxRecord
	for i := range 10_500 {
		if i != 5000 {
			recs = append(recs, recordAt(t, store, "ann", base.Add(time.Duration(i)*time.Millisecond)))
		}
	}
	if err := relay.Flush(ctx); err == nil {
		t.Fatal("Flush with the bus down succeeded")
	}
	// A write that was in flight lands now, with an ID below what was read.
	recs = append(recs, recordAt(t, store, "ann", base.Add(5000*time.Millisecond)))
	bus.SetDown(false)
	for range 5 {
		must(t, relay.Flush(ctx))
	}
	got := map[string]bool{}
	for _, ev := range bus.Pending() {
		got[ev.ID] = true
	}
	for _, r := range recs {
		if !got[r.Event.ID] {
			t.Fatalf("record %s (%s) never published", r.ID, r.ID.Time())
		}
	}
}

// recordAt writes a post.created for author whose ID was made at at.
func recordAt(t *testing.T, s *apptest.Store, author string, at time.Time) app.OutboxRecord {
	t.Helper()
	id := app.MinIDAt(at) + 7
	p := app.Post{ID: id, Author: author, Text: "made at " + at.String(), CreatedAt: id.Time().UTC()}
	rec := app.NewOutboxRecord(id, app.Event{ID: "post.created:" + id.String(), Type: app.PostCreated, Time: p.CreatedAt, Post: &p})
	must(t, s.SavePost(context.Background(), p, rec))
	return rec
}

// TestIdempotencyKeyRetryLongAfter: the first request bound its key and
// failed to write; the retry comes after the relay's cursor moved past the
// post's ID, and its event is still published.
func TestIdempotencyKeyRetryLongAfter(t *testing.T) {
	store, bus := apptest.NewStore(), &apptest.Bus{}
	relay := &app.Relay{Outbox: store, Publisher: bus, Grace: time.Minute}
	svc := &app.Service{Posts: store, Graph: store, Keys: store, IDs: app.NewIDGen(7), Log: slog.New(slog.DiscardHandler)}
	ctx := context.Background()
	old := app.MinIDAt(time.Now().Add(-10 * time.Minute))
	svcFP, err := svc.CreatePost(ctx, "probe", "once", "probe-key") // learn the fingerprint format
	must(t, err)
	b, err := store.BindKey(ctx, "probe", "probe-key", app.KeyBinding{})
	must(t, err)
	_, err = store.BindKey(ctx, "probe", "k", app.KeyBinding{ID: old, Fingerprint: b.Fingerprint})
	must(t, err)
	must(t, relay.Flush(ctx)) // the cursor moves to a minute ago
	p, err := svc.CreatePost(ctx, "probe", "once", "k")
	must(t, err)
	if p.ID != old {
		t.Fatalf("retry made post %s, want the bound ID %s", p.ID, old)
	}
	must(t, relay.Flush(ctx))
	found := false
	for _, ev := range bus.Pending() {
		found = found || (ev.Type == app.PostCreated && ev.Post.ID == old)
	}
	if !found {
		t.Fatalf("the retried post's event was never published (probe %s)", svcFP.ID)
	}
}

// TestRelayHoldsAndDropsUndecidedFollows: a record whose change the store
// does not know yet (Wait) stays queued with the later records of its
// edge, while the rest of the shard goes out; one whose change did not
// happen (Drop) is marked done unpublished.
func TestRelayHoldsAndDropsUndecidedFollows(t *testing.T) {
	ctx := context.Background()
	store, bus := apptest.NewStore(), &apptest.Bus{}
	relay := &app.Relay{Outbox: store, Publisher: bus}
	ids := app.NewIDGen(3)
	record := func(typ, followee string) app.OutboxRecord {
		id, err := ids.Next()
		must(t, err)
		f := &app.Follow{Follower: "ann", Followee: followee}
		rec := app.NewOutboxRecord(id, app.Event{ID: typ + ":" + id.String(), Type: typ, Time: id.Time().UTC(), Follow: f})
		do := store.Follow
		if typ == app.UserUnfollowed {
			do = store.Unfollow
		}
		_, err = do(ctx, "ann", followee, rec)
		must(t, err)
		return rec
	}
	undecided, other := record(app.UserFollowed, "bob"), record(app.UserFollowed, "cy")
	behind, failed := record(app.UserUnfollowed, "bob"), record(app.UserFollowed, "dan")
	store.SetCompletion(undecided.ID, app.Wait)
	store.SetCompletion(failed.ID, app.Drop)
	published := func() []string {
		var got []string
		for _, ev := range bus.Pending() {
			got = append(got, ev.ID)
		}
		return got
	}

	must(t, relay.Flush(ctx))
	if got, want := published(), []string{other.Event.ID}; !slices.Equal(got, want) {
		t.Fatalf("published %v, want %v: the undecided follow and the unfollow behind it wait", got, want)
	}
	if s := relay.Stats(); s.Pending != 2 || s.Dropped != 1 {
		t.Fatalf("stats: %+v, want 2 pending and 1 dropped", s)
	}
	done := map[app.ID]bool{}
	for _, r := range store.Outbox() {
		done[r.ID] = r.Done
	}
	if !done[failed.ID] || !done[other.ID] || done[undecided.ID] || done[behind.ID] {
		t.Fatalf("done marks %v: want the dropped and published records done, the waiting ones not", done)
	}

	store.SetCompletion(undecided.ID, app.Publish)
	must(t, relay.Flush(ctx))
	if got, want := published(), []string{other.Event.ID, undecided.Event.ID, behind.Event.ID}; !slices.Equal(got, want) {
		t.Fatalf("published %v, want %v", got, want)
	}
	if !allDone(store) {
		t.Fatal("records left undone")
	}
}

// partialBus publishes a batch except the events fail picks, and reports
// those as an app.PartialPublishError, as Kafka does when some partitions
// have no leader yet.
type partialBus struct {
	*apptest.Bus
	mu    sync.Mutex
	calls int
	fail  func(call, i int, ev app.Event) bool
}

func (b *partialBus) PublishBatch(ctx context.Context, evs []app.Event) error {
	b.mu.Lock()
	b.calls++
	call := b.calls
	b.mu.Unlock()
	var failed []int
	for i, ev := range evs {
		if b.fail(call, i, ev) {
			failed = append(failed, i)
			continue
		}
		if err := b.Publish(ctx, ev); err != nil {
			return err
		}
	}
	if len(failed) == 0 {
		return nil
	}
	return &app.PartialPublishError{Failed: failed, Err: errors.New("kafka: Failed to deliver some messages")}
}

// sameShard returns n author names whose records share an outbox shard,
// so that their events go out in one batch.
func sameShard(n int) []string {
	byShard := map[int][]string{}
	for i := 0; ; i++ {
		a := fmt.Sprintf("a%d", i)
		s := app.OutboxShard(a)
		if byShard[s] = append(byShard[s], a); len(byShard[s]) == n {
			return byShard[s]
		}
	}
}

// TestRelayPublishesAgainOnlyWhatFailed: a batch that went out in part is
// not published again whole; only its failed events are, each once and
// in order.
func TestRelayPublishesAgainOnlyWhatFailed(t *testing.T) {
	store, bus := apptest.NewStore(), &partialBus{Bus: &apptest.Bus{}}
	authors := sameShard(3)
	bus.fail = func(call, _ int, ev app.Event) bool { return call <= 3 && ev.Post.Author == authors[1] }
	recs := savePosts(t, store, app.NewIDGen(1), 20, authors...)
	relay := &app.Relay{Outbox: store, Publisher: bus, Poll: 10 * time.Millisecond, Log: slog.New(slog.DiscardHandler)}
	runRelay(t, relay)
	testenv.Until(t, "the records published", func() bool { return allDone(store) })
	checkPublished(t, bus.Bus, recs)
	if s := relay.Stats(); int(s.Published) != len(recs) {
		t.Fatalf("stats: %+v, want %d published", s, len(recs))
	}
}

// TestRelayKeepsKeyOrderAfterAPartialFailure: when one event of a key
// failed and a later one of the same key went out, the later one is
// published again after the failed one, so the key's events end in order;
// other keys' events go out once.
func TestRelayKeepsKeyOrderAfterAPartialFailure(t *testing.T) {
	store, bus := apptest.NewStore(), &partialBus{Bus: &apptest.Bus{}}
	var once sync.Once
	authors := sameShard(2)
	ann, bob := authors[0], authors[1]
	bus.fail = func(_, _ int, ev app.Event) bool {
		failed := false
		if ev.Post.Author == bob {
			once.Do(func() { failed = true }) // bob's first event, once
		}
		return failed
	}
	recs := savePosts(t, store, app.NewIDGen(1), 5, ann, bob)
	relay := &app.Relay{Outbox: store, Publisher: bus, Poll: 10 * time.Millisecond, Log: slog.New(slog.DiscardHandler)}
	runRelay(t, relay)
	testenv.Until(t, "the records published", func() bool { return allDone(store) })
	seen := map[string]int{}
	lastAt := map[string]int{} // an event's last position in the log
	got := bus.Pending()
	for i, ev := range got {
		seen[ev.ID]++
		lastAt[ev.ID] = i
	}
	var bobs []app.OutboxRecord
	for _, r := range recs {
		switch {
		case seen[r.Event.ID] == 0:
			t.Fatalf("event %s never published", r.Event.ID)
		case r.Event.Post.Author == ann && seen[r.Event.ID] != 1:
			t.Fatalf("%s's event %s published %d times, want once", ann, r.Event.ID, seen[r.Event.ID])
		case r.Event.Post.Author == bob:
			bobs = append(bobs, r)
		}
	}
	// What went out twice went out again to keep the order, marked so
	// that consumers do not skip it as a copy; the rest is not marked.
	count := map[string]int{}
	for _, ev := range got {
		if count[ev.ID]++; ev.Resent != (count[ev.ID] == 2) {
			t.Fatalf("event %s, copy %d, marked resent: %v", ev.ID, count[ev.ID], ev.Resent)
		}
	}
	for i := 1; i < len(bobs); i++ {
		if lastAt[bobs[i].Event.ID] < lastAt[bobs[i-1].Event.ID] {
			t.Fatalf("%s's post %s ends in the log before %s:\n%v", bob, bobs[i].ID, bobs[i-1].ID, got)
		}
	}
}

// TestRelayCursorStaysWhileTheClockIsOff: a relay whose clock is off from
// the store's moves no cursor (one run ahead would pass records other
// processes are still writing); once the clock is back, it does.
func TestRelayCursorStaysWhileTheClockIsOff(t *testing.T) {
	ctx := context.Background()
	store, leases := apptest.NewStore(), apptest.NewNodeLeases()
	leases.SetClock(-time.Hour) // ours runs an hour ahead
	clock := &app.ClockGuard{Store: leases}
	if err := clock.Check(ctx); !errors.Is(err, app.ErrClockSkew) {
		t.Fatalf("Check an hour ahead: %v, want ErrClockSkew", err)
	}
	relay := &app.Relay{Outbox: store, Publisher: &apptest.Bus{}, Grace: time.Minute, Clock: clock}
	must(t, relay.Flush(ctx))
	if c, err := store.OutboxCursor(ctx, 0); err != nil || c != 0 {
		t.Fatalf("cursor of shard 0 with the clock off: %s, %v; want it unmoved", c, err)
	}
	leases.SetClock(0)
	must(t, clock.Check(ctx))
	must(t, relay.Flush(ctx))
	if c, err := store.OutboxCursor(ctx, 0); err != nil || c < app.MinIDAt(time.Now().Add(-2*time.Minute)) {
		t.Fatalf("cursor of shard 0 with the clock back: %s, %v; want it near the grace horizon", c.Time(), err)
	}
}
