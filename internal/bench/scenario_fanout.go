package bench

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"golang.org/x/sync/errgroup"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/events"
	redisstore "github.com/feedsvc/feedsvc/store/redis"
)

// Ceiling loop settings: several goroutines, 1,000 pipelined ZADDs per
// round trip (the fanout batch's default).
const (
	ceilingWorkers = 8
	ceilingBatch   = 1000
)

// fanoutGraph is the fanout scenario's graph: authors with disjoint sets of
// followers, each author posting the same number of posts per backlog.
type fanoutGraph struct {
	prefix  string
	authors []string
	// perPartition is how many authors post to each partition.
	perPartition int
	followers    int // per author
	posts        int // per author and backlog
	// first and last are each author's first and last follower in the
	// store's order: fan-out writes the first feed of a post first and the
	// last feed last.
	first, last []string
}

func (g *fanoutGraph) user(i int) string { return g.prefix + "x" + strconv.Itoa(i) }

// users lists every follower; author j's are users j*followers and on.
func (g *fanoutGraph) users() []string {
	out := make([]string, len(g.authors)*g.followers)
	for i := range out {
		out[i] = g.user(i)
	}
	return out
}

// inserts is the number of feed inserts of one backlog.
func (g *fanoutGraph) inserts() int { return len(g.authors) * g.followers * g.posts }

// seedFanout seeds the fanout graph (once per run): 3 authors per
// partition of the posts topic (18 on the default 6), each with 5,000
// followers (--quick: 1 author per partition, 100 followers; never more
// than the celebrity threshold, so every post is fanned out on write), every
// feed warmed. Spreading the authors evenly over the partitions keeps every
// partition, and so every consumer of the fanout process, equally busy
// until the backlog is done.
func (r *benchRun) seedFanout(ctx context.Context) (*fanoutGraph, error) {
	if r.fanoutG != nil {
		return r.fanoutG, nil
	}
	perPartition, followers, posts := 3, 5000, 50
	if r.o.Quick {
		perPartition, followers, posts = 1, 100, 5
	}
	if th := r.cfg.Feeds.CelebrityThreshold; th > 0 && followers > th {
		followers = th
	}
	g := &fanoutGraph{prefix: r.prefix, perPartition: perPartition, followers: followers, posts: posts}
	var err error
	if g.authors, err = r.balancedAuthors(r.prefix+"xa", perPartition); err != nil {
		return nil, err
	}
	err = r.seedOnce(ctx, "fanout", func(ctx context.Context) (int, error) {
		for j, a := range g.authors {
			if err := r.followAll(ctx, a, followers, func(i int) string { return g.user(j*followers + i) }); err != nil {
				return 0, err
			}
		}
		n := len(g.authors) * followers
		return n, r.warm(ctx, n, g.user)
	})
	if err != nil {
		return nil, err
	}
	for _, a := range g.authors {
		fs, err := r.followersOf(ctx, a)
		if err != nil {
			return nil, err
		}
		if len(fs) != followers {
			return nil, fmt.Errorf("%s has %d followers, want %d", a, len(fs), followers)
		}
		g.first, g.last = append(g.first, fs[0]), append(g.last, fs[len(fs)-1])
	}
	r.fanoutG = g
	return g, nil
}

// balancedAuthors names perPartition authors for every partition of the
// posts topic, choosing among prefix0, prefix1, ... by the partition the
// service's producer sends their post events to.
func (r *benchRun) balancedAuthors(prefix string, perPartition int) ([]string, error) {
	topic := r.cfg.Kafka.Topics.Posts
	cfg := r.b.Kafka.Config("feedsvc-bench")
	client, err := sarama.NewClient(r.b.Kafka.Brokers, cfg)
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	parts, err := client.Partitions(topic)
	client.Close()
	if err != nil {
		return nil, fmt.Errorf("partitions of %s: %w", topic, err)
	}
	partitioner := cfg.Producer.Partitioner(topic)
	count := make(map[int32]int, len(parts))
	var authors []string
	for k := 0; len(authors) < len(parts)*perPartition; k++ {
		if k > 1000*len(parts)*perPartition {
			return nil, fmt.Errorf("cannot spread authors evenly over the %d partitions of %s", len(parts), topic)
		}
		a := prefix + strconv.Itoa(k)
		msg, err := events.Encode(topic, app.Event{Type: app.PostCreated, Post: &app.Post{Author: a}})
		if err != nil {
			return nil, err
		}
		p, err := partitioner.Partition(msg, int32(len(parts)))
		if err != nil {
			return nil, fmt.Errorf("partition of %s: %w", a, err)
		}
		if count[p] < perPartition {
			count[p]++
			authors = append(authors, a)
		}
	}
	return authors, nil
}

