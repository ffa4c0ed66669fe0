package redis

import (
	"errors"
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
// would hold every caller of a frozen Redis that long. The adapters given
// the client build their keys with keys.
func dial(addrs string, embedded bool, timeout time.Duration, keys Keys, with ...func(*rueidis.ClientOption)) (rueidis.Client, error) {
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
	for _, w := range with {
		w(&opt)
	}
	c, err := rueidis.NewClient(opt)
	if err != nil {
		if refusedAuth(err) {
			// A setting to fix, not an outage to wait out.
			return nil, fmt.Errorf("connect to redis %s: authentication refused (check the user and password): %w", addrs, err)
		}
		return nil, fmt.Errorf("connect to redis %s: %w", addrs, markUnavailable(err))
	}
	return client{Client: c, keys: keys}, nil
}

// refusedAuth reports whether Redis refused the credentials (or asked for
// some): WRONGPASS, NOAUTH, or an AUTH/HELLO error.
func refusedAuth(err error) bool {
	var re *rueidis.RedisError
	if errors.As(err, &re) {
		msg := re.Error()
		return strings.HasPrefix(msg, "WRONGPASS") || strings.HasPrefix(msg, "NOAUTH")
	}
	msg := err.Error()
	return strings.Contains(msg, "WRONGPASS") || strings.Contains(msg, "NOAUTH")
}
