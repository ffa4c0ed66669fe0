package api

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// repost answers 204 once the caller reposted the post (again: harmless,
// nothing new is made). 404 for a post the caller cannot see, 403 across a
// block with its author either way, as for a like. A repost's ID reposts
// its original.
func (h *handlers) repost(c echo.Context) error {
	id, err := postID(c)
	if err != nil {
		return err
	}
	if _, err := h.svc.Repost(c.Request().Context(), caller(c), id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// unrepost answers 204 once the caller's repost of the post is taken back,
// also when there was none; 404 for a post the caller cannot see and never
// reposted. Allowed across a block.
func (h *handlers) unrepost(c echo.Context) error {
	id, err := postID(c)
	if err != nil {
		return err
	}
	if err := h.svc.Unrepost(c.Request().Context(), caller(c), id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
