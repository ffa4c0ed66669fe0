package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/labstack/echo/v4"

	"github.com/feedsvc/feedsvc/roles/api"
)

// TestOpenAPIDocument: the document is valid OpenAPI 3.1, served at
// /openapi.json without a token, and names exactly the routes the router
// has (the end-to-end tests check requests and answers against it).
func TestOpenAPIDocument(t *testing.T) {
	raw, doc := loadDocument(t)
	if doc.OpenAPIMajorMinor() != "3.1" {
		t.Fatalf("openapi %q, want 3.1", doc.OpenAPI)
	}

	// With dev login, so that every route exists.
	s := newServer(t, options{deps: func(d *api.Deps) {
		d.DevLogin = func(u string) (string, error) { return tokenPrefix + u, nil }
	}})
	rec := httptest.NewRecorder()
	s.h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/openapi.json", nil))
	if rec.Code != http.StatusOK || rec.Body.String() != string(raw) {
		t.Fatalf("GET /openapi.json: %d, %d bytes", rec.Code, rec.Body.Len())
	}

	param := regexp.MustCompile(`:(\w+)`)
	var routes []string
	for _, r := range s.h.(*echo.Echo).Routes() {
		if r.Method == echo.RouteNotFound { // a group's catch-all, answering 404
			continue
		}
		if api.WebRoute(r.Path) { // the web app's page and files, not the API
			continue
		}
		routes = append(routes, r.Method+" "+param.ReplaceAllString(r.Path, "{$1}"))
	}
	var documented []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented = append(documented, method+" "+path)
		}
	}
	slices.Sort(routes)
	slices.Sort(documented)
	routes = slices.Compact(routes)
	if !slices.Equal(routes, documented) {
		t.Fatalf("routes and document differ:\nroutes:     %v\ndocumented: %v", routes, documented)
	}
}

// loadDocument returns the served document, raw and loaded, after
// checking that it is valid.
func loadDocument(t *testing.T) ([]byte, *openapi3.T) {
	t.Helper()
	raw, err := api.OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("invalid OpenAPI document: %v", err)
	}
	return raw, doc
}
