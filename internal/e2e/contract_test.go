package e2e_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/feedsvc/feedsvc/roles/api"
)

// contract is the router of the OpenAPI document the api serves.
var contract = sync.OnceValues(func() (routers.Router, error) {
	raw, err := api.OpenAPI()
	if err != nil {
		return nil, err
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(raw)
	if err != nil {
		return nil, err
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, err
	}
	doc.Servers = nil // the document's "/" is relative; the tests' hosts are loopback ports
	return legacy.NewRouter(doc)
})

// checkContract checks one exchange of the tests with the api against the
// OpenAPI document, so the document cannot drift from the code: every
// answer must be one the document describes, and a request outside it
// (the tests send bad ones on purpose) must be refused with a 4xx.
func checkContract(t *testing.T, req *http.Request, reqBody []byte, resp response) {
	t.Helper()
	router, err := contract()
	if err != nil {
		t.Fatalf("the OpenAPI document: %v", err)
	}
	r := req.Clone(context.Background())
	r.Body = io.NopCloser(bytes.NewReader(reqBody))
	route, params, err := router.FindRoute(r)
	if err != nil {
		// An unknown route: 404 or 405, or 401 under /v1 without a valid
		// token (authentication runs before routing there).
		if resp.status != http.StatusNotFound && resp.status != http.StatusMethodNotAllowed && resp.status != http.StatusUnauthorized {
			t.Errorf("%s %s is not in the OpenAPI document (%v), yet answered %d", req.Method, req.URL.Path, err, resp.status)
		}
		return
	}
	in := &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true}}
	if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil && (resp.status < 400 || resp.status >= 500) {
		t.Errorf("%s %s is outside the OpenAPI document (%v), yet answered %d", req.Method, req.URL.Path, err, resp.status)
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.status, Header: resp.header,
		Body: io.NopCloser(bytes.NewReader(resp.body)), Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		t.Errorf("%s %s answered %d outside the OpenAPI document: %v\n%s", req.Method, req.URL.Path, resp.status, err, resp.body)
	}
	// default stands only for a 500: every other status is listed.
	if resp.status < 500 && route.Operation.Responses.Status(resp.status) == nil {
		t.Errorf("%s %s answered %d, a status the OpenAPI document does not list for %s", req.Method, req.URL.Path, resp.status, route.Operation.OperationID)
	}
}
