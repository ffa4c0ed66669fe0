package cassandra

import (
	"time"

	"github.com/gocql/gocql"
)

// speculateAfter is how long a plain statement waits for its coordinator's
// answer before it is sent to the next host as well; the first answer
// wins and the other attempt is abandoned.
//
// The retry policy moves to the next host only when an attempt fails, and
// an attempt that gets no answer fails only at the driver's timeout
// (Config.Timeout, 5 s), which is also the whole deadline of an api
// request: a coordinator that takes the request and does not answer holds
// it until the client gets a 503. A node that has just been started again
// does that: its native port is open and the driver sends it a third of
// the statements (it is a replica of every partition at replication 3)
// while, cold, it replays its commit log and takes the hints the other
// nodes kept for it (issue #28: the posts refused in the fault suite's
// cassandra-one-node-down row all ended in "context deadline exceeded",
// at 5.0 s, while gocql's connections to the restarted node timed out).
//
// Half a second is far above a healthy statement (POST p99 is 0.55 s for
// three statements on the fault suite's 2-core machine) and leaves a post's
// three statements room inside the 5 s deadline when each of them meets
// the slow node first. Only statements slower than that are sent twice,
// and only once more.
const speculateAfter = 500 * time.Millisecond

// speculation is the speculative execution policy of the plain statements:
// one more attempt after speculateAfter, while more than one node is up.
// gocql speculates only with statements marked idempotent, so LWTs (lwt)
// are never sent twice. With a single node up it does not speculate: gocql
// ends a statement with the first answer of either attempt, and an attempt
// that finds no host left answers at once (gocql.ErrNoConnections), which
// would fail every statement slower than speculateAfter.
type speculation struct{ guard *quorumGuard }

// Attempts implements gocql.SpeculativeExecutionPolicy.
func (p speculation) Attempts() int {
	if p.guard == nil || p.guard.upCount() < 2 {
		return 0
	}
	return 1
}

// Delay implements gocql.SpeculativeExecutionPolicy.
func (speculation) Delay() time.Duration { return speculateAfter }

// query prepares a plain statement: an upsert, a delete or a read, each
// idempotent (a timestamp decides between two writes of one cell), so it is
// retried on the next host when it fails and sent there as well when its
// coordinator is slow to answer (speculateAfter).
func (s *Store) query(stmt string, args ...any) *gocql.Query {
	return s.session.Query(stmt, args...).Idempotent(true).SetSpeculativeExecutionPolicy(speculation{s.guard})
}

// unloggedBatch starts an unlogged batch of plain statements, which
// execBatch runs as query runs one.
func (s *Store) unloggedBatch() *gocql.Batch {
	return s.session.NewBatch(gocql.UnloggedBatch).SpeculativeExecutionPolicy(speculation{s.guard})
}

// loggedBatch starts a logged batch of plain statements: the batch log
// makes writes to several partitions all land or none, which execBatch
// runs as query runs one.
func (s *Store) loggedBatch() *gocql.Batch {
	return s.session.NewBatch(gocql.LoggedBatch).SpeculativeExecutionPolicy(speculation{s.guard})
}

// execBatch runs b, whose statements are all plain upserts and deletes:
// idempotent, which gocql needs of every entry before it speculates.
func (s *Store) execBatch(b *gocql.Batch) error {
	return s.session.ExecuteBatch(idempotent(b))
}

// idempotent marks every entry of b idempotent.
func idempotent(b *gocql.Batch) *gocql.Batch {
	for i := range b.Entries {
		b.Entries[i].Idempotent = true
	}
	return b
}
