package server

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/livegate/livegate/gateway"
	"github.com/livegate/livegate/internal/apierror"
)

// perAddrListener bounds the connections one client address holds at once on a listener:
// a connection from an address that already holds max is answered (refuse) and closed as
// soon as it is accepted, instead of taking one of the listener's slots (limitListener's
// bound, all clients together, past which connections wait to be accepted). Without it, one
// address could hold every slot (idle keep-alive connections, health Watch streams) with no
// token, and every other client's new connection waited. An address is an IPv4 address, or
// an IPv6 address's /64 (which one host is commonly given whole); exempt addresses (the
// trusted proxies, behind which every client shares one address) are not bounded.
type perAddrListener struct {
	net.Listener
	max    int
	exempt func(netip.Addr) bool
	refuse func(net.Conn) // answers a refused connection before it is closed; nil: closed at once

	mu   sync.Mutex
	held map[netip.Prefix]int
}

// limitPerAddr bounds lis's connections per client address to n (n < 0: no bound).
func limitPerAddr(lis net.Listener, n int, exempt func(netip.Addr) bool, refuse func(net.Conn)) net.Listener {
	if n < 0 {
		return lis
	}
	return &perAddrListener{Listener: lis, max: n, exempt: exempt, refuse: refuse, held: make(map[netip.Prefix]int)}
}

func (l *perAddrListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key, ok := addrKey(c.RemoteAddr())
		if !ok || l.exempt != nil && l.exempt(key.Addr()) {
			return c, nil
		}
		l.mu.Lock()
		full := l.held[key] >= l.max
		if !full {
			l.held[key]++
		}
		l.mu.Unlock()
		if full {
			if l.refuse != nil {
				_ = c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
				l.refuse(c)
			}
			_ = c.Close()
			continue
		}
		return &addrConn{Conn: c, release: func() { l.release(key) }}, nil
	}
}

func (l *perAddrListener) release(key netip.Prefix) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held[key] <= 1 {
		delete(l.held, key)
	} else {
		l.held[key]--
	}
}

// addrKey is the key of a connection's peer address: the address itself for IPv4, the /64
// for IPv6; false for a peer that is not an IP address.
func addrKey(a net.Addr) (netip.Prefix, bool) {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return netip.Prefix{}, false
	}
	ip, ok := netip.AddrFromSlice(tcp.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ip = ip.Unmap().WithZone("")
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, _ := ip.Prefix(bits)
	return p, true
}

// addrConn gives its address's slot back once, when it is first closed.
type addrConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *addrConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// refuseHTTPConn answers an HTTP connection refused for its address: 429 in the REST error
// envelope, before any request is read (a client that has sent one reads it as the answer).
func refuseHTTPConn(c net.Conn) {
	body, _ := json.Marshal(gateway.Envelope{Errors: []gateway.ErrorDetail{{
		Code:    http.StatusTooManyRequests,
		Message: "too many connections from this address at once: close some before opening more",
		Reason:  string(apierror.ReasonTooManyRequests),
	}}})
	resp := &http.Response{
		StatusCode: http.StatusTooManyRequests, ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {"application/json"}},
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Close:         true,
	}
	_ = resp.Write(c)
}
