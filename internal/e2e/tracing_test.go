package e2e_test

import (
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/feedsvc/feedsvc/internal/testenv"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// otlpSpan is a span as an OTLP collector received it, with the roles of
// the process that sent it.
type otlpSpan struct {
	trace, id, parent, name string
	roles                   []string
}

// collector is an OTLP/HTTP trace receiver (protobuf), as a collector
// would be: every process under test exports its spans to it.
type collector struct {
	mu    sync.Mutex
	spans []otlpSpan
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	var req coltracepb.ExportTraceServiceRequest
	if err == nil {
		err = proto.Unmarshal(body, &req)
	}
	if r.URL.Path != "/v1/traces" || err != nil {
		http.Error(w, fmt.Sprintf("%s: %v", r.URL.Path, err), http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rs := range req.ResourceSpans {
		var roles []string
		for _, a := range rs.GetResource().GetAttributes() {
			if a.Key == "feedsvc.roles" {
				for _, v := range a.GetValue().GetArrayValue().GetValues() {
					roles = append(roles, v.GetStringValue())
				}
			}
		}
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				c.spans = append(c.spans, otlpSpan{trace: hex.EncodeToString(s.TraceId), id: hex.EncodeToString(s.SpanId),
					parent: hex.EncodeToString(s.ParentSpanId), name: s.Name, roles: roles})
			}
		}
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(nil)
}

// find returns the spans named name (or starting with it, ending in "*").
func (c *collector) find(name string) []otlpSpan {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []otlpSpan
	for _, s := range c.spans {
		if s.name == name || strings.HasSuffix(name, "*") && strings.HasPrefix(s.name, strings.TrimSuffix(name, "*")) {
			out = append(out, s)
		}
	}
	return out
}

// TestTracing: a POST to the api and the fan-out of its post, in separate
// processes on the real deployment, are spans of one trace, linked across
// Kafka: the fanout process's consumer span hangs under the api's publish
// span, and the feed writes under it. Each process exports to an OTLP
// collector configured by the standard OTEL_* variables.
func TestTracing(t *testing.T) {
	forEach(t, func(t *testing.T, s *system) {
		col := &collector{}
		srv := httptest.NewServer(col)
		defer srv.Close()
		s.env = append(s.env, "OTEL_EXPORTER_OTLP_ENDPOINT="+srv.URL, "OTEL_BSP_SCHEDULE_DELAY=100", "OTEL_SERVICE_NAME=feedsvc-e2e")
		s.up()
		defer s.down()
		author, reader := s.user("tracy"), s.user("trent")
		author.feed(s) // the user exists
		reader.follow(s, author)
		reader.feed(s) // an active feed: fan-out writes into it
		p := author.post(s, "traced post")
		testenv.Eventually(t, "the post in the reader's feed", func() error {
			if !slices.Contains(reader.feed(s), p.ID) {
				return fmt.Errorf("not yet")
			}
			return nil
		})
		apiRoles, fanoutRoles := []string{"api"}, []string{"fanout"}
		if !s.dep.real {
			apiRoles, fanoutRoles = nil, nil // one process runs every role
		}
		testenv.Eventually(t, "the post's spans at the collector", func() error {
			var post otlpSpan
			for _, sp := range col.find("POST /v1/posts") {
				if apiRoles == nil || slices.Equal(sp.roles, apiRoles) {
					post = sp
				}
			}
			if post.trace == "" {
				return fmt.Errorf("no POST /v1/posts span from the api process")
			}
			byID := map[string]otlpSpan{}
			for _, sp := range col.find("*") {
				if sp.trace == post.trace {
					byID[sp.id] = sp
				}
			}
			for _, sp := range byID {
				if !strings.HasSuffix(sp.name, "fanout process post.created") || fanoutRoles != nil && !slices.Equal(sp.roles, fanoutRoles) {
					continue
				}
				publish, ok := byID[sp.parent]
				if !ok || !strings.HasPrefix(publish.name, "publish ") {
					return fmt.Errorf("the fan-out span's parent %s is not a publish span of the trace", sp.parent)
				}
				for _, w := range byID {
					if w.name == "fanout.feeds" && w.parent == sp.id {
						return nil
					}
				}
				return fmt.Errorf("no fanout.feeds span under the fan-out span")
			}
			return fmt.Errorf("no fan-out span in the POST's trace %s (%d spans in it)", post.trace, len(byID))
		})
	})
}
