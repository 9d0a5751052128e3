package netguard

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestCheckAddr(t *testing.T) {
	for _, tc := range []struct {
		ip     string
		public bool
	}{
		{"8.8.8.8", true},
		{"1.1.1.1", true},
		{"2606:4700:4700::1111", true},
		{"64:ff9b::808:808", true}, // NAT64 of 8.8.8.8
		{"127.0.0.1", false},
		{"127.9.9.9", false},
		{"::1", false},
		{"10.1.2.3", false},
		{"172.16.0.1", false},
		{"192.168.1.1", false},
		{"169.254.169.254", false},
		{"fe80::1", false},
		{"fd00:ec2::254", false}, // AWS's IPv6 metadata address (unique local)
		{"0.0.0.0", false},
		{"::", false},
		{"100.64.0.1", false},
		{"198.18.0.1", false},
		{"224.0.0.1", false},
		{"255.255.255.255", false},
		{"240.0.0.1", false},
		{"::ffff:127.0.0.1", false},  // IPv4-mapped loopback
		{"::ffff:10.0.0.1", false},   // IPv4-mapped private
		{"64:ff9b::a00:1", false},    // NAT64 of 10.0.0.1
		{"2002:a9fe:a9fe::1", false}, // 6to4 of 169.254.169.254
		{"2001:db8::1", false},
	} {
		err := CheckAddr(netip.MustParseAddr(tc.ip))
		if (err == nil) != tc.public {
			t.Errorf("CheckAddr(%s) = %v, want public=%v", tc.ip, err, tc.public)
		}
		if err != nil && !errors.Is(err, ErrNotPublic) {
			t.Errorf("CheckAddr(%s) = %v, not ErrNotPublic", tc.ip, err)
		}
	}
}

// TestCheckAddrIPv6Ranges: the non-public IPv6 forms the audit found accepted (IPv4-compatible,
// IPv4-translated, site-local), the ranges the special list lacked (3fff::/20, 5f00::/16,
// 100:0:0:1::/64), space outside 2000::/3, and addresses with a zone are refused with words
// saying what they are; their public neighbours are still accepted; :: and ::1 keep theirs.
func TestCheckAddrIPv6Ranges(t *testing.T) {
	for _, tc := range []struct {
		ip   string
		want string // "" = public; else a substring of the error
	}{
		{"::127.0.0.1", "IPv4-compatible"},
		{"::10.0.0.1", "IPv4-compatible"},
		{"::8.8.8.8", "IPv4-compatible"}, // the whole deprecated range, whatever it embeds
		{"::2:1", "IPv4-compatible"},
		{"::ffff:0:7f00:1", "IPv4-translated"},
		{"::ffff:0:a00:1", "IPv4-translated"},
		{"::ffff:0:808:808", "IPv4-translated"},
		{"fec0::1", "site-local"},
		{"feff:ffff::1", "site-local"},
		{"3fff::1", "documentation"},
		{"3fff:fff:ffff::1", "documentation"},
		{"5f00::1", "SRv6"},
		{"5f00:ffff::1", "SRv6"},
		{"100:0:0:1::1", "dummy"},
		{"100::1", "discard-only"},
		{"0:0:0:1::1", "reserved"},
		{"1::1", "reserved"},
		{"4000::1", "reserved"},
		{"5eff::1", "reserved"},
		{"5f01::1", "reserved"},
		{"e000::1", "reserved"},
		{"fe00::1", "reserved"},
		{"2001::1", "IETF protocol assignments"}, // Teredo
		{"2001:2::1", "IETF protocol assignments"},
		{"64:ff9b::a00:1%eth0", "private"},         // a zone does not hide NAT64 of 10.0.0.1
		{"2002:a9fe:a9fe::1%eth0", "link-local"},   // nor 6to4 of 169.254.169.254
		{"2001:db8::1%eth0", "documentation"},      // nor a special range
		{"2001:4860:4860::8888%eth0", "IPv6 zone"}, // a public address scoped to an interface
		{"fe80::1%eth0", "link-local"},
		{"::", "unspecified"},
		{"::1", "loopback"},
		{"::ffff:127.0.0.1", "loopback"},
		{"::ffff:0.0.0.1", `"this network"`},

		{"2001:4860:4860::8888", ""},
		{"2606:4700::1111", ""},
		{"2a00:1450:4001::200e", ""},
		{"3ffe::1", ""}, // the 6bone's, returned to IANA (RFC 3701): global unicast, in no special range
		{"3ffe:ffff::1", ""},
		{"3fff:1000::1", ""}, // just past 3fff::/20
		{"2001:200::1", ""},  // just past 2001::/23
		{"2620:4f:8000::1", ""},
		{"64:ff9b::808:808", ""},
		{"2002:808:808::1", ""},
	} {
		err := CheckAddr(netip.MustParseAddr(tc.ip))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("CheckAddr(%s) = %v, want public", tc.ip, err)
		case tc.want != "" && err == nil:
			t.Errorf("CheckAddr(%s) = nil, want an error containing %q", tc.ip, tc.want)
		case tc.want != "" && !strings.Contains(err.Error(), tc.want):
			t.Errorf("CheckAddr(%s) = %v, want an error containing %q", tc.ip, err, tc.want)
		case err != nil && !errors.Is(err, ErrNotPublic):
			t.Errorf("CheckAddr(%s) = %v, not ErrNotPublic", tc.ip, err)
		}
	}
}

