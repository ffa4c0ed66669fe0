package deploy

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Every FEEDSVC_* variable that compose.yaml and the Kubernetes base set
// is a setting of feedsvc serve: feedsvc ignores a variable it does not
// know, so a misspelt one would silently do nothing.
func TestSettingsAreKnown(t *testing.T) {
	known := serveSettings(t)
	check := func(where, name string) {
		t.Helper()
		if strings.HasPrefix(name, "FEEDSVC_") && !known[name] {
			t.Errorf("%s sets %s, which is no setting of feedsvc serve (see feedsvc serve --help)", where, name)
		}
	}
	p := loadCompose(t)
	for _, s := range p.Services {
		for name := range s.Environment {
			check("compose service "+s.Name, name)
		}
	}
	b := buildBase(t)
	for _, cm := range b.configMaps {
		for name := range cm.Data {
			check("ConfigMap "+cm.Name, name)
		}
	}
	for _, s := range b.secrets {
		for name := range s.Data {
			check("Secret "+s.Name, name)
		}
	}
	for _, d := range b.deployments {
		for _, e := range d.Spec.Template.Spec.Containers[0].Env {
			check("Deployment "+d.Name, e.Name)
		}
	}
}

// feedsvc accepts the values too: each role started with the environment
// compose.yaml or the Kubernetes base gives it gets past its settings'
// validation and on to connecting to its backends. The backends'
// addresses are replaced by closed ports on this machine, so the process
// fails there (or keeps retrying), never on a setting.
func TestSettingsAreAccepted(t *testing.T) {
	addrs := map[string]string{
		"FEEDSVC_KAFKA_BROKERS":   freeAddr(t),
		"FEEDSVC_CASSANDRA_HOSTS": freeAddr(t),
		"FEEDSVC_REDIS_ADDR":      freeAddr(t),
	}
	run := func(t *testing.T, role string, env map[string]string) {
		t.Helper()
		for k, v := range addrs {
			if _, ok := env[k]; !ok {
				t.Fatalf("%s is not set: the role would run on the embedded backend", k)
			}
			env[k] = v
		}
		var vars []string
		for k, v := range env {
			vars = append(vars, k+"="+v)
		}
		cmd := exec.Command(binary, "serve", "--role="+role, "--http-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0")
		cmd.Dir = t.TempDir()
		cmd.Env = childEnv(vars...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
			log := out.String()
			if cmd.ProcessState.ExitCode() == 2 || !strings.Contains(log, "127.0.0.1:") ||
				!(strings.Contains(log, "refused") || strings.Contains(log, "unavailable")) {
				t.Errorf("feedsvc serve --role=%s exited %d before reaching its backends:\n%s", role, cmd.ProcessState.ExitCode(), log)
			}
		case <-time.After(10 * time.Second):
			// Still waiting on the backends: the settings were accepted.
			_ = cmd.Process.Kill()
			<-done
		}
	}

	t.Run("compose", func(t *testing.T) {
		p := loadCompose(t)
		for _, role := range roles(t) {
			t.Run(role, func(t *testing.T) {
				t.Parallel()
				env := map[string]string{}
				for k, v := range p.Services[role].Environment {
					if v != nil {
						env[k] = *v
					}
				}
				run(t, role, env)
			})
		}
	})
	t.Run("kubernetes", func(t *testing.T) {
		b := buildBase(t)
		_, cm := generated(t, b.configMaps, "feedsvc-config")
		_, secret := generated(t, b.secrets, "feedsvc-secrets")
		for _, role := range roles(t) {
			t.Run(role, func(t *testing.T) {
				t.Parallel()
				env := map[string]string{}
				for k, v := range cm.Data {
					env[k] = v
				}
				for k, v := range secret.Data {
					env[k] = string(v)
				}
				// The base leaves the token key empty on purpose (the api
				// refuses to start without one); an overlay sets it.
				if env["FEEDSVC_JWT_SECRET"] != "" {
					t.Error("the base's Secret holds a JWT secret: keep it empty, overlays set it")
				}
				env["FEEDSVC_JWT_SECRET"] = "an-overlay-sets-this-secret-0123456789"
				d := b.deployments["feedsvc-"+role]
				if d == nil {
					t.Fatalf("no Deployment feedsvc-%s", role)
				}
				for _, e := range d.Spec.Template.Spec.Containers[0].Env {
					env[e.Name] = e.Value
				}
				run(t, role, env)
			})
		}
	})
}
