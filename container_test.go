package main

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestContainerBuild checks what the Dockerfile and .dockerignore promise
// without a container engine: the build image's Go is go.mod's, the
// version and commit are stamped where the binary reads them, the data
// directory exists for the nonroot user, and neither the repository's
// history nor local data (the embedded default's JWT secret) enters the
// build context.
func TestContainerBuild(t *testing.T) {
	read := func(name string) string {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	gomod, dockerfile := read("go.mod"), read("Dockerfile")
	goDirective := regexp.MustCompile(`(?m)^go (\S+)$`).FindStringSubmatch(gomod)
	goImage := regexp.MustCompile(`(?m)^ARG GO_VERSION=(\S+)$`).FindStringSubmatch(dockerfile)
	if goDirective == nil || goImage == nil || goDirective[1] != goImage[1] {
		t.Errorf("go.mod's go directive %v and the Dockerfile's GO_VERSION %v differ", goDirective, goImage)
	}
	for _, want := range []string{
		"FROM golang:${GO_VERSION} AS build",
		"-X github.com/feedsvc/feedsvc/internal/buildinfo.Version=${VERSION}",
		"-X github.com/feedsvc/feedsvc/internal/buildinfo.Commit=${COMMIT}",
		"COPY --from=build --chown=65532:65532 /out/data /data",
		"USER 65532:65532",
		"FEEDSVC_DATA_DIR=/data",
	} {
		if !strings.Contains(dockerfile, want) {
			t.Errorf("the Dockerfile lacks %q", want)
		}
	}
	var ignored []string
	for _, line := range strings.Split(read(".dockerignore"), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			ignored = append(ignored, line)
		}
	}
	for _, want := range []string{".git", "data", "feedsvc"} {
		if !slices.Contains(ignored, want) {
			t.Errorf(".dockerignore does not exclude %s", want)
		}
	}
}
