package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Client calls the HTTP API as one user.
type Client struct {
	HTTP  *http.Client
	Base  func() string // the api's base URL (it changes when the api restarts)
	User  string
	Token string
}

// Answer is one HTTP exchange: Status 0 means no answer (a transport error
// or the client's timeout), with Err saying which.
type Answer struct {
	Status  int
	Header  http.Header
	Body    []byte
	Err     error
	Latency time.Duration
}

// Do sends one request; body, if not nil, is sent as JSON.
func (c *Client) Do(ctx context.Context, method, path string, body any) Answer {
	var rd io.Reader
	if body != nil {
		j, err := json.Marshal(body)
		if err != nil {
			return Answer{Err: err}
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base()+path, rd)
	if err != nil {
		return Answer{Err: err}
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	start := time.Now()
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return Answer{Err: err, Latency: time.Since(start)}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	a := Answer{Status: resp.StatusCode, Header: resp.Header, Body: b, Latency: time.Since(start)}
	if err != nil {
		// The status line arrived: the server answered, whatever the body.
		a.Err = err
	}
	return a
}

// getJSON is a GET that wants 200 and decodes the body into v.
func (c *Client) getJSON(ctx context.Context, path string, v any) error {
	a := c.Do(ctx, http.MethodGet, path, nil)
	if a.Status != http.StatusOK {
		if a.Err != nil {
			return fmt.Errorf("GET %s as %s: %w", path, c.User, a.Err)
		}
		return fmt.Errorf("GET %s as %s: %d %s", path, c.User, a.Status, a.Body)
	}
	if err := json.Unmarshal(a.Body, v); err != nil {
		return fmt.Errorf("GET %s as %s: decode %s: %w", path, c.User, a.Body, err)
	}
	return nil
}

// Post is a post as the API returns it.
type Post struct {
	ID        string `json:"id"`
	Author    string `json:"author"`
	Text      string `json:"text"`
	Moderated string `json:"moderated,omitempty"`
	LikeCount int    `json:"like_count"`
	// InReplyTo and InReplyToAuthor name a reply's parent post.
	InReplyTo       string `json:"in_reply_to,omitempty"`
	InReplyToAuthor string `json:"in_reply_to_author,omitempty"`
	ReplyCount      int    `json:"reply_count"`
	RepostCount     int    `json:"repost_count"`
	// RepostedBy and RepostID: a repost, rendered as its original.
	RepostedBy string `json:"reposted_by,omitempty"`
	RepostID   string `json:"repost_id,omitempty"`
}

// Notification is one entry of GET /v1/notifications.
type Notification struct {
	ID    string `json:"id"`
	Kind  string `json:"kind"`
	Actor string `json:"actor"`
	Post  string `json:"post_id"`
}

type page[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor"`
}

// pages reads every page of a listing (path already has its query, without
// the cursor) and returns the pages, each as read.
func pages[T any](ctx context.Context, c *Client, path string) ([][]T, error) {
	var out [][]T
	cursor := ""
	for range 10000 {
		var p page[T]
		if err := c.getJSON(ctx, path+"&cursor="+cursor, &p); err != nil {
			return nil, err
		}
		out = append(out, p.Items)
		if p.NextCursor == "" {
			return out, nil
		}
		cursor = p.NextCursor
	}
	return nil, fmt.Errorf("GET %s: more than 10000 pages", path)
}

func flatten[T any](ps [][]T) []T {
	var out []T
	for _, p := range ps {
		out = append(out, p...)
	}
	return out
}
