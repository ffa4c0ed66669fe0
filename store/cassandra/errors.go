package cassandra

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/gocql/gocql"

	"github.com/feedsvc/feedsvc/app"
)

// failf is fmt.Errorf that also wraps app.ErrUnavailable when the error
// it wraps means Cassandra could not answer, so the api answers 503 and
// not 500 and callers can tell an outage from a bad query.
func failf(format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	if unavailable(err) && !errors.Is(err, app.ErrUnavailable) {
		return fmt.Errorf("%w (%w)", err, app.ErrUnavailable)
	}
	return err
}

// unavailable reports whether err says that the cluster is down, too few
// replicas are alive, a node is overloaded or starting, or an answer did
// not come in time: the same request may succeed later. A cancelled
// context is not among them: its caller gave up.
func unavailable(err error) bool {
	for _, target := range []error{
		context.DeadlineExceeded,
		gocql.ErrNoConnections,
		gocql.ErrNoConnectionsStarted,
		gocql.ErrTimeoutNoResponse,
		gocql.ErrTooManyTimeouts,
		gocql.ErrConnectionClosed,
		gocql.ErrNoStreams,
		gocql.ErrSessionClosed,
		gocql.ErrHostQueryFailed,
	} {
		if errors.Is(err, target) {
			return true
		}
	}
	var (
		unavail      *gocql.RequestErrUnavailable
		writeTimeout *gocql.RequestErrWriteTimeout
		readTimeout  *gocql.RequestErrReadTimeout
		casUnknown   *gocql.RequestErrCASWriteUnknown
		netErr       net.Error
		reqErr       gocql.RequestError
	)
	switch {
	case errors.As(err, &unavail), errors.As(err, &writeTimeout), errors.As(err, &readTimeout),
		errors.As(err, &casUnknown), errors.As(err, &netErr):
		return true
	case errors.As(err, &reqErr):
		switch reqErr.Code() {
		case gocql.ErrCodeUnavailable, gocql.ErrCodeOverloaded, gocql.ErrCodeBootstrapping,
			gocql.ErrCodeWriteTimeout, gocql.ErrCodeReadTimeout, gocql.ErrCodeCASWriteUnknown:
			return true
		}
	}
	return false
}
