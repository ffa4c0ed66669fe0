package events

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/IBM/sarama"
)

// Operator tools (replay, lag, dead letters) work on committed offsets from
// outside the consumer group, the way kafka-consumer-groups does: they never
// join the group, they read and write its offsets through the coordinator.

// ErrGroupActive is returned when a consumer group's offsets cannot be
// changed because the group has live members: Kafka only accepts offset
// commits from outside the group while it is empty, and a running member
// would overwrite the new offsets with its own anyway.
var ErrGroupActive = errors.New("consumer group has live members")

// opsConn is one client and the cluster admin built on it, so offset lookups
// and group administration share one set of connections.
type opsConn struct {
	client sarama.Client
	admin  sarama.ClusterAdmin
}

func dialOps(cl Cluster) (*opsConn, error) {
	cfg := cl.Config("feedsvc-ops")
	// A mistyped --topic must fail, not create a topic on a broker with
	// auto.create.topics.enable.
	cfg.Metadata.AllowAutoTopicCreation = false
	client, err := sarama.NewClient(cl.Brokers, cfg)
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("kafka admin: %w", err)
	}
	return &opsConn{client: client, admin: admin}, nil
}

// Close closes the admin and with it the client.
func (c *opsConn) Close() { _ = c.admin.Close() }

// committed returns the group's committed offsets on topics (all topics the
// group committed on when topics is empty). Partitions without a commit are
// absent.
func (c *opsConn) committed(group string, topics []string) (map[string]map[int32]int64, error) {
	var req map[string][]int32 // nil: every topic the group has offsets on
	if len(topics) > 0 {
		req = map[string][]int32{}
		for _, t := range topics {
			ps, err := c.client.Partitions(t)
			if err != nil {
				return nil, fmt.Errorf("partitions of %s: %w", t, err)
			}
			req[t] = ps
		}
	}
	resp, err := c.admin.ListConsumerGroupOffsets(group, req)
	if errors.Is(err, sarama.ErrGroupIDNotFound) {
		// The embedded broker answers so for a group that never committed;
		// Kafka answers offset -1 everywhere. Both mean no commits.
		return map[string]map[int32]int64{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("committed offsets of group %s: %w", group, err)
	}
	blocks := resp.Blocks
	if g := resp.GetGroup(group); g != nil { // OffsetFetch v8+ answers per group
		blocks = g.Blocks
	}
	out := map[string]map[int32]int64{}
	for topic, parts := range blocks {
		for p, b := range parts {
			if b == nil {
				continue
			}
			if b.Err != sarama.ErrNoError {
				return nil, fmt.Errorf("committed offset of group %s on %s/%d: %w", group, topic, p, b.Err)
			}
			if b.Offset < 0 { // no commit
				continue
			}
			if out[topic] == nil {
				out[topic] = map[int32]int64{}
			}
			out[topic][p] = b.Offset
		}
	}
	return out, nil
}

// bounds returns the first and the next offset (log start and end) of a
// partition.
func (c *opsConn) bounds(topic string, p int32) (start, end int64, err error) {
	start, err = c.client.GetOffset(topic, p, sarama.OffsetOldest)
	if err != nil {
		return 0, 0, fmt.Errorf("oldest offset of %s/%d: %w", topic, p, err)
	}
	end, err = c.client.GetOffset(topic, p, sarama.OffsetNewest)
	if err != nil {
		return 0, 0, fmt.Errorf("newest offset of %s/%d: %w", topic, p, err)
	}
	return start, end, nil
}

// requireInactive fails with ErrGroupActive while group has members.
func (c *opsConn) requireInactive(group string) error {
	descs, err := c.admin.DescribeConsumerGroups([]string{group})
	if err != nil {
		return fmt.Errorf("describe group %s: %w", group, err)
	}
	for _, d := range descs {
		if d.GroupId != group {
			continue
		}
		// A group that never existed is reported Dead, possibly with
		// GROUP_ID_NOT_FOUND: nothing runs in it either way.
		if len(d.Members) > 0 || (d.State != "Empty" && d.State != "Dead") {
			return fmt.Errorf("group %s is %s with %d member(s); stop its consumers first: %w",
				group, d.State, len(d.Members), ErrGroupActive)
		}
	}
	return nil
}

// commit stores offsets for group from outside the group.
func (c *opsConn) commit(group string, offsets map[string]map[int32]int64) error {
	req := map[string]map[int32]sarama.OffsetAndMetadata{}
	for topic, parts := range offsets {
		for p, off := range parts {
			if req[topic] == nil {
				req[topic] = map[int32]sarama.OffsetAndMetadata{}
			}
			req[topic][p] = sarama.OffsetAndMetadata{Offset: off, LeaderEpoch: -1}
		}
	}
	if len(req) == 0 {
		return nil
	}
	resp, err := c.admin.AlterConsumerGroupOffsets(group, req, nil)
	if err != nil {
		return fmt.Errorf("commit offsets of group %s: %w", group, err)
	}
	var errs []error
	for topic, parts := range resp.Errors {
		for p, kerr := range parts {
			if kerr != sarama.ErrNoError {
				errs = append(errs, fmt.Errorf("commit offset of group %s on %s/%d: %w", group, topic, p, kerr))
			}
		}
	}
	return errors.Join(errs...)
}

// CommittedTopics returns the topics group has committed offsets on, sorted.
// It is the default scope of a replay: the topics the group consumes.
func CommittedTopics(ctx context.Context, cl Cluster, group string) ([]string, error) {
	c, err := dialOps(cl)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	committed, err := c.committed(group, nil)
	if err != nil {
		return nil, err
	}
	var out []string
	for t := range committed {
		out = append(out, t)
	}
	slices.Sort(out)
	return out, nil
}

// ResetKind says how a reset target picks the new offset.
type ResetKind int

// The reset targets of kafka-consumer-groups --reset-offsets that feedsvc
// supports (--by-duration is ResetToTime with now minus the duration).
const (
	ResetToTime ResetKind = iota + 1
	ResetToEarliest
	ResetToLatest
	ResetToOffset
)

// ResetTarget is where a reset moves a group's offsets, per partition.
type ResetTarget struct {
	Kind ResetKind
	// Time (ResetToTime): the first event with a timestamp at or after it.
	Time time.Time
	// Offset (ResetToOffset): clamped to the partition's log start and end.
	Offset int64
}

func (t ResetTarget) String() string {
	switch t.Kind {
	case ResetToTime:
		return "time " + t.Time.Format(time.RFC3339Nano)
	case ResetToEarliest:
		return "earliest"
	case ResetToLatest:
		return "latest"
	case ResetToOffset:
		return fmt.Sprint("offset ", t.Offset)
	}
	return fmt.Sprintf("ResetKind(%d)", t.Kind)
}

// PartitionReset is the planned move of one partition.
type PartitionReset struct {
	Topic     string
	Partition int32
	// Current is the committed offset, -1 if the group has none there (it
	// would start at the log start: consumers start at the oldest event).
	Current int64
	// New is the offset the group resumes at after the reset.
	New int64
	// Start and End are the log start and end (next offset) of the partition.
	Start, End int64
}

// resume is where the group would resume today.
func (p PartitionReset) resume() int64 {
	if p.Current < 0 {
		return p.Start
	}
	return max(p.Current, p.Start)
}

// Reprocess is the number of events the group handles again after the
// reset: those between the new and the current position.
func (p PartitionReset) Reprocess() int64 { return max(0, p.resume()-p.New) }

// Skip is the number of events the group will never handle because the
// reset moved it forward past them.
func (p PartitionReset) Skip() int64 { return max(0, p.New-p.resume()) }

// Pending is the number of events the group handles after the reset before
// it is caught up.
func (p PartitionReset) Pending() int64 { return p.End - p.New }

// ResetPlan is a computed offset reset of one group.
type ResetPlan struct {
	Group      string
	Target     ResetTarget
	Partitions []PartitionReset // sorted by topic and partition
	// Live, in a preview (PlanOptions.Preview), says why the plan cannot
	// be applied now: the group has live members. Empty when it can.
	Live string
}

// PlanOptions change how PlanResetWith plans.
type PlanOptions struct {
	// Preview plans also for a group with live members, to show what a
	// reset would do (ApplyReset refuses such a plan while they run); the
	// plan's Live says so.
	Preview bool
	// Progress, when set, is called after each partition is planned with
	// how many of how many are.
	Progress func(done, total int)
}

// PlanReset computes where target moves group's offsets on every partition
// of topics, without changing anything. It fails with ErrGroupActive while
// the group has live members, as the plan could not be applied.
func PlanReset(ctx context.Context, cl Cluster, group string, topics []string, target ResetTarget) (*ResetPlan, error) {
	return PlanResetWith(ctx, cl, group, topics, target, PlanOptions{})
}

// PlanResetWith is PlanReset with options.
func PlanResetWith(ctx context.Context, cl Cluster, group string, topics []string, target ResetTarget, o PlanOptions) (*ResetPlan, error) {
	if len(topics) == 0 {
		return nil, errors.New("plan reset: no topics")
	}
	c, err := dialOps(cl)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	plan := &ResetPlan{Group: group, Target: target}
	if err := c.requireInactive(group); err != nil {
		if !o.Preview || !errors.Is(err, ErrGroupActive) {
			return nil, err
		}
		plan.Live = err.Error()
	}
	committed, err := c.committed(group, topics)
	if err != nil {
		return nil, err
	}
	partitions := map[string][]int32{}
	total := 0
	for _, topic := range sortedUnique(topics) {
		parts, err := c.client.Partitions(topic)
		if err != nil {
			return nil, fmt.Errorf("partitions of %s: %w", topic, err)
		}
		partitions[topic] = parts
		total += len(parts)
	}
	for _, topic := range sortedUnique(topics) {
		for _, p := range partitions[topic] {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			pr := PartitionReset{Topic: topic, Partition: p, Current: -1}
			if off, ok := committed[topic][p]; ok {
				pr.Current = off
			}
			if pr.Start, pr.End, err = c.bounds(topic, p); err != nil {
				return nil, err
			}
			if pr.New, err = c.resolve(topic, p, target, pr.Start, pr.End); err != nil {
				return nil, err
			}
			plan.Partitions = append(plan.Partitions, pr)
			if o.Progress != nil {
				o.Progress(len(plan.Partitions), total)
			}
		}
	}
	return plan, nil
}

// resolve finds the new offset of one partition.
func (c *opsConn) resolve(topic string, p int32, target ResetTarget, start, end int64) (int64, error) {
	switch target.Kind {
	case ResetToEarliest:
		return start, nil
	case ResetToLatest:
		return end, nil
	case ResetToOffset:
		return min(max(target.Offset, start), end), nil
	case ResetToTime:
		ms := target.Time.UnixMilli()
		if ms < 0 {
			// Before 1970: every event is after it. (-1 and -2 would ask
			// Kafka for the log end and start.)
			return start, nil
		}
		off, err := c.client.GetOffset(topic, p, ms)
		if err != nil {
			return 0, fmt.Errorf("offset of %s/%d at %s: %w", topic, p, target.Time.Format(time.RFC3339), err)
		}
		if off < 0 { // no event at or after the time: the log end
			return end, nil
		}
		return off, nil
	}
	return 0, fmt.Errorf("unknown reset target %v", target)
}

// ApplyReset commits the plan's new offsets for its group. It checks again
// that the group has no live members (ErrGroupActive), since one may have
// started since the plan was made.
func ApplyReset(ctx context.Context, cl Cluster, plan *ResetPlan) error {
	c, err := dialOps(cl)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := c.requireInactive(plan.Group); err != nil {
		return err
	}
	offsets := map[string]map[int32]int64{}
	for _, p := range plan.Partitions {
		if offsets[p.Topic] == nil {
			offsets[p.Topic] = map[int32]int64{}
		}
		offsets[p.Topic][p.Partition] = p.New
	}
	return c.commit(plan.Group, offsets)
}

func sortedUnique(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}
