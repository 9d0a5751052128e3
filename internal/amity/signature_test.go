package amity

import (
	"encoding/base64"
	"strings"
	"testing"
)

func TestSign(t *testing.T) {
	// HMAC-SHA256 test vector 2 of RFC 4231 (key "Jefe"), base64-encoded.
	got := Sign([]byte("Jefe"), []byte("what do ya want for nothing?"))
	want := base64.StdEncoding.EncodeToString([]byte{
		0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e, 0x6a, 0x04, 0x24, 0x26, 0x08, 0x95, 0x75, 0xc7,
		0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27, 0x39, 0x83, 0x9d, 0xec, 0x58, 0xb9, 0x64, 0xec, 0x38, 0x43,
	})
	if got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}

func TestVerify(t *testing.T) {
	secret := []byte("webhook-secret")
	body := []byte(`{"event":"video-streaming.didStop","data":{}}`)
	good := Sign(secret, body)

	tests := []struct {
		name   string
		secret []byte
		body   []byte
		header string
		want   bool
	}{
		{"right", secret, body, good, true},
		{"right with white space", secret, body, "  " + good + "\n", true},
		{"right without padding", secret, body, strings.TrimRight(good, "="), true},
		{"wrong secret", []byte("other-secret"), body, good, false},
		{"body changed", secret, append([]byte(" "), body...), good, false},
		{"signature changed", secret, body, flipFirst(good), false},
		{"hex instead of base64", secret, body, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", false},
		{"not base64", secret, body, "not base64!", false},
		{"truncated", secret, body, good[:20], false},
		{"empty header", secret, body, "", false},
		{"blank header", secret, body, "   ", false},
		{"empty secret", nil, body, Sign(nil, body), false},
		{"empty body", secret, nil, Sign(secret, nil), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Verify(tt.secret, tt.body, tt.header); got != tt.want {
				t.Errorf("Verify = %v, want %v", got, tt.want)
			}
		})
	}
}

func flipFirst(s string) string {
	if s[0] == 'A' {
		return "B" + s[1:]
	}
	return "A" + s[1:]
}

func TestLegacyDuplicate(t *testing.T) {
	sig := Sign([]byte("s"), []byte("{}"))
	tests := []struct {
		name              string
		signature, legacy string
		want              bool
	}{
		{"legacy only", "", sig, true},
		{"both", sig, sig, false},
		{"amity only", sig, "", false},
		{"neither", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := LegacyDuplicate(tt.signature, tt.legacy); got != tt.want {
				t.Errorf("LegacyDuplicate = %v, want %v", got, tt.want)
			}
		})
	}
	if SignatureHeader != "x-amity-signature" || LegacySignatureHeader != "x-eko-signature" {
		t.Error("header names changed")
	}
}
