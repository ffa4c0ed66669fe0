// Command feedsvc is the social-feed service: one binary, run per role.
//
//	feedsvc serve --role=all           # laptop: embedded Kafka, Redis and store
//	feedsvc serve --role=api           # production: one role per process
//	feedsvc serve --role=fanout
//
// Exit codes: 0 success, 1 failure, 2 a usage or configuration error.
package main

import (
	"fmt"
	"os"

	"github.com/feedsvc/feedsvc/internal/buildinfo"
	"github.com/feedsvc/feedsvc/internal/cli"
	"github.com/feedsvc/feedsvc/roles"
)

func main() {
	err := cli.NewRoot(roles.Table, buildinfo.Read()).Execute()
	if err != nil {
		fmt.Fprintln(os.Stderr, "feedsvc:", err)
	}
	os.Exit(cli.ExitCode(err))
}
