package setting

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
)

// TLS is a backend client's TLS settings, the same for Kafka, Redis and
// Cassandra.
type TLS struct {
	// Enabled turns TLS on; a CA or client certificate given turns it on
	// too.
	Enabled bool
	// CAFile is a PEM bundle of the CAs the server's certificate must chain
	// to (empty: the system's roots).
	CAFile string
	// CertFile and KeyFile are a PEM client certificate and its key, for
	// servers that ask for one (mutual TLS); both or neither.
	CertFile, KeyFile string
}

// RegisterFlags registers a backend's client TLS flags, --NAME-tls,
// --NAME-tls-ca, --NAME-tls-cert and --NAME-tls-key, for the backend what
// ("Kafka"); f is for the TLS field (Sub("TLS")).
func (t *TLS) RegisterFlags(f Flags, name, what string) {
	f.Bool(&t.Enabled, "Enabled", name+"-tls", false, "connect to "+what+" over TLS (implied by --"+name+"-tls-ca or --"+name+"-tls-cert), verifying its certificate")
	f.String(&t.CAFile, "CAFile", name+"-tls-ca", "", "PEM file of the CAs "+what+"'s certificate must chain to (empty: the system's)")
	f.String(&t.CertFile, "CertFile", name+"-tls-cert", "", "PEM client certificate for "+what+" (mutual TLS), with --"+name+"-tls-key")
	f.String(&t.KeyFile, "KeyFile", name+"-tls-key", "", "PEM key of --"+name+"-tls-cert")
}

// On reports whether TLS is to be used.
func (t TLS) On() bool { return t.Enabled || t.CAFile != "" || t.CertFile != "" }

// Validate reports invalid fields as *Error values (the files are read
// when the client is built, so a missing one is reported then, with its
// path).
func (t TLS) Validate() error {
	if (t.CertFile == "") != (t.KeyFile == "") {
		return Errorf("TLS.CertFile", "a client certificate needs both a certificate file and a key file")
	}
	return nil
}

// Config builds the crypto/tls configuration, or nil when TLS is off. The
// server's certificate is always verified, against CAFile or the system's
// roots, for the name or IP address the client dials.
func (t TLS) Config() (*tls.Config, error) {
	if !t.On() {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls: read CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls: CA file %s holds no PEM certificate", t.CAFile)
		}
		c.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls: client certificate: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// Secret returns a password given directly (a flag or its environment
// variable) or in a file (surrounding whitespace dropped); not both.
func Secret(value, file string) (string, error) {
	switch {
	case value != "" && file != "":
		return "", errors.New("both a password and a password file are set; give one")
	case file == "":
		return value, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("read password file: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}
