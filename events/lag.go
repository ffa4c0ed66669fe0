package events

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"
)

// PartitionLag is how far a consumer group is behind on one partition.
type PartitionLag struct {
	Topic     string
	Partition int32
	// Committed is the group's committed offset (the next event it will
	// handle), -1 if it has committed nothing there.
	Committed int64
	// End is the partition's log end: the offset of the next event written.
	End int64
	// Lag is the number of events the group has still to handle. Without a
	// commit (or below the log start, after retention) the group starts at
	// the oldest event, so the lag counts from the log start.
	Lag int64
}

// GroupLag returns group's lag on every partition of topics, sorted by topic
// and partition. It reads committed offsets, so it also works while no
// member of the group runs (when per-message metrics stand still).
func GroupLag(ctx context.Context, cl Cluster, group string, topics []string) ([]PartitionLag, error) {
	lags, err := GroupsLag(ctx, cl, []string{group}, topics)
	return lags[group], err
}

// GroupsLag is GroupLag of each of groups, on one connection, reading each
// partition's bounds once: `feedsvc lag` and the operator's view, which
// show every group.
func GroupsLag(ctx context.Context, cl Cluster, groups, topics []string) (map[string][]PartitionLag, error) {
	c, err := dialOps(cl)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.groupsLag(ctx, groups, topics)
}

func (c *opsConn) groupLag(ctx context.Context, group string, topics []string) ([]PartitionLag, error) {
	lags, err := c.groupsLag(ctx, []string{group}, topics)
	return lags[group], err
}

func (c *opsConn) groupsLag(ctx context.Context, groups, topics []string) (map[string][]PartitionLag, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	committed := map[string]map[string]map[int32]int64{}
	for _, g := range groups {
		offs, err := c.committed(g, topics)
		if err != nil {
			return nil, err
		}
		committed[g] = offs
	}
	out := map[string][]PartitionLag{}
	for _, topic := range sortedUnique(topics) {
		parts, err := c.client.Partitions(topic)
		if err != nil {
			return nil, fmt.Errorf("partitions of %s: %w", topic, err)
		}
		slices.Sort(parts)
		for _, p := range parts {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			start, end, err := c.bounds(topic, p)
			if err != nil {
				return nil, err
			}
			for _, g := range groups {
				pl := PartitionLag{Topic: topic, Partition: p, Committed: -1, End: end}
				if off, ok := committed[g][topic][p]; ok {
					pl.Committed = off
				}
				pl.Lag = max(0, end-max(pl.Committed, start))
				out[g] = append(out[g], pl)
			}
		}
	}
	return out, nil
}

// ListGroups returns the consumer groups the cluster knows, sorted.
func ListGroups(ctx context.Context, cl Cluster) ([]string, error) {
	c, err := dialOps(cl)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	groups, err := c.admin.ListConsumerGroups()
	if err != nil {
		return nil, fmt.Errorf("list consumer groups: %w", err)
	}
	var out []string
	for name, protocolType := range groups {
		// Other group types (connect, share groups) have no offsets to lag.
		if protocolType == "consumer" || protocolType == "" {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out, nil
}

// ReportLag sets the feedsvc_consumer_lag gauge of group from its committed
// offsets every interval until ctx ends. The Runner updates the gauge per
// handled event only, so without this a group that is stuck (or whose
// partition receives a burst it has not fetched yet) shows a stale, too
// small lag. Errors are logged and retried at the next tick: metrics must
// never stop a consumer.
func (m *Metrics) ReportLag(ctx context.Context, cl Cluster, group string, topics []string, every time.Duration, log *slog.Logger) {
	if m == nil || every <= 0 {
		return
	}
	var c *opsConn
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		if c == nil {
			var err error
			if c, err = dialOps(cl); err != nil {
				log.Warn("lag exporter: connect", "group", group, "err", err)
				c = nil
			}
		}
		if c != nil {
			lags, err := c.groupLag(ctx, group, topics)
			if err != nil && ctx.Err() == nil {
				log.Warn("lag exporter", "group", group, "err", err)
			}
			for _, l := range lags {
				m.lag.WithLabelValues(group, l.Topic, itoa(l.Partition)).Set(float64(l.Lag))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
