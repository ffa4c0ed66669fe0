// Package testenv finds the real servers (Kafka, Cassandra, Redis) that
// integration tests run against, as configured by `scripts/testinfra env`.
//
// A test whose server is not configured fails under CI (any non-empty CI
// variable, whatever the CI system sets it to) or FEEDSVC_TEST_REQUIRE_REAL=1
// (set by scripts/test once it started the servers): there every backend must
// be proven, and a skip would pass silently. Elsewhere it is skipped, with a
// hint on what to start. FEEDSVC_TEST_EMBEDDED_ONLY=1 skips every
// real-server test even when servers are configured; it is refused under CI.
//
// The 3-node profile (`scripts/testinfra up --nodes 3`, FEEDSVC_CLUSTER3_*
// variables, see RequireCluster3) is required under CI and when
// FEEDSVC_TEST_CLUSTER3=1 (set by scripts/test once it started it), but not by
// FEEDSVC_TEST_REQUIRE_REAL alone: scripts/test starts it only on request.
package testenv

import (
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// servers says what each variable points at, for the messages.
var servers = map[string]string{
	"FEEDSVC_KAFKA_BROKERS":       "Kafka",
	"FEEDSVC_CASSANDRA_HOSTS":     "Cassandra",
	"FEEDSVC_REDIS_ADDR":          "Redis",
	"FEEDSVC_REDIS_CLUSTER_ADDRS": "a Redis Cluster",

	"FEEDSVC_CLUSTER3_KAFKA_BROKERS":       "a 3-broker Kafka cluster",
	"FEEDSVC_CLUSTER3_CASSANDRA_HOSTS":     "a 3-node Cassandra cluster",
	"FEEDSVC_CLUSTER3_REDIS_CLUSTER_ADDRS": "a Redis Cluster with replicas",
}

const (
	startHint    = "start the servers with `eval \"$(scripts/testinfra up)\"`"
	cluster3Hint = "start the 3-node profile with `eval \"$(scripts/testinfra up --nodes 3)\"` (or run scripts/test with FEEDSVC_TEST_CLUSTER3=1)"
	cluster3     = "FEEDSVC_CLUSTER3_"
)

// Require returns the value of the environment variable name (for example
// FEEDSVC_KAFKA_BROKERS), or ends the test: it fails where real servers are
// required and is skipped elsewhere (see the package doc).
func Require(t testing.TB, name string) string {
	t.Helper()
	server := servers[name]
	if server == "" {
		server = "a real server"
	}
	hint, requiredBy := startHint, "FEEDSVC_TEST_REQUIRE_REAL"
	if strings.HasPrefix(name, cluster3) {
		hint, requiredBy = cluster3Hint, "FEEDSVC_TEST_CLUSTER3"
	}
	ci := os.Getenv("CI")
	embeddedOnly := os.Getenv("FEEDSVC_TEST_EMBEDDED_ONLY") == "1"
	switch {
	case embeddedOnly && ci != "":
		t.Fatalf("FEEDSVC_TEST_EMBEDDED_ONLY=1 under CI=%s: CI must run this test against %s; unset FEEDSVC_TEST_EMBEDDED_ONLY", ci, server)
	case embeddedOnly:
		t.Skipf("needs %s (%s); skipped by FEEDSVC_TEST_EMBEDDED_ONLY=1; to run it, unset that and %s", server, name, hint)
	}
	if v := os.Getenv(name); v != "" {
		return v
	}
	switch {
	case ci != "":
		t.Fatalf("%s is not set: under CI=%s this test must run against %s; %s", name, ci, server, hint)
	case os.Getenv(requiredBy) == "1":
		t.Fatalf("%s is not set but %s=1: this test must run against %s; %s", name, requiredBy, server, hint)
	}
	t.Skipf("%s is not set: this test needs %s; %s", name, server, hint)
	return ""
}

// Cluster3 holds the endpoints of the 3-node profile of scripts/testinfra.
type Cluster3 struct {
	KafkaBrokers      []string // three brokers, each a controller voter too
	CassandraHosts    []string // host:port on 127.0.0.1, .2 and .3
	RedisClusterAddrs []string // six nodes: three masters, a replica each
	// KafkaReplication is what `feedsvc migrate --kafka-replication` takes
	// to place topics on every broker (3).
	KafkaReplication int
	// CassandraReplication is what `feedsvc migrate --cassandra-replication`
	// takes for a keyspace on every node (replication factor 3).
	CassandraReplication string
}

// RequireCluster3 returns the 3-node profile's endpoints from the
// FEEDSVC_CLUSTER3_* variables (`scripts/testinfra env --nodes 3`), or ends
// the test as Require does when one is missing.
func RequireCluster3(t testing.TB) Cluster3 {
	t.Helper()
	c := Cluster3{
		KafkaBrokers:         strings.Split(Require(t, cluster3+"KAFKA_BROKERS"), ","),
		CassandraHosts:       strings.Split(Require(t, cluster3+"CASSANDRA_HOSTS"), ","),
		RedisClusterAddrs:    strings.Split(Require(t, cluster3+"REDIS_CLUSTER_ADDRS"), ","),
		KafkaReplication:     3,
		CassandraReplication: "{'class': 'SimpleStrategy', 'replication_factor': 3}",
	}
	if v := os.Getenv(cluster3 + "KAFKA_REPLICATION"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("%sKAFKA_REPLICATION=%q: %v", cluster3, v, err)
		}
		c.KafkaReplication = n
	}
	if v := os.Getenv(cluster3 + "CASSANDRA_REPLICATION"); v != "" {
		c.CassandraReplication = v
	}
	return c
}

// RequireProgram returns the path of the program named, looked up in PATH,
// or ends the test: it fails under CI (where .ci/run installs it) and is
// skipped elsewhere, with how to install it.
func RequireProgram(t testing.TB, name, install string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if ci := os.Getenv("CI"); ci != "" {
		t.Fatalf("%s is not installed: under CI=%s this test must run; .ci/run installs it (%s)", name, ci, install)
	}
	t.Skipf("%s is not installed: this test needs it; %s", name, install)
	return ""
}

// ChildEnv is this process's environment without any FEEDSVC_ setting,
// plus vars: a feedsvc started by a test gets only the settings the test
// gives it, not those of the run (scripts/test exports the real servers').
func ChildEnv(vars ...string) []string {
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "FEEDSVC_") })
	return append(env, vars...)
}

// UnlimitedRates are the FEEDSVC_* settings that lift every per-user and
// per-IP rate limit out of reach (each still checked on every request), for
// tests whose load a person could never make; one per --rate-limit-* flag.
var UnlimitedRates = []string{
	"FEEDSVC_RATE_LIMIT_POSTS=1000000000/1s", "FEEDSVC_RATE_LIMIT_FOLLOWS=1000000000/1s",
	"FEEDSVC_RATE_LIMIT_SEARCHES=1000000000/1s", "FEEDSVC_RATE_LIMIT_LIKES=1000000000/1s",
	"FEEDSVC_RATE_LIMIT_READS=1000000000/1s", "FEEDSVC_RATE_LIMIT_DELETES=1000000000/1s",
	"FEEDSVC_RATE_LIMIT_AUTH_FAILURES=1000000000/1s",
}
