package deploy

import (
	"bytes"
	"net"
	"os/exec"
	"slices"
	"strings"
	"sync"
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
// addresses are replaced by listeners of this test that accept and at once
// close every connection, so the process fails there (or keeps retrying),
// never on a setting; a connection to one of them is what shows it got
// that far.
func TestSettingsAreAccepted(t *testing.T) {
	run := func(t *testing.T, role string, env map[string]string) {
		t.Helper()
		reachedOne := make(chan struct{})
		var once sync.Once
		var backends []*backend
		for _, k := range []string{"FEEDSVC_KAFKA_BROKERS", "FEEDSVC_CASSANDRA_HOSTS", "FEEDSVC_REDIS_ADDR"} {
			if _, ok := env[k]; !ok {
				t.Fatalf("%s is not set: the role would run on the embedded backend", k)
			}
			b := newBackend(t, func() { once.Do(func() { close(reachedOne) }) })
			backends = append(backends, b)
			env[k] = b.addr()
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
		case <-reachedOne:
			// Connecting to a backend: the settings were accepted.
			_ = cmd.Process.Kill()
			<-done
		case <-done:
			// It may have exited on a backend's error: then its
			// connection is accepted by now, or waits to be.
			reached := 0
			for _, b := range backends {
				b.sync(t)
				reached += b.reached()
			}
			if cmd.ProcessState.ExitCode() == 2 || reached == 0 {
				t.Errorf("feedsvc serve --role=%s exited %d before reaching its backends:\n%s", role, cmd.ProcessState.ExitCode(), out.String())
			}
		case <-time.After(2 * time.Minute):
			_ = cmd.Process.Kill()
			<-done
			t.Errorf("feedsvc serve --role=%s neither exited nor reached a backend within 2 minutes:\n%s", role, out.String())
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

// backend is a listener on a loopback port, until the test ends, that
// accepts every connection and at once closes it (no backend answers
// there).
type backend struct {
	ln      net.Listener
	mu      sync.Mutex
	from    []string      // the accepted connections' remote addresses, in order
	syncs   int           // how many of them are sync's
	changed chan struct{} // closed and replaced on each accept
}

// newBackend starts a backend; connected is called on each connection.
func newBackend(t *testing.T, connected func()) *backend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{ln: ln, changed: make(chan struct{})}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.mu.Lock()
			b.from = append(b.from, c.RemoteAddr().String())
			close(b.changed)
			b.changed = make(chan struct{})
			b.mu.Unlock()
			connected()
			c.Close()
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return b
}

func (b *backend) addr() string { return b.ln.Addr().String() }

// reached is how many connections b accepted, those of sync left out.
func (b *backend) reached() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.from) - b.syncs
}

// sync returns once every connection made to b before the call has been
// accepted: it connects itself and waits until that connection is (a
// listener accepts in the order connections arrived).
func (b *backend) sync(t *testing.T) {
	t.Helper()
	b.mu.Lock()
	from := len(b.from) // accepted before: not this call's connection
	b.mu.Unlock()
	c, err := net.Dial("tcp", b.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	me := c.LocalAddr().String()
	for {
		b.mu.Lock()
		seen, changed := slices.Contains(b.from[from:], me), b.changed
		if seen {
			b.syncs++
		}
		b.mu.Unlock()
		if seen {
			return
		}
		<-changed
	}
}
