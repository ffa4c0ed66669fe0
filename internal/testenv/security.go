package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/feedsvc/feedsvc/events"
	"github.com/feedsvc/feedsvc/internal/setting"
)

// Security variables, named as feedsvc's own flags read them from the
// environment (--kafka-tls-ca is FEEDSVC_KAFKA_TLS_CA, ...). They are set
// when the real servers are the secured ones (`scripts/testinfra --secure`),
// so tests reach those exactly as the service would.
var securityVars = []string{
	"FEEDSVC_KAFKA_TLS", "FEEDSVC_KAFKA_TLS_CA", "FEEDSVC_KAFKA_TLS_CERT", "FEEDSVC_KAFKA_TLS_KEY",
	"FEEDSVC_KAFKA_SASL_MECHANISM", "FEEDSVC_KAFKA_SASL_USER", "FEEDSVC_KAFKA_SASL_PASSWORD",
	"FEEDSVC_REDIS_TLS", "FEEDSVC_REDIS_TLS_CA", "FEEDSVC_REDIS_TLS_CERT", "FEEDSVC_REDIS_TLS_KEY",
	"FEEDSVC_REDIS_USER", "FEEDSVC_REDIS_PASSWORD",
	"FEEDSVC_CASSANDRA_TLS", "FEEDSVC_CASSANDRA_TLS_CA", "FEEDSVC_CASSANDRA_TLS_CERT", "FEEDSVC_CASSANDRA_TLS_KEY",
	"FEEDSVC_CASSANDRA_USER", "FEEDSVC_CASSANDRA_PASSWORD",
}

// SecurityEnv returns the security variables of the given backends
// ("KAFKA", "REDIS", "CASSANDRA"; all when none is given) that are set, as
// KEY=VALUE, for the environment of a feedsvc process under test. A
// process given a backend's security must be given its address too.
func SecurityEnv(backends ...string) []string {
	var out []string
	for _, k := range securityVars {
		v, ok := os.LookupEnv(k)
		if !ok {
			continue
		}
		match := len(backends) == 0
		for _, b := range backends {
			match = match || strings.HasPrefix(k, "FEEDSVC_"+b+"_")
		}
		if match {
			out = append(out, k+"="+v)
		}
	}
	return out
}

// TLS is the client TLS of backend ("KAFKA", "REDIS" or "CASSANDRA") from
// the environment.
func TLS(backend string) setting.TLS {
	p := "FEEDSVC_" + backend + "_TLS"
	return setting.TLS{
		Enabled:  os.Getenv(p) == "true" || os.Getenv(p) == "1",
		CAFile:   os.Getenv(p + "_CA"),
		CertFile: os.Getenv(p + "_CERT"),
		KeyFile:  os.Getenv(p + "_KEY"),
	}
}

// Credentials are the user and password of backend ("REDIS" or
// "CASSANDRA") from the environment.
func Credentials(backend string) (user, password string) {
	return os.Getenv("FEEDSVC_" + backend + "_USER"), os.Getenv("FEEDSVC_" + backend + "_PASSWORD")
}

// KafkaConfig is the configuration of a client of the Kafka at brokers
// (host:port,...), with the security of the environment.
func KafkaConfig(brokers string) events.Config {
	return events.Config{
		Brokers: strings.Split(brokers, ","),
		TLS:     TLS("KAFKA"),
		SASL: events.SASL{
			Mechanism: os.Getenv("FEEDSVC_KAFKA_SASL_MECHANISM"),
			User:      os.Getenv("FEEDSVC_KAFKA_SASL_USER"),
			Password:  os.Getenv("FEEDSVC_KAFKA_SASL_PASSWORD"),
		},
	}
}

// ForeignCA writes a freshly made CA certificate, which signed none of the
// servers, to a file under t's temporary directory and returns its path.
func ForeignCA(t testing.TB) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "feedsvc test foreign CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "foreign-ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
