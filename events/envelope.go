package events

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/IBM/sarama"

	"github.com/feedsvc/feedsvc/app"
)

// Wire contract: CloudEvents 1.0, Kafka protocol binding, binary mode. The
// attributes travel as ce_* headers and the payload is plain JSON, so any
// Kafka tool can read the stream. SchemaVersion versions the payload; readers
// accept every version up to theirs.
const (
	SpecVersion   = "1.0"
	Source        = "feedsvc"
	SchemaVersion = "1"
	contentType   = "application/json"

	hID            = "ce_id"
	hType          = "ce_type"
	hSource        = "ce_source"
	hTime          = "ce_time"
	hSpecVersion   = "ce_specversion"
	hSchemaVersion = "ce_schemaversion"
	hContentType   = "content-type"
)

// payload is the JSON body: post events carry the post, follow, block and
// mute events the edge.
type payload struct {
	*app.Post
	*app.Follow
	*app.Block
	*app.Mute
	*app.Like
}

// HeaderResent marks a message published again to keep its key's order
// (app.Event.Resent): the Runner handles it even if it took its ID before.
const HeaderResent = "x-feedsvc-resent"

// Encode turns an event into a Kafka message for topic.
func Encode(topic string, ev app.Event) (*sarama.ProducerMessage, error) {
	body, err := json.Marshal(payload{Post: ev.Post, Follow: ev.Follow, Block: ev.Block, Mute: ev.Mute, Like: ev.Like})
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", ev.Type, err)
	}
	msg := &sarama.ProducerMessage{
		Topic: topic,
		Key:   sarama.StringEncoder(ev.Key()),
		Value: sarama.ByteEncoder(body),
		Headers: []sarama.RecordHeader{
			{Key: []byte(hSpecVersion), Value: []byte(SpecVersion)},
			{Key: []byte(hID), Value: []byte(ev.ID)},
			{Key: []byte(hType), Value: []byte(ev.Type)},
			{Key: []byte(hSource), Value: []byte(Source)},
			{Key: []byte(hTime), Value: []byte(ev.Time.UTC().Format(time.RFC3339Nano))},
			{Key: []byte(hSchemaVersion), Value: []byte(SchemaVersion)},
			{Key: []byte(hContentType), Value: []byte(contentType)},
		},
		Timestamp: ev.Time,
	}
	if ev.Resent {
		msg.Headers = append(msg.Headers, sarama.RecordHeader{Key: []byte(HeaderResent), Value: []byte("1")})
	}
	if ev.TraceParent != "" {
		msg.Headers = append(msg.Headers, sarama.RecordHeader{Key: []byte(hTraceParent), Value: []byte(ev.TraceParent)})
		if ev.TraceState != "" {
			msg.Headers = append(msg.Headers, sarama.RecordHeader{Key: []byte(hTraceState), Value: []byte(ev.TraceState)})
		}
	}
	return msg, nil
}

// Decode turns a consumed Kafka message back into an event. Unknown types
// decode fine (with no payload) so consumers can skip them. An error means
// the event can never be handled: the Runner dead-letters it.
func Decode(m *sarama.ConsumerMessage) (app.Event, error) {
	var ev app.Event
	for _, h := range m.Headers {
		switch string(h.Key) {
		case hID:
			ev.ID = string(h.Value)
		case hType:
			ev.Type = string(h.Value)
		case hTraceParent:
			ev.TraceParent = string(h.Value)
		case hTraceState:
			ev.TraceState = string(h.Value)
		case hTime:
			t, err := time.Parse(time.RFC3339Nano, string(h.Value))
			if err != nil {
				return ev, fmt.Errorf("event %s: bad %s: %w", ev.ID, hTime, err)
			}
			ev.Time = t
		}
	}
	if ev.Type == "" || ev.ID == "" {
		return ev, fmt.Errorf("message %s/%d@%d is not a CloudEvent: missing ce_id or ce_type", m.Topic, m.Partition, m.Offset)
	}
	if ev.Time.IsZero() {
		ev.Time = m.Timestamp
	}
	switch ev.Type {
	case app.PostCreated, app.PostDeleted, app.PostModerated:
		ev.Post = new(app.Post)
		if err := json.Unmarshal(m.Value, ev.Post); err != nil {
			return ev, fmt.Errorf("event %s: decode post: %w", ev.ID, err)
		}
		if ev.Post.ID <= 0 || ev.Post.Author == "" {
			return ev, fmt.Errorf("event %s: %w: post without an id or an author", ev.ID, app.ErrInvalid)
		}
	case app.UserFollowed, app.UserUnfollowed:
		ev.Follow = new(app.Follow)
		if err := json.Unmarshal(m.Value, ev.Follow); err != nil {
			return ev, fmt.Errorf("event %s: decode follow: %w", ev.ID, err)
		}
		if ev.Follow.Follower == "" || ev.Follow.Followee == "" {
			return ev, fmt.Errorf("event %s: %w: follow without a follower or a followee", ev.ID, app.ErrInvalid)
		}
	case app.UserBlocked, app.UserUnblocked:
		ev.Block = new(app.Block)
		if err := json.Unmarshal(m.Value, ev.Block); err != nil {
			return ev, fmt.Errorf("event %s: decode block: %w", ev.ID, err)
		}
		if ev.Block.Blocker == "" || ev.Block.Blocked == "" {
			return ev, fmt.Errorf("event %s: %w: block without a blocker or a blocked user", ev.ID, app.ErrInvalid)
		}
	case app.UserMuted, app.UserUnmuted:
		ev.Mute = new(app.Mute)
		if err := json.Unmarshal(m.Value, ev.Mute); err != nil {
			return ev, fmt.Errorf("event %s: decode mute: %w", ev.ID, err)
		}
		if ev.Mute.Muter == "" || ev.Mute.Muted == "" {
			return ev, fmt.Errorf("event %s: %w: mute without a muter or a muted user", ev.ID, app.ErrInvalid)
		}
	case app.PostLiked, app.PostUnliked:
		ev.Like = new(app.Like)
		if err := json.Unmarshal(m.Value, ev.Like); err != nil {
			return ev, fmt.Errorf("event %s: decode like: %w", ev.ID, err)
		}
		if ev.Like.User == "" || ev.Like.Post <= 0 || ev.Like.Author == "" {
			return ev, fmt.Errorf("event %s: %w: like without a liker, a post or its author", ev.ID, app.ErrInvalid)
		}
	}
	return ev, nil
}
