package pebble

import (
	"strings"
	"testing"
)

// TestKeyPrefixesAreDistinct: a prefix that begins another one would make
// a scan of the first read the second's keys (decisions once read outbox
// done marks this way).
func TestKeyPrefixesAreDistinct(t *testing.T) {
	prefixes := []string{prefixPost, prefixByAuthor, prefixUser, prefixFollowing, prefixFollowers, prefixDeleted,
		prefixBlocking, prefixBlockedBy, prefixMuting, prefixMutedBy,
		prefixLease, prefixIssued, prefixNotification, prefixReadMarker, prefixDecision, prefixPostNotes,
		prefixOutbox, prefixOutboxDone, prefixCursor, prefixIdemKey, prefixLike, prefixFirstLike, prefixReply,
		prefixRepost, prefixFirstRepost, prefixNoReposts, prefixNoRepostsBy,
		prefixList, prefixListMember}
	for i, a := range prefixes {
		for j, b := range prefixes {
			if i != j && strings.HasPrefix(b, a) {
				t.Errorf("key prefix %q begins %q", a, b)
			}
		}
	}
}