// postBacklog posts g.posts posts per author through the API, each author's
// one after the other (so its last post is its newest), all authors at once.
// It returns each author's post IDs.
func (r *benchRun) postBacklog(ctx context.Context, g *fanoutGraph) ([][]app.ID, error) {
	ids := make([][]app.ID, len(g.authors))
	eg, ectx := errgroup.WithContext(ctx)
	for j, a := range g.authors {
		eg.Go(func() error {
			tok, err := r.token(a)
			if err != nil {
				return err
			}
			for i := range g.posts {
				p, err := r.createPost(ectx, tok, i)
				if err != nil {
					return err
				}
				ids[j] = append(ids[j], p.ID)
			}
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		return nil, fmt.Errorf("post the backlog: %w", err)
	}
	return ids, nil
}

// watchFanout watches fan-out work off a backlog from Redis: it starts when
// the first feed of any author's first post gets an entry and ends when the
// last feed of every author's newest post holds it. Polling every 10 ms,
// far below the run's length, it times the inserts themselves, unlike the
// committed offsets (committed once a second). firstDone is when the first
// author's posts were all fanned out: how far it is from end shows how
// evenly the work was spread.
func (r *benchRun) watchFanout(ctx context.Context, g *fanoutGraph, ids [][]app.ID) (start, firstDone, end time.Time, err error) {
	done := make([]bool, len(g.authors))
	left := len(done)
	prev := time.Now()
	deadline := prev.Add(10 * time.Minute)
	for left > 0 {
		if err := r.svc.check(); err != nil {
			return start, firstDone, end, err
		}
		if time.Now().After(deadline) {
			return start, firstDone, end, fmt.Errorf("fan-out of the backlog not done after 10 minutes (%d of %d authors)", len(done)-left, len(done))
		}
		now := time.Now()
		var started atomic.Bool
		doneNow := make([]bool, len(done))
		eg, ectx := errgroup.WithContext(ctx)
		for j := range g.authors {
			if start.IsZero() {
				eg.Go(func() error {
					got, _, err := r.b.Caches.Feeds.Page(ectx, g.first[j], 0, 1)
					if len(got) > 0 {
						started.Store(true)
					}
					return err
				})
			}
			if !done[j] {
				newest := ids[j][len(ids[j])-1]
				eg.Go(func() error {
					got, _, err := r.b.Caches.Feeds.Page(ectx, g.last[j], 0, 1)
					doneNow[j] = len(got) > 0 && got[0] >= newest
					return err
				})
			}
		}
		if err := eg.Wait(); err != nil {
			return start, firstDone, end, fmt.Errorf("watch fan-out: %w", err)
		}
		for j, d := range doneNow {
			if d {
				done[j], left, end = true, left-1, now
				if firstDone.IsZero() {
					firstDone = now
				}
			}
		}
		if start.IsZero() && (started.Load() || left < len(done)) {
			start = now
			if left == 0 { // all of it between two polls
				start = prev
			}
		}
		prev = now
		select {
		case <-ctx.Done():
			return start, firstDone, end, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return start, firstDone, end, nil
}

// fanout measures the sustained feed inserts per second of one fanout
// process working off a backlog (events in from Kafka, followers read from
// the store, feeds written to Redis), and two ceilings of the same Redis on
// as many keys of the same shape: a bare Go loop of pipelined ZADDs through
// rueidis and redis-benchmark -P 16.
func (r *benchRun) fanout(ctx context.Context) error {
	g, err := r.seedFanout(ctx)
	if err != nil {
		return err
	}
	// The backlog builds up while no fanout runs, so the run measures only
	// how fast one fanout process works it off.
	if _, err := r.waitFanout(ctx, time.Now()); err != nil {
		return err
	}
	if err := r.svc.stopFanout(); err != nil {
		return err
	}
	ids, err := r.postBacklog(ctx, g)
	if err != nil {
		return err
	}
	users := g.users()
	// The bare-loop ceiling, on its own keys: zb:{user} for the same users
	// (feed keys hold the service's own encoding; never touch them). It runs right before and
	// right after fan-out, and the better run counts, so a neighbour's load
	// in one moment does not flatter the ratio.
	keys := make([]string, len(users))
	for i, u := range users {
		keys[i] = redisstore.KeysOf(r.b.Redis).Prefixed("zb:{" + u + "}")
	}
	before, err := r.ceiling(ctx, keys, g.posts)
	if err != nil {
		return err
	}
	launched := time.Now()
	if err := r.svc.startFanout(ctx); err != nil {
		return err
	}
	first, firstDone, last, err := r.watchFanout(ctx, g, ids)
	if err != nil {
		return err
	}
	wall, err := r.waitFanout(ctx, launched)
	if err != nil {
		return err
	}
	after, err := r.ceiling(ctx, keys, g.posts)
	if err != nil {
		return err
	}
	check, err := r.checkFeeds(ctx, users, func(i int) []app.ID { return newestIDs(ids[i/g.followers], r.cfg.Feeds.Cap) })
	if err != nil {
		return err
	}
	inserts := g.inserts()
	secs := last.Sub(first).Seconds()
	rate := float64(inserts) / secs
	ceiling := before
	if after.PerSec > before.PerSec {
		ceiling = after
	}
	rb, rbNote, err := r.redisBenchmark(ctx, inserts, len(keys))
	if err != nil {
		return err
	}

	rep := map[string]any{
		"partitions": len(g.authors) / max(1, g.perPartition), "authors": len(g.authors), "followers_per_author": g.followers, "posts_per_author": g.posts, "posts": len(g.authors) * g.posts,
		"inserts": inserts, "seconds": secs, "inserts_per_sec": rate, "first_author_done_s": firstDone.Sub(first).Seconds(),
		"wall_s": wall.Seconds(), "inserts_per_sec_wall": float64(inserts) / wall.Seconds(),
		"feeds_checked": check.checked, "feeds_complete": check.incomplete == 0 && check.checked > 0, "incomplete_feeds": check.incomplete,
		"ceiling_per_sec": ceiling.PerSec, "ceiling_seconds": ceiling.Seconds, "ceiling_runs_per_sec": []float64{before.PerSec, after.PerSec}, "ceiling_workers": ceilingWorkers, "ceiling_batch": ceilingBatch,
		"ratio": rate / ceiling.PerSec, "redis_benchmark_per_sec": nil,
	}
	rows := [][]string{
		{"fanout (one process)", f0(rate), f2(secs), f2(rate / ceiling.PerSec)},
		{fmt.Sprintf("bare rueidis ZADD loop (%d goroutines, %d per batch; best of 2)", ceilingWorkers, ceilingBatch), f0(ceiling.PerSec), f2(ceiling.Seconds), "1.00"},
	}
	if rb != nil {
		rep["redis_benchmark_per_sec"], rep["redis_benchmark_seconds"] = rb.PerSec, rb.Seconds
		rep["redis_benchmark_ratio"] = rate / rb.PerSec
		rows = append(rows, []string{"redis-benchmark -P 16 ZADD", f0(rb.PerSec), f2(rb.Seconds), f2(rb.PerSec / ceiling.PerSec)})
	} else {
		rep["redis_benchmark_note"] = rbNote
		rows = append(rows, []string{"redis-benchmark -P 16 ZADD", "n/a", "", ""})
	}
	r.report["fanout"] = rep
	r.lines = append(r.lines, fmt.Sprintf("fanout (%d authors x %d followers x %d posts = %d feed inserts; fanout start to lag 0: %.2f s; feeds complete: %d/%d)\n",
		len(g.authors), g.followers, g.posts, inserts, wall.Seconds(), check.checked-check.incomplete, check.checked),
		Table([]string{"writer", "inserts/s", "seconds", "vs bare loop"}, rows))
	if rbNote != "" {
		r.lines = append(r.lines, "redis-benchmark: "+rbNote+"\n")
	}
	r.lines = append(r.lines, "\n")
	return nil
}

// ceiling runs the bare pipelined-ZADD loop, perKey inserts into each of
// keys, and deletes the keys again.
func (r *benchRun) ceiling(ctx context.Context, keys []string, perKey int) (Rate, error) {
	res, err := ZAddLoop(ctx, r.b.Redis, keys, perKey, ceilingWorkers, ceilingBatch)
	if derr := DeleteKeys(context.WithoutCancel(ctx), r.b.Redis, keys, ceilingBatch); derr != nil {
		err = errors.Join(err, derr)
	}
	if err != nil {
		return Rate{}, fmt.Errorf("bare ZADD loop: %w", err)
	}
	return res, nil
}

// redisBenchmark runs redis-benchmark's pipelined ZADD on the configured
// Redis with as many requests and keys as the fan-out run, then deletes its
// keys. It returns nil and the reason when it cannot run.
func (r *benchRun) redisBenchmark(ctx context.Context, requests, keyspace int) (*Rate, string, error) {
	embRedis := r.cfg.EmbeddedRedis()
	switch {
	case embRedis:
		return nil, "needs a Redis host:port: the embedded miniredis runs inside feedsvc (use --redis-addr)", nil
	case len(r.cfg.Redis.Addrs) > 1:
		return nil, "not run on a Redis Cluster", nil
	}
	key := redisstore.KeysOf(r.b.Redis).Prefixed("zb:{" + r.prefix + "rb" + RandInt + "}")
	res, err := RedisBenchmark(ctx, r.cfg.Redis.Addrs[0], key, requests, keyspace)
	if derr := DeleteKeys(context.WithoutCancel(ctx), r.b.Redis, RedisBenchmarkKeys(key, keyspace), ceilingBatch); derr != nil {
		return nil, "", fmt.Errorf("delete redis-benchmark keys: %w", derr)
	}
	if errors.Is(err, ErrNoRedisBenchmark) {
		return nil, err.Error(), nil
	}
	if err != nil {
		return nil, "", err
	}
	return &res, "", nil
}

func f0(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) }
