package api_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/feedsvc/feedsvc/app"
	"github.com/feedsvc/feedsvc/roles/api"
)

const testSecret = "a-test-secret-of-enough-length-0123456789"

func newTokens(t *testing.T, cfg api.TokenConfig) *api.Tokens {
	t.Helper()
	tok, err := api.NewTokens(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// sign makes an HS256 token with claims.
func sign(t *testing.T, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestTokenChecks: the issuer, audience, leeway, issue time and lifetime
// rules, each on a token that breaks only that rule.
func TestTokenChecks(t *testing.T) {
	tokens := newTokens(t, api.TokenConfig{Secret: testSecret, Issuer: "https://id.example", Audience: "feedsvc",
		Leeway: 30 * time.Second, MaxLifetime: 24 * time.Hour})
	now := time.Now()
	claims := func(change func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{"sub": "alice", "iss": "https://id.example", "aud": []string{"other", "feedsvc"},
			"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
		if change != nil {
			change(c)
		}
		return c
	}
	for _, c := range []struct {
		name   string
		claims jwt.MapClaims
		ok     bool
	}{
		{"valid", claims(nil), true},
		{"foreign aud", claims(func(c jwt.MapClaims) { c["aud"] = "another-service" }), false},
		{"no aud", claims(func(c jwt.MapClaims) { delete(c, "aud") }), false},
		{"foreign iss", claims(func(c jwt.MapClaims) { c["iss"] = "https://evil.example" }), false},
		{"no iss", claims(func(c jwt.MapClaims) { delete(c, "iss") }), false},
		{"expired within the leeway", claims(func(c jwt.MapClaims) { c["exp"] = now.Add(-10 * time.Second).Unix() }), true},
		{"expired beyond the leeway", claims(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Minute).Unix() }), false},
		{"no exp", claims(func(c jwt.MapClaims) { delete(c, "exp") }), false},
		{"nbf 5 s ahead (skew)", claims(func(c jwt.MapClaims) { c["nbf"] = now.Add(5 * time.Second).Unix() }), true},
		{"nbf beyond the leeway", claims(func(c jwt.MapClaims) { c["nbf"] = now.Add(time.Minute).Unix() }), false},
		{"iat 10 s ahead (skew)", claims(func(c jwt.MapClaims) { c["iat"] = now.Add(10 * time.Second).Unix() }), true},
		{"iat in the future", claims(func(c jwt.MapClaims) { c["iat"] = now.Add(365 * 24 * time.Hour).Unix() }), false},
		{"24 h lifetime", claims(func(c jwt.MapClaims) { c["exp"] = now.Add(24 * time.Hour).Unix() }), true},
		{"100-year token", claims(func(c jwt.MapClaims) { c["exp"] = now.Add(100 * 365 * 24 * time.Hour).Unix() }), false},
		{"25 h without iat", claims(func(c jwt.MapClaims) { delete(c, "iat"); c["exp"] = now.Add(25 * time.Hour).Unix() }), false},
		{"bad subject", claims(func(c jwt.MapClaims) { c["sub"] = "Alice!" }), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			user, err := tokens.Verify(sign(t, c.claims))
			switch {
			case c.ok && (err != nil || user != "alice"):
				t.Fatalf("refused: %q, %v", user, err)
			case !c.ok && err == nil:
				t.Fatalf("accepted as %q", user)
			}
		})
	}
}

// TestIssueCarriesIssuerAndAudience: a token Issue makes passes the checks
// of the same config and fails those of another; a lifetime over the
// maximum is refused.
func TestIssueCarriesIssuerAndAudience(t *testing.T) {
	cfg := api.TokenConfig{Secret: testSecret, Issuer: "feedsvc-test", Audience: "feedsvc", MaxLifetime: time.Hour}
	tokens := newTokens(t, cfg)
	tok, err := tokens.Issue("alice", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if user, err := tokens.Verify(tok); err != nil || user != "alice" {
		t.Fatalf("own token: %q, %v", user, err)
	}
	cfg.Audience = "another-service"
	if _, err := newTokens(t, cfg).Verify(tok); err == nil {
		t.Fatal("a service with another audience accepted the token")
	}
	if _, err := tokens.Issue("alice", 2*time.Hour); !errors.Is(err, app.ErrInvalid) {
		t.Fatalf("Issue over the maximum lifetime: %v, want app.ErrInvalid", err)
	}
}

func TestShortSecretRefused(t *testing.T) {
	if _, err := api.NewTokens(t.Context(), api.TokenConfig{Secret: "x"}); err == nil || !strings.Contains(err.Error(), "shorter than 32") {
		t.Fatalf("a 1-byte secret: %v", err)
	}
	if _, err := api.NewTokens(t.Context(), api.TokenConfig{}); err == nil {
		t.Fatal("no key at all was accepted")
	}
}

// jwksServer serves a JWKS of one Ed25519 key, which rotate replaces.
type jwksServer struct {
	mu   sync.Mutex
	kid  string
	priv ed25519.PrivateKey
	hits int
}

func (j *jwksServer) rotate(t *testing.T, kid string) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.kid, j.priv = kid, priv
}

func (j *jwksServer) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.hits++
	pub := j.priv.Public().(ed25519.PublicKey)
	_ = json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{
		"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": j.kid,
		"x": base64.RawURLEncoding.EncodeToString(pub),
	}}})
}

