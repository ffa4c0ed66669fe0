package app

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Limit is a rate limit: Quota requests per Window. A client that was
// quiet may spend the whole quota at once; after that, requests are
// allowed at the steady rate Quota/Window (a token bucket, kept as GCRA).
// The zero Limit limits nothing.
type Limit struct {
	Quota  int
	Window time.Duration
}

// Off reports whether l limits nothing.
func (l Limit) Off() bool { return l.Quota <= 0 || l.Window <= 0 }

// String is l as ParseLimit reads it ("300/3h", or "off").
func (l Limit) String() string {
	if l.Off() {
		return "off"
	}
	return strconv.Itoa(l.Quota) + "/" + shortDuration(l.Window)
}

// shortDuration drops the zero units time.Duration prints: 3h, not 3h0m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// ParseLimit reads "<quota>/<window>", such as "300/3h" or "60/1m", or
// "off" (or "0") for no limit.
func ParseLimit(s string) (Limit, error) {
	s = strings.TrimSpace(s)
	if s == "off" || s == "0" {
		return Limit{}, nil
	}
	q, w, ok := strings.Cut(s, "/")
	n, err := strconv.Atoi(strings.TrimSpace(q))
	if !ok || err != nil || n <= 0 {
		return Limit{}, fmt.Errorf("%q is not <requests>/<window> such as 300/3h, or off", s)
	}
	d, err := time.ParseDuration(strings.TrimSpace(w))
	if err != nil || d < time.Second {
		return Limit{}, fmt.Errorf("%q: the window must be a duration of at least 1s, such as 1m or 3h", s)
	}
	return Limit{Quota: n, Window: d}, nil
}

// RateDecision is a limiter's answer for one request.
type RateDecision struct {
	Allowed bool
	// Remaining is how many more requests would be allowed right now.
	Remaining int
	// RetryAfter, when refused, is how long until one request is allowed.
	RetryAfter time.Duration
	// Reset is how long until the whole quota is available again.
	Reset time.Duration
}

// RateLimiter counts requests against limits shared by every process that
// uses the same limiter (the api replicas of one deployment).
type RateLimiter interface {
	// Allow counts one request of key against l and says whether it is
	// within the limit; a refused request is not counted.
	Allow(ctx context.Context, key string, l Limit) (RateDecision, error)
}
