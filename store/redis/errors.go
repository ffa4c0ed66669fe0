package redis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/feedsvc/feedsvc/app"
)

// unavailableReplies are the first words of Redis error replies that say
// the server cannot serve now (loading, failing over, out of memory,
// refusing writes) rather than that the command was wrong.
var unavailableReplies = []string{"LOADING", "BUSY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "OOM", "READONLY", "NOREPLICAS", "MISCONF"}

// unavailable reports whether err says that Redis is down, unreachable,
// cannot serve now, or did not answer in time: the same command may
// succeed later. A cancelled context is not among them: its caller gave
// up.
func unavailable(err error) bool {
	if err == nil || rueidis.IsRedisNil(err) {
		return false
	}
	for _, target := range []error{context.DeadlineExceeded, rueidis.ErrClosing, rueidis.ErrNoAddr, rueidis.ErrNoSlot, io.EOF, io.ErrUnexpectedEOF, io.ErrClosedPipe} {
		if errors.Is(err, target) {
			return true
		}
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return true
	}
	var reply *rueidis.RedisError
	if errors.As(err, &reply) {
		word, _, _ := strings.Cut(reply.Error(), " ")
		for _, w := range unavailableReplies {
			if word == w {
				return true
			}
		}
	}
	return false
}

// markUnavailable wraps err with app.ErrUnavailable if it is an outage.
func markUnavailable(err error) error {
	if unavailable(err) {
		return fmt.Errorf("redis: %w (%w)", err, app.ErrUnavailable)
	}
	return err
}

// client is the rueidis client every adapter of this package is given: its
// results carry app.ErrUnavailable when Redis could not answer, so each
// call site's own wrapping keeps it and the api answers 503, not 500.
// Replies that are not outages (nil, WRONGTYPE, NOSCRIPT) pass unchanged.
// It also carries the deployment's keys (KeysOf).
type client struct {
	rueidis.Client
	keys Keys
}

func mark(r rueidis.RedisResult) rueidis.RedisResult {
	if err := r.Error(); unavailable(err) {
		return rueidis.NewErrorResult(markUnavailable(err))
	}
	return r
}

// Do implements rueidis.Client.
func (c client) Do(ctx context.Context, cmd rueidis.Completed) rueidis.RedisResult {
	return mark(c.Client.Do(ctx, cmd))
}

// DoMulti implements rueidis.Client.
func (c client) DoMulti(ctx context.Context, cmds ...rueidis.Completed) []rueidis.RedisResult {
	rs := c.Client.DoMulti(ctx, cmds...)
	for i := range rs {
		rs[i] = mark(rs[i])
	}
	return rs
}

// DoCache implements rueidis.Client.
func (c client) DoCache(ctx context.Context, cmd rueidis.Cacheable, ttl time.Duration) rueidis.RedisResult {
	return mark(c.Client.DoCache(ctx, cmd, ttl))
}

// DoMultiCache implements rueidis.Client.
func (c client) DoMultiCache(ctx context.Context, cmds ...rueidis.CacheableTTL) []rueidis.RedisResult {
	rs := c.Client.DoMultiCache(ctx, cmds...)
	for i := range rs {
		rs[i] = mark(rs[i])
	}
	return rs
}
