package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/gocql/gocql"

	"github.com/feedsvc/feedsvc/internal/testenv"
	redisstore "github.com/feedsvc/feedsvc/store/redis"
)

// TestTwoDeploymentsShareServers runs two deployments of feedsvc side by
// side on the same Kafka, the same Redis and the same Cassandra: each with
// its own topics, consumer group prefix (one by --group-prefix, the other
// by its older name), Redis key prefix and keyspace, and the same user
// names in both. The two get different follow graphs and posts that share
// a word and a tag; each deployment's feeds (as the API serves them and as
// Redis caches them), search, trends and notifications show its own posts
// and follows only, once both have handled everything. Every Redis key
// either wrote carries its prefix.
func TestTwoDeploymentsShareServers(t *testing.T) {
	run := randHex(4)
	a := sharingDeployment(t, run, "a", "FEEDSVC_GROUP_PREFIX")
	b := sharingDeployment(t, run, "b", "FEEDSVC_CONSUMER_GROUP_PREFIX")
	// One process of every role each: sharing is about names on the
	// servers, not about how the roles are spread over processes.
	a.api, b.api = a.start("all"), b.start("all")

	users := func(s *system) map[string]*user {
		m := map[string]*user{}
		for _, n := range []string{"alice", "bob", "carol"} {
			m[n] = s.user(n)
			m[n].must(s, "GET", "/v1/feed", nil, 200) // a cached feed, which fan-out writes into
		}
		return m
	}
	ua, ub := users(a), users(b)
	if ua["alice"].name != ub["alice"].name {
		t.Fatalf("the deployments' users are %s and %s; the test wants the same names", ua["alice"].name, ub["alice"].name)
	}
	// A: bob follows alice, alice mentions carol. B: carol follows
	// alice, alice mentions bob.
	ua["bob"].follow(a, ua["alice"])
	ub["carol"].follow(b, ub["alice"])
	word, tag := "word"+run, "tag"+run
	pa := ua["alice"].post(a, fmt.Sprintf("from a %s #%s @%s", word, tag, ua["carol"].name))
	pb := ub["alice"].post(b, fmt.Sprintf("from b %s #%s @%s", word, tag, ub["bob"].name))

	type view struct {
		s                  *system
		u                  map[string]*user
		own                post
		reader, other      string // who follows alice here, who does not
		mentioned, unnamed string // who alice mentions here, who not
	}
	views := []view{{a, ua, pa, "bob", "carol", "carol", "bob"}, {b, ub, pb, "carol", "bob", "bob", "carol"}}
	for _, v := range views {
		s, u := v.s, v.u
		reader, mentioned := u[v.reader], u[v.mentioned]
		testenv.Eventually(t, s.dep.name+": the post in the follower's cached feed", func() error {
			return sameSet(s.inspect(reader), []string{v.own.ID})
		})
		testenv.Eventually(t, s.dep.name+": search finds the post", func() error { return sameSet(reader.search(s, word), []string{v.own.ID}) })
		testenv.Eventually(t, s.dep.name+": the tag trends", func() error { return equalf(reader.tagCount(s, tag), 1) })
		testenv.Eventually(t, s.dep.name+": the mention is notified", func() error {
			if ns := mentioned.notifications(s); len(ns) != 1 || ns[0].Kind != "mention" || ns[0].Post != v.own.ID {
				return fmt.Errorf("%s's notifications: %+v", mentioned.name, ns)
			}
			return nil
		})
		testenv.Eventually(t, s.dep.name+": the follow is notified", func() error {
			if ns := u["alice"].notifications(s); len(ns) != 1 || ns[0].Kind != "follow" || ns[0].Actor != reader.name {
				return fmt.Errorf("alice's notifications: %+v", ns)
			}
			return nil
		})
	}
	// Both deployments have handled everything, each in its own groups on
	// its own topics: what the other did would have shown by now.
	for _, v := range views {
		for _, role := range []string{"fanout", "search", "analytics", "notifications", "moderation"} {
			testenv.Eventually(t, v.s.dep.name+": "+role+" caught up", func() error { return equalf(v.s.totalLag(role), 0) })
		}
	}
	for _, v := range views {
		s, u := v.s, v.u
		reader, other, unnamed := u[v.reader], u[v.other], u[v.unnamed]
		for _, check := range []struct {
			what      string
			got, want []string
		}{
			{"the follower's feed", reader.feed(s), []string{v.own.ID}},
			{"the follower's cached feed", s.inspect(reader), []string{v.own.ID}},
			{"the feed of who follows nobody here", other.feed(s), nil},
			{"the cached feed of who follows nobody here", s.inspect(other), nil},
			{"search", reader.search(s, word), []string{v.own.ID}},
		} {
			if err := sameSet(check.got, check.want); err != nil {
				t.Errorf("%s: %s: %v", s.dep.name, check.what, err)
			}
		}
		if n := reader.tagCount(s, tag); n != 1 {
			t.Errorf("%s: the tag trends with %d posts, want this deployment's one", s.dep.name, n)
		}
		if ns := unnamed.notifications(s); len(ns) != 0 {
			t.Errorf("%s: %s, mentioned in the other deployment only, has notifications %+v", s.dep.name, unnamed.name, ns)
		}
	}

	// Redis: every key naming this run (its users, tag, word, groups, or
	// the prefixes, which hold the run too) carries one deployment's
	// prefix, and each deployment wrote each kind of key under its own.
	for _, s := range []*system{a, b} {
		if code := statusOf(s.api.url + "/readyz"); code != http.StatusOK { // writes the health key again
			t.Fatalf("%s: readyz %d", s.dep.name, code)
		}
	}
	c, err := redisstore.Open(context.Background(), realRedis(a.redis, ""), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	prefixes := []string{a.envValue("FEEDSVC_REDIS_KEY_PREFIX"), b.envValue("FEEDSVC_REDIS_KEY_PREFIX")}
	found := testenv.RedisKeys(t, c, "*"+run+"*")
	for _, k := range found {
		if !strings.HasPrefix(k, prefixes[0]) && !strings.HasPrefix(k, prefixes[1]) {
			t.Errorf("redis key %q carries neither deployment's prefix %q", k, prefixes)
		}
	}
	for _, p := range prefixes {
		for _, kind := range []string{"feed:{", "sx:{", "sd:{", "an:{", "rl:", "feedsvc:applied:", "feedsvc:health"} {
			if !slices.ContainsFunc(found, func(k string) bool { return strings.HasPrefix(k, p+kind) }) {
				t.Errorf("no %s key under the prefix %q", kind, p)
			}
		}
	}
	// An analytics bucket's keys name only the hour: nothing was counted
	// in the unprefixed one.
	for _, p := range []post{pa, pb} {
		tags := redisstore.Keys{}.Analytics(p.CreatedAt)[1]
		n, err := c.Do(context.Background(), c.B().Hexists().Key(tags).Field(tag).Build()).AsInt64()
		if err != nil || n != 0 {
			t.Errorf("the unprefixed bucket %s counts the run's tag (%v, %v)", tags, n, err)
		}
	}
	a.down()
	b.down()
}

// sharingDeployment is one of the deployments of
// TestTwoDeploymentsShareServers: on the real Kafka, Cassandra and Redis,
// with a keyspace, topics, a consumer group prefix (set by groupVar) and
// a Redis key prefix of its own, all named after run and name, and users
// named after run alone, so both deployments have the same users. It is
// migrated; the test's end drops the keyspace, the topics, the groups and
// the keys (testenv.NewDeployment).
func sharingDeployment(t *testing.T, run, name, groupVar string) *system {
	t.Helper()
	d := testenv.NewDeployment(t, "share"+run+name, groupVar)
	env := append(slices.Clip(d.Env), "FEEDSVC_MODERATION_BLOCKLIST="+blockedTerm)
	// The harness's limits, but for follows one whose count lives long
	// enough (an interval of 43 minutes per follow) to be found in Redis.
	for _, l := range harnessLimits {
		if strings.HasPrefix(l, "FEEDSVC_RATE_LIMIT_FOLLOWS=") {
			l = "FEEDSVC_RATE_LIMIT_FOLLOWS=1000/720h"
		}
		env = append(env, l)
	}
	d.Migrate(t, binary)
	return &system{t: t, dep: deployment{name: "deployment " + name, real: true, redisEnv: "FEEDSVC_REDIS_ADDR"},
		dir: t.TempDir(), env: env, suffix: run, redis: d.Redis, roles: map[string]*proc{}}
}

// cassandraSession connects to the first of hosts with the security of the
// environment.
func cassandraSession(t *testing.T, hosts string) *gocql.Session {
	return testenv.CassandraSession(t, hosts)
}
