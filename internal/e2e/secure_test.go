package e2e_test

import (
	"context"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/feedsvc/feedsvc/internal/testenv"
)

// TestSecureStartup runs against the secured servers of scripts/testinfra
// --secure: an api process with one wrong password (Kafka, Redis or
// Cassandra) exits at startup with an error naming that backend's login,
// instead of starting and failing later, or waiting as for an outage.
func TestSecureStartup(t *testing.T) {
	testenv.Require(t, "FEEDSVC_KAFKA_TLS_CA")
	vars := setupReal(t, depReal.name)
	redis := testenv.Require(t, "FEEDSVC_REDIS_ADDR")
	for _, c := range []struct{ name, variable, want string }{
		{"kafka", "FEEDSVC_KAFKA_SASL_PASSWORD", "refused this client's TLS or SASL settings"},
		{"redis", "FEEDSVC_REDIS_PASSWORD", "authentication refused"},
		{"cassandra", "FEEDSVC_CASSANDRA_PASSWORD", "refused this client's login or TLS settings"},
	} {
		t.Run(c.name, func(t *testing.T) {
			env := append(append(slices.Clip(vars), "FEEDSVC_REDIS_ADDR="+redis), testenv.SecurityEnv("REDIS")...)
			env = append(env, c.variable+"=not-the-password")
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, binary, "serve", "--role=api", "--data-dir", t.TempDir(),
				"--http-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0")
			cmd.Env = childEnv(env)
			out, err := cmd.CombinedOutput()
			if ctx.Err() != nil {
				t.Fatalf("serve did not exit with a wrong %s password:\n%s", c.name, out)
			}
			if err == nil || !strings.Contains(string(out), c.want) {
				t.Fatalf("serve with a wrong %s password: %v, output:\n%s\nwant an error containing %q", c.name, err, out, c.want)
			}
		})
	}
}
