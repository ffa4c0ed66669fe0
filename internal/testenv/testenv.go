// Package testenv finds the real servers (Kafka, Cassandra, Redis) that
// integration tests run against, as configured by `scripts/testinfra env`.
package testenv

import (
	"os"
	"testing"
)

// Require returns the value of the environment variable name (for example
// FEEDSVC_KAFKA_BROKERS). When it is unset the test fails under CI=true or
// FEEDSVC_TEST_REQUIRE_REAL=1 (scripts/test), where every backend must be
// proven, and is skipped elsewhere with a hint.
func Require(t testing.TB, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v != "" {
		return v
	}
	if os.Getenv("CI") == "true" || os.Getenv("FEEDSVC_TEST_REQUIRE_REAL") == "1" {
		t.Fatalf("%s is not set: CI must run this test against a real server (eval \"$(scripts/testinfra up)\")", name)
	}
	t.Skipf("%s is not set; run `eval \"$(scripts/testinfra up)\"` to test against a real server", name)
	return ""
}
