package api_test

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/feedsvc/feedsvc/app"
)

// muteItem is one of GET /v1/mutes' items.
type muteItem struct {
	User      string     `json:"user"`
	ExpiresAt *time.Time `json:"expires_at"`
}

// TestMutes: PUT and DELETE /v1/mutes/{user} are idempotent 204s, with
// or without a duration; a mute keeps the follow and is announced once
// per change; GET /v1/mutes lists the caller's mutes with their ends.
func TestMutes(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	ann, bob, cat := userFor(t, "ann"), userFor(t, "bob"), userFor(t, "cat")
	for _, u := range []string{bob, cat} {
		s.must(t, "GET", "/v1/feed", u, "", http.StatusOK) // exists
	}
	s.must(t, "PUT", "/v1/following/"+bob, ann, "", http.StatusNoContent)

	for range 2 { // muting twice is harmless
		s.must(t, "PUT", "/v1/mutes/"+bob, ann, "", http.StatusNoContent)
	}
	before := time.Now()
	s.must(t, "PUT", "/v1/mutes/"+cat, ann, `{"duration": "24h"}`, http.StatusNoContent)
	if following, _ := s.store.IsFollowing(t.Context(), ann, bob); !following {
		t.Fatal("the mute ended the follow")
	}
	var muted []app.Mute
	for _, ev := range s.bus.Pending() {
		if ev.Type == app.UserMuted && ev.Mute != nil && ev.Mute.Muter == ann {
			muted = append(muted, *ev.Mute)
			if ev.Key() != ann {
				t.Fatalf("user.muted keyed %q, want the muter", ev.Key())
			}
		}
	}
	if len(muted) != 2 || muted[0] != (app.Mute{Muter: ann, Muted: bob}) || muted[1].Muted != cat || muted[1].ExpiresAt.IsZero() {
		t.Fatalf("published user.muted %+v, want bob's (no expiry) then cat's (with one)", muted)
	}

	got := decode[page[muteItem]](t, s.must(t, "GET", "/v1/mutes", ann, "", http.StatusOK))
	if len(got.Items) != 2 || got.Items[0].User != bob || got.Items[0].ExpiresAt != nil || got.Items[1].User != cat || got.NextCursor != "" {
		t.Fatalf("ann's mutes %+v, want bob (no end) and cat", got)
	}
	if at := *got.Items[1].ExpiresAt; at.Before(before.Add(24*time.Hour-time.Second)) || at.After(time.Now().Add(24*time.Hour)) {
		t.Fatalf("cat's mute ends at %s, want in 24h", at)
	}
	if got := decode[page[muteItem]](t, s.must(t, "GET", "/v1/mutes", bob, "", http.StatusOK)); len(got.Items) != 0 {
		t.Fatalf("bob's mutes %+v, want none (only ann mutes)", got)
	}

	for range 2 { // unmuting twice is harmless, and announced once
		s.must(t, "DELETE", "/v1/mutes/"+bob, ann, "", http.StatusNoContent)
	}
	unmuted := 0
	for _, ev := range s.bus.Pending() {
		if ev.Type == app.UserUnmuted && ev.Mute != nil && ev.Mute.Muter == ann && ev.Mute.Muted == bob {
			unmuted++
		}
	}
	if unmuted != 1 {
		t.Fatalf("published %d user.unmuted, want 1", unmuted)
	}
	if got := decode[page[muteItem]](t, s.must(t, "GET", "/v1/mutes", ann, "", http.StatusOK)); len(got.Items) != 1 || got.Items[0].User != cat {
		t.Fatalf("ann's mutes after unmuting bob %+v, want cat only", got)
	}

	for _, c := range []struct {
		name, method, target, body string
		status                     int
		detail                     string
	}{
		{"mute yourself", "PUT", ann, "", http.StatusBadRequest, "cannot mute themselves"},
		{"unmute yourself", "DELETE", ann, "", http.StatusBadRequest, "cannot unmute themselves"},
		{"mute an unknown user", "PUT", "nobody_" + bob, "", http.StatusNotFound, "not found"},
		{"unmute an unknown user", "DELETE", "nobody_" + bob, "", http.StatusNotFound, "not found"},
		{"mute a malformed user id", "PUT", "Bob-1", "", http.StatusBadRequest, "must match"},
		{"zero duration", "PUT", bob, `{"duration": "0s"}`, http.StatusBadRequest, "positive Go duration"},
		{"negative duration", "PUT", bob, `{"duration": "-1h"}`, http.StatusBadRequest, "positive Go duration"},
		{"over a year", "PUT", bob, `{"duration": "8761h"}`, http.StatusBadRequest, "at most 8760h"},
		{"not a duration", "PUT", bob, `{"duration": "tomorrow"}`, http.StatusBadRequest, "positive Go duration"},
		{"seconds as a number", "PUT", bob, `{"duration": 3600}`, http.StatusBadRequest, "invalid JSON body"},
		{"unknown field", "PUT", bob, `{"until": "2030-01-01T00:00:00Z"}`, http.StatusBadRequest, "unknown field"},
	} {
		t.Run(c.name, func(t *testing.T) {
			wantProblem(t, s.do(c.method, "/v1/mutes/"+c.target, ann, c.body), c.status, c.detail)
		})
	}
	if got := decode[page[muteItem]](t, s.must(t, "GET", "/v1/mutes", ann, "", http.StatusOK)); len(got.Items) != 1 {
		t.Fatalf("ann's mutes after refused calls %+v, want cat only", got)
	}
	// A year exactly is allowed; an empty object mutes until unmuted.
	s.must(t, "PUT", "/v1/mutes/"+bob, ann, `{"duration": "8760h"}`, http.StatusNoContent)
	s.must(t, "PUT", "/v1/mutes/"+bob, ann, `{}`, http.StatusNoContent)
	if m, ok, _ := s.store.GetMute(t.Context(), ann, bob); !ok || !m.ExpiresAt.IsZero() {
		t.Fatalf("mute after {} = %+v %v, want one without an end", m, ok)
	}
}

// TestMutesPaging: GET /v1/mutes pages like the other user lists.
func TestMutesPaging(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	me := userFor(t, "me")
	var want []string
	for _, role := range []string{"one", "two", "three", "four", "five"} {
		u := userFor(t, role)
		want = append(want, u)
		s.must(t, "GET", "/v1/feed", u, "", http.StatusOK) // exists
		s.must(t, "PUT", "/v1/mutes/"+u, me, `{"duration": "1h"}`, http.StatusNoContent)
	}
	slices.Sort(want)
	var got []string
	cursor := ""
	for range 10 {
		p := decode[page[muteItem]](t, s.must(t, "GET", "/v1/mutes?limit=2&cursor="+cursor, me, "", http.StatusOK))
		if len(p.Items) > 2 {
			t.Fatalf("page of %d with limit 2", len(p.Items))
		}
		for _, it := range p.Items {
			got = append(got, it.User)
		}
		if cursor = p.NextCursor; cursor == "" {
			break
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("mutes %v, want %v", got, want)
	}
	wantProblem(t, s.do("GET", "/v1/mutes?limit=0", me, ""), http.StatusBadRequest, "limit must be an integer from 1 to 100")
}
