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
	"github.com/livegate/livegate/internal/accesslog"
	"github.com/livegate/livegate/internal/apierror"
)

// perAddrListener bounds the connections one client address holds at once on a listener:
// a connection from an address that already holds max is answered (refuse) and closed as
// soon as it is accepted, instead of taking one of the listener's slots (limitListener's
// bound, all clients together, past which connections wait to be accepted). Without it, one
// address could hold every slot (idle keep-alive connections, health Watch streams) with no
// token, and every other client's new connection waited. Addresses are grouped into clients
// by accesslog.ClientPrefix; exempt addresses (the trusted proxies, behind which every client
// shares one address) are not bounded.
type perAddrListener struct {
	net.Listener
	max     int
	exempt  func(netip.Addr) bool
	refuse  func(net.Conn) // answers a refused connection before it is closed; nil: closed at once
	refused func()         // counts a refused connection

	mu   sync.Mutex
	held map[netip.Prefix]int
	// answering bounds the refused connections being answered at once; past it, one is
	// closed without an answer.
	answering chan struct{}
}

// maxAnswering is how many refused connections are answered at once.
const maxAnswering = 64

// limitPerAddr bounds lis's connections per client address to n (n < 0: no bound).
func limitPerAddr(lis net.Listener, n int, exempt func(netip.Addr) bool, refuse func(net.Conn), refused func()) net.Listener {
	if n < 0 {
		return lis
	}
	return &perAddrListener{Listener: lis, max: n, exempt: exempt, refuse: refuse, refused: refused,
		held: make(map[netip.Prefix]int), answering: make(chan struct{}, maxAnswering)}
}

func (l *perAddrListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		addr, ok := peerAddr(c.RemoteAddr())
		if !ok || l.exempt != nil && l.exempt(addr) {
			return c, nil
		}
		key := accesslog.ClientPrefix(addr)
		l.mu.Lock()
		full := l.held[key] >= l.max
		if !full {
			l.held[key]++
		}
		l.mu.Unlock()
		if full {
			if l.refused != nil {
				l.refused()
			}
			l.turnAway(c)
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

// turnAway closes a refused connection: at once without refuse; with it, on a goroutine of
// its own (the accept loop goes on), after answering it, and after reading what the client
// sends for a moment, so that closing with its request unread does not reset the connection
// and lose the answer before the client reads it (as net/http closes connections).
func (l *perAddrListener) turnAway(c net.Conn) {
	if l.refuse == nil {
		_ = c.Close()
		return
	}
	select {
	case l.answering <- struct{}{}:
	default:
		_ = c.Close()
		return
	}
	go func() {
		defer func() { <-l.answering }()
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(turnAwayTime))
		l.refuse(c)
		if cw, ok := c.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(c, turnAwayDrain))
	}()
}

// A refused connection is answered and read from for at most turnAwayTime, turnAwayDrain
// bytes.
const (
	turnAwayTime  = 500 * time.Millisecond
	turnAwayDrain = 256 << 10
)

// peerAddr is a connection's peer IP address; false for a peer that is not one.
func peerAddr(a net.Addr) (netip.Addr, bool) {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return netip.Addr{}, false
	}
	ip, ok := netip.AddrFromSlice(tcp.IP)
	if !ok {
		return netip.Addr{}, false
	}
	return ip.Unmap().WithZone(""), true
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
		Message: "too many connections from this address at once: close some, or retry after 1s",
		Reason:  string(apierror.ReasonTooManyRequests),
	}}})
	resp := &http.Response{
		StatusCode: http.StatusTooManyRequests, ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {"application/json"}, "Retry-After": {"1"}},
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Close:         true,
	}
	_ = resp.Write(c)
}
