package cassandra

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/feedsvc/feedsvc/internal/testenv"
	"github.com/feedsvc/feedsvc/store/storetest"
)

// TestStoreConformance runs the shared store suite against a real cluster named by
// FEEDSVC_CASSANDRA_HOSTS (comma-separated host:port), in a throwaway keyspace.
func TestStoreConformance(t *testing.T) {
	ctx := context.Background()
	_, s := migrated(t, "feedsvc_test_")
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}

	// One keyspace for every case: the cases use their own users and posts,
	// so they need no truncation between them and run in parallel.
	storetest.Run(t, "cassandra", s, storetest.Options{})
}

// TestOpenMissingKeyspace checks the hint to run migrate.
func TestOpenMissingKeyspace(t *testing.T) {
	hosts := testenv.Require(t, "FEEDSVC_CASSANDRA_HOSTS")
	cfg := secured(Config{Hosts: strings.Split(hosts, ","), Keyspace: "feedsvc_missing_" + randomHex(t, 6), Consistency: "LOCAL_QUORUM"})
	_, err := Open(context.Background(), cfg, nil)
	if err == nil || !strings.Contains(err.Error(), "feedsvc migrate") {
		t.Fatalf("Open of a missing keyspace: err = %v, want a hint to run feedsvc migrate", err)
	}
}

// testConfig names a throwaway keyspace (dropped when t ends) on the
// cluster of FEEDSVC_CASSANDRA_HOSTS.
func testConfig(t *testing.T, prefix string) Config {
	hosts := testenv.Require(t, "FEEDSVC_CASSANDRA_HOSTS")
	cfg := secured(Config{
		Hosts:    strings.Split(hosts, ","),
		Keyspace: prefix + randomHex(t, 6),
		// A single test node with replication 1 satisfies it.
		Consistency: "LOCAL_QUORUM",
		Timeout:     20 * time.Second,
	})
	t.Cleanup(func() { dropKeyspace(t, cfg) })
	return cfg
}

// secured adds the client security of the environment to cfg (set when
// FEEDSVC_CASSANDRA_HOSTS is the secured server of scripts/testinfra --secure).
func secured(cfg Config) Config {
	cfg.Username, cfg.Password = testenv.Credentials("CASSANDRA")
	cfg.TLS = testenv.TLS("CASSANDRA")
	return cfg
}

func testLog() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func randomHex(t *testing.T, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// dropKeyspace removes the test keyspace so repeated runs leave no litter.
func dropKeyspace(t *testing.T, cfg Config) {
	c, err := newCluster(cfg, "", nil)
	if err != nil {
		t.Errorf("drop keyspace: %v", err)
		return
	}
	session, err := c.CreateSession()
	if err != nil {
		t.Errorf("drop keyspace: %v", err)
		return
	}
	defer session.Close()
	if err := session.Query(`DROP KEYSPACE IF EXISTS ` + cfg.Keyspace).Exec(); err != nil {
		t.Errorf("drop keyspace %s: %v", cfg.Keyspace, err)
	}
}

// TestPingReadsWhatHandlersUse: Ping reads the keyspace at the configured
// consistency, so it fails when that consistency cannot be reached (THREE
// on a keyspace of one replica) or the keyspace is gone, where a node-local
// system.local read would pass.
func TestPingReadsWhatHandlersUse(t *testing.T) {
	ctx := context.Background()
	cfg, s := migrated(t, "feedsvc_ping_")
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping at %s: %v", cfg.Consistency, err)
	}

	strict := &Store{session: s.session, log: s.log, consistency: gocql.Three}
	if err := strict.Ping(ctx); err == nil || !strings.Contains(err.Error(), "THREE") {
		t.Fatalf("Ping at THREE on a keyspace of replication 1 = %v, want an unavailable error", err)
	}

	dropKeyspace(t, cfg)
	if err := s.Ping(ctx); err == nil {
		t.Fatal("Ping passed on a dropped keyspace")
	}
}

// migrated returns the config of a throwaway keyspace named with prefix,
// migrated, and a store open on it (closed when the test ends).
func migrated(t *testing.T, prefix string) (Config, *Store) {
	t.Helper()
	cfg := testConfig(t, prefix)
	if err := Migrate(context.Background(), cfg, testLog()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	s, err := Open(context.Background(), cfg, testLog())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return cfg, s
}
