package deploy

import (
	"os"
	"slices"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// TestNetworkPolicy: the base opens every feedsvc pod's HTTP port and its
// admin port (no authentication) only to the monitoring namespace.
func TestNetworkPolicy(t *testing.T) {
	b := buildBase(t)
	np, ok := b.netpols["feedsvc"]
	if !ok {
		t.Fatalf("no NetworkPolicy feedsvc: %v", b.netpols)
	}
	if np.Spec.PodSelector.MatchLabels["app.kubernetes.io/name"] != "feedsvc" || len(np.Spec.PodSelector.MatchLabels) != 1 {
		t.Errorf("the policy selects %v, want every feedsvc pod", np.Spec.PodSelector.MatchLabels)
	}
	if !slices.Equal(np.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}) {
		t.Errorf("policy types %v, want Ingress only (the backends may be anywhere)", np.Spec.PolicyTypes)
	}
	open := map[string]bool{}       // port -> from anywhere
	restricted := map[string]bool{} // port -> from some peers only
	for _, r := range np.Spec.Ingress {
		for _, p := range r.Ports {
			if p.Port == nil || p.Port.Type != intstr.String {
				t.Errorf("rule port %v: want a named port", p.Port)
				continue
			}
			if len(r.From) == 0 {
				open[p.Port.StrVal] = true
			} else {
				restricted[p.Port.StrVal] = true
				for _, f := range r.From {
					if f.NamespaceSelector == nil || len(f.NamespaceSelector.MatchLabels) == 0 || f.IPBlock != nil {
						t.Errorf("admin port peer %+v: want a namespace by label", f)
					}
				}
			}
		}
	}
	if !open["http"] || open["admin"] || !restricted["admin"] {
		t.Errorf("open ports %v, restricted %v: want http open and admin to the monitoring namespace only", open, restricted)
	}
	// Every Deployment names the ports the policy names.
	for name, d := range b.deployments {
		var ports []string
		for _, p := range d.Spec.Template.Spec.Containers[0].Ports {
			ports = append(ports, p.Name)
		}
		if !slices.Contains(ports, "http") || !slices.Contains(ports, "admin") {
			t.Errorf("%s ports %v, want http and admin", name, ports)
		}
	}
}

// TestMonitoringComponent: k8s/monitoring builds, its PodMonitor and
// PrometheusRule decode strictly into the Prometheus Operator's types, the
// monitor scrapes the admin port of every feedsvc pod, and the rule carries
// exactly the groups of prometheus/alerts.yaml.
func TestMonitoringComponent(t *testing.T) {
	resMap, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), "k8s/monitoring")
	if err != nil {
		t.Fatalf("kustomize build k8s/monitoring: %v", err)
	}
	scheme := runtime.NewScheme()
	utilruntime.Must(monitoringv1.AddToScheme(scheme))
	decoder := serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
	var pm *monitoringv1.PodMonitor
	var rule *monitoringv1.PrometheusRule
	for _, r := range resMap.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		obj, _, err := decoder.Decode(y, nil, nil)
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", r.GetKind(), r.GetName(), err, y)
		}
		if r.GetNamespace() != "feedsvc" {
			t.Errorf("%s %s is in namespace %q, want feedsvc", r.GetKind(), r.GetName(), r.GetNamespace())
		}
		switch o := obj.(type) {
		case *monitoringv1.PodMonitor:
			pm = o
		case *monitoringv1.PrometheusRule:
			rule = o
		default:
			t.Fatalf("%s %s: a kind this test does not check", r.GetKind(), r.GetName())
		}
	}
	if pm == nil || rule == nil {
		t.Fatalf("PodMonitor %v, PrometheusRule %v: want both", pm, rule)
	}
	if pm.Spec.Selector.MatchLabels["app.kubernetes.io/name"] != "feedsvc" || len(pm.Spec.PodMetricsEndpoints) != 1 {
		t.Errorf("PodMonitor selects %v with %d endpoints, want every feedsvc pod, one endpoint", pm.Spec.Selector.MatchLabels, len(pm.Spec.PodMetricsEndpoints))
	} else if ep := pm.Spec.PodMetricsEndpoints[0]; ep.Port == nil || *ep.Port != "admin" || ep.Path != "/metrics" {
		t.Errorf("PodMonitor endpoint %+v, want port admin, /metrics", ep)
	}

	var want struct {
		Groups []monitoringv1.RuleGroup `json:"groups"`
	}
	raw, err := os.ReadFile("prometheus/alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(raw, &want); err != nil {
		t.Fatal(err)
	}
	got, _ := yaml.Marshal(rule.Spec.Groups)
	wantY, _ := yaml.Marshal(want.Groups)
	if len(want.Groups) == 0 || string(got) != string(wantY) {
		t.Errorf("PrometheusRule groups differ from prometheus/alerts.yaml:\n%s\nwant\n%s", got, wantY)
	}
}
