package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/rueidis"
)

// TestRedisGate: the gate forwards exactly n commands of the counted name,
// with the others in between, and holds the client at its next command,
// whatever its name.
func TestRedisGate(t *testing.T) {
	srv := miniredis.RunT(t)
	srv.Lpush("feed", "x")
	gate := NewRedisGate(t, srv.Addr(), "rpushx", 3)
	client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{gate.Addr()},
		DisableCache: true, ForceSingleClient: true, DisableRetry: true})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx := context.Background()
	for i := range 3 {
		if err := client.Do(ctx, client.B().Get().Key("other").Build()).Error(); err != nil && !rueidis.IsRedisNil(err) {
			t.Fatalf("get %d: %v", i, err)
		}
		if err := client.Do(ctx, client.B().Rpushx().Key("feed").Element("y").Build()).Error(); err != nil {
			t.Fatalf("rpushx %d: %v", i, err)
		}
	}
	select {
	case <-gate.Held():
		t.Fatal("the gate held a command before the third RPUSHX's next one")
	default:
	}
	held := make(chan error, 1)
	go func() {
		held <- client.Do(ctx, client.B().Get().Key("other").Build()).Error()
	}()
	select {
	case <-gate.Held():
	case err := <-held:
		t.Fatalf("the command after the third RPUSHX went through the gate: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("the gate did not hold the command after the third RPUSHX")
	}
	if got, _ := srv.List("feed"); len(got) != 4 {
		t.Fatalf("feed holds %d elements, want the first one and 3 pushed", len(got))
	}
	if gate.Passed() != 3 {
		t.Fatalf("Passed() = %d, want 3", gate.Passed())
	}
}
