package wiring

import (
	"time"

	"github.com/feedsvc/feedsvc/events"
)

// The JSON shapes an operator reads, from the operator's view's API
// (/ops/api/...) and from the CLI's `--output json` alike.

// LagGroup is a consumer group's lag: `feedsvc lag` and the overview.
type LagGroup struct {
	Role  string `json:"role"`
	Group string `json:"group"`
	Here  bool   `json:"here,omitempty"` // the process answering runs it (the operator's view)
	// Lag is the sum over the partitions; Committed the sum of the
	// committed offsets (partitions without one count 0), whose increase
	// over time is the group's processing rate.
	Lag        int64          `json:"lag"`
	Committed  int64          `json:"committed"`
	Partitions []LagPartition `json:"partitions"`
}

// LagPartition is one partition of a LagGroup.
type LagPartition struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Committed int64  `json:"committed"` // -1: none
	End       int64  `json:"end"`
	Lag       int64  `json:"lag"`
}

// NewLagGroup sums lags, the partitions of group (role's), into a LagGroup.
func NewLagGroup(role, group string, lags []events.PartitionLag) LagGroup {
	g := LagGroup{Role: role, Group: group, Partitions: []LagPartition{}}
	for _, l := range lags {
		g.Partitions = append(g.Partitions, LagPartition{Topic: l.Topic, Partition: l.Partition, Committed: l.Committed, End: l.End, Lag: l.Lag})
		g.Lag += l.Lag
		g.Committed += max(l.Committed, 0)
	}
	return g
}

// OutboxState is the outbox's backlog, or why it could not be read.
type OutboxState struct {
	Available bool       `json:"available"`
	Reason    string     `json:"reason,omitempty"`
	Error     string     `json:"error,omitempty"`
	Pending   int        `json:"pending"`
	Oldest    *time.Time `json:"oldest,omitempty"`
	ReadAt    time.Time  `json:"read_at,omitzero"`
}

// DeadLetters is a group's dead letters: `feedsvc dlq list` and
// /ops/api/dlq.
type DeadLetters struct {
	Role  string       `json:"role"`
	Group string       `json:"group"`
	Items []DeadLetter `json:"items"`
	// More says there are more dead letters than the limit.
	More bool `json:"more"`
}

// DeadLetter is one dead-lettered event.
type DeadLetter struct {
	Topic        string    `json:"topic"`
	Partition    int32     `json:"partition"`
	Offset       int64     `json:"offset"`
	EventID      string    `json:"event_id"`
	Type         string    `json:"type"`
	Time         time.Time `json:"time"`
	Replayed     bool      `json:"replayed"`
	Error        string    `json:"error"`
	DLQTopic     string    `json:"dlq_topic"`
	DLQPartition int32     `json:"dlq_partition"`
	DLQOffset    int64     `json:"dlq_offset"`
}

// NewDeadLetters is the first limit of entries (0: all), role's group's.
func NewDeadLetters(role, group string, entries []events.DLQEntry, limit int) DeadLetters {
	if limit <= 0 {
		limit = len(entries)
	}
	out := DeadLetters{Role: role, Group: group, Items: []DeadLetter{}, More: len(entries) > limit}
	for _, e := range entries[:min(len(entries), limit)] {
		out.Items = append(out.Items, DeadLetter{Topic: e.Topic, Partition: e.Partition, Offset: e.Offset,
			EventID: e.EventID, Type: e.EventType, Time: e.Time.UTC(), Replayed: e.Replayed, Error: e.Error,
			DLQTopic: e.DLQTopic, DLQPartition: e.DLQPartition, DLQOffset: e.DLQOffset})
	}
	return out
}

// Replay is a replay's plan: `feedsvc replay` and /ops/api/replay.
type Replay struct {
	Role       string            `json:"role"`
	Group      string            `json:"group"`
	Target     string            `json:"target"`
	Partitions []ReplayPartition `json:"partitions"`
	Reprocess  int64             `json:"reprocess"`
	Skip       int64             `json:"skip"`
	Live       string            `json:"live,omitempty"`    // why --execute would refuse now
	Command    string            `json:"command,omitempty"` // what executes this plan
	Executed   bool              `json:"executed,omitempty"`
}

// ReplayPartition is one partition of a Replay.
type ReplayPartition struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Current   int64  `json:"current"` // -1: none committed
	New       int64  `json:"new"`
	End       int64  `json:"end"`
	Reprocess int64  `json:"reprocess"`
	Skip      int64  `json:"skip"`
}

// NewReplay is plan, of role's group, with its totals.
func NewReplay(role string, plan *events.ResetPlan) Replay {
	out := Replay{Role: role, Group: plan.Group, Target: plan.Target.String(), Partitions: []ReplayPartition{}, Live: plan.Live}
	for _, p := range plan.Partitions {
		out.Partitions = append(out.Partitions, ReplayPartition{Topic: p.Topic, Partition: p.Partition, Current: p.Current,
			New: p.New, End: p.End, Reprocess: p.Reprocess(), Skip: p.Skip()})
		out.Reprocess += p.Reprocess()
		out.Skip += p.Skip()
	}
	return out
}
