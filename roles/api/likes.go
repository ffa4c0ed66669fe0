package api

import (
	"github.com/labstack/echo/v4"

	"github.com/feedsvc/feedsvc/app"
)

// views renders posts for the caller with their like counts and the
// caller's likes: one read for the whole page.
func (h *handlers) views(c echo.Context, posts []app.Post) ([]app.PostView, error) {
	return h.svc.ViewPosts(c.Request().Context(), caller(c), posts)
}
