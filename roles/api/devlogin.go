package api

import (
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/feedsvc/feedsvc/app"
)

// DevLoginPath is the route that signs a token for any user name, present
// only when Deps.DevLogin is set (the embedded default).
const DevLoginPath = "/v1/dev/login"

type devLoginRequest struct {
	User string `json:"user"`
}

type devLoginAnswer struct {
	User  string `json:"user"`
	Token string `json:"token"`
}

// proxyHeaders are the headers a reverse proxy adds: a request with one came
// through a proxy, so the listener being on loopback says nothing of where
// its client is.
var proxyHeaders = []string{"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Real-Ip"}

// unproxied refuses (403) a request that came through a reverse proxy: dev
// login is safe only because its listener is reachable from this machine
// alone, which a proxy on the same host would make untrue.
func unproxied(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		for _, h := range proxyHeaders {
			if c.Request().Header.Get(h) != "" {
				return echo.NewHTTPError(http.StatusForbidden, fmt.Sprintf("dev login answers only direct requests, and this one came through a proxy (%s)", h))
			}
		}
		return next(c)
	}
}

// devLogin answers a token for the user named in the body: what `feedsvc
// token` prints, without a terminal.
func devLogin(issue func(string) (string, error)) echo.HandlerFunc {
	return func(c echo.Context) error {
		var req devLoginRequest
		if err := decode(c, &req); err != nil {
			return err
		}
		if !app.ValidUserID(req.User) {
			return echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf("user id %q must match ^[a-z0-9_]{1,32}$", req.User))
		}
		token, err := issue(req.User)
		if err != nil {
			return fmt.Errorf("dev login: %w", err)
		}
		c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
		return c.JSON(http.StatusOK, devLoginAnswer{User: req.User, Token: token})
	}
}
