// Package netguard keeps livegate's outbound HTTP requests (webhooks out) off the networks
// behind it: a URL an app registers must not reach loopback, private, link-local (the
// cloud metadata service at 169.254.169.254), or other special-purpose addresses, or an
// app could make livegate call its operator's internal services (server-side request
// forgery).
//
// The check runs twice: when a URL is registered (CheckURL resolves the name and refuses it
// if any address is not public, so the app hears at once), and on every connection (Control,
// a net.Dialer hook that sees the address actually dialed after DNS resolution, so a name
// that resolves elsewhere later — DNS rebinding — is still refused). Redirects are not
// followed by the caller, so a redirect cannot lead around either check.
package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"syscall"
)

// MaxURLBytes bounds a registered URL.
const MaxURLBytes = 2048

// ErrNotPublic is the error (errors.Is) for an address, or a URL resolving to one, that is
// not a public unicast address.
var ErrNotPublic = errors.New("not a public address")

// Policy says what a URL may point at.
type Policy struct {
	// AllowHTTP allows http URLs (only https otherwise).
	AllowHTTP bool
	// AllowPrivate allows any address: development and tests only.
	AllowPrivate bool
}

// special lists the special-purpose ranges (RFC 6890 and its successors) that netip's own
// predicates (loopback, private, link-local, multicast, unspecified) leave out.
var special = []struct {
	prefix netip.Prefix
	what   string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), `"this network"`},
	{netip.MustParsePrefix("100.64.0.0/10"), "shared address space (carrier-grade NAT)"},
	{netip.MustParsePrefix("192.0.0.0/24"), "IETF protocol assignments"},
	{netip.MustParsePrefix("192.0.2.0/24"), "documentation"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking"},
	{netip.MustParsePrefix("198.51.100.0/24"), "documentation"},
	{netip.MustParsePrefix("203.0.113.0/24"), "documentation"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "local-use IPv4/IPv6 translation"},
	{netip.MustParsePrefix("100::/64"), "discard-only"},
	{netip.MustParsePrefix("2001::/23"), "IETF protocol assignments"},
	{netip.MustParsePrefix("2001:db8::/32"), "documentation"},
}

// CheckAddr returns nil if ip is a public unicast address, or an error (ErrNotPublic) that
// says what it is. IPv4 embedded in IPv6 (mapped, NAT64, 6to4) is judged as IPv4.
func CheckAddr(ip netip.Addr) error {
	ip = ip.Unmap()
	if v4, ok := embeddedIPv4(ip); ok {
		if err := CheckAddr(v4); err != nil {
			return fmt.Errorf("%s embeds %w", ip, err)
		}
		return nil
	}
	var what string
	switch {
	case !ip.IsValid():
		what = "not an IP address"
	case ip.IsLoopback():
		what = "loopback"
	case ip.IsPrivate():
		what = "private"
	case ip.IsLinkLocalUnicast():
		what = "link-local (cloud metadata services live there)"
	case ip.IsUnspecified():
		what = "unspecified"
	case ip.IsMulticast(), ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		what = "multicast or broadcast"
	default:
		for _, s := range special {
			if s.prefix.Contains(ip) {
				what = s.what
				break
			}
		}
	}
	if what == "" {
		return nil
	}
	return fmt.Errorf("%s is %w (%s)", ip, ErrNotPublic, what)
}

var (
	nat64  = netip.MustParsePrefix("64:ff9b::/96")
	sixTo4 = netip.MustParsePrefix("2002::/16")
)

// embeddedIPv4 returns the IPv4 address that a NAT64 (64:ff9b::/96) or 6to4 (2002::/16)
// address reaches.
func embeddedIPv4(ip netip.Addr) (netip.Addr, bool) {
	if !ip.Is6() {
		return netip.Addr{}, false
	}
	b := ip.As16()
	switch {
	case nat64.Contains(ip):
		return netip.AddrFrom4([4]byte(b[12:16])), true
	case sixTo4.Contains(ip):
		return netip.AddrFrom4([4]byte(b[2:6])), true
	}
	return netip.Addr{}, false
}

// CheckURL checks a URL an app registers: absolute, https (or http if allowed), a host, a
// port (if it names one) from 1 to 65535, at most MaxURLBytes, and, unless AllowPrivate,
// every address its host resolves to (with r; nil: net.DefaultResolver) public. The error
// says what is wrong in words an app can act on.
func (p Policy) CheckURL(ctx context.Context, raw string, r *net.Resolver) error {
	if len(raw) > MaxURLBytes {
		return fmt.Errorf("is %d bytes long; at most %d are allowed", len(raw), MaxURLBytes)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("is not a URL: %w", err)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && p.AllowHTTP:
	case u.Scheme == "http":
		return errors.New("must be https (http is allowed only when livegate runs with --webhooks-allow-http)")
	default:
		return fmt.Errorf("must be an https URL, not %q", raw)
	}
	host := u.Hostname()
	if host == "" {
		return errors.New("has no host")
	}
	if err := checkPort(u.Port()); err != nil {
		return err
	}
	if p.AllowPrivate {
		return nil
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return explain(CheckAddr(ip))
	}
	if r == nil {
		r = net.DefaultResolver
	}
	addrs, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return fmt.Errorf("host %s does not resolve: %w", host, err)
	}
	for _, ip := range addrs {
		if err := CheckAddr(ip); err != nil {
			return explain(fmt.Errorf("host %s resolves to %w", host, err))
		}
	}
	return nil
}

// checkPort checks a URL's port (url.URL.Port): empty (the scheme's), or a decimal number
// from 1 to 65535. url.Parse lets any run of digits through (0, 99999), and every delivery
// to such a port would fail.
func checkPort(port string) error {
	if port == "" {
		return nil
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return fmt.Errorf("has port %q; a port must be a number from 1 to 65535", port)
	}
	return nil
}

func explain(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w: livegate sends webhooks to public addresses only (--webhooks-allow-private lifts this for development)", err)
}

// Control is a net.Dialer Control hook: it refuses a connection to an address that is not
// public (unless AllowPrivate), after DNS resolution, before the connection is made.
func (p Policy) Control(network, address string, _ syscall.RawConn) error {
	if p.AllowPrivate {
		return nil
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("netguard: dial %s %s: %w", network, address, err)
	}
	if err := CheckAddr(ap.Addr()); err != nil {
		return fmt.Errorf("netguard: refused to connect to %s: %w", address, err)
	}
	return nil
}
