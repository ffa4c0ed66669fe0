package api

import (
	"crypto"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/feedsvc/feedsvc/app"
)

// Tokens issues and verifies bearer tokens: HS256 with a shared secret, or,
// when a public key is configured, RS256/ES256/EdDSA tokens from an external
// identity provider. The token's subject is the user ID.
type Tokens struct {
	secret []byte
	public crypto.PublicKey
}

// NewTokens builds Tokens from a secret and/or a PEM public key file.
func NewTokens(secret, publicKeyFile string) (*Tokens, error) {
	t := &Tokens{secret: []byte(secret)}
	if publicKeyFile != "" {
		pem, err := os.ReadFile(publicKeyFile)
		if err != nil {
			return nil, fmt.Errorf("jwt public key: %w", err)
		}
		for _, parse := range []func([]byte) (crypto.PublicKey, error){
			func(b []byte) (crypto.PublicKey, error) { return jwt.ParseRSAPublicKeyFromPEM(b) },
			func(b []byte) (crypto.PublicKey, error) { return jwt.ParseECPublicKeyFromPEM(b) },
			jwt.ParseEdPublicKeyFromPEM,
		} {
			if k, err := parse(pem); err == nil {
				t.public = k
				break
			}
		}
		if t.public == nil {
			return nil, fmt.Errorf("jwt public key %s: not an RSA, EC or Ed25519 PEM public key", publicKeyFile)
		}
	}
	if len(t.secret) == 0 && t.public == nil {
		return nil, errors.New("jwt: no secret and no public key configured")
	}
	return t, nil
}

// LocalSecret returns the development secret kept in dataDir/jwt.secret,
// creating it (random, mode 0600) on first use, so `feedsvc token` and
// `feedsvc serve` on the same data dir agree without configuration.
func LocalSecret(dataDir string) (string, error) {
	path := filepath.Join(dataDir, "jwt.secret")
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b)), nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("generate jwt secret: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return "", fmt.Errorf("create data dir: %w", err)
	}
	secret := hex.EncodeToString(buf)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) { // another process won the race
		return LocalSecret(dataDir)
	}
	if err != nil {
		return "", fmt.Errorf("create %s: %w", path, err)
	}
	if _, err := f.WriteString(secret + "\n"); err != nil {
		f.Close()
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return secret, f.Close()
}

// Issue returns an HS256 token for user valid for ttl.
func (t *Tokens) Issue(user string, ttl time.Duration) (string, error) {
	if !app.ValidUserID(user) {
		return "", fmt.Errorf("%w: user id %q must match ^[a-z0-9_]{1,32}$", app.ErrInvalid, user)
	}
	if len(t.secret) == 0 {
		return "", errors.New("jwt: tokens can only be issued with a shared secret")
	}
	now := time.Now()
	claims := jwt.RegisteredClaims{
		Subject:   user,
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(t.secret)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return s, nil
}

// Verify checks a token's signature and expiry and returns its user.
func (t *Tokens) Verify(token string) (string, error) {
	var claims jwt.RegisteredClaims
	_, err := jwt.ParseWithClaims(token, &claims, func(tok *jwt.Token) (any, error) {
		switch tok.Method.(type) {
		case *jwt.SigningMethodHMAC:
			if len(t.secret) > 0 {
				return t.secret, nil
			}
		case *jwt.SigningMethodRSA, *jwt.SigningMethodECDSA, *jwt.SigningMethodEd25519:
			if t.public != nil {
				return t.public, nil
			}
		}
		return nil, fmt.Errorf("unexpected signing method %s", tok.Method.Alg())
	}, jwt.WithExpirationRequired(), jwt.WithValidMethods([]string{"HS256", "RS256", "ES256", "EdDSA"}))
	if err != nil {
		return "", fmt.Errorf("invalid token: %w", err)
	}
	if !app.ValidUserID(claims.Subject) {
		return "", fmt.Errorf("invalid token: subject %q is not a valid user id", claims.Subject)
	}
	return claims.Subject, nil
}
