package api

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"

	"github.com/feedsvc/feedsvc/app"
)

// TokenConfig says how bearer tokens are verified and issued.
type TokenConfig struct {
	// Secret is the HS256 shared secret (at least MinSecret bytes).
	Secret string
	// PublicKeyFile is a PEM public key (RSA, EC or Ed25519) of an
	// identity provider.
	PublicKeyFile string
	// JWKSURL is an identity provider's JWKS endpoint: its keys are
	// fetched, cached, refreshed every hour and on an unknown kid, so a
	// rotation needs no restart.
	JWKSURL string
	// Issuer and Audience, when set, must be the token's iss and one of
	// its aud (and are put in the tokens Issue makes).
	Issuer, Audience string
	// Leeway is the clock skew allowed on exp, nbf and iat.
	Leeway time.Duration
	// MaxLifetime is the longest a token may be valid for, from its iat
	// (or from now without one) to its exp (0: no limit).
	MaxLifetime time.Duration
	// Log receives JWKS refresh failures (nil: discarded).
	Log *slog.Logger
}

// Token defaults.
const (
	DefaultLeeway      = 30 * time.Second
	DefaultMaxLifetime = 24 * time.Hour
	// MinSecret is the shortest HS256 secret accepted: RFC 7518 (3.2) asks
	// for a key at least as long as the hash output.
	MinSecret = 32
)

// Tokens issues and verifies bearer tokens: HS256 with a shared secret, or
// RS256/ES256/EdDSA tokens from an external identity provider, by a public
// key file or a JWKS endpoint. The token's subject is the user ID.
type Tokens struct {
	cfg    TokenConfig
	secret []byte
	public crypto.PublicKey
	jwks   keyfunc.Keyfunc
	parser *jwt.Parser
}

// NewTokens builds Tokens from cfg. ctx bounds the JWKS refreshes: they
// stop when it ends.
func NewTokens(ctx context.Context, cfg TokenConfig) (*Tokens, error) {
	t := &Tokens{cfg: cfg, secret: []byte(cfg.Secret)}
	if len(t.secret) > 0 && len(t.secret) < MinSecret {
		return nil, fmt.Errorf("jwt: the HS256 secret is %d bytes, shorter than %d", len(t.secret), MinSecret)
	}
	if cfg.PublicKeyFile != "" {
		pem, err := os.ReadFile(cfg.PublicKeyFile)
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
			return nil, fmt.Errorf("jwt public key %s: not an RSA, EC or Ed25519 PEM public key", cfg.PublicKeyFile)
		}
		if err := strongEnough(t.public); err != nil {
			return nil, fmt.Errorf("jwt public key %s: %w", cfg.PublicKeyFile, err)
		}
	}
	if cfg.JWKSURL != "" {
		log := cfg.Log
		if log == nil {
			log = slog.New(slog.DiscardHandler)
		}
		k, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{cfg.JWKSURL}, keyfunc.Override{
			HTTPTimeout: 10 * time.Second,
			// An unknown kid refreshes the set at most every 5 minutes
			// (keyfunc's default); a token with a made-up kid waits at
			// most this long, never for the limiter's next turn.
			RateLimitWaitMax: 10 * time.Second,
			RefreshErrorHandlerFunc: func(u string) func(context.Context, error) {
				return func(_ context.Context, err error) {
					log.Warn("jwt: JWKS refresh failed; the keys fetched before stay in use", "url", u, "err", err)
				}
			},
		})
		if err != nil {
			return nil, fmt.Errorf("jwt: JWKS %s: %w", cfg.JWKSURL, err)
		}
		t.jwks = k
	}
	if len(t.secret) == 0 && t.public == nil && t.jwks == nil {
		return nil, errors.New("jwt: no secret, public key or JWKS URL configured")
	}
	opts := []jwt.ParserOption{
		jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithLeeway(cfg.Leeway),
		jwt.WithValidMethods([]string{"HS256", "RS256", "ES256", "EdDSA"}),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	t.parser = jwt.NewParser(opts...)
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

// Issue returns an HS256 token for user valid for ttl, with the configured
// issuer and audience. A ttl over the maximum lifetime is refused
// (app.ErrInvalid); a negative one makes an expired token (for tests).
func (t *Tokens) Issue(user string, ttl time.Duration) (string, error) {
	if !app.ValidUserID(user) {
		return "", fmt.Errorf("%w: user id %q must match ^[a-z0-9_]{1,32}$", app.ErrInvalid, user)
	}
	if t.cfg.MaxLifetime > 0 && ttl > t.cfg.MaxLifetime {
		return "", fmt.Errorf("%w: a token lifetime of %s is over the maximum, %s (--jwt-max-lifetime)", app.ErrInvalid, ttl, t.cfg.MaxLifetime)
	}
	if len(t.secret) == 0 {
		return "", errors.New("jwt: tokens can only be issued with a shared secret")
	}
	now := time.Now()
	claims := jwt.RegisteredClaims{
		Subject:   user,
		Issuer:    t.cfg.Issuer,
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}
	if t.cfg.Audience != "" {
		claims.Audience = jwt.ClaimStrings{t.cfg.Audience}
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(t.secret)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return s, nil
}

// Verify checks a token's signature, expiry, issue time, issuer, audience
// and lifetime, and returns its user.
func (t *Tokens) Verify(token string) (string, error) {
	var claims jwt.RegisteredClaims
	if _, err := t.parser.ParseWithClaims(token, &claims, t.key); err != nil {
		return "", fmt.Errorf("invalid token: %w", err)
	}
	if limit := t.cfg.MaxLifetime; limit > 0 {
		from := time.Now()
		if claims.IssuedAt != nil {
			from = claims.IssuedAt.Time
		}
		if life := claims.ExpiresAt.Sub(from); life > limit+t.cfg.Leeway {
			return "", fmt.Errorf("invalid token: valid for %s, longer than the maximum lifetime, %s", life.Round(time.Second), limit)
		}
	}
	if !app.ValidUserID(claims.Subject) {
		return "", fmt.Errorf("invalid token: subject %q is not a valid user id", claims.Subject)
	}
	return claims.Subject, nil
}

// MinRSABits is the smallest RSA key a token may be checked with (NIST SP
// 800-131A; a 1024-bit modulus is within reach of a determined attacker).
const MinRSABits = 2048

// strongEnough refuses an RSA key shorter than MinRSABits.
func strongEnough(k any) error {
	if r, ok := k.(*rsa.PublicKey); ok && r.N.BitLen() < MinRSABits {
		return fmt.Errorf("an RSA key of %d bits, shorter than %d", r.N.BitLen(), MinRSABits)
	}
	return nil
}

// key finds the key of tok by its method: the secret for HMAC, else the
// public key or the JWKS (never a JWKS key for HMAC: an "oct" key there
// would let whoever publishes it mint tokens).
func (t *Tokens) key(tok *jwt.Token) (any, error) {
	switch tok.Method.(type) {
	case *jwt.SigningMethodHMAC:
		if len(t.secret) > 0 {
			return t.secret, nil
		}
	case *jwt.SigningMethodRSA, *jwt.SigningMethodECDSA, *jwt.SigningMethodEd25519:
		if t.public != nil {
			return t.public, nil
		}
		if t.jwks != nil {
			k, err := t.jwks.Keyfunc(tok)
			if err == nil {
				err = strongEnough(k)
			}
			return k, err
		}
	}
	return nil, fmt.Errorf("unexpected signing method %s", tok.Method.Alg())
}
