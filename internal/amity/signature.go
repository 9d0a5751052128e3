package amity

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"
)

// Header names of Amity's delivery signatures.
const (
	// SignatureHeader carries the signature of a delivery: the base64
	// (standard alphabet, padded) HMAC-SHA256 of the raw body, keyed with the
	// webhook's secret. Check it with [Verify].
	SignatureHeader = "x-amity-signature"
	// LegacySignatureHeader is the header of Amity's legacy (Eko) webhook
	// system. The same delivery may also arrive a second time carrying only
	// this header: such a duplicate is to be acknowledged and ignored (see
	// [LegacyDuplicate]).
	LegacySignatureHeader = "x-eko-signature"
)

// Sign returns the signature Amity sends for body under secret: the base64 of
// HMAC-SHA256(secret, body).
func Sign(secret, body []byte) string {
	return base64.StdEncoding.EncodeToString(mac(secret, body))
}

// Verify reports whether signatureHeader (the value of the x-amity-signature
// header) is the signature of body under secret. The comparison is in
// constant time. Surrounding white space and missing base64 padding are
// tolerated. An empty secret or an empty header never verifies.
func Verify(secret, body []byte, signatureHeader string) bool {
	if len(secret) == 0 {
		return false
	}
	sig := strings.TrimSpace(signatureHeader)
	if sig == "" {
		return false
	}
	got, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		got, err = base64.RawStdEncoding.DecodeString(sig)
		if err != nil {
			return false
		}
	}
	return hmac.Equal(got, mac(secret, body))
}

// LegacyDuplicate reports whether a delivery whose x-amity-signature and
// x-eko-signature headers are signature and legacySignature is the legacy
// duplicate: it carries an x-eko-signature and no x-amity-signature. Amity
// sends each delivery twice during its migration; the legacy copy is
// acknowledged and ignored, neither verified nor stored, and the same event
// arrives (or arrived) with x-amity-signature.
func LegacyDuplicate(signature, legacySignature string) bool {
	return signature == "" && legacySignature != ""
}

func mac(secret, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return m.Sum(nil)
}
