package redis

import (
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/redis/rueidis"
)

// dial connects to Redis at addrs (comma-separated host:port). rueidis
// detects a Redis Cluster by itself, so the same setting serves both.
// embedded selects the options the in-process miniredis needs. timeout
// bounds connecting and waiting for any answer: rueidis's default (10 s)
// would hold every caller of a frozen Redis that long.
func dial(addrs string, embedded bool, timeout time.Duration) (rueidis.Client, error) {
	opt := rueidis.ClientOption{
		Dialer:           net.Dialer{Timeout: timeout, KeepAlive: rueidis.DefaultTCPKeepAlive},
		ConnWriteTimeout: timeout,
		InitAddress:      strings.Split(addrs, ","),
		// Feeds are written by many processes; client-side caching would
		// serve stale pages.
		DisableCache: true,
		// miniredis answers CLUSTER SLOTS as a one-node cluster; keep
		// rueidis from taking it for one.
		ForceSingleClient: embedded,
	}
	c, err := rueidis.NewClient(opt)
	if err != nil {
		return nil, fmt.Errorf("connect to redis %s: %w", addrs, markUnavailable(err))
	}
	return client{c}, nil
}
