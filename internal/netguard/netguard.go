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

// special lists the special-purpose ranges (RFC 6890 and its successors, IANA's IPv4 and
// IPv6 Special-Purpose Address Registries) that are not globally reachable and that netip's
// own predicates (loopback, private, link-local, multicast, unspecified) leave out. Any other
// IPv6 address outside 2000::/3 is refused too (see globalUnicast), so the IPv6 entries
// outside it are here only for their words.
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
	// IPv4-compatible (RFC 4291, section 2.5.5.1, deprecated) and IPv4-translated (RFC 2765;
	// RFC 6145, which obsoletes it, dropped the form) addresses are refused whole rather than
	// judged by the IPv4 address they embed (as NAT64 and 6to4 are, in embeddedIPv4): nobody
	// assigns or routes them, so no webhook receiver has one (where automatic tunnelling is
	// configured, ::/96 goes over IPv4 to the address inside). ::/96 also holds :: and ::1,
	// which kind names unspecified and loopback before it looks here (read as IPv4 they
	// would be 0.0.0.0 and 0.0.0.1, "this network").
	{netip.MustParsePrefix("::/96"), "deprecated IPv4-compatible"},
	{netip.MustParsePrefix("::ffff:0:0:0/96"), "IPv4-translated"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "local-use IPv4/IPv6 translation"},
	{netip.MustParsePrefix("100::/64"), "discard-only"},
	{netip.MustParsePrefix("100:0:0:1::/64"), "dummy prefix"},         // in IANA's registry, not globally reachable
	{netip.MustParsePrefix("2001::/23"), "IETF protocol assignments"}, // Teredo (2001::/32) included
	{netip.MustParsePrefix("2001:db8::/32"), "documentation"},
	{netip.MustParsePrefix("3fff::/20"), "documentation"},            // RFC 9637
	{netip.MustParsePrefix("5f00::/16"), "SRv6 segment identifiers"}, // RFC 9602
	{netip.MustParsePrefix("fec0::/10"), "deprecated site-local"},    // RFC 3879
}

// globalUnicast is the IPv6 global unicast range (RFC 4291; IANA's IPv6 Address Space
// registry): the rest is reserved by the IETF or special-purpose, and none of it is
// globally reachable except NAT64's 64:ff9b::/96 (judged by the IPv4 address inside).
var globalUnicast = netip.MustParsePrefix("2000::/3")

// CheckAddr returns nil if ip is a public unicast address, or an error (ErrNotPublic) that
// names it and says what it is. IPv4 embedded in IPv6 (mapped, NAT64, 6to4) is judged as
// IPv4. The error names ip: it is for an address the tenant wrote; for one that DNS gave,
// the error must say only what it is (kind), not which it is.
func CheckAddr(ip netip.Addr) error {
	what := kind(ip)
	if what == "" {
		return nil
	}
	ip = ip.Unmap()
	if v4, _, ok := embeddedIPv4(ip.WithZone("")); ok {
		if inner := kind(v4); inner != "" {
			return fmt.Errorf("%s embeds %s, which is %w (%s)", ip, v4, ErrNotPublic, inner)
		}
	}
	return fmt.Errorf("%s is %w (%s)", ip, ErrNotPublic, what)
}

// kind returns "" if ip is a public unicast address, or words saying what it is otherwise,
// which do not name it (nor the IPv4 address it embeds).
func kind(ip netip.Addr) string {
	// A zone scopes an address to one of this host's network interfaces: no public
	// destination has one. It is set aside so that the prefixes below (which match no zoned
	// address) still see the address, and refused if nothing else is wrong with it.
	zone := ip.Zone()
	ip = ip.Unmap().WithZone("")
	what := kindUnzoned(ip)
	if what == "" && zone != "" {
		what = "scoped to a network interface by an IPv6 zone"
	}
	return what
}

func kindUnzoned(ip netip.Addr) string {
	if v4, via, ok := embeddedIPv4(ip); ok {
		if inner := kind(v4); inner != "" {
			return inner + ", embedded in " + via
		}
		return ""
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
		if what == "" && ip.Is6() && !globalUnicast.Contains(ip) {
			what = "reserved: outside 2000::/3, the global unicast range"
		}
	}
	return what
}