func TestCheckURL(t *testing.T) {
	ctx := context.Background()
	strict := Policy{}
	for _, tc := range []struct {
		policy Policy
		url    string
		want   string // "" = allowed; else a substring of the error
	}{
		{strict, "https://8.8.8.8/hook", ""},
		{strict, "https://127.0.0.1/hook", "loopback"},
		{strict, "https://10.0.0.7:8443/x", "private"},
		{strict, "https://169.254.169.254/latest/meta-data", "link-local"},
		{strict, "https://[::1]/x", "loopback"},
		{strict, "https://localhost/x", "host localhost resolves to an address that is not a public address (loopback)"},
		{strict, "https://[::127.0.0.1]/x", "::7f00:1 is not a public address (deprecated IPv4-compatible)"},
		{strict, "https://[::ffff:0:7f00:1]/x", "IPv4-translated"},
		{strict, "https://[fec0::1]/x", "fec0::1 is not a public address (deprecated site-local)"},
		{strict, "https://[64:ff9b::a00:1%25eth0]/x", "10.0.0.1"},
		{strict, "https://[64:ff9b::a00:1]/x", "64:ff9b::a00:1 embeds 10.0.0.1, which is not a public address (private)"},
		{strict, "http://8.8.8.8/x", "must be https"},
		{Policy{AllowHTTP: true}, "http://8.8.8.8/x", ""},
		{Policy{AllowHTTP: true}, "http://127.0.0.1/x", "loopback"},
		{Policy{AllowHTTP: true, AllowPrivate: true}, "http://127.0.0.1:9/x", ""},
		{Policy{AllowPrivate: true}, "http://127.0.0.1:9/x", "must be https"},
		{strict, "ftp://8.8.8.8/x", "must be an https URL, not ftp:"},
		{strict, "/relative", "must be an https URL"},
		{strict, "ftp://user:SECRET@8.8.8.8/x?token=SECRET", "must be an https URL, not ftp:"},
		{strict, "https://user:SECRET@example.com:80a/x", `is not a URL: invalid port ":80a" after host`},
		{strict, "https://example.com/%zz?token=SECRET", `is not a URL: invalid URL escape "%zz"`},
		{strict, "https://user:SECRET@exa mple.com/", "is not a URL"},
		{strict, "HTTPS://user:SECRET@example.invalid:99999/x?token=SECRET", "port"},
		{strict, "https:///nohost", "has no host"},
		{strict, "https://" + strings.Repeat("a", MaxURLBytes) + ".com/", "bytes long"},
		{strict, "https://no-such-host.invalid/x", "host no-such-host.invalid does not resolve"},
	} {
		err := tc.policy.CheckURL(ctx, tc.url, nil)
		if err != nil && strings.Contains(err.Error(), "SECRET") {
			t.Errorf("CheckURL(%.60s) = %v: the message, which is logged, repeats the URL's credentials", tc.url, err)
		}
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v CheckURL(%.60s) = %v, want allowed", tc.policy, tc.url, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%+v CheckURL(%.60s) = %v, want an error containing %q", tc.policy, tc.url, err, tc.want)
		}
	}
}

// TestControlRefusesDial dials a real listener on loopback through a guarded dialer: the
// connection is refused before it is made, whatever name led there; with AllowPrivate it goes through.
func TestControlRefusesDial(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(204) }))
	defer srv.Close()
	client := func(p Policy) *http.Client {
		d := &net.Dialer{Timeout: 5 * time.Second, Control: p.Control}
		return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	}
	url := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	_, err := client(Policy{}).Get(url)
	if err == nil || !errors.Is(err, ErrNotPublic) {
		t.Fatalf("GET %s through the guard = %v, want ErrNotPublic", url, err)
	}
	resp, err := client(Policy{AllowPrivate: true}).Get(url)
	if err != nil {
		t.Fatalf("GET %s with AllowPrivate: %v", url, err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 {
		t.Fatalf("status %d", resp.StatusCode)
	}
}
