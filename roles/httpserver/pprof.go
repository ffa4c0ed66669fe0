package httpserver

import (
	"net/http"
	"net/http/pprof"

	"github.com/labstack/echo/v4"
)

// EnablePprof serves Go's profiler under /debug/pprof/ (CPU, heap,
// goroutines, traces). It shares the API's listener, so it is off unless
// --pprof asks for it.
func EnablePprof(e *echo.Echo) {
	g := e.Group("/debug/pprof")
	g.GET("/cmdline", echo.WrapHandler(http.HandlerFunc(pprof.Cmdline)))
	g.GET("/profile", echo.WrapHandler(http.HandlerFunc(pprof.Profile)))
	g.GET("/symbol", echo.WrapHandler(http.HandlerFunc(pprof.Symbol)))
	g.GET("/trace", echo.WrapHandler(http.HandlerFunc(pprof.Trace)))
	g.GET("/*", echo.WrapHandler(http.HandlerFunc(pprof.Index))) // the index and named profiles
}
