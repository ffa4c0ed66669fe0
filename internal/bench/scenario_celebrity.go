package bench

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/feedsvc/feedsvc/app"
)

// celebrityGraph is the celebrity scenario's graph: one author with a
// million followers, four more just above the celebrity threshold, and a
// normal author; user c0 (the reader) follows them all.
type celebrityGraph struct {
	prefix string
	// celebs[0] is the big one; sizes are their follower counts (followers
	// c0 .. c(size-1)).
	celebs []string
	sizes  []int
	// normal has followers c0 .. c9, fanned out on write.
	normal string
	// sample are followers of celebs[0] timed until they see its post.
	sample []string
}

func (g *celebrityGraph) user(i int) string { return g.prefix + "c" + strconv.Itoa(i) }
func (g *celebrityGraph) reader() string    { return g.user(0) }

// normalFollowers is the follower count of the normal author.
const normalFollowers = 10

// seedCelebrities seeds the celebrity graph (once per run). The followers'
// feeds are not warmed: most followers of a celebrity are not active, and
// the scenario's active ones read their feed (which builds it) first.
func (r *benchRun) seedCelebrities(ctx context.Context) (*celebrityGraph, error) {
	big, sample := 1_000_000, 100
	if r.o.Quick {
		big, sample = 2000, 50
	}
	small := r.cfg.Feeds.CelebrityThreshold + 1 // just above the threshold
	if r.cfg.Feeds.CelebrityThreshold <= 0 {
		small = 1000 // hybrid fan-out is off: nobody is a celebrity
	}
	big = max(big, small)
	g := &celebrityGraph{prefix: r.prefix, sizes: []int{big, small, small, small, small}, normal: r.prefix + "cn"}
	for j := range g.sizes {
		g.celebs = append(g.celebs, fmt.Sprintf("%scc%d", r.prefix, j))
	}
	for k := range sample {
		g.sample = append(g.sample, g.user(1+k*(big-1)/sample))
	}
	err := r.seedOnce(ctx, "celebrity", func(ctx context.Context) (int, error) {
		total := 0
		for j, c := range g.celebs {
			if err := r.followAll(ctx, c, g.sizes[j], g.user); err != nil {
				return 0, err
			}
			total += g.sizes[j]
		}
		return total + normalFollowers, r.followAll(ctx, g.normal, normalFollowers, g.user)
	})
	return g, err
}

