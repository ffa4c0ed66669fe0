package app

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"
)

// ErrClockSkew: this process's clock is too far from the store's to make
// IDs or move the outbox's cursors (an ErrUnavailable: the process is not
// ready until its clock is back).
var ErrClockSkew = fmt.Errorf("%w: clock too far from the store's", ErrUnavailable)

// StoreClock reads the store's clock, the one the clocks of the processes
// that make IDs and relay the outbox are held to. The store adapters
// implement it (Cassandra: its coordinator's clock).
type StoreClock interface {
	StoreNow(ctx context.Context) (time.Time, error)
}

// DefaultMaxClockSkew is ClockGuard.MaxSkew when unset. IDs carry their
// maker's clock, and the outbox relay's cursor trails its own clock by
// DefaultRelayGrace: a writer further behind than that writes records the
// cursor has passed (never published unless handed over at once), and a
// relay further ahead passes records still being written. A quarter of
// the grace keeps both well inside it.
const DefaultMaxClockSkew = DefaultRelayGrace / 4

// ClockGuard compares this process's clock with the store's: the node
// lease asks it at every renewal (Check), and stops IDs while the clocks
// are MaxSkew or more apart; the relay moves no cursor meanwhile (OK).
type ClockGuard struct {
	Store   StoreClock
	MaxSkew time.Duration // DefaultMaxClockSkew when 0
	Log     *slog.Logger
	// Now is this process's clock (nil: time.Now).
	Now func() time.Time

	skew    atomic.Int64 // ns, last measured: this clock minus the store's
	bad     atomic.Bool
	checked atomic.Bool // a measure was made
}

// Checked reports whether a Check has measured the skew yet.
func (g *ClockGuard) Checked() bool { return g.checked.Load() }

func (g *ClockGuard) now() time.Time {
	if g.Now != nil {
		return g.Now()
	}
	return time.Now()
}

func (g *ClockGuard) maxSkew() time.Duration {
	if g.MaxSkew > 0 {
		return g.MaxSkew
	}
	return DefaultMaxClockSkew
}

// Check measures the skew (ErrClockSkew when too large). A store whose
// clock cannot be read leaves the last verdict as it was.
func (g *ClockGuard) Check(ctx context.Context) error {
	t0 := g.now()
	store, err := g.Store.StoreNow(ctx)
	if err != nil {
		return fmt.Errorf("read the store's clock: %w", err)
	}
	t1 := g.now()
	// The store read its clock somewhere in [t0, t1]: the skew is known
	// to within half the round trip, which is given the benefit of the
	// doubt.
	rtt := t1.Sub(t0)
	skew := t0.Add(rtt / 2).Sub(store)
	g.skew.Store(int64(skew))
	g.checked.Store(true)
	off := skew.Abs() - rtt/2
	if off < g.maxSkew() {
		if g.bad.Swap(false) && g.Log != nil {
			g.Log.Info("clock back within the store's", "skew", skew)
		}
		return nil
	}
	if !g.bad.Swap(true) && g.Log != nil {
		g.Log.Error("this process's clock is too far from the store's: no IDs are made and no outbox cursor moves until it is back",
			"skew", skew, "max", g.maxSkew())
	}
	return fmt.Errorf("%w: %s off (at most %s)", ErrClockSkew, skew.Round(time.Millisecond), g.maxSkew())
}

// OK reports whether the last Check found the clocks close enough (true
// before any).
func (g *ClockGuard) OK() bool { return g == nil || !g.bad.Load() }

// Skew is the last measured skew: this clock minus the store's.
func (g *ClockGuard) Skew() time.Duration { return time.Duration(g.skew.Load()) }
