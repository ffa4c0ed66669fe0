// Package testenv finds the real servers (Kafka, Cassandra, Redis) that
// integration tests run against, as configured by `scripts/testinfra env`.
//
// A test whose server is not configured fails under CI (any non-empty CI
// variable, whatever the CI system sets it to) or FEEDSVC_TEST_REQUIRE_REAL=1
// (set by scripts/test once it started the servers): there every backend must
// be proven, and a skip would pass silently. Elsewhere it is skipped, with a
// hint on what to start. FEEDSVC_TEST_EMBEDDED_ONLY=1 skips every
// real-server test even when servers are configured; it is refused under CI.
package testenv

import (
	"os"
	"testing"
)

// servers says what each variable points at, for the messages.
var servers = map[string]string{
	"FEEDSVC_KAFKA_BROKERS":       "Kafka",
	"FEEDSVC_CASSANDRA_HOSTS":     "Cassandra",
	"FEEDSVC_REDIS_ADDR":          "Redis",
	"FEEDSVC_REDIS_CLUSTER_ADDRS": "a Redis Cluster",
}

const startHint = "start the servers with `eval \"$(scripts/testinfra up)\"`"

// Require returns the value of the environment variable name (for example
// FEEDSVC_KAFKA_BROKERS), or ends the test: it fails where real servers are
// required and is skipped elsewhere (see the package doc).
func Require(t testing.TB, name string) string {
	t.Helper()
	server := servers[name]
	if server == "" {
		server = "a real server"
	}
	ci := os.Getenv("CI")
	embeddedOnly := os.Getenv("FEEDSVC_TEST_EMBEDDED_ONLY") == "1"
	switch {
	case embeddedOnly && ci != "":
		t.Fatalf("FEEDSVC_TEST_EMBEDDED_ONLY=1 under CI=%s: CI must run this test against %s; unset FEEDSVC_TEST_EMBEDDED_ONLY", ci, server)
	case embeddedOnly:
		t.Skipf("needs %s (%s); skipped by FEEDSVC_TEST_EMBEDDED_ONLY=1; to run it, unset that and %s", server, name, startHint)
	}
	if v := os.Getenv(name); v != "" {
		return v
	}
	switch {
	case ci != "":
		t.Fatalf("%s is not set: under CI=%s this test must run against %s; %s", name, ci, server, startHint)
	case os.Getenv("FEEDSVC_TEST_REQUIRE_REAL") == "1":
		t.Fatalf("%s is not set but FEEDSVC_TEST_REQUIRE_REAL=1: this test must run against %s; %s", name, server, startHint)
	}
	t.Skipf("%s is not set: this test needs %s; %s", name, server, startHint)
	return ""
}
