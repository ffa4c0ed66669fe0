package bench

// Seeding the bench's synthetic graphs through the store's write path,
// warming feeds, checking them, and the few plain HTTP calls scenarios make
// outside of constant-rate attacks.

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/internal/progress"
)

// seedConcurrency is how many store writes seeding keeps in flight.
const seedConcurrency = 64

// seedOnce runs seed for the graph called name once per run, and reports
// how many follows it wrote and how long that took.
func (r *benchRun) seedOnce(ctx context.Context, name string, seed func(ctx context.Context) (follows int, err error)) error {
	if r.seeded[name] {
		return nil
	}
	start := time.Now()
	n, err := seed(ctx)
	if err != nil {
		return fmt.Errorf("seed the %s graph: %w", name, err)
	}
	d := time.Since(start)
	fmt.Fprintf(os.Stderr, "bench: seeded the %s graph (%d follows) in %s\n", name, n, d.Round(time.Millisecond))
	r.seeds[name] = map[string]any{"follows": n, "seconds": d.Seconds(), "follows_per_sec": float64(n) / d.Seconds()}
	if r.seeded == nil {
		r.seeded = map[string]bool{}
	}
	r.seeded[name] = true
	return nil
}

// followAll makes follower(i) follow author for every i < n, through the
// store's write path (there is no bulk form of Follow).
func (r *benchRun) followAll(ctx context.Context, author string, n int, follower func(int) string) error {
	if err := r.b.Store.EnsureUser(ctx, author); err != nil {
		return err
	}
	return parallel(ctx, "follows of "+author, n, func(ctx context.Context, i int) error {
		// A follow is an LWT: on a busy store one times out now and then
		// (outcome unknown); following again is harmless.
		var err error
		for attempt := 0; attempt < 5; attempt++ {
			if _, err = r.b.Store.Follow(ctx, follower(i), author); !errors.Is(err, app.ErrUnavailable) {
				break
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Second):
			}
		}
		if err != nil {
			return fmt.Errorf("follow %s: %w", author, err)
		}
		return nil
	})
}

// warm creates an empty, complete cached feed for user(i), i < n: fan-out
// writes only into cached feeds (a user who has not read their feed lately
// has none), so the followers a scenario expects fan-out to reach must have
// one. It is what a rebuild leaves for a user whose followees have not
// posted yet, so it is only right before the authors' first posts.
func (r *benchRun) warm(ctx context.Context, n int, user func(int) string) error {
	return parallel(ctx, "warm feeds", n, func(ctx context.Context, i int) error {
		if err := r.b.Caches.Feeds.Fill(ctx, user(i), nil); err != nil {
			return fmt.Errorf("warm feed: %w", err)
		}
		return nil
	})
}

// parallel runs fn(i) for every i < n, seedConcurrency at a time, and
// shows its progress on stderr: a line redrawn in place on a terminal, else
// a line every 10 seconds.
func parallel(ctx context.Context, what string, n int, fn func(ctx context.Context, i int) error) error {
	var done atomic.Int64
	start := time.Now()
	stop, stopped := make(chan struct{}), make(chan struct{})
	defer func() { close(stop); <-stopped }()
	line := progress.Stderr()
	go func() {
		defer close(stopped)
		every := 10 * time.Second
		if line != nil {
			every = 200 * time.Millisecond
		}
		tick := time.NewTicker(every)
		defer tick.Stop()
		drawn := false
		show := func() {
			drawn = true
			d := done.Load()
			text := fmt.Sprintf("bench: %s: %d/%d (%.0f/s)", what, d, n, float64(d)/time.Since(start).Seconds())
			if line == nil {
				fmt.Fprintln(os.Stderr, text)
				return
			}
			line.Show(text, true)
		}
		for {
			select {
			case <-stop:
				if line != nil && drawn { // the final count, if it showed a line
					show()
					line.Done()
				}
				return
			case <-tick.C:
				show()
			}
		}
	}()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(seedConcurrency)
	for i := range n {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			if err := fn(gctx, i); err != nil {
				return err
			}
			done.Add(1)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return ctx.Err()
}

// followersOf lists author's followers in the store's order, the order
// fan-out reaches them in.
func (r *benchRun) followersOf(ctx context.Context, author string) ([]string, error) {
	var all []string
	cursor := ""
	for {
		page, next, err := r.b.Store.Followers(ctx, author, cursor, 1000)
		if err != nil {
			return nil, fmt.Errorf("followers of %s: %w", author, err)
		}
		all = append(all, page...)
		if next == "" {
			return all, nil
		}
		cursor = next
	}
}

// feedCheck is the result of checking cached feeds for posts.
type feedCheck struct {
	checked, incomplete, missing int
}

// newestIDs returns the newest n of ids, newest first, without duplicates.
func newestIDs(ids []app.ID, n int) []app.ID {
	out := slices.SortedFunc(slices.Values(ids), func(a, b app.ID) int { return cmp.Compare(b, a) })
	out = slices.Compact(out)
	return out[:min(len(out), n)]
}

// checkFeeds checks that the cached feed of every user is complete and
// holds every post of want(i) (at most the feed cap), as Redis holds it:
// no rebuild from the store can hide a post fan-out missed.
func (r *benchRun) checkFeeds(ctx context.Context, users []string, want func(i int) []app.ID) (feedCheck, error) {
	var incomplete, missing atomic.Int64
	err := parallel(ctx, "check feeds", len(users), func(ctx context.Context, i int) error {
		have, complete, err := r.b.Caches.Feeds.Page(ctx, users[i], 0, r.cfg.Feeds.Cap)
		if err != nil {
			return err
		}
		set := make(map[app.ID]bool, len(have))
		for _, id := range have {
			set[id] = true
		}
		n := 0
		for _, id := range want(i) {
			if !set[id] {
				n++
			}
		}
		if n > 0 || !complete {
			incomplete.Add(1)
			missing.Add(int64(n))
		}
		return nil
	})
	if err != nil {
		return feedCheck{}, fmt.Errorf("check feeds: %w", err)
	}
	return feedCheck{checked: len(users), incomplete: int(incomplete.Load()), missing: int(missing.Load())}, nil
}

// call makes one API request as the holder of tok and decodes the answer
// into out (if not nil); any status but want is an error.
func (r *benchRun) call(ctx context.Context, method, path, tok string, body []byte, want int, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, r.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := r.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: status %d: %s", method, path, resp.StatusCode, bytes.TrimSpace(b))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return nil
}

// createPost posts as the holder of tok.
func (r *benchRun) createPost(ctx context.Context, tok string, i int) (app.Post, error) {
	var p app.Post
	err := r.call(ctx, http.MethodPost, "/v1/posts", tok, postBody(i), http.StatusCreated, &p)
	return p, err
}

// readFeed reads the first page of the feed of the holder of tok.
func (r *benchRun) readFeed(ctx context.Context, tok string, limit int) (app.FeedPage, error) {
	var page app.FeedPage
	err := r.call(ctx, http.MethodGet, "/v1/feed?limit="+strconv.Itoa(limit), tok, nil, http.StatusOK, &page)
	return page, err
}
