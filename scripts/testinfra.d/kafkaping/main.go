// kafkaping is the Kafka readiness/check helper used by scripts/testinfra.
// It lives in the main module (sarama is already a dependency there), so it
// runs from the repository root with `go run ./scripts/testinfra.d/kafkaping`;
// nothing in the service imports it, so it never becomes part of the build.
//
//	kafkaping [-timeout 5s] [-tls-ca FILE]
//	          [-sasl-mechanism PLAIN|SCRAM-SHA-256|SCRAM-SHA-512 -sasl-user U -sasl-password P]
//	          host:port[,host:port...]
//
// It sends a metadata request and prints the brokers and the controller id on
// stdout. A listening socket is not enough: a KRaft broker accepts
// connections before it has caught up with the metadata log, and only then
// answers metadata requests with itself in the broker list.
// -tls-ca connects over TLS, trusting only that CA (the broker's name is
// verified against host); -sasl-user logs in with SASL (the secure profile's
// SASL_SSL listener). Without them: plaintext, no login.
// Exit status: 0 on success, 1 on any error (message on stderr).
package main

import (
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/feedsvc/feedsvc/internal/setting"
	"github.com/xdg-go/scram"
)

type options struct {
	timeout                         time.Duration
	tlsCA                           string
	saslMechanism, saslUser, saslPW string
}

func main() {
	var o options
	flag.DurationVar(&o.timeout, "timeout", 5*time.Second, "dial and request timeout")
	flag.StringVar(&o.tlsCA, "tls-ca", "", "connect over TLS, trusting the CA certificate(s) in this PEM file")
	flag.StringVar(&o.saslMechanism, "sasl-mechanism", sarama.SASLTypePlaintext, "SASL mechanism (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512), with -sasl-user")
	flag.StringVar(&o.saslUser, "sasl-user", "", "log in with SASL as this user")
	flag.StringVar(&o.saslPW, "sasl-password", "", "SASL password")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: kafkaping [-timeout D] [-tls-ca FILE] [-sasl-mechanism M -sasl-user U -sasl-password P] host:port[,host:port...]")
		os.Exit(2)
	}
	if err := run(strings.Split(flag.Arg(0), ","), o); err != nil {
		fmt.Fprintln(os.Stderr, "kafkaping:", err)
		os.Exit(1)
	}
}

func run(addrs []string, o options) error {
	cfg := sarama.NewConfig()
	// Same protocol version the service speaks (events/config.go).
	cfg.Version = sarama.V3_6_0_0
	cfg.ClientID = "feedsvc-testinfra-kafkaping"
	cfg.Net.DialTimeout = o.timeout
	cfg.Net.ReadTimeout = o.timeout
	cfg.Net.WriteTimeout = o.timeout
	// Fail fast: the caller (scripts/testinfra) does the retrying.
	cfg.Metadata.Retry.Max = 0
	cfg.Metadata.Full = false
	if err := secure(cfg, o); err != nil {
		return err
	}

	b := sarama.NewBroker(addrs[0])
	if err := b.Open(cfg); err != nil {
		return err
	}
	defer b.Close()
	resp, err := b.GetMetadata(&sarama.MetadataRequest{Version: 7, AllowAutoTopicCreation: false})
	if err != nil {
		return err
	}
	if len(resp.Brokers) == 0 {
		return fmt.Errorf("metadata from %s lists no brokers yet", addrs[0])
	}
	for _, br := range resp.Brokers {
		fmt.Printf("broker\t%d\t%s\n", br.ID(), br.Addr())
	}
	fmt.Printf("controller\t%d\n", resp.ControllerID)
	return nil
}

// secure applies -tls-ca and the -sasl-* flags to cfg.
func secure(cfg *sarama.Config, o options) error {
	// The service's own TLS settings (internal/setting), so the check
	// verifies the broker as feedsvc does.
	tc, err := setting.TLS{CAFile: o.tlsCA}.Config()
	if err != nil {
		return err
	}
	if tc != nil {
		cfg.Net.TLS.Enable = true
		cfg.Net.TLS.Config = tc
	}
	if o.saslUser == "" {
		if o.saslPW != "" {
			return errors.New("-sasl-password without -sasl-user")
		}
		return nil
	}
	cfg.Net.SASL.Enable = true
	cfg.Net.SASL.Handshake = true
	cfg.Net.SASL.User, cfg.Net.SASL.Password = o.saslUser, o.saslPW
	switch o.saslMechanism {
	case sarama.SASLTypePlaintext:
		cfg.Net.SASL.Mechanism = sarama.SASLTypePlaintext
	case sarama.SASLTypeSCRAMSHA256:
		cfg.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA256
		cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &XDGSCRAMClient{HashGeneratorFcn: sha256.New} }
	case sarama.SASLTypeSCRAMSHA512:
		cfg.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA512
		cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &XDGSCRAMClient{HashGeneratorFcn: sha512.New} }
	default:
		return fmt.Errorf("-sasl-mechanism %q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", o.saslMechanism)
	}
	return nil
}

// XDGSCRAMClient is sarama's SCRAM conversation on xdg-go/scram, as in
// sarama's examples/sasl_scram_client.
type XDGSCRAMClient struct {
	*scram.Client
	*scram.ClientConversation
	scram.HashGeneratorFcn
}

// Begin starts a conversation for user.
func (x *XDGSCRAMClient) Begin(userName, password, authzID string) (err error) {
	x.Client, err = x.HashGeneratorFcn.NewClient(userName, password, authzID)
	if err != nil {
		return err
	}
	x.ClientConversation = x.Client.NewConversation()
	return nil
}

// Step answers the server's challenge.
func (x *XDGSCRAMClient) Step(challenge string) (string, error) {
	return x.ClientConversation.Step(challenge)
}

// Done reports whether the conversation is over.
func (x *XDGSCRAMClient) Done() bool { return x.ClientConversation.Done() }
