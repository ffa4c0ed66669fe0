package api

import (
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/feedsvc/feedsvc/app"
)

// DegradedHeader names, on a feed page served while the store was
// unavailable, what the page went without (app.Degraded*, comma-separated):
// the page holds what Redis and this process's caches had.
const DegradedHeader = "Feedsvc-Degraded"

// degradedParts are the parts a degraded read can go without, each with a
// series of its own from the start.
var degradedParts = []string{app.DegradedPosts, app.DegradedHidden, app.DegradedReplies, app.DegradedReposts, app.DegradedCounts}

// newDegradedCounter counts the feed pages served degraded, by part.
func newDegradedCounter(reg prometheus.Registerer) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "feedsvc_degraded_reads_total",
		Help: "Feed pages served while the store was unavailable, by what each went without (" + strings.Join(degradedParts, ", ") + ")."}, []string{"part"})
	if reg != nil {
		reg.MustRegister(c)
	}
	for _, p := range degradedParts {
		c.WithLabelValues(p)
	}
	return c
}

// degradable lets the reads of c's request go on without the store
// (app.WithDegradedReads). The returned func, called before the answer is
// written, names what they went without in DegradedHeader and counts it.
func (h *handlers) degradable(c echo.Context) func() {
	ctx := app.WithDegradedReads(c.Request().Context())
	c.SetRequest(c.Request().WithContext(ctx))
	return func() {
		parts := app.Degraded(ctx)
		if len(parts) == 0 {
			return
		}
		c.Response().Header().Set(DegradedHeader, strings.Join(parts, ","))
		for _, p := range parts {
			h.degraded.WithLabelValues(p).Inc()
		}
	}
}
