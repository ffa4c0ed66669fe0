package deploy

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
)

// loadCompose loads compose.yaml as `docker compose` does, with the
// compose-spec schema validation and the consistency checks on (an
// unknown or misspelt key, a dependency on a missing service, a bad
// duration all fail), with the given profiles enabled.
func loadCompose(t *testing.T, profiles ...string) *types.Project {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	// Nothing from the developer's shell: the defaults in the file apply.
	env := types.Mapping{}
	p, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  wd,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(wd, "compose.yaml")}},
		Environment: env,
	}, func(o *loader.Options) {
		o.SetProjectName("feedsvc", true)
		o.Profiles = profiles
		o.ResolvePaths = true
		if o.SkipValidation || o.SkipConsistencyCheck || o.SkipInterpolation {
			t.Fatal("the loader's defaults skip validation")
		}
	})
	if err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	return p
}

// backends are the services every role depends on through migrate, or
// directly (Redis).
var backends = []string{"kafka", "cassandra", "redis"}

func TestCompose(t *testing.T) {
	p := loadCompose(t)
	roleNames := roles(t)

	// The core services, without the monitoring profile.
	want := append(append([]string{"migrate"}, backends...), roleNames...)
	got := p.ServiceNames()
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("services without profiles = %v, want %v (every role of feedsvc, migrate and the backends)", got, want)
	}

	pinned := func(name string, s types.ServiceConfig) {
		t.Helper()
		if s.Build != nil {
			return
		}
		if i := strings.LastIndex(s.Image, ":"); i < 0 || strings.HasSuffix(s.Image, ":latest") {
			t.Errorf("%s: image %q has no pinned tag", name, s.Image)
		}
	}
	for _, name := range backends {
		s := p.Services[name]
		pinned(name, s)
		if s.HealthCheck == nil || s.HealthCheck.Disable || len(s.HealthCheck.Test) == 0 {
			t.Errorf("%s has no health check", name)
		}
	}
	if img := p.Services["kafka"].Image; !strings.HasPrefix(img, "apache/kafka:") {
		t.Errorf("kafka image %q, want apache/kafka (KRaft)", img)
	}
	if roles := p.Services["kafka"].Environment["KAFKA_PROCESS_ROLES"]; roles == nil || *roles != "broker,controller" {
		t.Errorf("kafka is not a KRaft broker and controller: KAFKA_PROCESS_ROLES=%v", roles)
	}

	// migrate: the image's migrate command, once the backends are healthy.
	m := p.Services["migrate"]
	checkImage(t, "migrate", m)
	if !slices.Equal([]string(m.Command), []string{"migrate"}) {
		t.Errorf("migrate command %q, want [migrate]", m.Command)
	}
	for _, b := range []string{"kafka", "cassandra"} {
		if d, ok := m.DependsOn[b]; !ok || d.Condition != types.ServiceConditionHealthy {
			t.Errorf("migrate does not wait for %s to be healthy: %+v", b, m.DependsOn)
		}
	}

	// Each role: serve --role=X of the same image, after migrate
	// succeeded, with a health check the image can run and a grace period
	// covering the shutdown drain and timeout.
	for _, role := range roleNames {
		s := p.Services[role]
		checkImage(t, role, s)
		if want := []string{"serve", "--role=" + role}; !slices.Equal([]string(s.Command), want) {
			t.Errorf("%s command %q, want %q", role, s.Command, want)
		}
		if d, ok := s.DependsOn["migrate"]; !ok || d.Condition != types.ServiceConditionCompletedSuccessfully {
			t.Errorf("%s does not wait for migrate to complete successfully: %+v", role, s.DependsOn)
		}
		hc := s.HealthCheck
		if hc == nil || hc.Disable || len(hc.Test) < 2 || hc.Test[0] != "CMD" || hc.Test[1] != "/feedsvc" {
			t.Errorf("%s health check %+v, want [CMD /feedsvc healthcheck ...] (the image has no shell)", role, hc)
		} else if hc.Test[2] != "healthcheck" {
			t.Errorf("%s health check runs %q, want the healthcheck command", role, hc.Test)
		}
		if s.StopGracePeriod == nil || time.Duration(*s.StopGracePeriod) < 20*time.Second {
			t.Errorf("%s stop_grace_period %v, want at least the default --shutdown-drain and --shutdown-timeout (20s)", role, s.StopGracePeriod)
		}
		for _, v := range []string{"FEEDSVC_KAFKA_BROKERS", "FEEDSVC_CASSANDRA_HOSTS", "FEEDSVC_REDIS_ADDR", "FEEDSVC_JWT_SECRET", "FEEDSVC_JWT_ISSUER", "FEEDSVC_JWT_AUDIENCE"} {
			if val := s.Environment[v]; val == nil || *val == "" {
				t.Errorf("%s: %s is not set", role, v)
			}
		}
	}
	if len(p.Services["api"].Ports) == 0 {
		t.Error("the api publishes no port")
	}

	// The health check command exists in the binary (the image's only
	// program) and fails on a port nobody listens on.
	cmd := feedsvcCmd("healthcheck", "--timeout", "2s", "http://127.0.0.1:1/readyz")
	if out, err := cmd.CombinedOutput(); err == nil || cmd.ProcessState.ExitCode() != 1 {
		t.Errorf("feedsvc healthcheck of a closed port: %v (exit %d), want exit 1\n%s", err, cmd.ProcessState.ExitCode(), out)
	}
}

