package testenv

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// fakeTB records how Require ended a test. Fatalf and Skipf stop the
// goroutine as the real ones do, so Require's code after them never runs.
type fakeTB struct {
	testing.TB
	outcome, msg string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.outcome, f.msg = "fail", fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (f *fakeTB) Skipf(format string, args ...any) {
	f.outcome, f.msg = "skip", fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestRequire(t *testing.T) {
	const name = "FEEDSVC_KAFKA_BROKERS"
	cases := []struct {
		env     map[string]string
		outcome string // "value", "fail" or "skip"
		msgHas  string
	}{
		{map[string]string{name: "k:9092"}, "value", ""},
		{map[string]string{name: "k:9092", "CI": "true"}, "value", ""},
		{map[string]string{}, "skip", "scripts/testinfra up"},
		{map[string]string{"CI": "true"}, "fail", "CI=true"},
		{map[string]string{"CI": "1"}, "fail", "CI=1"},
		{map[string]string{"CI": "yes"}, "fail", "Kafka"},
		{map[string]string{"FEEDSVC_TEST_REQUIRE_REAL": "1"}, "fail", "FEEDSVC_TEST_REQUIRE_REAL"},
		{map[string]string{"FEEDSVC_TEST_EMBEDDED_ONLY": "1"}, "skip", "FEEDSVC_TEST_EMBEDDED_ONLY"},
		{map[string]string{"FEEDSVC_TEST_EMBEDDED_ONLY": "1", name: "k:9092"}, "skip", "Kafka"},
		{map[string]string{"FEEDSVC_TEST_EMBEDDED_ONLY": "1", "CI": "true"}, "fail", "unset FEEDSVC_TEST_EMBEDDED_ONLY"},
		{map[string]string{"FEEDSVC_TEST_EMBEDDED_ONLY": "1", "CI": "true", name: "k:9092"}, "fail", "FEEDSVC_TEST_EMBEDDED_ONLY"},
	}
	for _, c := range cases {
		t.Run(fmt.Sprint(c.env), func(t *testing.T) {
			for _, v := range []string{name, "CI", "FEEDSVC_TEST_REQUIRE_REAL", "FEEDSVC_TEST_EMBEDDED_ONLY"} {
				t.Setenv(v, c.env[v])
			}
			f := &fakeTB{outcome: "value"}
			var got string
			done := make(chan struct{})
			go func() {
				defer close(done)
				got = Require(f, name)
			}()
			<-done
			if f.outcome != c.outcome || !strings.Contains(f.msg, c.msgHas) {
				t.Fatalf("outcome %s (%q), want %s mentioning %q", f.outcome, f.msg, c.outcome, c.msgHas)
			}
			if c.outcome == "value" && got != c.env[name] {
				t.Fatalf("Require = %q, want %q", got, c.env[name])
			}
		})
	}
}

// TestRequireCluster3Var: the 3-node profile is required under CI and by
// FEEDSVC_TEST_CLUSTER3=1, not by FEEDSVC_TEST_REQUIRE_REAL (scripts/test
// starts it only on request), and the hint names `up --nodes 3`.
func TestRequireCluster3Var(t *testing.T) {
	const name = "FEEDSVC_CLUSTER3_KAFKA_BROKERS"
	cases := []struct {
		env     map[string]string
		outcome string
		msgHas  string
	}{
		{map[string]string{name: "a:1,b:2,c:3"}, "value", ""},
		{map[string]string{}, "skip", "up --nodes 3"},
		{map[string]string{"FEEDSVC_TEST_REQUIRE_REAL": "1"}, "skip", "up --nodes 3"},
		{map[string]string{"FEEDSVC_TEST_CLUSTER3": "1"}, "fail", "FEEDSVC_TEST_CLUSTER3=1"},
		{map[string]string{"CI": "true"}, "fail", "3-broker Kafka"},
	}
	for _, c := range cases {
		t.Run(fmt.Sprint(c.env), func(t *testing.T) {
			for _, v := range []string{name, "CI", "FEEDSVC_TEST_REQUIRE_REAL", "FEEDSVC_TEST_EMBEDDED_ONLY", "FEEDSVC_TEST_CLUSTER3"} {
				t.Setenv(v, c.env[v])
			}
			f := &fakeTB{outcome: "value"}
			done := make(chan struct{})
			go func() {
				defer close(done)
				Require(f, name)
			}()
			<-done
			if f.outcome != c.outcome || !strings.Contains(f.msg, c.msgHas) {
				t.Fatalf("outcome %s (%q), want %s mentioning %q", f.outcome, f.msg, c.outcome, c.msgHas)
			}
		})
	}
}

func TestRequireCluster3(t *testing.T) {
	t.Setenv("FEEDSVC_TEST_EMBEDDED_ONLY", "")
	t.Setenv("FEEDSVC_CLUSTER3_KAFKA_BROKERS", "k1:1,k2:2,k3:3")
	t.Setenv("FEEDSVC_CLUSTER3_CASSANDRA_HOSTS", "127.0.0.1:9,127.0.0.2:9,127.0.0.3:9")
	t.Setenv("FEEDSVC_CLUSTER3_REDIS_CLUSTER_ADDRS", "r1:1,r2:2,r3:3,r4:4,r5:5,r6:6")
	t.Setenv("FEEDSVC_CLUSTER3_KAFKA_REPLICATION", "2")
	t.Setenv("FEEDSVC_CLUSTER3_CASSANDRA_REPLICATION", "{'class': 'NetworkTopologyStrategy', 'datacenter1': 3}")
	c := RequireCluster3(t)
	if len(c.KafkaBrokers) != 3 || c.CassandraHosts[2] != "127.0.0.3:9" || len(c.RedisClusterAddrs) != 6 ||
		c.KafkaReplication != 2 || !strings.Contains(c.CassandraReplication, "NetworkTopologyStrategy") {
		t.Fatalf("RequireCluster3 = %+v", c)
	}
}

func TestStartedAddrs(t *testing.T) {
	log := `{"time":"t","level":"INFO","msg":"embedded redis","addr":"127.0.0.1:1"}
{"time":"t","level":"INFO","msg":"feedsvc started","roles":["api"],"http":"127.0.0.1:45641","admin":"127.0.0.1:39811"}
`
	if h, a, ok := StartedAddrs(log); !ok || h != "127.0.0.1:45641" || a != "127.0.0.1:39811" {
		t.Fatalf("StartedAddrs = %q %q %v", h, a, ok)
	}
	if h, a, ok := StartedAddrs(`{"msg":"feedsvc started","roles":["api"],"http":"127.0.0.1:2"}`); !ok || h != "127.0.0.1:2" || a != "" {
		t.Fatalf("without an admin listener: %q %q %v", h, a, ok)
	}
	for _, log := range []string{"", `{"msg":"embedded redis","addr":"127.0.0.1:1"}` + "\n", `{"msg":"feedsvc started",` /* cut short */} {
		if _, _, ok := StartedAddrs(log); ok {
			t.Errorf("StartedAddrs(%q) found addresses", log)
		}
	}
}