// token signs a token for user with the current key.
func (j *jwksServer) token(t *testing.T, user string) string {
	j.mu.Lock()
	defer j.mu.Unlock()
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{
		"sub": user, "iss": "https://id.example", "aud": "feedsvc",
		"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()})
	tok.Header["kid"] = j.kid
	s, err := tok.SignedString(j.priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestJWKSKeyRotation: tokens signed by an identity provider's key are
// checked against its JWKS endpoint; after the provider rotates its key,
// a token with the new kid is accepted without a restart (the unknown kid
// refreshes the set). A forged HS256 token is not checked against the JWKS.
func TestJWKSKeyRotation(t *testing.T) {
	idp := &jwksServer{}
	idp.rotate(t, "key-1")
	srv := httptest.NewServer(idp)
	defer srv.Close()
	tokens := newTokens(t, api.TokenConfig{JWKSURL: srv.URL, Issuer: "https://id.example", Audience: "feedsvc",
		Leeway: 30 * time.Second, MaxLifetime: 24 * time.Hour})

	if user, err := tokens.Verify(idp.token(t, "alice")); err != nil || user != "alice" {
		t.Fatalf("token of the first key: %q, %v", user, err)
	}
	old := idp.token(t, "alice")
	idp.rotate(t, "key-2")
	if user, err := tokens.Verify(idp.token(t, "bob")); err != nil || user != "bob" {
		t.Fatalf("token of the rotated key: %q, %v", user, err)
	}
	if _, err := tokens.Verify(old); err == nil {
		t.Error("a token of the retired key is still accepted after the set was refreshed")
	}
	forged := sign(t, jwt.MapClaims{"sub": "mallory", "iss": "https://id.example", "aud": "feedsvc",
		"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()})
	if _, err := tokens.Verify(forged); err == nil {
		t.Error("an HS256 token was accepted by a JWKS-only config")
	}
}

// TestShortRSAKeysRefused: an RSA key under api.MinRSABits checks no
// token, as a key file (refused at start) or from a JWKS (the token is
// refused); a 2048-bit one does.
func TestShortRSAKeysRefused(t *testing.T) {
	for _, bits := range []int{1024, api.MinRSABits} {
		priv, err := rsa.GenerateKey(rand.Reader, bits)
		if err != nil {
			t.Fatal(err)
		}
		der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(t.TempDir(), "key.pem")
		if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err = api.NewTokens(t.Context(), api.TokenConfig{PublicKeyFile: file})
		if short := bits < api.MinRSABits; short != (err != nil) || short && !strings.Contains(err.Error(), "1024 bits, shorter than 2048") {
			t.Errorf("a %d-bit key file: %v", bits, err)
		}

		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_ = json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{
				"kty": "RSA", "alg": "RS256", "use": "sig", "kid": "k",
				"n": base64.RawURLEncoding.EncodeToString(priv.N.Bytes()),
				"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(priv.E)).Bytes()),
			}}})
		}))
		tokens := newTokens(t, api.TokenConfig{JWKSURL: srv.URL, Issuer: "https://id.example", Audience: "feedsvc",
			Leeway: 30 * time.Second, MaxLifetime: 24 * time.Hour})
		tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"sub": "alice", "iss": "https://id.example", "aud": "feedsvc",
			"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()})
		tok.Header["kid"] = "k"
		signed, err := tok.SignedString(priv)
		if err != nil {
			t.Fatal(err)
		}
		_, err = tokens.Verify(signed)
		if short := bits < api.MinRSABits; short != (err != nil) {
			t.Errorf("a token of a %d-bit JWKS key: %v", bits, err)
		}
		srv.Close()
	}
}
