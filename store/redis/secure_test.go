package redis_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/feedsvc/feedsvc/internal/setting"
	"github.com/feedsvc/feedsvc/internal/testenv"
	redisstore "github.com/feedsvc/feedsvc/store/redis"
)

// TestSecureRedis runs against the secured Redis of scripts/testinfra
// --secure (scripts/test runs it in its secured pass): the configured
// client gets in; a wrong password, a CA that did not sign the server's
// certificate and a plaintext client are refused at Open, each with an
// error that says so.
func TestSecureRedis(t *testing.T) {
	addr := testenv.Require(t, "FEEDSVC_REDIS_ADDR")
	testenv.Require(t, "FEEDSVC_REDIS_TLS_CA")
	good := secured(redisstore.Config{Addrs: []string{addr}, Timeout: 2 * time.Second})
	c, err := redisstore.Open(context.Background(), good, nil)
	if err != nil {
		t.Fatalf("the configured client: %v", err)
	}
	if err := c.Do(context.Background(), c.B().Ping().Build()).Error(); err != nil {
		t.Fatalf("PING: %v", err)
	}
	c.Close()

	wrongPassword := good
	wrongPassword.Password = "not-the-password"
	wrongCA := good
	wrongCA.TLS.CAFile = testenv.ForeignCA(t)
	plaintext := good
	plaintext.TLS = setting.TLS{}
	for _, c := range []struct {
		name string
		cfg  redisstore.Config
		want string
	}{
		{"wrong password", wrongPassword, "authentication refused"},
		{"foreign CA", wrongCA, "certificate"},
		{"plaintext", plaintext, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			client, err := redisstore.Open(context.Background(), c.cfg, nil)
			if err == nil {
				client.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Open: %v, want an error mentioning %q", err, c.want)
			}
		})
	}
}
