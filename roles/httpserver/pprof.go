package httpserver

import (
	"net/http"
	"net/http/pprof"
	"strings"

	"github.com/labstack/echo/v4"
)

// pprofPrefix is where the profiler lives; its requests have no deadline.
const pprofPrefix = "/debug/pprof/"

// EnablePprof serves Go's profiler under /debug/pprof/ (CPU, heap,
// goroutines, traces). It shares the API's listener, so it is off unless
// --pprof asks for it.
func EnablePprof(e *echo.Echo) {
	g := e.Group(strings.TrimSuffix(pprofPrefix, "/"))
	g.GET("/cmdline", echo.WrapHandler(http.HandlerFunc(pprof.Cmdline)))
	g.GET("/profile", echo.WrapHandler(http.HandlerFunc(pprof.Profile)))
	g.GET("/symbol", echo.WrapHandler(http.HandlerFunc(pprof.Symbol)))
	g.GET("/trace", echo.WrapHandler(http.HandlerFunc(pprof.Trace)))
	g.GET("/*", echo.WrapHandler(http.HandlerFunc(pprof.Index))) // the index and named profiles
}
