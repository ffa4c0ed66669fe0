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
