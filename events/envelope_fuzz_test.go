package events_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/events"
)

// FuzzDecode: any message, however malformed its headers or payload,
// decodes to an event or an error, never a panic; an event that decodes
// with a payload encodes and decodes back to itself.
func FuzzDecode(f *testing.F) {
	f.Add("post.created:1", app.PostCreated, "2026-11-28T10:00:00Z", []byte(`{"id":"1","author":"a","text":"hi"}`))
	f.Add("user.followed:2", app.UserFollowed, "", []byte(`{"follower":"a","followee":"b"}`))
	f.Add("user.blocked:3", app.UserBlocked, "", []byte(`{"blocker":"a","blocked":"b"}`))
	f.Add("user.muted:4", app.UserMuted, "", []byte(`{"muter":"a","muted":"b","expires_at":"2026-12-01T10:00:00Z"}`))
	f.Add("post.liked:4", app.PostLiked, "", []byte(`{"liker":"b","liked_post":"1","post_author":"a","like_id":"4"}`))
	f.Add("x", app.PostDeleted, "yesterday", []byte(`{`))
	f.Add("", "", "", []byte{})
	f.Fuzz(func(t *testing.T, id, typ, at string, value []byte) {
		m := &sarama.ConsumerMessage{Topic: "t", Value: value, Timestamp: time.Unix(1_800_000_000, 0)}
		for k, v := range map[string]string{"ce_id": id, "ce_type": typ, "ce_time": at} {
			m.Headers = append(m.Headers, &sarama.RecordHeader{Key: []byte(k), Value: []byte(v)})
		}
		ev, err := events.Decode(m)
		if err != nil || (ev.Post == nil && ev.Follow == nil && ev.Block == nil && ev.Mute == nil && ev.Like == nil) {
			return
		}
		out, err := events.Encode("t", ev)
		if err != nil {
			t.Fatalf("a decoded event does not encode: %v", err)
		}
		back := &sarama.ConsumerMessage{Topic: "t", Timestamp: ev.Time}
		back.Value, _ = out.Value.Encode()
		for _, h := range out.Headers {
			back.Headers = append(back.Headers, &sarama.RecordHeader{Key: h.Key, Value: h.Value})
		}
		again, err := events.Decode(back)
		if err != nil {
			t.Fatalf("an encoded event does not decode: %v", err)
		}
		if !again.Time.Equal(ev.Time) || !reflect.DeepEqual(again.Post, ev.Post) && !postsEqual(again.Post, ev.Post) || !reflect.DeepEqual(again.Follow, ev.Follow) || !reflect.DeepEqual(again.Block, ev.Block) || !mutesEqual(again.Mute, ev.Mute) || !reflect.DeepEqual(again.Like, ev.Like) || again.ID != ev.ID || again.Type != ev.Type {
			t.Fatalf("round trip changed the event:\n%+v\n%+v", ev, again)
		}
	})
}

// postsEqual compares posts by value, times by instant.
func postsEqual(a, b *app.Post) bool {
	if a == nil || b == nil {
		return a == b
	}
	x, y := *a, *b
	if !x.CreatedAt.Equal(y.CreatedAt) {
		return false
	}
	x.CreatedAt, y.CreatedAt = time.Time{}, time.Time{}
	return x == y
}

// mutesEqual compares mutes with their expiries as instants.
func mutesEqual(a, b *app.Mute) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Muter == b.Muter && a.Muted == b.Muted && a.ExpiresAt.Equal(b.ExpiresAt)
}
