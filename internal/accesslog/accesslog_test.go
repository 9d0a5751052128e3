package accesslog

import (
	"strings"
	"testing"
)

func TestClient(t *testing.T) {
	proxies, err := ParseProxies("10.0.0.0/8, 192.168.1.1, ::1, 2001:db8::/32")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, remote string
		xff          []string
		proxies      *Proxies
		want         string
	}{
		{"no proxies trusted: X-Forwarded-For ignored", "203.0.113.5:4000", []string{"198.51.100.1"}, nil, "203.0.113.5"},
		{"untrusted peer: X-Forwarded-For ignored", "203.0.113.5:4000", []string{"198.51.100.1"}, proxies, "203.0.113.5"},
		{"trusted peer without X-Forwarded-For", "10.1.1.1:4000", nil, proxies, "10.1.1.1"},
		{"trusted peer", "10.1.1.1:4000", []string{"198.51.100.1"}, proxies, "198.51.100.1"},
		{"the right-most untrusted hop, not a spoofed left one", "10.1.1.1:4000", []string{"1.2.3.4, 198.51.100.1"}, proxies, "198.51.100.1"},
		{"past a chain of trusted proxies, over several headers", "192.168.1.1:80", []string{"1.2.3.4, 198.51.100.1", "10.9.9.9 , 10.2.2.2"}, proxies, "198.51.100.1"},
		{"every hop trusted: the left-most", "10.1.1.1:4000", []string{"10.3.3.3, 10.2.2.2"}, proxies, "10.3.3.3"},
		{"garbage stops at the hop before it", "10.1.1.1:4000", []string{"198.51.100.1, <script>, 10.2.2.2"}, proxies, "10.2.2.2"},
		{"hop with a port", "10.1.1.1:4000", []string{"198.51.100.1:5555"}, proxies, "198.51.100.1"},
		{"IPv6 peer and hop", "[::1]:4000", []string{"[2001:db8::1]:443, 2a00::7"}, proxies, "2a00::7"},
		{"IPv4-mapped peer", "[::ffff:10.1.1.1]:4000", []string{"198.51.100.1"}, proxies, "198.51.100.1"},
		{"not an IP peer", "@", []string{"198.51.100.1"}, proxies, "@"},
	} {
		if got := c.proxies.Client(c.remote, c.xff); got != c.want {
			t.Errorf("%s: Client(%q, %q) = %q, want %q", c.name, c.remote, c.xff, got, c.want)
		}
	}
	for _, bad := range []string{"10.0.0.0/33", "example.com", "10.0.0.1/x"} {
		if _, err := ParseProxies(bad); err == nil {
			t.Errorf("ParseProxies(%q): no error", bad)
		}
	}
}

func TestRequestID(t *testing.T) {
	for _, ok := range []string{"abc", "f81d4fae-7dec-11d0-a765-00a0c91e6bf6", "01ARZ3NDEKTSV4RRFFQ69G5FAV", "Root=1-5759e988-bd862e3fe1be46a994272793", "a+b/c=", strings.Repeat("x", MaxRequestIDLen)} {
		if !ValidRequestID(ok) || RequestID(ok) != ok {
			t.Errorf("%q: not kept", ok)
		}
	}
	for _, bad := range []string{"", "has space", "new\nline", `"quoted"`, "semi;colon", "ünï", strings.Repeat("x", MaxRequestIDLen+1)} {
		if ValidRequestID(bad) {
			t.Errorf("%q: valid", bad)
		}
		if id := RequestID(bad); !ValidRequestID(id) || id == bad {
			t.Errorf("%q: replaced by %q", bad, id)
		}
	}
	if a, b := RequestID(""), RequestID(""); a == b {
		t.Errorf("two generated ids are the same: %q", a)
	}
}

func TestMaskedPath(t *testing.T) {
	for in, want := range map[string]string{
		"/rtmp/s3cr3t/on_publish":       "/rtmp/***/on_publish",
		"/rtmp/s3cr3t":                  "/rtmp/***",
		"/rtmp//s3cr3t/on_publish":      "/rtmp/***/on_publish",
		"//rtmp/s3cr3t/a/b":             "/rtmp/***/a/b",
		"/Rtmp/s3cr3t/on_play":          "/Rtmp/***/on_play",
		"/x/../rtmp/s3cr3t/on_play":     "/rtmp/***/on_play",
		"/accounts/a/realtime/kit/b/ls": "/accounts/a/realtime/kit/b/ls",
		"/rtmpx/s3cr3t":                 "/rtmpx/s3cr3t",
		"":                              "/",
	} {
		if got := MaskedPath(in); got != want {
			t.Errorf("MaskedPath(%q) = %q, want %q", in, got, want)
		}
	}
}
