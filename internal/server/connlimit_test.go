package server

import (
	"fmt"
	"net"
	"testing"

	"github.com/livegate/livegate/internal/accesslog"
)

// fakeListener hands out connections from the addresses queued in it.
type fakeListener struct {
	net.Listener
	conns chan net.Conn
}

func (l *fakeListener) Accept() (net.Conn, error) { return <-l.conns, nil }

type fakeConn struct {
	net.Conn
	remote net.Addr
	closed bool
}

func (c *fakeConn) RemoteAddr() net.Addr { return c.remote }
func (c *fakeConn) Close() error         { c.closed = true; return nil }

// TestPerAddrListener: connections are counted per client address (IPv4, or an IPv6 /64);
// one past the bound is closed and the next one accepted; a closed connection gives its place
// back; a trusted proxy's own address is exempt, IPv6 included, and only it (not its /64).
// The first version looked the /64's first address up among the proxies, so that
// --trusted-proxies ::1 or 2001:db8::5 exempted nothing (and trusting 2001:db8:: exempted the
// whole /64).
func TestPerAddrListener(t *testing.T) {
	proxies, err := accesslog.ParseProxies("2001:db8::5, ::1")
	if err != nil {
		t.Fatal(err)
	}
	fl := &fakeListener{conns: make(chan net.Conn, 64)}
	var refusals int
	l := limitPerAddr(fl, 1, proxies.Trusts, nil, func() { refusals++ })
	from := func(addr string) *fakeConn {
		a, err := net.ResolveTCPAddr("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		return &fakeConn{remote: a}
	}
	// accept queues conns and returns the one accepted after them.
	accept := func(conns ...*fakeConn) net.Conn {
		for _, c := range conns {
			fl.conns <- c
		}
		c, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for i := range 3 {
		for j, p := range []string{"[2001:db8::5]:1000", "[::1]:1000"} {
			// Behind it, a connection from an address of its own: accepted if the proxy's is
			// refused, so that the test fails rather than waits.
			marker := from(fmt.Sprintf("198.51.100.%d:1", 10*i+j))
			if c := accept(from(p), marker); c.RemoteAddr().String() != p {
				t.Fatalf("trusted proxy %s, connection %d: refused (accepted %s)", p, i+1, c.RemoteAddr())
			}
			fl.conns = make(chan net.Conn, 64) // the marker, not accepted, is dropped
		}
	}
	a := accept(from("192.0.2.1:1"))
	v6 := accept(from("[2001:db8::6]:1"))
	refusedV4, refusedV6 := from("192.0.2.1:2"), from("[2001:db8::7]:2")
	if c := accept(refusedV4, refusedV6, from("192.0.2.2:1")); c.RemoteAddr().String() != "192.0.2.2:1" {
		t.Fatalf("accepted %s, want 192.0.2.2:1 after two refused", c.RemoteAddr())
	}
	if !refusedV4.closed || !refusedV6.closed || refusals != 2 {
		t.Errorf("past the bound: closed %v %v, %d counted; want both closed and counted", refusedV4.closed, refusedV6.closed, refusals)
	}
	_ = a.Close()
	_ = v6.Close()
	_ = v6.Close() // twice: the place is given back once
	if c := accept(from("192.0.2.1:3")); c.RemoteAddr().String() != "192.0.2.1:3" {
		t.Errorf("after its connection closed, 192.0.2.1 got %s", c.RemoteAddr())
	}
	if c := accept(from("[2001:db8::8]:3")); c.RemoteAddr().String() != "[2001:db8::8]:3" {
		t.Errorf("after its connection closed, 2001:db8::/64 got %s", c.RemoteAddr())
	}
	if c := accept(from("[2001:db8::9]:3"), from("192.0.2.9:1")); c.RemoteAddr().String() != "192.0.2.9:1" {
		t.Errorf("a second connection from 2001:db8::/64 (one closed twice): accepted %s", c.RemoteAddr())
	}
}
