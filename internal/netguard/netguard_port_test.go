package netguard

import (
	"context"
	"strings"
	"testing"
)

// TestCheckURLPort: a port, when the URL has one, is a decimal number from 1 to 65535
// (url.Parse lets 0 and 99999 through; deliveries to them fail forever), whatever the
// policy; a URL without a port (or with an empty one) takes the scheme's.
func TestCheckURLPort(t *testing.T) {
	ctx := context.Background()
	strict := Policy{}
	dev := Policy{AllowHTTP: true, AllowPrivate: true}
	for _, tc := range []struct {
		policy Policy
		url    string
		want   []string // nil = allowed; else substrings of the error
	}{
		{strict, "https://8.8.8.8:8443/hook", nil},
		{strict, "https://8.8.8.8:1/hook", nil},
		{strict, "https://8.8.8.8:65535/hook", nil},
		{strict, "https://8.8.8.8/hook", nil},
		{strict, "https://8.8.8.8:/hook", nil}, // empty: the scheme's port
		{strict, "https://[2001:4860:4860::8888]:8443/hook", nil},
		{dev, "http://127.0.0.1:8080/hook", nil},

		{strict, "https://8.8.8.8:0/", []string{`port "0"`, "1 to 65535"}},
		{strict, "https://8.8.8.8:99999/", []string{`port "99999"`, "1 to 65535"}},
		{strict, "https://8.8.8.8:65536/", []string{`port "65536"`, "1 to 65535"}},
		{strict, "https://8.8.8.8:99999999999999999999999/", []string{"1 to 65535"}},
		{strict, "https://[2001:4860:4860::8888]:0/", []string{`port "0"`, "1 to 65535"}},
		{strict, "https://8.8.8.8:-1/", []string{"port"}},
		{strict, "https://8.8.8.8:abc/", []string{"port"}},
		{strict, "https://8.8.8.8:+443/", []string{"port"}},
		// The port is checked before (and whether or not) the address is.
		{dev, "http://127.0.0.1:0/", []string{`port "0"`, "1 to 65535"}},
		{dev, "https://8.8.8.8:99999/", []string{`port "99999"`, "1 to 65535"}},
		{strict, "https://127.0.0.1:99999/", []string{`port "99999"`}},
	} {
		err := tc.policy.CheckURL(ctx, tc.url, nil)
		if tc.want == nil {
			if err != nil {
				t.Errorf("%+v CheckURL(%s) = %v, want allowed", tc.policy, tc.url, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%+v CheckURL(%s) allowed, want an error containing %q", tc.policy, tc.url, tc.want)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%+v CheckURL(%s) = %v, want an error containing %q", tc.policy, tc.url, err, w)
			}
		}
	}
}
