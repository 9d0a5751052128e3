// Package accesslog holds what livegate's access log lines share between its two faces: the
// request id, the client's address (X-Forwarded-For from trusted proxies only), and the
// request's identity carried from the REST gateway to the gRPC server it calls, so that a
// REST request and its gRPC call log the same request id and the real client rather than
// the gateway's in-memory connection.
package accesslog

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"path"
	"strings"
)

// RequestIDHeader carries the request id: taken from the caller when valid (see
// ValidRequestID), otherwise generated, and returned on every answer. gRPC callers send and
// receive it as the metadata key RequestIDMetadata.
const (
	RequestIDHeader   = "X-Request-Id"
	RequestIDMetadata = "x-request-id"
)

// MaxRequestIDLen bounds a caller's request id; a longer one is replaced.
const MaxRequestIDLen = 128

// ValidRequestID reports whether a caller's request id may be kept: 1 to MaxRequestIDLen
// characters, each a letter, a digit or one of - _ . : / + = @ (UUIDs, ULIDs, hex, base64,
// and the ids proxies such as Envoy, nginx and load balancers generate).
func ValidRequestID(id string) bool {
	if id == "" || len(id) > MaxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("-_.:/+=@", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// RequestID is the caller's id when valid, otherwise a new one (26 random base32 letters and
// digits: 130 bits).
func RequestID(fromCaller string) string {
	if ValidRequestID(fromCaller) {
		return fromCaller
	}
	return rand.Text()
}

// Info is one request's identity as the access log records it. The HTTP face creates it
// when a request arrives; the router fills in the route and tenant once matched. The gRPC
// server creates one per call (from the gateway's metadata for REST calls).
type Info struct {
	// RequestID is the request's id (see RequestID).
	RequestID string
	// Client is the client's IP address (see Proxies.Client).
	Client string
	// Route is the matched route pattern, "" until (or unless) one matches.
	Route string
	// AccountID and AppID are the tenant the request addresses, "" when none or not yet
	// known.
	AccountID, AppID string
	// Refused is the status of a refusal answered 200 all the same (an SSE subscription
	// refused for now: its 200 makes EventSource retry); 0: none. The request is logged and
	// counted with it, as the refusal it is.
	Refused int
}

type infoKey struct{}

// WithInfo returns ctx carrying info.
func WithInfo(ctx context.Context, info *Info) context.Context {
	return context.WithValue(ctx, infoKey{}, info)
}

// InfoFrom is the Info ctx carries, or nil.
func InfoFrom(ctx context.Context) *Info {
	info, _ := ctx.Value(infoKey{}).(*Info)
	return info
}

// Tenant is a log value of the tenant info addresses, resolved when the line is written
// (the tenant may be learnt after the line's fields are gathered): an empty group, which
// slog leaves out, while unknown.
type Tenant struct {
	Info *Info
	App  bool // the app id; otherwise the account id
}

// LogValue implements slog.LogValuer.
func (t Tenant) LogValue() slog.Value {
	v := t.Info.AccountID
	if t.App {
		v = t.Info.AppID
	}
	if v == "" {
		return slog.GroupValue()
	}
	return slog.StringValue(Cut(v))
}

// Proxies are the reverse proxies whose X-Forwarded-For is believed. The zero value (or nil)
// trusts none: the client is the connection's peer.
type Proxies struct {
	prefixes []netip.Prefix
}

// ParseProxies reads a comma-separated list of IP addresses and CIDR prefixes ("" trusts
// none).
func ParseProxies(list string) (*Proxies, error) {
	p := &Proxies{}
	for _, s := range strings.Split(list, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if strings.Contains(s, "/") {
			prefix, err := netip.ParsePrefix(s)
			if err != nil {
				return nil, fmt.Errorf("trusted proxy %q: not an IP address or CIDR prefix", s)
			}
			p.prefixes = append(p.prefixes, prefix.Masked())
			continue
		}
		addr, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q: not an IP address or CIDR prefix", s)
		}
		addr = addr.Unmap()
		p.prefixes = append(p.prefixes, netip.PrefixFrom(addr, addr.BitLen()))
	}
	return p, nil
}

// ClientPrefix is the block of addresses that counts as one client in the per-client bounds
// (connections, bodies in flight): an IPv4 address itself, an IPv6 address's /64 (which one
// host is commonly given whole).
func ClientPrefix(a netip.Addr) netip.Prefix {
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, _ := a.Prefix(bits)
	return p
}

// Trusts reports whether addr is one of the proxies (nil trusts none).
func (p *Proxies) Trusts(addr netip.Addr) bool { return p.trusts(addr.Unmap()) }

func (p *Proxies) trusts(addr netip.Addr) bool {
	if p == nil {
		return false
	}
	for _, prefix := range p.prefixes {
		if prefix.Contains(addr) {
			return true
		}
	}
	return false
}

// Client is the address of the client behind a request that arrived from remoteAddr (the
// connection's peer, "ip:port") with X-Forwarded-For values xff. Only a trusted proxy's
// X-Forwarded-For is read, from its right end (the hop nearest to us) leftwards, past every
// trusted proxy: the first address not trusted is the client. An entry that is not an
// address stops the walk at the hop before it, which is then the client. Whatever is
// returned is an IP address (or, for a peer that is not IP, its address as given).
func (p *Proxies) Client(remoteAddr string, xff []string) string {
	addr, ok := parseHost(remoteAddr)
	if !ok {
		return remoteAddr
	}
	if !p.trusts(addr) || len(xff) == 0 {
		return addr.String()
	}
	for i := len(xff) - 1; i >= 0; i-- {
		hops := strings.Split(xff[i], ",")
		for j := len(hops) - 1; j >= 0; j-- {
			hop := strings.TrimSpace(hops[j])
			if hop == "" {
				continue
			}
			next, ok := parseHost(hop)
			if !ok {
				return addr.String()
			}
			addr = next
			if !p.trusts(addr) {
				return addr.String()
			}
		}
	}
	return addr.String()
}

// parseHost reads "ip", "ip:port" or "[ip]:port".
func parseHost(s string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	if host, _, err := net.SplitHostPort(s); err == nil {
		s = host
	}
	a, err := netip.ParseAddr(strings.Trim(s, "[]"))
	if err != nil {
		return netip.Addr{}, false
	}
	return a.WithZone("").Unmap(), true
}

// MaskedPath is the request path as the access log shows it: cleaned, and with the RTMP
// callback secret (/rtmp/SECRET/hook) replaced by "***" (in any letter case: a caller that
// got the case wrong still sent its secret).
func MaskedPath(p string) string {
	p = path.Clean("/" + p)
	first, rest, found := strings.Cut(p[1:], "/")
	if !found || !strings.EqualFold(first, "rtmp") {
		return p
	}
	if _, hook, found := strings.Cut(rest, "/"); found {
		return "/" + first + "/***/" + hook
	}
	return "/" + first + "/***"
}

// StandardMethod reports whether m is one of HTTP's standard methods. A client chooses the
// method, so what records it where values must stay few (a metrics label, a span name)
// takes only these as they are.
func StandardMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return true
	}
	return false
}
