package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/feedsvc/feedsvc/app"
)

// replies answers a page of the post's direct replies, oldest first, with
// their counts. 404 for a post the caller cannot see, 403 across a block
// with its author (as replying to it).
func (h *handlers) replies(c echo.Context) error {
	id, err := postID(c)
	if err != nil {
		return err
	}
	limit, cursor, err := pageParams(c)
	if err != nil {
		return err
	}
	posts, next, err := h.svc.RepliesTo(c.Request().Context(), caller(c), id, cursor, limit)
	if err != nil {
		return err
	}
	v, err := h.views(c, posts)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, page[app.PostView]{Items: v, NextCursor: next})
}
