package deploy

import (
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"sigs.k8s.io/yaml"
)

var promql = parser.NewParser(parser.Options{})

// metricNames returns the metric names expr selects (its vector and
// matrix selectors', as written: foo_bucket stays foo_bucket).
func metricNames(t *testing.T, where, expr string) []string {
	t.Helper()
	e, err := promql.ParseExpr(expr)
	if err != nil {
		t.Fatalf("%s: %q does not parse: %v", where, expr, err)
	}
	var names []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		if name == "" {
			for _, m := range vs.LabelMatchers {
				if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
					name = m.Value
				}
			}
		}
		if name == "" {
			t.Errorf("%s: %q selects no metric by name", where, expr)
		} else if !slices.Contains(names, name) {
			names = append(names, name)
		}
		return nil
	})
	return names
}

// alertRules parses prometheus/alerts.yaml as Prometheus loads rule files
// (unknown fields, bad expressions and templates fail).
func alertRules(t *testing.T) *rulefmt.RuleGroups {
	t.Helper()
	groups, errs := rulefmt.ParseFile(filepath.Join("prometheus", "alerts.yaml"), false, model.UTF8Validation, promql, slog.New(slog.DiscardHandler))
	for _, err := range errs {
		t.Error(err)
	}
	if len(errs) > 0 {
		t.FailNow()
	}
	return groups
}

// ruleExprs returns each rule's expression, by alert name.
func ruleExprs(t *testing.T) map[string]string {
	t.Helper()
	exprs := map[string]string{}
	for _, g := range alertRules(t).Groups {
		for _, r := range g.Rules {
			exprs["alert "+r.Alert+r.Record] = r.Expr
		}
	}
	return exprs
}

// dashboard is the part of a Grafana dashboard JSON model the tests read.
type dashboard struct {
	Title      string `json:"title"`
	UID        string `json:"uid"`
	Templating struct {
		List []struct {
			Name       string      `json:"name"`
			Type       string      `json:"type"`
			Query      any         `json:"query"`
			Datasource *datasource `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

type panel struct {
	ID         int         `json:"id"`
	Type       string      `json:"type"`
	Title      string      `json:"title"`
	Datasource *datasource `json:"datasource"`
	Targets    []struct {
		RefID      string      `json:"refId"`
		Expr       string      `json:"expr"`
		Datasource *datasource `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // a collapsed row's
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("grafana", "feedsvc.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("grafana/feedsvc.json: %v", err)
	}
	return d
}

// grafanaVars are Grafana's interval variables, which PromQL does not
// know: a range stands in for them.
var grafanaVars = regexp.MustCompile(`\$\{?__(rate_interval|interval|range)(_ms|_s)?\}?`)

// dashboardExprs returns every query of the dashboard, by panel, with
// Grafana's interval variables replaced, and checks that each panel and
// query reads the ${datasource} variable.
func dashboardExprs(t *testing.T) map[string]string {
	t.Helper()
	d := loadDashboard(t)
	exprs := map[string]string{}
	ids := map[int]bool{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if ids[p.ID] {
				t.Errorf("panel id %d is used twice", p.ID)
			}
			ids[p.ID] = true
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			where := "panel " + p.Title
			if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
				t.Errorf("%s: datasource %+v, want uid ${datasource}", where, p.Datasource)
			}
			if len(p.Targets) == 0 {
				t.Errorf("%s has no query", where)
			}
			for _, q := range p.Targets {
				if q.Datasource != nil && q.Datasource.UID != "${datasource}" {
					t.Errorf("%s query %s: datasource %+v, want uid ${datasource}", where, q.RefID, q.Datasource)
				}
				if strings.TrimSpace(q.Expr) == "" {
					t.Errorf("%s query %s has no expression", where, q.RefID)
					continue
				}
				exprs[where+" query "+q.RefID] = grafanaVars.ReplaceAllString(q.Expr, "5m")
			}
		}
	}
	walk(d.Panels)
	return exprs
}

const runbookURL = "https://github.com/feedsvc/feedsvc/blob/main/docs/runbook.md"

func TestAlertRules(t *testing.T) {
	groups := alertRules(t)
	doc, err := os.ReadFile(filepath.Join("..", "docs", "runbook.md"))
	if err != nil {
		t.Fatal(err)
	}
	var runbookSections []string
	for _, line := range strings.Split(string(doc), "\n") {
		if name, ok := strings.CutPrefix(line, "## "); ok {
			runbookSections = append(runbookSections, strings.TrimSpace(name))
		}
	}
	used := map[string]bool{}
	n := 0
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			n++
			where := "alert " + r.Alert
			if r.Alert == "" {
				t.Errorf("rule %q is not an alert", r.Record)
				continue
			}
			if r.For <= 0 {
				t.Errorf("%s has no for: (one bad scrape would page)", where)
			}
			if s := r.Labels["severity"]; s != "critical" && s != "warning" && s != "info" {
				t.Errorf("%s: severity %q, want critical, warning or info", where, s)
			}
			for _, a := range []string{"summary", "description"} {
				if strings.TrimSpace(r.Annotations[a]) == "" {
					t.Errorf("%s has no %s annotation", where, a)
				}
			}
			// Its section in docs/runbook.md, by GitHub's anchor of "## Name".
			if want := runbookURL + "#" + strings.ToLower(r.Alert); r.Annotations["runbook_url"] != want {
				t.Errorf("%s: runbook_url %q, want %q", where, r.Annotations["runbook_url"], want)
			} else if !slices.Contains(runbookSections, r.Alert) {
				t.Errorf("%s: docs/runbook.md has no section \"## %s\"", where, r.Alert)
			}
			for _, m := range metricNames(t, where, r.Expr) {
				used[m] = true
			}
		}
	}
	// What the rules must watch (issue 13): a stuck group, lag growing,
	// dead letters, a 5xx rate, the outbox's oldest record.
	// Issue 27: a process down, requests slow.
	for _, m := range []string{"feedsvc_consumer_stuck", "feedsvc_consumer_lag", "feedsvc_events_dead_lettered_total",
		"feedsvc_http_requests_total", "feedsvc_outbox_oldest_pending_seconds", "up", "feedsvc_http_request_duration_seconds_bucket"} {
		if !used[m] {
			t.Errorf("no alert uses %s", m)
		}
	}
	if n == 0 {
		t.Fatal("no rules")
	}
}

