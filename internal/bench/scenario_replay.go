package bench

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/feedsvc/feedsvc/events"
	"github.com/feedsvc/feedsvc/internal/wiring"
)

// replay rewinds the fanout group to the start of the run with the replay
// command's offset machinery (on a fresh embedded broker that is the
// earliest offset; on a shared Kafka it leaves other runs' events alone),
// restarts it and reports how many events per second it re-processes until
// it is caught up again. Run alone, it first posts a fanout backlog so there
// is something to replay.
func (r *benchRun) replay(ctx context.Context) error {
	plan, err := r.planReplay(ctx)
	if err != nil {
		return err
	}
	if pending(plan) == 0 {
		if err := r.svc.startFanout(ctx); err != nil {
			return err
		}
		g, err := r.seedFanout(ctx)
		if err != nil {
			return err
		}
		if _, err := r.postBacklog(ctx, g); err != nil {
			return err
		}
		if plan, err = r.planReplay(ctx); err != nil {
			return err
		}
	}
	if err := events.ApplyReset(ctx, r.b.Kafka, plan); err != nil {
		return fmt.Errorf("rewind the fanout group: %w", err)
	}
	n := pending(plan)
	start := time.Now()
	if err := r.svc.startFanout(ctx); err != nil {
		return err
	}
	took, err := r.waitFanout(ctx, start)
	if err != nil {
		return err
	}
	perSec := float64(n) / took.Seconds()
	r.report["replay"] = map[string]any{"events": n, "seconds": took.Seconds(), "events_per_sec": perSec, "rewound_to": plan.Target.String()}
	r.lines = append(r.lines, "replay (fanout group rewound to the start of the run; restart to lag 0)\n",
		Table([]string{"events", "seconds", "events/s"}, [][]string{{strconv.FormatInt(n, 10), f2(took.Seconds()), f0(perSec)}}), "\n")
	return nil
}

// planReplay lets the fanout group catch up, stops it, and plans its rewind
// to the start of the run. The group must have no members: a member of
// another process (on a shared Kafka) is waited for up to a minute.
func (r *benchRun) planReplay(ctx context.Context) (*events.ResetPlan, error) {
	if _, err := r.waitFanout(ctx, time.Now()); err != nil {
		return nil, err
	}
	if err := r.svc.stopFanout(); err != nil {
		return nil, err
	}
	target := events.ResetTarget{Kind: events.ResetToTime, Time: r.started}
	deadline := time.Now().Add(time.Minute)
	for {
		plan, err := events.PlanReset(ctx, r.b.Kafka, r.cfg.Kafka.Group(fanoutGroup), wiring.Topics(r.cfg).All(), target)
		if err == nil || !errors.Is(err, events.ErrGroupActive) || time.Now().After(deadline) {
			if err != nil {
				return nil, fmt.Errorf("plan the rewind of the fanout group: %w", err)
			}
			return plan, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// pending is the number of events the group handles after the reset.
func pending(plan *events.ResetPlan) int64 {
	var n int64
	for _, p := range plan.Partitions {
		n += p.Pending()
	}
	return n
}