// celebrity measures hybrid fan-out: the post latency of an author with a
// million followers next to one with ten, how long until its followers see
// its post, and the feed-read latency of a follower of five celebrities.
func (r *benchRun) celebrity(ctx context.Context) error {
	g, err := r.seedCelebrities(ctx)
	if err != nil {
		return err
	}
	readers := append([]string{g.reader()}, g.sample...)
	toks := make([]string, len(readers))
	for i, u := range readers {
		if toks[i], err = r.token(u); err != nil {
			return err
		}
	}
	// The reader and the sample are active users: reading builds their feeds.
	if err := r.eachLimited(ctx, len(toks), func(ctx context.Context, i int) error {
		_, err := r.readFeed(ctx, toks[i], 5)
		return err
	}); err != nil {
		return err
	}
	// Every celebrity posts first (the first post past the threshold makes
	// the author a celebrity, a one-time pass over its followers), and the
	// timelines the reader merges get some posts; then fan-out goes idle.
	primeStart := time.Now()
	if err := r.prime(ctx, append(slices.Clone(g.celebs), g.normal), 10); err != nil {
		return err
	}
	prime, err := r.waitFanout(ctx, primeStart)
	if err != nil {
		return err
	}

	// Time until followers see a post.
	bigTok, err := r.token(g.celebs[0])
	if err != nil {
		return err
	}
	p, err := r.createPost(ctx, bigTok, 0)
	if err != nil {
		return err
	}
	limit := 10 * time.Minute
	if r.o.Quick {
		limit = time.Minute
	}
	seen, err := r.timeToSee(ctx, toks[1:], p.ID, time.Now(), limit)
	if err != nil {
		return err
	}

	normalTok, err := r.token(g.normal)
	if err != nil {
		return err
	}
	postURL := r.base + "/v1/posts"
	baseline := Attack(ctx, "post-normal", Request{Method: "POST", URL: postURL, Token: normalTok}, postBody, r.o.Rate, r.o.Duration)
	post := Attack(ctx, "post-celebrity", Request{Method: "POST", URL: postURL, Token: bigTok}, postBody, r.o.Rate, r.o.Duration)
	// Reads run while fan-out may still work off those posts (without
	// hybrid fan-out, a million inserts each): report how much was left.
	lag, err := r.fanoutLag(ctx)
	if err != nil {
		return err
	}
	read := Attack(ctx, "read-celebrities", Request{Method: "GET", URL: r.base + "/v1/feed?limit=20", Token: toks[0]}, nil, r.o.Rate, r.o.Duration)

	median, most := -1.0, -1.0
	if len(seen) > 0 {
		median, most = seen[len(seen)/2].Seconds(), seen[len(seen)-1].Seconds()
	}
	rep := map[string]any{
		"followers": g.sizes[0], "threshold": r.cfg.Feeds.CelebrityThreshold, "hybrid": r.cfg.Feeds.CelebrityThreshold > 0 && g.sizes[0] > r.cfg.Feeds.CelebrityThreshold,
		"other_celebrities": len(g.celebs) - 1, "other_celebrity_followers": g.sizes[1], "prime_s": prime.Seconds(),
		"post_p50_ms": post.P50ms, "post_p99_ms": post.P99ms, "post_p999_ms": post.P999ms, "post_failed": post.Failed,
		"baseline_followers": normalFollowers, "baseline_post_p50_ms": baseline.P50ms, "baseline_post_p99_ms": baseline.P99ms,
		"baseline_post_p999_ms": baseline.P999ms, "baseline_post_failed": baseline.Failed,
		"seen_sample": len(g.sample), "seen": len(seen), "seen_median_s": nil, "seen_max_s": nil,
		"read_follows": len(g.celebs) + 1, "fanout_lag_at_read": lag, "read_p50_ms": read.P50ms, "read_p99_ms": read.P99ms, "read_p999_ms": read.P999ms, "read_failed": read.Failed,
	}
	seenText := fmt.Sprintf("%d of %d sampled followers saw the post", len(seen), len(g.sample))
	if len(seen) > 0 {
		rep["seen_median_s"], rep["seen_max_s"] = median, most
		seenText += fmt.Sprintf(": median %.3f s, max %.3f s after it was accepted", median, most)
	}
	r.report["celebrity"] = rep
	row := func(what string, res Result) []string {
		return []string{what, f2(res.P50ms), f2(res.P99ms), f2(res.P999ms), strconv.FormatUint(res.Failed, 10)}
	}
	r.lines = append(r.lines, fmt.Sprintf("celebrity (%d/s for %s; threshold %d; a reader following %d celebrities and 1 other author)\n",
		r.o.Rate, r.o.Duration, r.cfg.Feeds.CelebrityThreshold, len(g.celebs)),
		Table([]string{"request", "p50 ms", "p99 ms", "p99.9 ms", "failed"}, [][]string{
			row(fmt.Sprintf("post, %d followers", g.sizes[0]), post),
			row(fmt.Sprintf("post, %d followers", normalFollowers), baseline),
			row("feed read of the reader", read),
		}), seenText+"\n\n")
	return nil
}

// prime posts n posts per author through the API, all authors at once.
func (r *benchRun) prime(ctx context.Context, authors []string, n int) error {
	eg, ectx := errgroup.WithContext(ctx)
	for _, a := range authors {
		eg.Go(func() error {
			tok, err := r.token(a)
			if err != nil {
				return err
			}
			for i := range n {
				if _, err := r.createPost(ectx, tok, i); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		return fmt.Errorf("prime the authors: %w", err)
	}
	return nil
}

// timeToSee polls the feeds of the holders of toks until the post id is in
// their first page, and returns, sorted, how long after since each one saw
// it. Followers who did not see it within limit are left out.
func (r *benchRun) timeToSee(ctx context.Context, toks []string, id app.ID, since time.Time, limit time.Duration) ([]time.Duration, error) {
	var mu sync.Mutex
	seen := make(map[int]time.Duration, len(toks))
	for len(seen) < len(toks) && time.Since(since) < limit {
		err := r.eachLimited(ctx, len(toks), func(ctx context.Context, i int) error {
			mu.Lock()
			_, done := seen[i]
			mu.Unlock()
			if done {
				return nil
			}
			page, err := r.readFeed(ctx, toks[i], 5)
			if err != nil {
				return err
			}
			for _, p := range page.Items {
				if p.ID == id {
					mu.Lock()
					seen[i] = time.Since(since)
					mu.Unlock()
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	out := make([]time.Duration, 0, len(seen))
	for _, d := range seen {
		out = append(out, d)
	}
	slices.Sort(out)
	return out, nil
}

// eachLimited calls fn(i) for every i < n, a few at a time (API calls: the
// service shares the machine with the bench).
func (r *benchRun) eachLimited(ctx context.Context, n int, fn func(ctx context.Context, i int) error) error {
	eg, ectx := errgroup.WithContext(ctx)
	eg.SetLimit(8)
	for i := range n {
		eg.Go(func() error { return fn(ectx, i) })
	}
	return eg.Wait()
}
