package deploy

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// scaledObject mirrors the fields of KEDA's ScaledObject (keda.sh/v1alpha1)
// that the base uses, with KEDA's JSON names: KEDA's Go types
// (github.com/kedacore/keda/v2/apis/keda/v1alpha1) are not available to
// this build, so the test decodes into this strictly instead; a field KEDA
// does not have (or this mirror lacks) fails the test. Keep it to KEDA's
// API when the base uses more of it.
type scaledObject struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		ScaleTargetRef struct {
			APIVersion             string `json:"apiVersion,omitempty"`
			Kind                   string `json:"kind,omitempty"`
			Name                   string `json:"name"`
			EnvSourceContainerName string `json:"envSourceContainerName,omitempty"`
		} `json:"scaleTargetRef"`
		PollingInterval  *int32 `json:"pollingInterval,omitempty"`
		CooldownPeriod   *int32 `json:"cooldownPeriod,omitempty"`
		IdleReplicaCount *int32 `json:"idleReplicaCount,omitempty"`
		MinReplicaCount  *int32 `json:"minReplicaCount,omitempty"`
		MaxReplicaCount  *int32 `json:"maxReplicaCount,omitempty"`
		Advanced         *struct {
			RestoreToOriginalReplicaCount bool `json:"restoreToOriginalReplicaCount,omitempty"`
			HorizontalPodAutoscalerConfig *struct {
				Name     string                                         `json:"name,omitempty"`
				Behavior *autoscalingv2.HorizontalPodAutoscalerBehavior `json:"behavior,omitempty"`
			} `json:"horizontalPodAutoscalerConfig,omitempty"`
		} `json:"advanced,omitempty"`
		Triggers []struct {
			Type              string            `json:"type"`
			Name              string            `json:"name,omitempty"`
			UseCachedMetrics  bool              `json:"useCachedMetrics,omitempty"`
			Metadata          map[string]string `json:"metadata"`
			AuthenticationRef *struct {
				Name string `json:"name"`
				Kind string `json:"kind,omitempty"`
			} `json:"authenticationRef,omitempty"`
			MetricType autoscalingv2.MetricTargetType `json:"metricType,omitempty"`
		} `json:"triggers"`
	} `json:"spec"`
}

// kafkaTriggerKeys are the metadata keys of KEDA's kafka scaler
// (keda.sh/docs/latest/scalers/apache-kafka): Metadata is a map, so a
// misspelt key would decode; this catches it.
var kafkaTriggerKeys = map[string]bool{
	"bootstrapServers": true, "bootstrapServersFromEnv": true, "consumerGroup": true, "consumerGroupFromEnv": true,
	"topic": true, "topicFromEnv": true, "lagThreshold": true, "activationLagThreshold": true,
	"offsetResetPolicy": true, "allowIdleConsumers": true, "scaleToZeroOnInvalidOffset": true,
	"excludePersistentLag": true, "limitToPartitionsWithLag": true, "ensureEvenDistributionOfPartitions": true,
	"partitionLimitation": true, "version": true, "sasl": true, "tls": true, "unsafeSsl": true,
}

// k8sBase is the kustomize base built, each resource decoded into its type.
type k8sBase struct {
	namespaces    map[string]*corev1.Namespace
	configMaps    map[string]*corev1.ConfigMap
	secrets       map[string]*corev1.Secret
	services      map[string]*corev1.Service
	deployments   map[string]*appsv1.Deployment
	jobs          map[string]*batchv1.Job
	ingresses     map[string]*networkingv1.Ingress
	hpas          map[string]*autoscalingv2.HorizontalPodAutoscaler
	pdbs          map[string]*policyv1.PodDisruptionBudget
	netpols       map[string]*networkingv1.NetworkPolicy
	scaledObjects map[string]*scaledObject
}

