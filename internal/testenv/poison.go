package testenv

import (
	"time"

	"github.com/IBM/sarama"

	"github.com/feedsvc/feedsvc/events"
)

// PublishPoison writes to topic an event that no consumer can decode: a
// post.created envelope with id whose body is cut short. Tests use it to
// drive the dead-letter path.
func PublishPoison(c events.Cluster, topic, id string) error {
	p, err := sarama.NewSyncProducer(c.Brokers, c.Config("test-poison"))
	if err != nil {
		return err
	}
	defer p.Close()
	header := func(k, v string) sarama.RecordHeader { return sarama.RecordHeader{Key: []byte(k), Value: []byte(v)} }
	_, _, err = p.SendMessage(&sarama.ProducerMessage{
		Topic: topic,
		Key:   sarama.StringEncoder(id),
		Value: sarama.StringEncoder(`{"id":"1","author":`),
		Headers: []sarama.RecordHeader{
			header("ce_specversion", "1.0"), header("ce_id", id), header("ce_type", "post.created"),
			header("ce_source", "feedsvc"), header("ce_time", time.Now().UTC().Format(time.RFC3339Nano)),
			header("content-type", "application/json"),
		},
	})
	return err
}
