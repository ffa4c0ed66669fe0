// Package deploy holds the tests of feedsvc's deployment files, in a
// module of its own so that their parsers (compose-go, kustomize, the
// Kubernetes API types, Prometheus's rule and query parsers) stay out of
// the service's module:
//
//   - compose.yaml loads with the parser docker compose uses, schema
//     validation on (compose_test.go);
//   - the kustomize base in k8s/ builds, and every resource decodes
//     strictly into its Kubernetes API type (k8s_test.go);
//   - the alerting rules parse with Prometheus's rule loader, and every
//     expression of the rules and the Grafana dashboard with its PromQL
//     parser (rules_test.go);
//   - every metric those expressions use is exported by a running feedsvc
//     (metrics_test.go), and the FEEDSVC_* settings of compose.yaml and the
//     base are accepted by feedsvc itself (settings_test.go).
//
// The tests build feedsvc from the parent module once (TestMain). Run them
// with: cd deploy && go test ./... (scripts/test does).
package deploy

//go:generate go run gen.go
