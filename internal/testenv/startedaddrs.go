package testenv

import (
	"encoding/json"
	"strings"
)

// StartedAddrs reads, from the JSON log of a `feedsvc serve` (its
// --log-format json, or auto off a terminal), the addresses its listeners
// bound, as its "feedsvc started" line records them: the public HTTP one,
// and the admin one ("" without --admin-addr). ok is false until that line
// is in log.
//
// A test gives the process --http-addr and --admin-addr on port 0 and
// learns the ports from here, instead of picking ports free a moment
// before the child binds them (FreeAddr): another process can take such a
// port in between, and then the test either loses its child or talks to
// whatever else listens there.
func StartedAddrs(log string) (http, admin string, ok bool) {
	for line := range strings.Lines(log) {
		if !strings.Contains(line, `"feedsvc started"`) {
			continue
		}
		var l struct {
			Msg   string `json:"msg"`
			HTTP  string `json:"http"`
			Admin string `json:"admin"`
		}
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "feedsvc started" && l.HTTP != "" {
			return l.HTTP, l.Admin, true
		}
	}
	return "", "", false
}
