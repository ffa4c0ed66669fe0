// kafkaping is the Kafka readiness/check helper used by scripts/testinfra.
// It lives in the main module (sarama is already a dependency there), so it
// runs from the repository root with `go run ./scripts/testinfra.d/kafkaping`;
// nothing in the service imports it, so it never becomes part of the build.
//
//	kafkaping [-timeout 5s] host:port[,host:port...]
//
// It sends a metadata request and prints the brokers and the controller id on
// stdout. A listening socket is not enough: a KRaft broker accepts
// connections before it has caught up with the metadata log, and only then
// answers metadata requests with itself in the broker list.
// Exit status: 0 on success, 1 on any error (message on stderr).
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/IBM/sarama"
)

func main() {
	timeout := flag.Duration("timeout", 5*time.Second, "dial and request timeout")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: kafkaping [-timeout D] host:port[,host:port...]")
		os.Exit(2)
	}
	if err := run(strings.Split(flag.Arg(0), ","), *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "kafkaping:", err)
		os.Exit(1)
	}
}

func run(addrs []string, timeout time.Duration) error {
	cfg := sarama.NewConfig()
	// Same protocol version the service speaks (events/config.go).
	cfg.Version = sarama.V3_6_0_0
	cfg.ClientID = "feedsvc-testinfra-kafkaping"
	cfg.Net.DialTimeout = timeout
	cfg.Net.ReadTimeout = timeout
	cfg.Net.WriteTimeout = timeout
	// Fail fast: the caller (scripts/testinfra) does the retrying.
	cfg.Metadata.Retry.Max = 0
	cfg.Metadata.Full = false

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