func TestDashboard(t *testing.T) {
	d := loadDashboard(t)
	if d.Title == "" || d.UID == "" {
		t.Errorf("dashboard title %q uid %q", d.Title, d.UID)
	}
	ok, adhoc := false, false
	for _, v := range d.Templating.List {
		if v.Name == "datasource" && v.Type == "datasource" && v.Query == "prometheus" {
			ok = true
		}
		// Ad hoc filters apply label matchers (job, namespace, role, ...)
		// to every query, so no query has to name them.
		adhoc = adhoc || (v.Type == "adhoc" && v.Datasource != nil && v.Datasource.UID == "${datasource}")
	}
	if !ok {
		t.Error("no datasource template variable (type datasource, query prometheus)")
	}
	if !adhoc {
		t.Error("no ad hoc filters variable on ${datasource}: the dashboard cannot be narrowed to a job, namespace or role")
	}
	used := map[string]bool{}
	for where, expr := range dashboardExprs(t) {
		for _, m := range metricNames(t, where, expr) {
			used[m] = true
		}
	}
	// What the dashboard must show (issue 13).
	for _, m := range []string{
		"feedsvc_http_requests_total", "feedsvc_http_request_duration_seconds_bucket", // post rate and latency, 5xx
		"feedsvc_feed_writes_total",                      // fan-out rate
		"feedsvc_consumer_lag", "feedsvc_consumer_stuck", // lag per group, stuck consumers
		"feedsvc_events_dead_lettered_total",                              // dead letters
		"feedsvc_outbox_pending", "feedsvc_outbox_oldest_pending_seconds", // outbox
		"feedsvc_publish_seconds_bucket", "feedsvc_publish_errors_total", // publishing
		"feedsvc_rate_limited_total", // rate-limit refusals
	} {
		if !used[m] {
			t.Errorf("no dashboard panel uses %s", m)
		}
	}
}

// promConfig mirrors the part of Prometheus's configuration file that
// prometheus/prometheus.yaml uses. Prometheus's own loader
// (github.com/prometheus/prometheus/config) would check all of it, but it
// brings in the cloud SDKs of every service discovery and remote write;
// strict decoding into this mirror fails on any field it lacks instead.
type promConfig struct {
	Global struct {
		ScrapeInterval     model.Duration `json:"scrape_interval"`
		EvaluationInterval model.Duration `json:"evaluation_interval"`
	} `json:"global"`
	RuleFiles     []string `json:"rule_files"`
	ScrapeConfigs []struct {
		JobName      string `json:"job_name"`
		DNSSDConfigs []struct {
			Type            string         `json:"type"`
			Port            int            `json:"port"`
			RefreshInterval model.Duration `json:"refresh_interval"`
			Names           []string       `json:"names"`
		} `json:"dns_sd_configs"`
		RelabelConfigs []promRelabel `json:"relabel_configs"`
	} `json:"scrape_configs"`
}

type promRelabel struct {
	SourceLabels []string `json:"source_labels"`
	TargetLabel  string   `json:"target_label"`
}

// The compose monitoring profile's Prometheus configuration loads the
// rules next to it and scrapes every role's admin port.
func TestPrometheusConfig(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("prometheus", "prometheus.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg promConfig
	if err := yaml.UnmarshalStrict(b, &cfg); err != nil {
		t.Fatalf("prometheus/prometheus.yaml: %v", err)
	}
	if cfg.Global.ScrapeInterval <= 0 || cfg.Global.EvaluationInterval <= 0 {
		t.Errorf("scrape and evaluation intervals %v, %v", cfg.Global.ScrapeInterval, cfg.Global.EvaluationInterval)
	}
	// Relative rule files are read from the configuration's directory.
	if !slices.Equal(cfg.RuleFiles, []string{"alerts.yaml"}) {
		t.Errorf("rule_files %v, want [alerts.yaml] (next to prometheus.yaml)", cfg.RuleFiles)
	}
	targets := map[string]bool{}
	for _, sc := range cfg.ScrapeConfigs {
		if sc.JobName == "" {
			t.Error("a scrape config without a job_name")
		}
		// The role label comes from the DNS name, which is the role's.
		if !slices.ContainsFunc(sc.RelabelConfigs, func(r promRelabel) bool {
			return slices.Equal(r.SourceLabels, []string{"__meta_dns_name"}) && r.TargetLabel == "role"
		}) {
			t.Errorf("job %s does not label targets with their role", sc.JobName)
		}
		for _, sd := range sc.DNSSDConfigs {
			if sd.Type != "A" || sd.Port != 9090 {
				t.Errorf("dns_sd_config %+v, want the A records of the services on the admin port 9090", sd)
				continue
			}
			for _, name := range sd.Names {
				targets[name] = true
			}
		}
	}
	for _, role := range roles(t) {
		if !targets[role] {
			t.Errorf("prometheus.yaml does not scrape every %s replica's :9090 (the admin listener; scrapes %v)", role, targets)
		}
	}
}