// buildBase builds k8s/ with kustomize and decodes every resource strictly
// (unknown or duplicate fields fail) into its Kubernetes API type by its
// apiVersion and kind; a kind the test does not know fails too.
func buildBase(t *testing.T) *k8sBase {
	t.Helper()
	resMap, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), "k8s")
	if err != nil {
		t.Fatalf("kustomize build k8s: %v", err)
	}
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, batchv1.AddToScheme,
		networkingv1.AddToScheme, autoscalingv2.AddToScheme, policyv1.AddToScheme} {
		utilruntime.Must(add(scheme))
	}
	decoder := serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
	b := &k8sBase{namespaces: map[string]*corev1.Namespace{}, configMaps: map[string]*corev1.ConfigMap{},
		secrets: map[string]*corev1.Secret{}, services: map[string]*corev1.Service{}, deployments: map[string]*appsv1.Deployment{},
		jobs: map[string]*batchv1.Job{}, ingresses: map[string]*networkingv1.Ingress{},
		hpas: map[string]*autoscalingv2.HorizontalPodAutoscaler{}, pdbs: map[string]*policyv1.PodDisruptionBudget{},
		netpols: map[string]*networkingv1.NetworkPolicy{}, scaledObjects: map[string]*scaledObject{}}
	for _, r := range resMap.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		id := r.GetApiVersion() + " " + r.GetKind() + " " + r.GetName()
		if r.GetApiVersion() == "keda.sh/v1alpha1" && r.GetKind() == "ScaledObject" {
			var so scaledObject
			if err := yaml.UnmarshalStrict(y, &so); err != nil {
				t.Fatalf("%s: %v\n%s", id, err, y)
			}
			b.scaledObjects[so.Name] = &so
			continue
		}
		obj, _, err := decoder.Decode(y, nil, nil)
		if err != nil {
			t.Fatalf("%s: %v\n%s", id, err, y)
		}
		switch o := obj.(type) {
		case *corev1.Namespace:
			b.namespaces[o.Name] = o
		case *corev1.ConfigMap:
			b.configMaps[o.Name] = o
		case *corev1.Secret:
			b.secrets[o.Name] = o
		case *corev1.Service:
			b.services[o.Name] = o
		case *appsv1.Deployment:
			b.deployments[o.Name] = o
		case *batchv1.Job:
			b.jobs[o.Name] = o
		case *networkingv1.Ingress:
			b.ingresses[o.Name] = o
		case *autoscalingv2.HorizontalPodAutoscaler:
			b.hpas[o.Name] = o
		case *policyv1.PodDisruptionBudget:
			b.pdbs[o.Name] = o
		case *networkingv1.NetworkPolicy:
			b.netpols[o.Name] = o
		default:
			t.Fatalf("%s: a kind this test does not check; add it", id)
		}
		if _, ok := obj.(*corev1.Namespace); !ok {
			if ns := r.GetNamespace(); ns != "feedsvc" {
				t.Errorf("%s is in namespace %q, want feedsvc", id, ns)
			}
		}
	}
	return b
}

// generated returns the one object of m whose name starts with prefix
// (kustomize's generators append a hash of the content).
func generated[T any](t *testing.T, m map[string]*T, prefix string) (string, *T) {
	t.Helper()
	var names []string
	for name := range m {
		if strings.HasPrefix(name, prefix+"-") {
			names = append(names, name)
		}
	}
	if len(names) != 1 {
		t.Fatalf("objects named %s-<hash>: %v (all: %v)", prefix, names, slices.Sorted(maps.Keys(m)))
	}
	return names[0], m[names[0]]
}