// checkImage checks that s runs the feedsvc image built from the
// repository's Dockerfile.
func checkImage(t *testing.T, name string, s types.ServiceConfig) {
	t.Helper()
	b := s.Build
	if b == nil {
		t.Errorf("%s is not built from the repository", name)
		return
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if b.Context != root || b.Dockerfile != "Dockerfile" {
		t.Errorf("%s builds %s with %s, want the repository %s and its Dockerfile", name, b.Context, b.Dockerfile, root)
	}
	if _, err := os.Stat(filepath.Join(b.Context, b.Dockerfile)); err != nil {
		t.Errorf("%s: %v", name, err)
	}
	if s.Image != "feedsvc:local" {
		t.Errorf("%s image %q, want feedsvc:local (one image for every role)", name, s.Image)
	}
}

// The monitoring profile adds Prometheus and Grafana, loading the rules
// and the dashboard from this directory.
func TestComposeMonitoring(t *testing.T) {
	p := loadCompose(t, "monitoring")
	for _, name := range []string{"prometheus", "grafana"} {
		s, ok := p.Services[name]
		if !ok {
			t.Fatalf("no %s service in the monitoring profile", name)
		}
		if !slices.Contains(s.Profiles, "monitoring") {
			t.Errorf("%s is not only in the monitoring profile: %v", name, s.Profiles)
		}
		if s.HealthCheck == nil || len(s.HealthCheck.Test) == 0 {
			t.Errorf("%s has no health check", name)
		}
		if strings.HasSuffix(s.Image, ":latest") || !strings.Contains(s.Image, ":") {
			t.Errorf("%s: image %q has no pinned tag", name, s.Image)
		}
		for _, v := range s.Volumes {
			if v.Type != types.VolumeTypeBind {
				continue
			}
			if _, err := os.Stat(v.Source); err != nil {
				t.Errorf("%s mounts %s: %v", name, v.Source, err)
			}
		}
	}
	// What the backends and the monitoring keep outlives a container.
	for name, dir := range map[string]string{"kafka": "/var/lib/kafka/data", "cassandra": "/var/lib/cassandra",
		"redis": "/data", "prometheus": "/prometheus", "grafana": "/var/lib/grafana"} {
		if !slices.ContainsFunc(p.Services[name].Volumes, func(v types.ServiceVolumeConfig) bool {
			return v.Type == types.VolumeTypeVolume && v.Target == dir
		}) {
			t.Errorf("%s keeps %s in no named volume", name, dir)
		}
	}
	if dirs := p.Services["kafka"].Environment["KAFKA_LOG_DIRS"]; dirs == nil || *dirs != "/var/lib/kafka/data" {
		t.Errorf("kafka writes its log outside its volume: KAFKA_LOG_DIRS=%v", dirs)
	}
	mounts := func(name, file string) bool {
		for _, v := range p.Services[name].Volumes {
			if v.Source == file || strings.HasPrefix(file, v.Source+string(filepath.Separator)) {
				return true
			}
		}
		return false
	}
	wd, _ := os.Getwd()
	for _, c := range []struct{ service, file string }{
		{"prometheus", "prometheus/prometheus.yaml"},
		{"prometheus", "prometheus/alerts.yaml"},
		{"grafana", "grafana/feedsvc.json"},
		{"grafana", "grafana/provisioning/datasources/prometheus.yaml"},
		{"grafana", "grafana/provisioning/dashboards/feedsvc.yaml"},
	} {
		if !mounts(c.service, filepath.Join(wd, c.file)) {
			t.Errorf("%s does not mount %s", c.service, c.file)
		}
	}
}
