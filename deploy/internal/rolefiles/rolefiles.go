// Package rolefiles writes the parts of the deployment files that follow
// feedsvc's role table, so that a new role is deployed by `go generate`
// instead of by hand: compose.yaml's role services, the Prometheus scrape
// targets, the Kubernetes Deployments of the consumers that have no file of
// their own, and the role table of docs/architecture.md. The table comes
// from `feedsvc roles --output json`; everything else in those files is
// written by hand and kept as it is.
package rolefiles

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/template"
)

// Role is one row of `feedsvc roles --output json`.
type Role struct {
	Name           string `json:"name"`
	ConsumerGroup  string `json:"consumer_group"`
	Store          bool   `json:"store"`
	Redis          bool   `json:"redis"`
	Producer       bool   `json:"producer"`
	HTTP           bool   `json:"http"`
	IDs            bool   `json:"ids"`
	RebuildFromLog bool   `json:"rebuild_from_log"`
}

// Load runs the feedsvc binary's `roles --output json`.
func Load(binary string) ([]Role, error) {
	cmd := exec.Command(binary, "roles", "--output", "json")
	cmd.Env = []string{} // no FEEDSVC_* setting can change the table
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("feedsvc roles: %w: %s", err, stderr.Bytes())
	}
	var roles []Role
	if err := json.Unmarshal(out, &roles); err != nil {
		return nil, fmt.Errorf("feedsvc roles: %w", err)
	}
	if len(roles) == 0 {
		return nil, errors.New("feedsvc roles: no roles")
	}
	return roles, nil
}

// File is one generated file: its path under the deploy directory and its
// whole content.
type File struct {
	Path    string
	Content []byte
}

// The generated parts of hand-written files sit between a begin and an
// end marker line; Render replaces what is between them.
const (
	beginMarker = "generated from `feedsvc roles` by `cd deploy && go generate`: do not edit"
	endMarker   = "end of generated roles"
)

// ConsumersFile holds the Kubernetes Deployment and PodDisruptionBudget of
// every consumer without a k8s/<role>.yaml of its own.
const ConsumersFile = "k8s/consumers.yaml"

// Render returns every file under dir (the deploy directory) that follows
// the role table, as it must be for roles.
func Render(dir string, roles []Role) ([]File, error) {
	var files []File
	var errs []error
	splice := func(path, comment string, tmpl *template.Template, data any) {
		old, err := os.ReadFile(filepath.Join(dir, path))
		if err != nil {
			errs = append(errs, err)
			return
		}
		var part bytes.Buffer
		if err := tmpl.Execute(&part, data); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", path, err))
			return
		}
		content, err := replaceSection(old, comment, part.Bytes())
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", path, err))
			return
		}
		files = append(files, File{Path: path, Content: content})
	}
	splice("compose.yaml", "#", composeTmpl, roles)
	splice("prometheus/prometheus.yaml", "#", prometheusTmpl, roles)
	splice("../docs/architecture.md", "<!--", docsTmpl, roles)

	var own []Role
	for _, r := range roles {
		if r.ConsumerGroup == "" {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, "k8s", r.Name+".yaml")); err == nil {
			continue // a file of its own, written by hand (fanout's autoscaler)
		} else if !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
		own = append(own, r)
	}
	var k8s bytes.Buffer
	if err := consumersTmpl.Execute(&k8s, own); err != nil {
		errs = append(errs, err)
	}
	files = append(files, File{Path: ConsumersFile, Content: k8s.Bytes()})
	return files, errors.Join(errs...)
}

// replaceSection replaces the lines between the begin and end markers of
// old (comment lines starting with comment) with part.
func replaceSection(old []byte, comment string, part []byte) ([]byte, error) {
	lines := strings.SplitAfter(string(old), "\n")
	begin, end := -1, -1
	for i, l := range lines {
		t := strings.TrimSpace(l)
		if !strings.HasPrefix(t, comment) {
			continue
		}
		switch {
		case strings.Contains(t, beginMarker):
			begin = i
		case strings.Contains(t, endMarker):
			end = i
		}
	}
	if begin < 0 || end < begin {
		return nil, fmt.Errorf("no lines between %q and %q to generate", beginMarker, endMarker)
	}
	var b strings.Builder
	b.WriteString(strings.Join(lines[:begin+1], ""))
	b.Write(part)
	b.WriteString(strings.Join(lines[end:], ""))
	return []byte(b.String()), nil
}

var funcs = template.FuncMap{"yes": func(b bool) string {
	if b {
		return "yes"
	}
	return ""
}}

