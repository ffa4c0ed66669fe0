package events

import (
	"fmt"
	"path/filepath"
	"sync"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Embedded is the in-process Kafka-protocol broker (kfake) of the zero-setup
// default. Topics, records and committed offsets persist under its data dir,
// and every write is synced before it is acknowledged, so an accepted event
// survives a crash. The service reaches it through the same sarama code as a
// real cluster.
type Embedded struct {
	cluster *kfake.Cluster
	once    sync.Once
}

// StartEmbedded starts a one-broker cluster persisted in dataDir/kafka,
// listening on a random loopback port.
func StartEmbedded(dataDir string) (*Embedded, error) { return StartEmbeddedPort(dataDir, 0) }

// StartEmbeddedPort is StartEmbedded on a fixed port of 127.0.0.1 (0: any),
// so a test can stop the broker and start it again where clients look.
func StartEmbeddedPort(dataDir string, port int) (*Embedded, error) {
	c, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.Ports(port),
		kfake.DataDir(filepath.Join(dataDir, "kafka")),
		kfake.SyncWrites(),
		kfake.ClusterID("feedsvc-embedded"),
	)
	if err != nil {
		return nil, fmt.Errorf("start embedded kafka: %w", err)
	}
	return &Embedded{cluster: c}, nil
}

// Addrs returns the broker addresses.
func (e *Embedded) Addrs() []string { return e.cluster.ListenAddrs() }

// Close stops the broker, flushing its data; closing again does nothing.
func (e *Embedded) Close() { e.once.Do(e.cluster.Close) }
