package events

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/IBM/sarama"
	"github.com/xdg-go/scram"

	"github.com/feedsvc/feedsvc/internal/setting"
)

// SASL mechanisms a client may log in with.
const (
	SASLPlain       = "PLAIN"
	SASLScramSHA256 = "SCRAM-SHA-256"
	SASLScramSHA512 = "SCRAM-SHA-512"
)

// SASL is how a client logs in to a SASL listener; an empty Mechanism
// means no SASL.
type SASL struct {
	Mechanism string
	User      string
	// Password, or PasswordFile holding it.
	Password, PasswordFile string
}

func (s SASL) validate() []error {
	var errs []error
	switch s.Mechanism {
	case "":
		if s.User != "" || s.Password != "" || s.PasswordFile != "" {
			errs = append(errs, setting.Errorf("SASL.Mechanism", "a SASL user or password is set without a mechanism (%s, %s or %s)", SASLPlain, SASLScramSHA256, SASLScramSHA512))
		}
		return errs
	case SASLPlain, SASLScramSHA256, SASLScramSHA512:
	default:
		errs = append(errs, setting.Errorf("SASL.Mechanism", "%q is not %s, %s or %s", s.Mechanism, SASLPlain, SASLScramSHA256, SASLScramSHA512))
	}
	if s.User == "" {
		errs = append(errs, setting.Errorf("SASL.User", "SASL %s needs a user", s.Mechanism))
	}
	if s.Password != "" && s.PasswordFile != "" {
		errs = append(errs, setting.Errorf("SASL.PasswordFile", "is set together with a password; give one"))
	}
	return errs
}

// Cluster is a Kafka cluster as a client reaches it: the bootstrap brokers
// and the client's security, with its files read. The zero security is a
// plaintext listener without login (the embedded broker).
type Cluster struct {
	Brokers []string
	tls     *tls.Config
	sasl    SASL // Password resolved
}

// Cluster reads the files cfg's security names (CA, client certificate,
// password) and returns the cluster to connect to.
func (cfg Config) Cluster() (Cluster, error) {
	c := Cluster{Brokers: cfg.Brokers}
	var err error
	if c.tls, err = cfg.TLS.Config(); err != nil {
		return Cluster{}, fmt.Errorf("kafka: %w", err)
	}
	c.sasl = cfg.SASL
	if c.sasl.Password, err = setting.Secret(cfg.SASL.Password, cfg.SASL.PasswordFile); err != nil {
		return Cluster{}, fmt.Errorf("kafka: SASL: %w", err)
	}
	c.sasl.PasswordFile = ""
	return c, nil
}

// Config returns the sarama configuration of every feedsvc client
// (SaramaConfig) with the cluster's TLS and SASL.
func (c Cluster) Config(clientID string) *sarama.Config {
	s := SaramaConfig(clientID)
	if c.tls != nil {
		s.Net.TLS.Enable = true
		s.Net.TLS.Config = c.tls.Clone()
	}
	if c.sasl.Mechanism != "" {
		s.Net.SASL.Enable = true
		s.Net.SASL.Handshake = true
		s.Net.SASL.User, s.Net.SASL.Password = c.sasl.User, c.sasl.Password
		switch c.sasl.Mechanism {
		case SASLPlain:
			s.Net.SASL.Mechanism = sarama.SASLTypePlaintext
		case SASLScramSHA256:
			s.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA256
			s.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{hash: scram.HashGeneratorFcn(sha256.New)} }
		case SASLScramSHA512:
			s.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA512
			s.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{hash: scram.HashGeneratorFcn(sha512.New)} }
		}
	}
	return s
}

// scramClient is sarama's SCRAM conversation on xdg-go/scram, as in
// sarama's own SCRAM example.
type scramClient struct {
	hash scram.HashGeneratorFcn
	conv *scram.ClientConversation
}

func (x *scramClient) Begin(user, password, authzID string) error {
	c, err := x.hash.NewClient(user, password, authzID)
	if err != nil {
		return err
	}
	x.conv = c.NewConversation()
	return nil
}

func (x *scramClient) Step(challenge string) (string, error) { return x.conv.Step(challenge) }
func (x *scramClient) Done() bool                            { return x.conv.Done() }

// CheckLogin connects to the seed brokers, one after another, and returns
// an error when one refused this client's TLS or SASL settings (a wrong
// password, mechanism, CA or client certificate): a setting to fix, which
// fails startup. Brokers that cannot be reached give nil: the service
// starts and waits them out.
func CheckLogin(c Cluster, timeout time.Duration) error {
	if c.tls == nil && c.sasl.Mechanism == "" {
		return nil
	}
	cfg := c.Config("feedsvc-login-check")
	cfg.Net.DialTimeout, cfg.Net.ReadTimeout, cfg.Net.WriteTimeout = timeout, timeout, timeout
	for _, addr := range c.Brokers {
		// A broker opened directly reports the handshake's own error,
		// which a client's metadata refresh would drop.
		b := sarama.NewBroker(addr)
		if err := b.Open(cfg); err != nil {
			return fmt.Errorf("kafka: %w", err)
		}
		_, err := b.Connected()
		_ = b.Close()
		switch {
		case err == nil:
			return nil
		case refusedLogin(err):
			return fmt.Errorf("kafka: broker %s refused this client's TLS or SASL settings: %w", addr, err)
		}
	}
	return nil
}

// refusedLogin reports whether err is a refusal of the client's
// credentials or certificate, or of the server's certificate, rather than
// an outage.
func refusedLogin(err error) bool {
	var (
		unknownCA x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		verify    *tls.CertificateVerificationError
		alert     tls.AlertError
		kerr      sarama.KError
	)
	if errors.As(err, &kerr) {
		switch kerr {
		case sarama.ErrSASLAuthenticationFailed, sarama.ErrUnsupportedSASLMechanism, sarama.ErrIllegalSASLState:
			return true
		}
	}
	return errors.Is(err, sarama.ErrSASLAuthenticationFailed) ||
		errors.As(err, &unknownCA) || errors.As(err, &hostname) || errors.As(err, &invalid) ||
		errors.As(err, &verify) || errors.As(err, &alert)
}
