// Package buildinfo says which build of feedsvc is running: the version
// stamped at link time, the commit and its time from the binary's own
// build information (go build records them from a git checkout), and the
// Go version. `feedsvc version`, `--version` and the feedsvc_build_info
// metric show it.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// Set at link time with -ldflags "-X github.com/feedsvc/feedsvc/internal/buildinfo.Version=v1.2.3"
// (Commit and Time too, for a build without VCS information, such as a
// Docker build context without .git).
var (
	// Version defaults to the release being made (CHANGELOG.md); a
	// release build stamps its tag.
	Version = "0.3.0-dev"
	Commit  = ""
	Time    = ""
)

// Info is one build's identity.
type Info struct {
	Version string
	// Commit is the VCS revision ("" unknown); Modified says the working
	// tree had local changes.
	Commit   string
	Modified bool
	// Time is the commit's time, RFC 3339 ("" unknown).
	Time string
	Go   string // the Go version and platform
}

// Read returns this binary's build: the link-time values, else the
// binary's VCS settings.
func Read() Info {
	i := Info{Version: Version, Commit: Commit, Time: Time, Go: runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return i
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			if i.Commit == "" {
				i.Commit = s.Value
			}
		case "vcs.time":
			if i.Time == "" {
				i.Time = s.Value
			}
		case "vcs.modified":
			i.Modified = s.Value == "true"
		}
	}
	return i
}

// String is the version command's text: "feedsvc VERSION" on the first
// line, then the commit, its time and the Go version.
func (i Info) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "feedsvc %s\n", i.Version)
	commit := or(i.Commit, "unknown")
	if i.Modified {
		commit += " (with local changes)"
	}
	fmt.Fprintf(&b, "commit:  %s\nbuilt:   %s\ngo:      %s\n", commit, or(i.Time, "unknown"), i.Go)
	return b.String()
}

func or(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}

// Collector is the feedsvc_build_info gauge: always 1, labelled with the
// build, so dashboards can show (and join on) what runs where.
func (i Info) Collector() prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "feedsvc_build_info",
		Help: "Always 1; the labels say which build of feedsvc this process runs.",
		ConstLabels: prometheus.Labels{
			"version": i.Version, "commit": i.Commit, "goversion": runtime.Version(),
		},
	})
	g.Set(1)
	return g
}
