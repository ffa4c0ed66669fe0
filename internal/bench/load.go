// Package bench drives a running feedsvc over HTTP with open-loop,
// constant-rate load (vegeta: requests leave on schedule whatever the
// latency, so slow answers are not hidden by coordinated omission) and
// summarises latencies.
package bench

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Request is one kind of request of an attack.
type Request struct {
	Method string
	URL    string
	Token  string
	Body   []byte
	// OnResponse, if set, is called with the status and body of every
	// answer (status 0 for a transport error), one call at a time.
	OnResponse func(status int, body []byte)
}

// Result summarises an attack.
type Result struct {
	Requests uint64  `json:"requests"`
	Rate     float64 `json:"rate"`
	// Throughput is successful requests per second.
	Throughput float64 `json:"throughput"`
	Success    float64 `json:"success_ratio"`
	Failed     uint64  `json:"failed"`
	P50ms      float64 `json:"p50_ms"`
	P99ms      float64 `json:"p99_ms"`
	P999ms     float64 `json:"p999_ms"`
	Maxms      float64 `json:"max_ms"`
	// Codes counts answers by status ("0" for transport errors).
	Codes map[string]int `json:"codes"`
	// Errors lists distinct errors, at most a few.
	Errors []string `json:"errors,omitempty"`
}

// Attack sends req at rate per second for d, with a fresh body per request
// from body (nil: req.Body every time), and returns the latency summary.
func Attack(ctx context.Context, name string, req Request, body func(i int) []byte, rate int, d time.Duration) Result {
	hdr := http.Header{"Authorization": {"Bearer " + req.Token}, "Content-Type": {"application/json"}}
	var n atomic.Int64 // vegeta's workers call the targeter concurrently
	targeter := func(t *vegeta.Target) error {
		*t = vegeta.Target{Method: req.Method, URL: req.URL, Header: hdr, Body: req.Body}
		if body != nil {
			t.Body = body(int(n.Add(1)))
		}
		return nil
	}
	attacker := vegeta.NewAttacker(vegeta.Timeout(30*time.Second), vegeta.KeepAlive(true), vegeta.Workers(16), vegeta.MaxWorkers(256))
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-ctx.Done():
			attacker.Stop()
		case <-stop:
		}
	}()
	var m vegeta.Metrics
	for r := range attacker.Attack(targeter, vegeta.Rate{Freq: rate, Per: time.Second}, d, name) {
		m.Add(r)
		if req.OnResponse != nil {
			req.OnResponse(int(r.Code), r.Body)
		}
	}
	m.Close()
	return summarise(&m)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func summarise(m *vegeta.Metrics) Result {
	r := Result{
		Requests: m.Requests, Rate: m.Rate, Throughput: m.Throughput, Success: m.Success,
		P50ms: ms(m.Latencies.P50), P99ms: ms(m.Latencies.P99), P999ms: ms(m.Latencies.Quantile(0.999)), Maxms: ms(m.Latencies.Max),
		Codes: map[string]int{}, Errors: m.Errors,
	}
	for code, n := range m.StatusCodes {
		r.Codes[code] = n
		if !strings.HasPrefix(code, "2") {
			r.Failed += uint64(n)
		}
	}
	if len(r.Errors) > 3 {
		r.Errors = r.Errors[:3]
	}
	return r
}

// Table renders rows of cells as an aligned text table.
func Table(header []string, rows [][]string) string {
	width := make([]int, len(header))
	for _, row := range append([][]string{header}, rows...) {
		for i, c := range row {
			width[i] = max(width[i], len(c))
		}
	}
	var b strings.Builder
	for _, row := range append([][]string{header}, rows...) {
		for i, c := range row {
			fmt.Fprintf(&b, "%-*s  ", width[i], c)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// SortedKeys returns m's keys in order.
func SortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
