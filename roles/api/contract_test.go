package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// TestContractProperties generates requests for every operation of the
// OpenAPI document, from its parameters and bodies: fixtures that exist
// (a post, a list, users) and probes of each kind of value (empty, zero,
// a word, a bad name, too long, not JSON, an unknown field). The document
// itself says whether each request is valid. Properties:
//   - every answer is one the document describes: a status declared for
//     the operation (default only for a 500), its content type and schema;
//   - a valid request never answers 400 or 5xx (the document promises
//     nothing it refuses as malformed);
//   - an invalid request answers 4xx, as application/problem+json.
func TestContractProperties(t *testing.T) {
	_, doc := loadDocument(t)
	doc.Servers = nil
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	s := newServer(t, options{})
	caller, other := userFor(t, "caller"), userFor(t, "other")
	s.must(t, "GET", "/v1/feed", other, "", 200)
	post := s.post(t, other, "a post to act on")
	var list struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(s.must(t, "POST", "/v1/lists", caller, `{"name":"probes"}`, 201).Body.Bytes(), &list); err != nil {
		t.Fatal(err)
	}
	// Values by kind: fixtures first (valid), then probes.
	probes := []string{"", "0", "1", "abc", "Bad!", "1h", "7d", "-1", strings.Repeat("x", 300), "9223372036854775808"}
	values := func(name, path string) []string {
		switch {
		case name == "id" && strings.HasPrefix(path, "/v1/lists/"):
			return append([]string{list.ID}, probes...)
		case name == "id" || name == "in_reply_to" || name == "up_to" || name == "cursor":
			return append([]string{post.ID.String()}, probes...)
		case name == "user":
			return append([]string{other}, probes...)
		}
		return append([]string{"hello"}, probes...)
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	pick := func(vs []string) string { return vs[rnd.IntN(len(vs))] }

	var paths []string
	for p := range doc.Paths.Map() {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	checked := 0
	for _, path := range paths {
		item := doc.Paths.Value(path)
		for _, method := range []string{"GET", "PUT", "POST", "PATCH", "DELETE"} {
			op := item.GetOperation(method)
			if op == nil || streams(op) || strings.HasPrefix(path, "/v1/dev/") {
				continue
			}
			params := slices.Concat(item.Parameters, op.Parameters)
			for range 60 {
				target := path
				q := url.Values{}
				header := http.Header{}
				for _, pr := range params {
					p := pr.Value
					switch p.In {
					case "path":
						target = strings.ReplaceAll(target, "{"+p.Name+"}", url.PathEscape(pick(values(p.Name, path))))
					case "query", "header":
						if !p.Required && rnd.IntN(2) == 0 {
							continue
						}
						v := pick(values(p.Name, path))
						if sc := p.Schema.Value; sc != nil && sc.Type.Is("integer") && rnd.IntN(2) == 0 {
							v = fmt.Sprint(rnd.IntN(130) - 10)
						}
						if p.In == "query" {
							q.Set(p.Name, v)
						} else {
							header.Set(p.Name, v)
						}
					}
				}
				var body string
				if op.RequestBody != nil {
					if mt := op.RequestBody.Value.Content.Get("application/json"); mt != nil && (op.RequestBody.Value.Required || rnd.IntN(4) > 0) {
						body = genBody(rnd, mt.Schema.Value, path, values, pick)
					}
				}
				u := target
				if len(q) > 0 {
					u += "?" + q.Encode()
				}
				req := newRequest(method, u, caller, body)
				for k, vs := range header {
					req.Header[k] = vs
				}
				valid := validRequest(router, req, body)
				rec := s.serve(req)
				checked++
				where := fmt.Sprintf("%s %s body %q: %d %s", method, u, body, rec.Code, strings.TrimSpace(rec.Body.String()))
				if err := validResponse(router, req, body, rec.Code, rec.Header(), rec.Body.Bytes()); err != nil {
					t.Errorf("%s: the answer is not in the document: %v", where, err)
				}
				if rec.Code < 500 && op.Responses.Status(rec.Code) == nil {
					t.Errorf("%s: status %d is not declared for the operation (default stands only for 500)", where, rec.Code)
				}
				switch {
				case valid == nil && (rec.Code == 400 || rec.Code >= 500):
					t.Errorf("%s: valid per the document, refused as malformed or failed", where)
				case valid != nil && (rec.Code < 400 || rec.Code >= 500):
					t.Errorf("%s: invalid per the document (%v), not a 4xx", where, firstLine(valid))
				}
				if rec.Code >= 400 {
					if ct, _, _ := mime.ParseMediaType(rec.Header().Get("Content-Type")); ct != "application/problem+json" {
						t.Errorf("%s: an error as %q, want application/problem+json", where, ct)
					}
				}
			}
		}
	}
	if checked < 500 {
		t.Fatalf("only %d requests checked", checked)
	}
}

// streams reports whether op answers an event stream (it never ends).
func streams(op *openapi3.Operation) bool {
	for _, r := range op.Responses.Map() {
		if r.Value != nil && r.Value.Content.Get("text/event-stream") != nil {
			return true
		}
	}
	return false
}

// genBody makes a JSON body for schema: its required properties, some of
// the others, values from values; sometimes not JSON, an unknown field or
// a wrong type.
func genBody(rnd *rand.Rand, sc *openapi3.Schema, path string, values func(name, path string) []string, pick func([]string) string) string {
	switch rnd.IntN(10) {
	case 0:
		return "{"
	case 1:
		return "null"
	}
	obj := map[string]any{}
	for _, name := range slices.Sorted(maps.Keys(sc.Properties)) { // a map's order would vary the draws
		p := sc.Properties[name]
		if !slices.Contains(sc.Required, name) && rnd.IntN(2) == 0 {
			continue
		}
		switch {
		case p.Value.Type.Is("boolean"):
			obj[name] = rnd.IntN(2) == 0
		default:
			obj[name] = pick(values(name, path))
		}
		if rnd.IntN(10) == 0 {
			obj[name] = 42 // a wrong type
		}
	}
	if rnd.IntN(10) == 0 {
		obj["unknown_field"] = "x"
	}
	b, _ := json.Marshal(obj)
	return string(b)
}

// validRequest checks req (with body) against the document (nil: valid).
func validRequest(router routers.Router, req *http.Request, body string) error {
	r := req.Clone(context.Background())
	r.Body = io.NopCloser(strings.NewReader(body))
	route, params, err := router.FindRoute(r)
	if err != nil {
		return err
	}
	return openapi3filter.ValidateRequest(context.Background(), &openapi3filter.RequestValidationInput{
		Request: r, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
	})
}

// validResponse checks an answer to req against the document.
func validResponse(router routers.Router, req *http.Request, body string, status int, header http.Header, resp []byte) error {
	r := req.Clone(context.Background())
	r.Body = io.NopCloser(strings.NewReader(body))
	route, params, err := router.FindRoute(r)
	if err != nil {
		return err
	}
	in := &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	return openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: status, Header: header, Body: io.NopCloser(bytes.NewReader(resp)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true},
	})
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}
