package events

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/IBM/sarama"

	"github.com/feedsvc/feedsvc/app"
)

// TestPartialOf: sarama's errors for some messages of a batch name those
// events; errors for all of them, for messages not in the batch, or of
// another kind, stay as they are (the whole batch is published again).
func TestPartialOf(t *testing.T) {
	msgs := make([]*sarama.ProducerMessage, 4)
	for i := range msgs {
		msgs[i] = &sarama.ProducerMessage{Topic: "posts"}
	}
	failing := func(ms ...*sarama.ProducerMessage) error {
		var pes sarama.ProducerErrors
		for _, m := range ms {
			pes = append(pes, &sarama.ProducerError{Msg: m, Err: sarama.ErrNotLeaderForPartition})
		}
		// As wait and markUnavailable wrap it.
		return fmt.Errorf("produce 4 events: %w", fmt.Errorf("%w (%w)", pes, app.ErrUnavailable))
	}
	var pe *app.PartialPublishError
	err := partialOf(failing(msgs[3], msgs[1]), msgs)
	if !errors.As(err, &pe) || !slices.Equal(pe.Failed, []int{1, 3}) {
		t.Fatalf("two of four failed: %v (%#v)", err, pe)
	}
	if !errors.Is(err, app.ErrUnavailable) {
		t.Fatalf("the partial error lost its kind: %v", err)
	}
	for name, err := range map[string]error{
		"all failed":  failing(msgs...),
		"not ours":    failing(msgs[0], &sarama.ProducerMessage{}),
		"other error": errors.New("produce 4 events: context deadline exceeded"),
	} {
		if errors.As(partialOf(err, msgs), &pe) {
			t.Errorf("%s: reported as partial: %v", name, pe.Failed)
		}
	}
	if partialOf(nil, msgs) != nil {
		t.Error("no error became one")
	}
}
