package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/spf13/cobra"
)

// defaultHealthURL is the readiness of a process in the image, whose
// FEEDSVC_HTTP_ADDR is 0.0.0.0:8080.
const defaultHealthURL = "http://127.0.0.1:8080/readyz"

// healthcheckCmd is a container health check for the image, which has no
// shell and no curl (distroless): docker compose runs
// `/feedsvc healthcheck` in the container. It reads no config.
func healthcheckCmd() *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "healthcheck [URL]",
		Short: "Exit 0 if URL answers 2xx (default " + defaultHealthURL + "), else 1: a container health check",
		Long: `Gets URL, by default this container's /readyz (` + defaultHealthURL + `), and exits 0 if it
answers 2xx within --timeout, else prints why and exits 1. The image has no shell or curl, so
docker compose's health checks run it:

  healthcheck:
    test: ["CMD", "/feedsvc", "healthcheck"]

Use /healthz (liveness: the process runs) instead of /readyz (readiness: its backends answer
and it is not draining) where a failure should only restart the container.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			target := defaultHealthURL
			if len(args) == 1 {
				target = args[0]
			}
			if u, err := url.Parse(target); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return usageError{fmt.Errorf("healthcheck: %q is not an http(s) URL", target)}
			}
			ctx, cancel := context.WithTimeout(context.WithoutCancel(cmd.Context()), timeout)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
			if err != nil {
				return usageError{err}
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return fmt.Errorf("healthcheck: %w", err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			if resp.StatusCode < 200 || resp.StatusCode > 299 {
				return fmt.Errorf("healthcheck: %s answered %s: %s", target, resp.Status, body)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %s\n", target, resp.Status)
			return nil
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 3*time.Second, "how long to wait for the answer")
	return cmd
}
