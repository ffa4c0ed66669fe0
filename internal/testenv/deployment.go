package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/gocql/gocql"

	"github.com/feedsvc/feedsvc/events"
	redisstore "github.com/feedsvc/feedsvc/store/redis"
)

// Deployment is a deployment of feedsvc of its own on the shared real
// servers (see docs/operations.md, "Sharing Kafka, Redis and Cassandra
// between deployments"): its own keyspace, topics, consumer group prefix and Redis
// key prefix, all named after its id, and a JWT key of its own.
type Deployment struct {
	ID                  string
	Brokers, Hosts      string // FEEDSVC_KAFKA_BROKERS, FEEDSVC_CASSANDRA_HOSTS
	Redis               string // FEEDSVC_REDIS_ADDR
	Keyspace            string
	Posts, Follows      string // topics
	GroupPrefix         string
	KeyPrefix           string // Redis
	JWTIssuer, Audience string
	// Env is what its processes are given: the servers with their client
	// security, its names, the JWT key, issuer and audience.
	Env []string
}

// NewDeployment names a deployment after id (letters and digits, unique
// to the run) on the real Kafka, Cassandra and Redis, which it requires
// as Require does. groupVar is the variable that sets its group prefix
// (FEEDSVC_GROUP_PREFIX, or its older name FEEDSVC_CONSUMER_GROUP_PREFIX).
// Once t's processes are gone (cleanups run last registered first, so
// call this before starting them), it deletes what the deployment made:
// its Redis keys, topics, consumer groups and keyspace. Run Migrate before
// starting it.
func NewDeployment(t testing.TB, id, groupVar string) *Deployment {
	t.Helper()
	d := &Deployment{
		ID:      id,
		Brokers: Require(t, "FEEDSVC_KAFKA_BROKERS"), Hosts: Require(t, "FEEDSVC_CASSANDRA_HOSTS"), Redis: Require(t, "FEEDSVC_REDIS_ADDR"),
		Keyspace: "feedsvc_" + id, Posts: id + ".posts", Follows: id + ".follows",
		GroupPrefix: id + "-", KeyPrefix: id + ":",
		JWTIssuer: "feedsvc-test", Audience: "feedsvc-test",
	}
	d.Env = append([]string{
		"FEEDSVC_KAFKA_BROKERS=" + d.Brokers, "FEEDSVC_CASSANDRA_HOSTS=" + d.Hosts, "FEEDSVC_REDIS_ADDR=" + d.Redis,
		"FEEDSVC_CASSANDRA_KEYSPACE=" + d.Keyspace, "FEEDSVC_TOPIC_POSTS=" + d.Posts, "FEEDSVC_TOPIC_FOLLOWS=" + d.Follows,
		groupVar + "=" + d.GroupPrefix, "FEEDSVC_REDIS_KEY_PREFIX=" + d.KeyPrefix,
		"FEEDSVC_JWT_SECRET=" + RandomID(24), "FEEDSVC_JWT_ISSUER=" + d.JWTIssuer, "FEEDSVC_JWT_AUDIENCE=" + d.Audience,
	}, SecurityEnv("KAFKA", "CASSANDRA", "REDIS")...)
	t.Cleanup(func() { d.remove(t) })
	return d
}

// Migrate runs `bin migrate` for the deployment: its keyspace, schema and
// topics.
func (d *Deployment) Migrate(t testing.TB, bin string) {
	t.Helper()
	cmd := exec.Command(bin, "migrate")
	cmd.Env = ChildEnv(d.Env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("feedsvc migrate (deployment %s): %v\n%s", d.ID, err, out)
	}
}

// remove deletes what the deployment made, as far as it can.
func (d *Deployment) remove(t testing.TB) {
	ctx := context.Background()
	rc := redisstore.Config{Addrs: strings.Split(d.Redis, ","), TLS: TLS("REDIS")}
	rc.Username, rc.Password = Credentials("REDIS")
	if c, err := redisstore.Open(ctx, rc, nil); err == nil {
		for _, k := range RedisKeys(t, c, d.KeyPrefix+"*") {
			_ = c.Do(ctx, c.B().Del().Key(k).Build()).Error()
		}
		c.Close()
	}
	if cl, err := KafkaConfig(d.Brokers).Cluster(); err == nil {
		if admin, err := sarama.NewClusterAdmin(cl.Brokers, cl.Config("feedsvc-test-cleanup")); err == nil {
			for _, topic := range []string{d.Posts, d.Follows, events.DeadLetter(d.Posts), events.DeadLetter(d.Follows)} {
				_ = admin.DeleteTopic(topic)
			}
			groups, _ := admin.ListConsumerGroups()
			for g := range groups {
				if strings.HasPrefix(g, d.GroupPrefix) {
					_ = admin.DeleteConsumerGroup(g)
				}
			}
			admin.Close()
		}
	}
	if s, err := cassandraSession(d.Hosts); err == nil {
		_ = s.Query("DROP KEYSPACE IF EXISTS " + d.Keyspace).Exec()
		s.Close()
	}
}

// CassandraSession connects to the first of hosts (host:port,...) with the
// security of the environment.
func CassandraSession(t testing.TB, hosts string) *gocql.Session {
	t.Helper()
	s, err := cassandraSession(hosts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func cassandraSession(hosts string) (*gocql.Session, error) {
	host, port, _ := strings.Cut(strings.Split(hosts, ",")[0], ":")
	cluster := gocql.NewCluster(host)
	if port != "" {
		if _, err := fmt.Sscan(port, &cluster.Port); err != nil {
			return nil, fmt.Errorf("cassandra port %q: %w", port, err)
		}
	}
	cluster.Timeout = 20 * time.Second
	if u, p := Credentials("CASSANDRA"); u != "" {
		cluster.Authenticator = gocql.PasswordAuthenticator{Username: u, Password: p}
	}
	tc, err := TLS("CASSANDRA").Config()
	if err != nil {
		return nil, err
	}
	if tc != nil {
		cluster.SslOpts = &gocql.SslOptions{Config: tc, EnableHostVerification: true}
	}
	return cluster.CreateSession()
}

// RandomID is n random bytes in hex: names unique to a run on shared
// servers, secrets.
func RandomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
