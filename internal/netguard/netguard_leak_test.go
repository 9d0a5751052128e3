package netguard

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// fakeDNS is a tiny DNS server on 127.0.0.1 (UDP) that answers from a fixed table:
// intranet.example is A 10.1.2.3, nat64.example is AAAA 64:ff9b::a01:203 (NAT64 of
// 10.1.2.3), flaky.example fails (SERVFAIL), and every other name does not exist (NXDOMAIN).
type fakeDNS struct {
	addr string // the server's address, 127.0.0.1:port

	mu     sync.Mutex
	dialed []string // the nameserver addresses the resolver asked to dial (from resolv.conf)
}

func startFakeDNS(t *testing.T) *fakeDNS {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if answer, err := dnsAnswer(buf[:n]); err == nil {
				pc.WriteTo(answer, from)
			}
		}
	}()
	return &fakeDNS{addr: pc.LocalAddr().String()}
}

func dnsAnswer(query []byte) ([]byte, error) {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return nil, err
	}
	q, err := p.Question()
	if err != nil {
		return nil, err
	}
	rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionAvailable: true}
	known := true
	switch strings.ToLower(q.Name.String()) {
	case "intranet.example.", "nat64.example.":
	case "flaky.example.":
		rh.RCode = dnsmessage.RCodeServerFailure
	default:
		rh.RCode = dnsmessage.RCodeNameError
		known = false
	}
	b := dnsmessage.NewBuilder(nil, rh)
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if err := b.Question(q); err != nil {
		return nil, err
	}
	if err := b.StartAnswers(); err != nil {
		return nil, err
	}
	if known {
		res := dnsmessage.ResourceHeader{Name: q.Name, Type: q.Type, Class: dnsmessage.ClassINET, TTL: 60}
		switch name := strings.ToLower(q.Name.String()); {
		case name == "intranet.example." && q.Type == dnsmessage.TypeA:
			err = b.AResource(res, dnsmessage.AResource{A: [4]byte{10, 1, 2, 3}})
		case name == "nat64.example." && q.Type == dnsmessage.TypeAAAA:
			err = b.AAAAResource(res, dnsmessage.AAAAResource{AAAA: netip.MustParseAddr("64:ff9b::a01:203").As16()})
		}
		if err != nil {
			return nil, err
		}
	}
	return b.Finish()
}

// resolver is a pure-Go resolver whose every query goes to the fake server, whatever
// nameserver the system's configuration names (recorded in dialed).
func (d *fakeDNS) resolver() *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
			d.mu.Lock()
			d.dialed = append(d.dialed, address)
			d.mu.Unlock()
			var nd net.Dialer
			return nd.DialContext(ctx, "udp", d.addr)
		},
	}
}

