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
// goroutines, traces), on the operator's router; it is off unless --pprof
// asks for it (the command line it shows may hold secrets).
func EnablePprof(e *echo.Echo) {
	g := e.Group(strings.TrimSuffix(pprofPrefix, "/"), AddressedHost)
	g.GET("/cmdline", echo.WrapHandler(http.HandlerFunc(pprof.Cmdline)))
	g.GET("/profile", echo.WrapHandler(http.HandlerFunc(pprof.Profile)))
	g.GET("/symbol", echo.WrapHandler(http.HandlerFunc(pprof.Symbol)))
	g.GET("/trace", echo.WrapHandler(http.HandlerFunc(pprof.Trace)))
	g.GET("/*", echo.WrapHandler(http.HandlerFunc(pprof.Index))) // the index and named profiles
}