var (
	nat64  = netip.MustParsePrefix("64:ff9b::/96")
	sixTo4 = netip.MustParsePrefix("2002::/16")
)

// embeddedIPv4 returns the IPv4 address that a NAT64 (64:ff9b::/96) or 6to4 (2002::/16)
// address reaches, and words for the form (via). ip must have no zone (a zoned address
// matches no prefix).
func embeddedIPv4(ip netip.Addr) (v4 netip.Addr, via string, ok bool) {
	if !ip.Is6() {
		return netip.Addr{}, "", false
	}
	b := ip.As16()
	switch {
	case nat64.Contains(ip):
		return netip.AddrFrom4([4]byte(b[12:16])), "a NAT64 address", true
	case sixTo4.Contains(ip):
		return netip.AddrFrom4([4]byte(b[2:6])), "a 6to4 address", true
	}
	return netip.Addr{}, "", false
}

// CheckURL checks a URL an app registers: absolute, https (or http if allowed), a host, a
// port (if it names one) from 1 to 65535, at most MaxURLBytes, and, unless AllowPrivate,
// every address its host resolves to (with r; nil: net.DefaultResolver) public. The error
// says what is wrong in words an app can act on, and is shown to the tenant: it names an IP
// address only if the URL does, never one the host name resolved to, nor the resolver (the
// operator's internal network).
func (p Policy) CheckURL(ctx context.Context, raw string, r *net.Resolver) error {
	if len(raw) > MaxURLBytes {
		return fmt.Errorf("is %d bytes long; at most %d are allowed", len(raw), MaxURLBytes)
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error quotes the whole URL, credentials included, and messages are logged:
		// only what it found wrong.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("is not a URL: %v", err)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && p.AllowHTTP:
	case u.Scheme == "http":
		return errors.New("must be https (http is allowed only when livegate runs with --webhooks-allow-http)")
	case u.Scheme == "":
		return errors.New("must be an https URL; it has no scheme")
	default:
		// Not the URL itself: it may hold credentials (user:password@, a token in its query),
		// and error messages are logged.
		return fmt.Errorf("must be an https URL, not %s:", u.Scheme)
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
		return errors.New(LookupFailure(host, err))
	}
	if len(addrs) == 0 {
		return fmt.Errorf("host %s does not resolve (no such host)", host)
	}
	for _, ip := range addrs {
		if what := kind(ip); what != "" {
			return explain(fmt.Errorf("host %s resolves to an address that is %w (%s)", host, ErrNotPublic, what))
		}
	}
	return nil
}

// LookupFailure says that host did not resolve, and why in a word (no such host, timed
// out, a temporary failure), never naming the resolver: its address is the operator's.
func LookupFailure(host string, err error) string {
	return fmt.Sprintf("host %s does not resolve%s", host, whyNot(err))
}

// whyNot says why a name did not resolve (err, from a lookup), in words that name neither
// the resolver nor its address (the error's text has both: "lookup x on 10.0.0.53:53: ...").
func whyNot(err error) string {
	var dnsErr *net.DNSError
	isDNS := errors.As(err, &dnsErr)
	switch {
	case isDNS && dnsErr.IsNotFound:
		return " (no such host)"
	case isDNS && dnsErr.IsTimeout, errors.Is(err, context.DeadlineExceeded):
		return " (the lookup timed out; try again later)"
	case isDNS && dnsErr.IsTemporary:
		return " (a temporary failure; try again later)"
	}
	return ""
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
// public (unless AllowPrivate), after DNS resolution, before the connection is made. Its
// error (ErrNotPublic) reaches the tenant's delivery log, and the address most often came
// from DNS, so it says what kind of address it is, not which. (The net package wraps it in
// a *net.OpError whose text names the address: show the OpError's Err, not the OpError.)
func (p Policy) Control(_, address string, _ syscall.RawConn) error {
	if p.AllowPrivate {
		return nil
	}
	what := "not an IP address and port"
	if ap, err := netip.ParseAddrPort(address); err == nil {
		what = kind(ap.Addr())
	}
	if what != "" {
		return fmt.Errorf("netguard: refused to connect: the host's address is %w (%s)", ErrNotPublic, what)
	}
	return nil
}
