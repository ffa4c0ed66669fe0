package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/feedsvc/feedsvc/app"
)

// like answers 204 once the caller likes the post (again: harmless). 404
// for a post the caller cannot see (unknown, deleted, moderated and not
// theirs), 403 across a block with its author either way: the post may be
// readable, but a like across a block would reach its author.
func (h *handlers) like(c echo.Context) error {
	id, err := postID(c)
	if err != nil {
		return err
	}
	if err := h.svc.Like(c.Request().Context(), caller(c), id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// unlike answers 204 once the caller does not like the post, also when it
// did not; 404 for a post the caller cannot see.
func (h *handlers) unlike(c echo.Context) error {
	id, err := postID(c)
	if err != nil {
		return err
	}
	if err := h.svc.Unlike(c.Request().Context(), caller(c), id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// views renders posts for the caller with their like counts and the
// caller's likes: one read for the whole page.
func (h *handlers) views(c echo.Context, posts []app.Post) ([]app.PostView, error) {
	return h.svc.ViewPosts(c.Request().Context(), caller(c), posts)
}
