package testenv

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// RedisGate is a proxy in front of a Redis server that lets a client run up
// to a known point and holds it there: it forwards commands until the n-th
// one named command has gone through, then holds back every later command
// of every connection (answers to what went through still flow back). A
// test that must interrupt a process mid-work (a kill -9 between two feed
// writes) points the process at the gate instead of racing it: where the
// process stops depends on the commands it sent, not on the machine's
// speed.
type RedisGate struct {
	t        testing.TB
	upstream string
	command  string
	ln       net.Listener

	mu       sync.Mutex
	passed   int // commands named command forwarded so far
	n        int
	conns    []net.Conn
	held     chan struct{} // closed when the first command is held back
	heldOnce sync.Once
	closed   chan struct{}
}

// NewRedisGate starts a gate to the plain-text Redis at upstream that
// forwards n commands named command (case-insensitive, e.g. "RPUSHX") and
// then holds. It closes, with its connections, when t ends.
func NewRedisGate(t testing.TB, upstream, command string, n int) *RedisGate {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &RedisGate{t: t, upstream: upstream, command: strings.ToUpper(command), n: n, ln: ln,
		held: make(chan struct{}), closed: make(chan struct{})}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				g.serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		close(g.closed)
		_ = ln.Close()
		g.mu.Lock()
		for _, c := range g.conns {
			_ = c.Close()
		}
		g.mu.Unlock()
		wg.Wait()
	})
	return g
}

// Addr is the address clients dial instead of the server's.
func (g *RedisGate) Addr() string { return g.ln.Addr().String() }

// Held is closed once the gate holds a command back: the client has done
// exactly the n commands and is waiting on the next one.
func (g *RedisGate) Held() <-chan struct{} { return g.held }

// Passed is how many commands named command went through.
func (g *RedisGate) Passed() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.passed
}

func (g *RedisGate) track(c net.Conn) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.closed:
		return false
	default:
	}
	g.conns = append(g.conns, c)
	return true
}

func (g *RedisGate) serve(client net.Conn) {
	server, err := net.Dial("tcp", g.upstream)
	if err != nil {
		g.t.Logf("redis gate: dial %s: %v", g.upstream, err)
		_ = client.Close()
		return
	}
	if !g.track(client) || !g.track(server) {
		_ = client.Close()
		_ = server.Close()
		return
	}
	defer client.Close()
	defer server.Close()
	go func() {
		_, _ = io.Copy(client, server) // answers always flow back
		_ = client.Close()
	}()
	r := bufio.NewReader(client)
	for {
		raw, name, err := readCommand(r)
		if err != nil {
			return // the client hung up, or the gate closed
		}
		if !g.pass(name) {
			<-g.closed // held: neither forwarded nor answered
			return
		}
		if _, err := server.Write(raw); err != nil {
			return
		}
	}
}

// pass says whether a command named name goes through, counting it.
func (g *RedisGate) pass(name string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.passed >= g.n {
		g.heldOnce.Do(func() { close(g.held) })
		return false
	}
	if name == g.command {
		g.passed++
	}
	return true
}

// readCommand reads one command a client sends (a RESP array of bulk
// strings, or an inline command line) and returns its bytes as read and
// its name in upper case.
func readCommand(r *bufio.Reader) (raw []byte, name string, err error) {
	line, err := r.ReadBytes('\n')
	if err != nil {
		return nil, "", err
	}
	if line[0] != '*' {
		if f := bytes.Fields(line); len(f) > 0 {
			name = strings.ToUpper(string(f[0]))
		}
		return line, name, nil
	}
	n, err := strconv.Atoi(string(bytes.TrimSpace(line[1:])))
	if err != nil {
		return nil, "", fmt.Errorf("redis gate: array header %q: %w", line, err)
	}
	raw = line
	for i := range n {
		head, err := r.ReadBytes('\n')
		if err != nil {
			return nil, "", err
		}
		if len(head) == 0 || head[0] != '$' {
			return nil, "", errors.New("redis gate: a command argument is not a bulk string")
		}
		size, err := strconv.Atoi(string(bytes.TrimSpace(head[1:])))
		if err != nil {
			return nil, "", fmt.Errorf("redis gate: bulk header %q: %w", head, err)
		}
		body := make([]byte, size+2) // with its CRLF
		if _, err := io.ReadFull(r, body); err != nil {
			return nil, "", err
		}
		if i == 0 {
			name = strings.ToUpper(string(body[:size]))
		}
		raw = append(append(raw, head...), body...)
	}
	return raw, name, nil
}
