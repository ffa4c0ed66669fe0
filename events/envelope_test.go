package events

import (
	"errors"
	"strings"
	"testing"

	"github.com/IBM/sarama"

	"github.com/feedsvc/feedsvc/app"
)

// TestDecodeRefusesWhatNoHandlerCanUse: a record that is not a CloudEvent,
// or whose payload does not decode or lacks what identifies its subject,
// fails to decode (and so is dead-lettered); an unknown type decodes.
func TestDecodeRefusesWhatNoHandlerCanUse(t *testing.T) {
	msg := func(id, typ, value string) *sarama.ConsumerMessage {
		m := &sarama.ConsumerMessage{Topic: "t", Value: []byte(value)}
		for k, v := range map[string]string{hID: id, hType: typ} {
			if v != "" {
				m.Headers = append(m.Headers, &sarama.RecordHeader{Key: []byte(k), Value: []byte(v)})
			}
		}
		return m
	}
	for _, c := range []struct {
		name    string
		msg     *sarama.ConsumerMessage
		err     string // "" decodes
		invalid bool   // the error wraps app.ErrInvalid
	}{
		{"post", msg("e1", app.PostCreated, `{"id":"7","author":"ann","text":"hi"}`), "", false},
		{"follow", msg("e2", app.UserFollowed, `{"follower":"ann","followee":"bob"}`), "", false},
		{"block", msg("e8", app.UserBlocked, `{"blocker":"ann","blocked":"bob"}`), "", false},
		{"block without blocked", msg("e9", app.UserUnblocked, `{"blocker":"ann"}`), "without a blocker or a blocked user", true},
		{"mute", msg("e10", app.UserMuted, `{"muter":"ann","muted":"bob","expires_at":"2026-12-01T10:00:00Z"}`), "", false},
		{"mute without muted", msg("e11", app.UserUnmuted, `{"muter":"ann"}`), "without a muter or a muted user", true},
		{"mute with a bad expiry", msg("e12", app.UserMuted, `{"muter":"ann","muted":"bob","expires_at":"soon"}`), "decode mute", false},
		{"like", msg("e10", app.PostLiked, `{"liker":"bob","liked_post":"7","post_author":"ann","like_id":"9"}`), "", false},
		{"like without its post", msg("e11", app.PostUnliked, `{"liker":"bob","post_author":"ann"}`), "without a liker, a post or its author", true},
		{"unknown type", msg("e3", "post.reposted", `whatever`), "", false},
		{"no id", msg("", app.PostCreated, `{"id":"7","author":"ann"}`), "not a CloudEvent", false},
		{"cut short", msg("e4", app.PostCreated, `{"id":"7","auth`), "decode post", false},
		{"post without author", msg("e5", app.PostDeleted, `{"id":"7"}`), "without an id or an author", true},
		{"post without id", msg("e6", app.PostCreated, `{"author":"ann"}`), "without an id or an author", true},
		{"follow without followee", msg("e7", app.UserUnfollowed, `{"follower":"ann"}`), "without a follower or a followee", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode(c.msg)
			if c.err == "" {
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.err) || errors.Is(err, app.ErrInvalid) != c.invalid {
				t.Fatalf("Decode = %v, want an error with %q (invalid: %v)", err, c.err, c.invalid)
			}
		})
	}
}