var composeTmpl = template.Must(template.New("compose").Parse(`{{range .}}
  {{.Name}}:
    <<: *feedsvc-role
    command: ["serve", "--role={{.Name}}"]
{{- if .HTTP}}
    ports:
      # Loopback only: the JWT secret above has a known default for trials.
      # Publish on every interface only with a secret of your own.
      - "127.0.0.1:8080:8080"
{{- end}}
    depends_on:
      migrate:
        condition: service_completed_successfully
{{- if .Redis}}
      redis:
        condition: service_healthy
{{- end}}
{{end}}
`))

var prometheusTmpl = template.Must(template.New("prometheus").Parse(`{{range .}}          - {{.Name}}
{{end}}`))

var docsTmpl = template.Must(template.New("docs").Funcs(funcs).Parse(`
| role | store | Redis | producer | consumer group | HTTP routes | IDs | rebuilt from the log on an embedded Redis |
|---|---|---|---|---|---|---|---|
{{range .}}| {{.Name}} | {{yes .Store}} | {{yes .Redis}} | {{yes .Producer}} | {{with .ConsumerGroup}}` + "`{{.}}`" + `{{end}} | {{yes .HTTP}} | {{yes .IDs}} | {{yes .RebuildFromLog}} |
{{end}}
`))

var consumersTmpl = template.Must(template.New("k8s").Parse(`
{{- define "metadata"}}metadata:
  name: feedsvc-{{.}}
  labels:
    app.kubernetes.io/name: feedsvc
    app.kubernetes.io/component: {{.}}
{{- end}}# ` + beginMarker + `.
# The consumer roles without a file of their own: a Deployment and a
# PodDisruptionBudget each, written from one template
# (deploy/internal/rolefiles). To change one role only, give it a
# k8s/<role>.yaml of its own (as fanout has) and list it in
# kustomization.yaml: it is then left out of this file.
{{- range .}}
---
apiVersion: apps/v1
kind: Deployment
{{template "metadata" .Name}}
spec:
  replicas: 2
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      app.kubernetes.io/name: feedsvc
      app.kubernetes.io/component: {{.Name}}
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxUnavailable: 0
      maxSurge: 1
  template:
    metadata:
      labels:
        app.kubernetes.io/name: feedsvc
        app.kubernetes.io/component: {{.Name}}
      annotations:
        # The admin listener: /metrics (never exposed by the Service).
        prometheus.io/scrape: "true"
        prometheus.io/port: "9090"
        prometheus.io/path: /metrics
    spec:
      automountServiceAccountToken: false
      # SIGTERM starts feedsvc's own drain; the roles stop (the consumer
      # commits and leaves its group) within FEEDSVC_SHUTDOWN_TIMEOUT. A
      # consumer serves no traffic, so it does not drain (0 s); the grace
      # period is the timeout plus 5 s, so the kubelet never kills a clean
      # shutdown.
      terminationGracePeriodSeconds: 20
      securityContext:
        runAsNonRoot: true
        runAsUser: 65532
        runAsGroup: 65532
        fsGroup: 65532
        seccompProfile:
          type: RuntimeDefault
      containers:
        - name: feedsvc
          image: feedsvc
          args: ["serve", "--role={{.Name}}"]
          envFrom:
            - configMapRef:
                name: feedsvc-config
            - secretRef:
                name: feedsvc-secrets
          env:
            - name: FEEDSVC_SHUTDOWN_DRAIN
              value: "0s"
            - name: FEEDSVC_SHUTDOWN_TIMEOUT
              value: "15s"
          ports:
            - name: http
              containerPort: 8080
            - name: admin
              containerPort: 9090
          startupProbe:
            httpGet:
              path: /healthz
              port: http
            periodSeconds: 2
            failureThreshold: 30
          livenessProbe:
            httpGet:
              path: /healthz
              port: http
            periodSeconds: 10
            timeoutSeconds: 2
            failureThreshold: 3
          readinessProbe:
            httpGet:
              path: /readyz
              port: http
            periodSeconds: 5
            timeoutSeconds: 3
            failureThreshold: 2
          resources:
            requests:
              cpu: 100m
              memory: 128Mi
            limits:
              memory: 512Mi
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities:
              drop: ["ALL"]
          volumeMounts:
            - name: data
              mountPath: /data
      volumes:
        # FEEDSVC_DATA_DIR (the image's /data): unused with real backends,
        # writable for what the process may keep there.
        - name: data
          emptyDir:
            sizeLimit: 64Mi
---
apiVersion: policy/v1
kind: PodDisruptionBudget
{{template "metadata" .Name}}
spec:
  # One pod at a time during node drains and upgrades.
  maxUnavailable: 1
  selector:
    matchLabels:
      app.kubernetes.io/name: feedsvc
      app.kubernetes.io/component: {{.Name}}
{{- end}}
`))
