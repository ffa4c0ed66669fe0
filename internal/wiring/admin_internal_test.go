package wiring

import (
	"net"
	"testing"
)

// fakeListener only has an address.
type fakeListener struct {
	net.Listener
	addr net.Addr
}

func (f fakeListener) Addr() net.Addr { return f.addr }

// TestLoopbackListener: without --admin-addr the operator's routes are on
// the public listener, which is warned about unless it is on loopback.
func TestLoopbackListener(t *testing.T) {
	for ip, want := range map[string]bool{"127.0.0.1": true, "::1": true, "0.0.0.0": false, "::": false, "10.0.0.5": false} {
		ln := fakeListener{addr: &net.TCPAddr{IP: net.ParseIP(ip), Port: 8080}}
		if got := loopbackListener(ln); got != want {
			t.Errorf("loopbackListener(%s) = %v, want %v", ip, got, want)
		}
	}
}
