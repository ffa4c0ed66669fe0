// Package events is feedsvc's event log: the event contract on the wire
// (CloudEvents Kafka binary mode), the sarama producer, the consumer-group
// runner every consumer role uses, topic administration, and the embedded
// Kafka-protocol broker of the zero-setup default.
package events