// leaks lists what no error shown to a tenant may contain: the addresses the names resolve
// to (and the IPv4 address the NAT64 one embeds), the resolver's own words, and every
// nameserver address the resolver used.
func (d *fakeDNS) leaks() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := []string{"10.1.2.3", "64:ff9b", "a01:203", "lookup ", d.addr}
	seen := map[string]bool{}
	for _, a := range d.dialed {
		host, _, err := net.SplitHostPort(a)
		if err != nil {
			host = a
		}
		for _, s := range []string{a, host} {
			if !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	return out
}

// TestCheckURLHidesResolution: CheckURL's error for a name says that the name does not
// resolve, or what kind of address it resolves to, and never the address, the resolver's
// address or the resolver's raw error; a refusal is still ErrNotPublic with the advice.
func TestCheckURLHidesResolution(t *testing.T) {
	dns := startFakeDNS(t)
	r := dns.resolver()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, tc := range []struct {
		url       string
		want      []string
		notPublic bool
	}{
		{"https://intranet.example/hook", []string{"host intranet.example resolves to", "not a public address (private)", "--webhooks-allow-private"}, true},
		{"https://nat64.example/hook", []string{"host nat64.example resolves to", "private", "NAT64", "--webhooks-allow-private"}, true},
		{"https://nowhere.example/hook", []string{"host nowhere.example does not resolve", "no such host"}, false},
		{"https://flaky.example/hook", []string{"host flaky.example does not resolve", "temporar"}, false},
	} {
		err := Policy{}.CheckURL(ctx, tc.url, r)
		if err == nil {
			t.Errorf("CheckURL(%s) allowed, want an error", tc.url)
			continue
		}
		msg := err.Error()
		for _, w := range tc.want {
			if !strings.Contains(msg, w) {
				t.Errorf("CheckURL(%s) = %q, want it to contain %q", tc.url, msg, w)
			}
		}
		for _, leak := range dns.leaks() {
			if strings.Contains(msg, leak) {
				t.Errorf("CheckURL(%s) = %q: it tells the tenant %q", tc.url, msg, leak)
			}
		}
		if errors.Is(err, ErrNotPublic) != tc.notPublic {
			t.Errorf("CheckURL(%s) = %v: errors.Is(ErrNotPublic) = %v, want %v", tc.url, err, !tc.notPublic, tc.notPublic)
		}
	}
	if len(dns.dialed) == 0 {
		t.Fatal("the resolver never asked the fake DNS server")
	}
}

// TestControlHidesAddress: Control's refusal names the kind of address, not the address
// (it may have come from DNS), whether Control is called directly or by a dialer that
// resolved a name; it is ErrNotPublic.
func TestControlHidesAddress(t *testing.T) {
	dns := startFakeDNS(t)
	p := Policy{}
	for _, tc := range []struct{ network, address, want string }{
		{"tcp4", "10.1.2.3:443", "(private)"},
		{"tcp6", "[64:ff9b::a01:203]:443", "private"},
		{"tcp4", "127.0.0.1:443", "(loopback)"},
		{"tcp6", "[fe80::1%eth0]:443", "link-local"},
	} {
		err := p.Control(tc.network, tc.address, nil)
		if err == nil || !errors.Is(err, ErrNotPublic) {
			t.Errorf("Control(%s, %s) = %v, want ErrNotPublic", tc.network, tc.address, err)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, tc.want) || !strings.HasPrefix(msg, "netguard: refused to connect") {
			t.Errorf("Control(%s, %s) = %q, want %q in a netguard refusal", tc.network, tc.address, msg, tc.want)
		}
		host, _, _ := net.SplitHostPort(tc.address)
		for _, leak := range append(dns.leaks(), tc.address, host) {
			if strings.Contains(msg, leak) {
				t.Errorf("Control(%s, %s) = %q: it names %q", tc.network, tc.address, msg, leak)
			}
		}
	}

	// Through a dialer that resolves with the fake DNS: the net package wraps Control's
	// error in a *net.OpError that names the address itself (a caller showing the error
	// to a tenant must use the OpError's Err); Control's own error does not.
	d := &net.Dialer{Timeout: 10 * time.Second, Resolver: dns.resolver(), Control: p.Control}
	for _, name := range []string{"intranet.example:443", "nat64.example:443"} {
		_, err := d.DialContext(context.Background(), "tcp", name)
		if err == nil || !errors.Is(err, ErrNotPublic) {
			t.Fatalf("dial %s through the guard = %v, want ErrNotPublic", name, err)
		}
		var oe *net.OpError
		if !errors.As(err, &oe) {
			t.Fatalf("dial %s = %#v, want a *net.OpError", name, err)
		}
		msg := oe.Err.Error()
		if !strings.Contains(msg, "private") {
			t.Errorf("dial %s: Control said %q, want the kind (private)", name, msg)
		}
		for _, leak := range dns.leaks() {
			if strings.Contains(msg, leak) {
				t.Errorf("dial %s: Control said %q: it names %q", name, msg, leak)
			}
		}
	}
}
