package deploy

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/feedsvc/feedsvc/deploy/internal/rolefiles"
)

// TestRoleFiles checks that the parts of the deployment files that follow
// the role table are as `go generate` writes them from the built binary's
// table: a new role is deployed by running it, not by editing them.
func TestRoleFiles(t *testing.T) {
	roles, err := rolefiles.Load(binary)
	if err != nil {
		t.Fatal(err)
	}
	files, err := rolefiles.Render(".", roles)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		have, err := os.ReadFile(filepath.FromSlash(f.Path))
		if err != nil {
			t.Errorf("%v: run `cd deploy && go generate`", err)
			continue
		}
		if !bytes.Equal(have, f.Content) {
			t.Errorf("%s is not as generated from the role table: run `cd deploy && go generate`", f.Path)
		}
	}
}
