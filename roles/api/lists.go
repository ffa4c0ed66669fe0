package api

import (
	"context"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/feedsvc/feedsvc/app"
)

// Lists (app/list.go): only the owner sees or changes a list, and any
// other caller gets 404, as for a list that does not exist.

// listRequest is the body of POST /v1/lists and PATCH /v1/lists/{id}.
type listRequest struct {
	Name *string `json:"name"`
}

// listName decodes a listRequest and returns its name, required.
func listName(c echo.Context) (string, error) {
	var req listRequest
	if err := decode(c, &req); err != nil {
		return "", err
	}
	if req.Name == nil {
		return "", echo.NewHTTPError(http.StatusBadRequest, `field "name" is required`)
	}
	return *req.Name, nil
}

// listID parses the :id parameter; a malformed ID names no list, so 404.
func listID(c echo.Context) (app.ID, error) {
	id, err := app.ParseID(c.Param("id"))
	if err != nil {
		return 0, echo.NewHTTPError(http.StatusNotFound, fmt.Sprintf("list %q not found", c.Param("id")))
	}
	return id, nil
}

// createList answers 201 with the new list; 400 for a bad name, 409
// past app.MaxLists.
func (h *handlers) createList(c echo.Context) error {
	name, err := listName(c)
	if err != nil {
		return err
	}
	l, err := h.svc.CreateList(c.Request().Context(), caller(c), name)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, "/v1/lists/"+l.ID.String())
	return c.JSON(http.StatusCreated, l)
}

// lists answers the caller's lists, oldest first, in one page (a user
// has at most app.MaxLists).
func (h *handlers) lists(c echo.Context) error {
	ls, err := h.svc.OwnerLists(c.Request().Context(), caller(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, page[app.List]{Items: nonNil(ls)})
}

func (h *handlers) getList(c echo.Context) error {
	id, err := listID(c)
	if err != nil {
		return err
	}
	l, err := h.svc.GetList(c.Request().Context(), caller(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, l)
}

// renameList answers 200 with the renamed list; the name is checked
// before the list, so a bad one changes nothing.
func (h *handlers) renameList(c echo.Context) error {
	id, err := listID(c)
	if err != nil {
		return err
	}
	name, err := listName(c)
	if err != nil {
		return err
	}
	l, err := h.svc.RenameList(c.Request().Context(), caller(c), id, name)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, l)
}

func (h *handlers) deleteList(c echo.Context) error {
	id, err := listID(c)
	if err != nil {
		return err
	}
	if err := h.svc.DeleteList(c.Request().Context(), caller(c), id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// addListMember answers 204 once the user is on the list (again:
// harmless); 404 for an unknown user, 403 across a block either way, 409
// past app.MaxListMembers.
func (h *handlers) addListMember(c echo.Context) error {
	return h.changeListMember(c, h.svc.AddListMember)
}

// removeListMember answers 204 once the user is not on the list, also
// when it was not.
func (h *handlers) removeListMember(c echo.Context) error {
	return h.changeListMember(c, h.svc.RemoveListMember)
}

// changeListMember applies change to the list :id and the user :user for
// the caller, and answers 204.
func (h *handlers) changeListMember(c echo.Context, change func(ctx context.Context, owner string, id app.ID, member string) error) error {
	id, err := listID(c)
	if err != nil {
		return err
	}
	u, err := userParam(c)
	if err != nil {
		return err
	}
	if err := change(c.Request().Context(), caller(c), id, u); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// listMembers pages through a list's members by name.
func (h *handlers) listMembers(c echo.Context) error {
	id, err := listID(c)
	if err != nil {
		return err
	}
	limit, cursor, err := pageParams(c)
	if err != nil {
		return err
	}
	users, next, err := h.svc.ListMembers(c.Request().Context(), caller(c), id, cursor, limit)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, page[string]{Items: nonNil(users), NextCursor: next})
}

// listFeed answers a page of the list's timeline, rendered as every page
// of posts is (postsPage).
func (h *handlers) listFeed(c echo.Context) error {
	id, err := listID(c)
	if err != nil {
		return err
	}
	limit, cursor, err := pageParams(c)
	if err != nil {
		return err
	}
	fp, err := h.svc.ReadListFeed(c.Request().Context(), caller(c), id, cursor, limit)
	if err != nil {
		return err
	}
	return h.postsPage(c, fp.Items, fp.NextCursor)
}
