package events_test

import (
	"testing"
	"time"

	"github.com/feedsvc/feedsvc/events"
	"github.com/feedsvc/feedsvc/internal/setting"
	"github.com/feedsvc/feedsvc/internal/testenv"
)

// TestSecureKafka runs against the secured Kafka of scripts/testinfra
// --secure (a SASL_SSL listener): the configured client logs in with every
// mechanism the broker offers; a wrong password or a foreign CA is a
// refusal CheckLogin reports (startup fails on it), and a plaintext client
// cannot talk to the listener.
func TestSecureKafka(t *testing.T) {
	brokers := testenv.Require(t, "FEEDSVC_KAFKA_BROKERS")
	testenv.Require(t, "FEEDSVC_KAFKA_TLS_CA")
	good := testenv.KafkaConfig(brokers)
	for _, mech := range []string{events.SASLPlain, events.SASLScramSHA256, events.SASLScramSHA512} {
		t.Run(mech, func(t *testing.T) {
			cfg := good
			cfg.SASL.Mechanism = mech
			if err := events.CheckLogin(cluster(t, cfg), 10*time.Second); err != nil {
				t.Fatalf("CheckLogin: %v", err)
			}
			newFixture(t, cfg, 1) // creates topics: a real request, logged in
		})
	}
	wrongPassword := good
	wrongPassword.SASL.Password = "not-the-password"
	wrongCA := good
	wrongCA.TLS.CAFile = testenv.ForeignCA(t)
	for _, c := range []struct {
		name string
		cfg  events.Config
	}{{"wrong password", wrongPassword}, {"foreign CA", wrongCA}} {
		t.Run(c.name, func(t *testing.T) {
			if err := events.CheckLogin(cluster(t, c.cfg), 10*time.Second); err == nil {
				t.Fatal("CheckLogin passed")
			}
		})
	}
	t.Run("plaintext", func(t *testing.T) {
		plain := good
		plain.TLS, plain.SASL = setting.TLS{}, events.SASL{}
		if err := events.EnsureTopics(cluster(t, plain), events.Topics{Posts: "plain.posts", Follows: "plain.follows"}, events.TopicSpec{Partitions: 1, Replication: 1}); err == nil {
			t.Fatal("a plaintext client created topics on the SASL_SSL listener")
		}
	})
}

// TestCheckLoginWaitsOutAnOutage: a secured cluster that cannot be reached
// is not a refusal, so startup goes on (Kafka down is waited out).
func TestCheckLoginWaitsOutAnOutage(t *testing.T) {
	cfg := events.Config{Brokers: []string{testenv.Refused(t)}, TLS: setting.TLS{Enabled: true},
		SASL: events.SASL{Mechanism: events.SASLScramSHA512, User: "u", Password: "p"}}
	if err := events.CheckLogin(cluster(t, cfg), time.Second); err != nil {
		t.Fatalf("CheckLogin on an unreachable cluster: %v, want nil", err)
	}
}
