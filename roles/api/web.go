package api

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/feedsvc/feedsvc/internal/httpserver"
)

// web is the feed app: plain HTML, CSS and ES modules, no build step.
//
//go:embed web
var web embed.FS

// webPrefix is where the app's files (other than its page) are served.
const webPrefix = "/app/"

// WebRoute reports whether a router path belongs to the web app rather than
// to the API (the OpenAPI document describes only the API).
func WebRoute(path string) bool { return path == "/" || strings.HasPrefix(path, webPrefix) }

// serveWeb adds the app: its page at / and its files under /app/, without
// authentication (the page asks for a token, or signs in with dev login).
// The page is told whether dev login exists, so it asks for nothing it
// cannot get.
func serveWeb(e *echo.Echo, devLogin bool) error {
	files, err := fs.Sub(web, "web")
	if err != nil {
		return fmt.Errorf("web app: %w", err)
	}
	page, err := fs.ReadFile(files, "index.html")
	if err != nil {
		return fmt.Errorf("web app: %w", err)
	}
	if devLogin {
		page = bytes.Replace(page, []byte(`data-dev-login="off"`), []byte(`data-dev-login="on"`), 1)
	}
	headers := httpserver.PageHeaders
	e.GET("/", func(c echo.Context) error {
		headers(c.Response().Header())
		return c.HTMLBlob(http.StatusOK, page)
	})
	static := http.StripPrefix(webPrefix, http.FileServerFS(files))
	e.GET(webPrefix+"*", func(c echo.Context) error {
		name := strings.TrimPrefix(c.Request().URL.Path, webPrefix)
		if name == "" || strings.HasSuffix(name, "/") {
			return echo.NewHTTPError(http.StatusNotFound, "not found")
		}
		headers(c.Response().Header())
		static.ServeHTTP(c.Response(), c.Request())
		return nil
	})
	return nil
}
