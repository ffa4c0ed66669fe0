package bench

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/rueidis"
)

func TestParseRedisBenchmarkCSV(t *testing.T) {
	tests := []struct {
		name    string
		out     string
		want    float64
		wantErr bool
	}{
		{
			name: "redis 7 with header",
			out: `"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
"ZADD zb:{__rand_int__} __rand_int__ __rand_int__","376647.81","2.016","0.368","1.951","3.431","3.855","4.351"
`,
			want: 376647.81,
		},
		{name: "older, no header", out: `"ZADD zb:{__rand_int__} __rand_int__ __rand_int__","331674.97"` + "\n", want: 331674.97},
		{name: "empty", out: "", wantErr: true},
		{name: "header only", out: `"test","rps"` + "\n", wantErr: true},
		{name: "no rps column", out: `"test","avg"` + "\n" + `"ZADD","1.0"` + "\n", wantErr: true},
		{name: "not a number", out: `"ZADD","fast"` + "\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRedisBenchmarkCSV([]byte(tt.out))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRedisBenchmarkKeys(t *testing.T) {
	keys := RedisBenchmarkKeys("zb:{r_"+RandInt+"}", 3)
	want := []string{"zb:{r_000000000000}", "zb:{r_000000000001}", "zb:{r_000000000002}"}
	if fmt.Sprint(keys) != fmt.Sprint(want) {
		t.Fatalf("got %q, want %q", keys, want)
	}
}

func TestZAddLoopAndDeleteKeys(t *testing.T) {
	m := miniredis.RunT(t)
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{m.Addr()}, DisableCache: true, ForceSingleClient: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	tests := []struct{ keys, perKey, workers, batch int }{
		{keys: 10, perKey: 3, workers: 4, batch: 4},  // last batch short
		{keys: 7, perKey: 1, workers: 1, batch: 100}, // one batch
		{keys: 0, perKey: 5, workers: 2, batch: 10},  // nothing to do
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d keys x %d", tt.keys, tt.perKey), func(t *testing.T) {
			keys := make([]string, tt.keys)
			for i := range keys {
				keys[i] = fmt.Sprintf("zb:{u%d}", i)
			}
			r, err := ZAddLoop(ctx, c, keys, tt.perKey, tt.workers, tt.batch)
			if err != nil {
				t.Fatal(err)
			}
			if r.Ops != tt.keys*tt.perKey {
				t.Fatalf("ops = %d, want %d", r.Ops, tt.keys*tt.perKey)
			}
			for _, k := range keys {
				n, err := c.Do(ctx, c.B().Zcard().Key(k).Build()).AsInt64()
				if err != nil || n != int64(tt.perKey) {
					t.Fatalf("zcard %s = %d, %v; want %d", k, n, err, tt.perKey)
				}
			}
			if err := DeleteKeys(ctx, c, keys, 3); err != nil {
				t.Fatal(err)
			}
			if left := len(m.Keys()); left != 0 {
				t.Fatalf("%d keys left after DeleteKeys", left)
			}
		})
	}
}

func TestDeleteMatching(t *testing.T) {
	m := miniredis.RunT(t)
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{m.Addr()}, DisableCache: true, ForceSingleClient: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 2500 {
		m.Set(fmt.Sprintf("feed:{run1_u%d}", i), "x")
	}
	m.Set("feed:{run2_u1}", "x")
	n, err := DeleteMatching(context.Background(), c, "*{run1_*")
	if err != nil {
		t.Fatal(err)
	}
	if keys := m.Keys(); n != 2500 || len(keys) != 1 || keys[0] != "feed:{run2_u1}" {
		t.Fatalf("deleted %d, left %q", n, keys)
	}
}

func TestAttackOnResponse(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"id":"%d"}`, n.Add(1))
	}))
	defer srv.Close()
	var bodies []string
	res := Attack(context.Background(), "t", Request{Method: "POST", URL: srv.URL, Token: "tok",
		OnResponse: func(status int, body []byte) {
			if status == http.StatusCreated {
				bodies = append(bodies, string(body))
			}
		}}, nil, 50, 200*time.Millisecond)
	if res.Failed != 0 || res.Requests == 0 || uint64(len(bodies)) != res.Requests {
		t.Fatalf("requests %d, failed %d, bodies %d", res.Requests, res.Failed, len(bodies))
	}
	if !strings.HasPrefix(bodies[0], `{"id":`) {
		t.Fatalf("body %q", bodies[0])
	}
}

func TestTable(t *testing.T) {
	got := Table([]string{"a", "bb"}, [][]string{{"ccc", "d"}})
	want := "a    bb  \nccc  d   \n"
	if got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}
