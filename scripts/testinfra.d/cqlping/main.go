// cqlping is the CQL readiness/check helper used by scripts/testinfra.
// It lives in the main module (gocql is already a dependency there), so it
// runs from the repository root with `go run ./scripts/testinfra.d/cqlping`;
// nothing in the service imports it, so it never becomes part of the build.
//
//	cqlping [-timeout 5s] [-q "SELECT release_version FROM system.local"]
//	        [-tls-ca FILE] [-user U -password P] host:port
//
// It runs the query and prints each row's columns, tab-separated, on stdout.
// -tls-ca connects over TLS, trusting only that CA (the node's name is
// verified against host); -user logs in (PasswordAuthenticator). Without
// them: plaintext, no login.
// Exit status: 0 on success, 1 on any error (message on stderr).
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/feedsvc/feedsvc/internal/setting"
	"github.com/gocql/gocql"
)

type options struct {
	q              string
	timeout        time.Duration
	tlsCA          string
	user, password string
}

func main() {
	var o options
	flag.StringVar(&o.q, "q", "SELECT release_version FROM system.local", "CQL statement to run")
	flag.DurationVar(&o.timeout, "timeout", 5*time.Second, "connect and query timeout")
	flag.StringVar(&o.tlsCA, "tls-ca", "", "connect over TLS, trusting the CA certificate(s) in this PEM file")
	flag.StringVar(&o.user, "user", "", "log in as this user")
	flag.StringVar(&o.password, "password", "", "password of -user")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: cqlping [-timeout D] [-q CQL] [-tls-ca FILE] [-user U -password P] host:port")
		os.Exit(2)
	}
	if err := run(flag.Arg(0), o); err != nil {
		fmt.Fprintln(os.Stderr, "cqlping:", err)
		os.Exit(1)
	}
}

func run(host string, o options) error {
	c := gocql.NewCluster(host)
	c.Timeout = o.timeout
	c.ConnectTimeout = o.timeout
	c.DisableInitialHostLookup = true
	c.Consistency = gocql.One
	// The service's own TLS settings (internal/setting), so the check
	// verifies the server as feedsvc does.
	tc, err := setting.TLS{CAFile: o.tlsCA}.Config()
	if err != nil {
		return err
	}
	if tc != nil {
		c.SslOpts = &gocql.SslOptions{Config: tc, EnableHostVerification: true}
	}
	switch {
	case o.user != "":
		c.Authenticator = gocql.PasswordAuthenticator{Username: o.user, Password: o.password}
	case o.password != "":
		return errors.New("-password without -user")
	}
	s, err := c.CreateSession()
	if err != nil {
		return err
	}
	defer s.Close()
	iter := s.Query(o.q).Iter()
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
