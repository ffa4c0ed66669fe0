// cqlping is the CQL readiness/check helper used by scripts/testinfra.
// It lives in the main module (gocql is already a dependency there), so it
// runs from the repository root with `go run ./scripts/testinfra.d/cqlping`;
// nothing in the service imports it, so it never becomes part of the build.
//
//	cqlping [-timeout 5s] [-q "SELECT release_version FROM system.local"] host:port
//
// It runs the query and prints each row's columns, tab-separated, on stdout.
// Exit status: 0 on success, 1 on any error (message on stderr).
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/gocql/gocql"
)

func main() {
	q := flag.String("q", "SELECT release_version FROM system.local", "CQL statement to run")
	timeout := flag.Duration("timeout", 5*time.Second, "connect and query timeout")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: cqlping [-timeout D] [-q CQL] host:port")
		os.Exit(2)
	}
	if err := run(flag.Arg(0), *q, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "cqlping:", err)
		os.Exit(1)
	}
}

func run(host, q string, timeout time.Duration) error {
	c := gocql.NewCluster(host)
	c.Timeout = timeout
	c.ConnectTimeout = timeout
	c.DisableInitialHostLookup = true
	c.Consistency = gocql.One
	s, err := c.CreateSession()
	if err != nil {
		return err
	}
	defer s.Close()
	iter := s.Query(q).Iter()
	for {
		row := map[string]interface{}{}
		if !iter.MapScan(row) {
			break
		}
		cols := iter.Columns()
		parts := make([]string, 0, len(cols))
		for _, col := range cols {
			parts = append(parts, fmt.Sprint(row[col.Name]))
		}
		fmt.Println(strings.Join(parts, "\t"))
	}
	return iter.Close()
}
