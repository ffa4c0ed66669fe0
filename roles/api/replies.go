package api

import (
	"github.com/labstack/echo/v4"
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
	return h.postsPage(c, posts, next)
}
