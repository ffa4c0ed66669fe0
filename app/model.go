package app

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Domain errors. Adapters and use cases wrap them; the HTTP layer maps them
// to status codes with errors.Is.
var (
	ErrNotFound  = errors.New("not found")
	ErrForbidden = errors.New("forbidden")
	ErrInvalid   = errors.New("invalid input")
	// ErrUnavailable: a dependency (store, cache, broker) is down, overloaded
	// or timed out; the same call may succeed later.
	ErrUnavailable = errors.New("dependency unavailable")
	// ErrIDConflict: a new record's ID already belongs to a different one.
	// Unique nodes make it a fault (a clock far behind, or one --node-id
	// given to two processes); refusing keeps the older record intact.
	ErrIDConflict = errors.New("ID already taken by another record")
	// ErrLimit: the request would take a user past a cap (say, how many
	// users one may follow); it is refused and changes nothing.
	ErrLimit = errors.New("limit reached")
)

// MaxPostChars is the longest post text, in Unicode code points.
const MaxPostChars = 500

var userIDPattern = regexp.MustCompile(`^[a-z0-9_]{1,32}$`)

// ValidUserID reports whether s is a well-formed user ID.
func ValidUserID(s string) bool { return userIDPattern.MatchString(s) }

// ID is a 64-bit, time-ordered identifier (see IDGen). Feeds sort by it.
type ID int64

// String renders the ID as a decimal string, the form used in JSON and URLs.
func (id ID) String() string { return strconv.FormatInt(int64(id), 10) }

// ParseID parses a decimal ID as String renders it: no sign, no leading
// zero, above 0.
func ParseID(s string) (ID, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || s[0] < '1' || s[0] > '9' {
		return 0, fmt.Errorf("%w: %q is not a post id", ErrInvalid, s)
	}
	return ID(n), nil
}

// Time returns the creation time encoded in the ID.
func (id ID) Time() time.Time {
	return time.UnixMilli(int64(id)>>(nodeBits+seqBits) + epochMillis)
}

// Node returns the generator node encoded in the ID.
func (id ID) Node() int { return int(int64(id)>>seqBits) & MaxNodeID }

// Post is a user's post.
type Post struct {
	ID        ID        `json:"id,string"`
	Author    string    `json:"author"`
	Text      string    `json:"text"`
	CreatedAt time.Time `json:"created_at"`
	// Moderated names the moderation rule the post broke; a moderated post
	// is hidden from everyone but its author.
	Moderated string `json:"moderated,omitempty"`
	// InReplyTo is the post this one replies to (0: none), and
	// InReplyToAuthor that post's author, kept with the reply so that
	// fan-out, feed rebuilds and the notifier need no read of the parent
	// (which may be deleted since: its replies stand).
	InReplyTo       ID     `json:"in_reply_to,string,omitempty"`
	InReplyToAuthor string `json:"in_reply_to_author,omitempty"`
	// RepostOf is the post this one reposts (0: none), and RepostOfAuthor
	// that post's author (see repost.go). A repost has no text of its own:
	// it is rendered as the original.
	RepostOf       ID     `json:"repost_of,string,omitempty"`
	RepostOfAuthor string `json:"repost_of_author,omitempty"`
	// RepostedBy and RepostID are set only on a rendered post: the
	// original shown for a repost, with the reposter and the repost's ID
	// (its feed entry). They are never stored.
	RepostedBy string `json:"reposted_by,omitempty"`
	RepostID   ID     `json:"repost_id,string,omitempty"`
}

// IsRepost reports whether p is a repost of another post.
func (p Post) IsRepost() bool { return p.RepostOf != 0 }

// IsReply reports whether p replies to another post.
func (p Post) IsReply() bool { return p.InReplyTo != 0 }

// Conflicts reports whether p and q are different posts under one ID: their
// author, text, creation time or parent differ. Saving the same post again
// (a retry, or a moderation, which sets only Moderated) does not conflict.
func (p Post) Conflicts(q Post) bool {
	return p.ID == q.ID && (p.Author != q.Author || p.Text != q.Text || p.CreatedAt.UnixMilli() != q.CreatedAt.UnixMilli() ||
		p.InReplyTo != q.InReplyTo || p.RepostOf != q.RepostOf)
}

// refusedInText is a character a post may not hold (see ValidatePostText).
func refusedInText(r rune) bool {
	switch {
	case r == '\n' || r == '\r' || r == '\t':
		return false
	case unicode.IsControl(r):
		return true
	default:
		return (r >= 0x202A && r <= 0x202E) || (r >= 0x2066 && r <= 0x2069)
	}
}

// VisibleTo reports whether user may see the post.
func (p Post) VisibleTo(user string) bool { return p.Moderated == "" || p.Author == user }

// ValidatePostText checks a post body: valid UTF-8, 1..MaxPostChars
// characters, no control character but line breaks and tab, and no bidi
// embedding, override or isolate (U+202A-U+202E, U+2066-U+2069), which
// make a text display otherwise than it reads ("Trojan Source") and spill
// into the page around it.
func ValidatePostText(text string) error {
	if !utf8.ValidString(text) {
		return fmt.Errorf("%w: text is not valid UTF-8", ErrInvalid)
	}
	if i := strings.IndexFunc(text, refusedInText); i >= 0 {
		r, _ := utf8.DecodeRuneInString(text[i:])
		return fmt.Errorf("%w: text contains %U at byte %d: control characters (but line breaks and tab) and bidi overrides are refused", ErrInvalid, r, i)
	}
	n := utf8.RuneCountInString(text)
	if n == 0 {
		return fmt.Errorf("%w: text must not be empty", ErrInvalid)
	}
	if n > MaxPostChars {
		return fmt.Errorf("%w: text has %d characters, the maximum is %d", ErrInvalid, n, MaxPostChars)
	}
	return nil
}