func TestKubernetesBase(t *testing.T) {
	b := buildBase(t)
	roleNames := roles(t)
	if _, ok := b.namespaces["feedsvc"]; !ok {
		t.Error("no Namespace feedsvc")
	}
	cmName, cm := generated(t, b.configMaps, "feedsvc-config")
	secretName, _ := generated(t, b.secrets, "feedsvc-secrets")
	var image string

	// podSpec checks what every feedsvc pod needs: the one image, its
	// settings from the ConfigMap and the Secret, a non-root user, and
	// resources.
	podSpec := func(what string, spec corev1.PodSpec) *corev1.Container {
		t.Helper()
		if len(spec.Containers) != 1 {
			t.Fatalf("%s: %d containers, want 1", what, len(spec.Containers))
		}
		c := &spec.Containers[0]
		if image == "" {
			image = c.Image
		}
		if c.Image != image || !strings.Contains(c.Image, ":") || strings.HasSuffix(c.Image, ":latest") {
			t.Errorf("%s: image %q, want one pinned image for every role (%s)", what, c.Image, image)
		}
		var refs []string
		for _, e := range c.EnvFrom {
			switch {
			case e.ConfigMapRef != nil:
				refs = append(refs, "configmap "+e.ConfigMapRef.Name)
			case e.SecretRef != nil:
				refs = append(refs, "secret "+e.SecretRef.Name)
			}
		}
		if want := []string{"configmap " + cmName, "secret " + secretName}; !slices.Equal(refs, want) {
			t.Errorf("%s: envFrom %v, want %v", what, refs, want)
		}
		sc := spec.SecurityContext
		if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser == 0 {
			t.Errorf("%s: the pod's securityContext does not run as non-root: %+v", what, sc)
		}
		csc := c.SecurityContext
		if csc == nil || csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation ||
			csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem {
			t.Errorf("%s: the container's securityContext allows privilege escalation or a writable root: %+v", what, csc)
		}
		if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
			t.Errorf("%s: resources %+v, want CPU and memory requests and a memory limit", what, c.Resources)
		}
		return c
	}
	env := func(c *corev1.Container, name string) string {
		for _, e := range c.Env {
			if e.Name == name {
				return e.Value
			}
		}
		return cm.Data[name]
	}
	probe := func(what string, c *corev1.Container, p *corev1.Probe, path string) {
		t.Helper()
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != path {
			t.Errorf("%s: probe %+v, want GET %s", what, p, path)
			return
		}
		for _, port := range c.Ports {
			if port.Name == p.HTTPGet.Port.String() && port.ContainerPort == 8080 {
				return
			}
		}
		t.Errorf("%s: probe of %s on port %q, want the HTTP port (8080)", what, path, p.HTTPGet.Port.String())
	}

	for _, role := range roleNames {
		name := "feedsvc-" + role
		d, ok := b.deployments[name]
		if !ok {
			t.Errorf("no Deployment %s for role %s", name, role)
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			t.Errorf("%s: selector %v does not match its pods' labels %v", name, d.Spec.Selector, d.Spec.Template.Labels)
		}
		c := podSpec(name, d.Spec.Template.Spec)
		if want := []string{"serve", "--role=" + role}; !slices.Equal(c.Args, want) || len(c.Command) != 0 {
			t.Errorf("%s: command %q args %q, want args %q", name, c.Command, c.Args, want)
		}
		probe(name+" liveness", c, c.LivenessProbe, "/healthz")
		probe(name+" readiness", c, c.ReadinessProbe, "/readyz")

		// The grace period covers feedsvc's whole shutdown: the drain,
		// then the roles' stop timeout.
		drain, timeout := duration(t, env(c, "FEEDSVC_SHUTDOWN_DRAIN"), 5*time.Second), duration(t, env(c, "FEEDSVC_SHUTDOWN_TIMEOUT"), 15*time.Second)
		grace := time.Duration(30) * time.Second
		if g := d.Spec.Template.Spec.TerminationGracePeriodSeconds; g != nil {
			grace = time.Duration(*g) * time.Second
		}
		if grace < drain+timeout {
			t.Errorf("%s: terminationGracePeriodSeconds %v is shorter than the shutdown drain %v and timeout %v", name, grace, drain, timeout)
		}
		if role == "api" && drain == 0 {
			t.Errorf("%s: no shutdown drain: requests in flight to a terminating pod would fail", name)
		}
		if lc := c.Lifecycle; lc != nil && lc.PreStop != nil && lc.PreStop.Sleep != nil {
			if grace < drain+timeout+time.Duration(lc.PreStop.Sleep.Seconds)*time.Second {
				t.Errorf("%s: the grace period does not cover the preStop sleep too", name)
			}
		}

		// A PodDisruptionBudget per role, over exactly its pods.
		pdb, ok := b.pdbs[name]
		if !ok {
			t.Errorf("no PodDisruptionBudget %s", name)
		} else if psel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector); err != nil || !psel.Matches(labels.Set(d.Spec.Template.Labels)) {
			t.Errorf("PodDisruptionBudget %s selects %v, not the pods of %s", name, pdb.Spec.Selector, name)
		}
	}
	if len(b.deployments) != len(roleNames) {
		t.Errorf("Deployments %v, want one per role %v", slices.Sorted(maps.Keys(b.deployments)), roleNames)
	}

	// The api: a Service over its pods' HTTP port, an Ingress to the
	// Service, an HPA on CPU.
	api := b.deployments["feedsvc-api"]
	svc, ok := b.services["feedsvc-api"]
	if !ok {
		t.Fatal("no Service feedsvc-api")
	}
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(api.Spec.Template.Labels)) || len(svc.Spec.Selector) == 0 {
		t.Errorf("Service feedsvc-api selects %v, not the api's pods %v", svc.Spec.Selector, api.Spec.Template.Labels)
	}
	for _, p := range svc.Spec.Ports {
		if p.TargetPort.String() != "http" {
			t.Errorf("Service feedsvc-api port %s targets %q, want the pods' http port only (not the admin port)", p.Name, p.TargetPort.String())
		}
	}
	ing, ok := b.ingresses["feedsvc-api"]
	if !ok {
		t.Fatal("no Ingress feedsvc-api")
	}
	for _, rule := range ing.Spec.Rules {
		for _, path := range rule.HTTP.Paths {
			be := path.Backend.Service
			if be == nil || be.Name != svc.Name || !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool {
				return p.Name == be.Port.Name || p.Port == be.Port.Number
			}) {
				t.Errorf("Ingress path %s goes to %+v, not a port of Service %s", path.Path, be, svc.Name)
			}
		}
	}
	hpa, ok := b.hpas["feedsvc-api"]
	if !ok {
		t.Fatal("no HorizontalPodAutoscaler feedsvc-api")
	}
	if ref := hpa.Spec.ScaleTargetRef; ref.Kind != "Deployment" || ref.Name != "feedsvc-api" {
		t.Errorf("the api's HPA scales %+v", ref)
	}
	if len(hpa.Spec.Metrics) != 1 || hpa.Spec.Metrics[0].Resource == nil || hpa.Spec.Metrics[0].Resource.Name != corev1.ResourceCPU {
		t.Errorf("the api's HPA metrics %+v, want CPU", hpa.Spec.Metrics)
	}
	if len(b.hpas) != 1 {
		t.Errorf("HPAs %v: only the api's (KEDA makes fanout's)", slices.Sorted(maps.Keys(b.hpas)))
	}

	// fanout: a KEDA ScaledObject on its consumer group's lag.
	so, ok := b.scaledObjects["feedsvc-fanout"]
	if !ok {
		t.Fatal("no ScaledObject feedsvc-fanout")
	}
	if ref := so.Spec.ScaleTargetRef; ref.Kind != "Deployment" || ref.Name != "feedsvc-fanout" || ref.APIVersion != "apps/v1" {
		t.Errorf("the ScaledObject scales %+v, want Deployment feedsvc-fanout", ref)
	}
	if so.Spec.MinReplicaCount == nil || so.Spec.MaxReplicaCount == nil || *so.Spec.MinReplicaCount < 1 || *so.Spec.MaxReplicaCount < *so.Spec.MinReplicaCount {
		t.Errorf("the ScaledObject's replica bounds %v..%v", so.Spec.MinReplicaCount, so.Spec.MaxReplicaCount)
	}
	if len(so.Spec.Triggers) != 1 || so.Spec.Triggers[0].Type != "kafka" {
		t.Fatalf("the ScaledObject's triggers %+v, want one kafka trigger", so.Spec.Triggers)
	}
	md := so.Spec.Triggers[0].Metadata
	for k := range md {
		if !kafkaTriggerKeys[k] {
			t.Errorf("kafka trigger metadata %q is not a parameter of KEDA's kafka scaler", k)
		}
	}
	if md["consumerGroup"] != "fanout" {
		t.Errorf("the trigger's consumer group %q, want fanout", md["consumerGroup"])
	}
	fanout := &b.deployments["feedsvc-fanout"].Spec.Template.Spec.Containers[0]
	if v := md["bootstrapServersFromEnv"]; v != "" {
		if env(fanout, v) == "" {
			t.Errorf("the trigger reads the brokers from %s, which the fanout container does not have", v)
		}
	} else if md["bootstrapServers"] == "" {
		t.Error("the trigger names no brokers")
	}

	// The one-shot migration.
	job, ok := b.jobs["feedsvc-migrate"]
	if !ok {
		t.Fatal("no Job feedsvc-migrate")
	}
	c := podSpec("Job feedsvc-migrate", job.Spec.Template.Spec)
	if !slices.Equal(c.Args, []string{"migrate"}) {
		t.Errorf("Job feedsvc-migrate args %q, want [migrate]", c.Args)
	}
	if rp := job.Spec.Template.Spec.RestartPolicy; rp != corev1.RestartPolicyNever && rp != corev1.RestartPolicyOnFailure {
		t.Errorf("Job restartPolicy %q", rp)
	}
}

// duration parses a Go duration setting; empty is def.
func duration(t *testing.T, s string, def time.Duration) time.Duration {
	t.Helper()
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatalf("duration %q: %v", s, err)
	}
	return d
}
