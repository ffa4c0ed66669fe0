package events

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/IBM/sarama"

	"github.com/feedsvc/feedsvc/app"
)

// unavailableErrors say that the cluster, a broker or enough in-sync
// replicas are not there, or did not answer in time: the same send may
// succeed later. Errors about the event itself (too large, invalid) and a
// caller's cancellation are not among them.
var unavailableErrors = []error{
	context.DeadlineExceeded,
	sarama.ErrOutOfBrokers,
	sarama.ErrNotConnected,
	sarama.ErrClosedClient,
	sarama.ErrShuttingDown,
	sarama.ErrRequestTimedOut,
	sarama.ErrNotEnoughReplicas,
	sarama.ErrNotEnoughReplicasAfterAppend,
	sarama.ErrLeaderNotAvailable,
	sarama.ErrNotLeaderForPartition,
	sarama.ErrBrokerNotAvailable,
	sarama.ErrReplicaNotAvailable,
	sarama.ErrNetworkException,
	sarama.ErrKafkaStorageError,
}

// markUnavailable wraps err with app.ErrUnavailable if it says Kafka is
// unavailable (see unavailableErrors) or is a network error.
func markUnavailable(err error) error {
	if err == nil {
		return nil
	}
	var netErr net.Error
	unavailable := errors.As(err, &netErr)
	for _, target := range unavailableErrors {
		unavailable = unavailable || errors.Is(err, target)
	}
	if unavailable {
		return fmt.Errorf("%w (%w)", err, app.ErrUnavailable)
	}
	return err
}
