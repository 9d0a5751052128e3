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
		{strict, "https://localhost/x", "resolves to"},
		{strict, "http://8.8.8.8/x", "must be https"},
		{Policy{AllowHTTP: true}, "http://8.8.8.8/x", ""},
		{Policy{AllowHTTP: true}, "http://127.0.0.1/x", "loopback"},
		{Policy{AllowHTTP: true, AllowPrivate: true}, "http://127.0.0.1:9/x", ""},
		{Policy{AllowPrivate: true}, "http://127.0.0.1:9/x", "must be https"},
		{strict, "ftp://8.8.8.8/x", "must be an https URL"},
		{strict, "/relative", "must be an https URL"},
		{strict, "https:///nohost", "has no host"},
		{strict, "https://" + strings.Repeat("a", MaxURLBytes) + ".com/", "bytes long"},
		{strict, "https://no-such-host.invalid/x", "does not resolve"},
	} {
		err := tc.policy.CheckURL(ctx, tc.url, nil)
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
