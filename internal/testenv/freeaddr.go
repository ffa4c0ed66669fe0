package testenv

import (
	"net"
	"testing"
)

// FreeAddr is a loopback address with a port free at the time of the call.
// Another process may take the port before the caller's child binds it: a
// feedsvc child should get port 0 instead and report its ports
// (StartedAddrs); a server that takes no port 0 must be checked to be the
// one answering there.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
