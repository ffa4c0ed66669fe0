package cassandra

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/internal/setting"
	"github.com/feedsvc/feedsvc/internal/testenv"
)

// TestSecureCassandra runs against the secured Cassandra of
// scripts/testinfra --secure (PasswordAuthenticator, client encryption
// required): the configured client migrates and opens a keyspace; a wrong
// password or a foreign CA is refused at Open with an error that names the
// login settings, not taken for an outage; a plaintext client gets nowhere.
func TestSecureCassandra(t *testing.T) {
	testenv.Require(t, "FEEDSVC_CASSANDRA_TLS_CA")
	cfg, s := migrated(t, "feedsvc_secure_")
	if err := s.Ping(context.Background()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	wrongPassword := cfg
	wrongPassword.Password = "not-the-password"
	wrongCA := cfg
	wrongCA.TLS.CAFile = testenv.ForeignCA(t)
	for _, c := range []struct {
		name string
		cfg  Config
	}{{"wrong password", wrongPassword}, {"foreign CA", wrongCA}} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Open(context.Background(), c.cfg, nil)
			if err == nil || !strings.Contains(err.Error(), "refused this client's login or TLS settings") || errors.Is(err, app.ErrUnavailable) {
				t.Fatalf("Open: %v, want a refusal of the login settings", err)
			}
		})
	}
	t.Run("plaintext", func(t *testing.T) {
		plain := cfg
		plain.TLS = setting.TLS{}
		plain.Timeout = 3e9
		if _, err := Open(context.Background(), plain, nil); err == nil {
			t.Fatal("a plaintext client opened the store")
		}
	})
}
