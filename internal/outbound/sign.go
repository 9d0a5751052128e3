package outbound

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/livegate/livegate/internal/store"
)

// Standard Webhooks (https://www.standardwebhooks.com/) headers.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// secretPrefix starts every endpoint secret: the rest is the base64 of the HMAC key.
const secretPrefix = "whsec_"

// NewSecret returns an endpoint's signing secret as the Standard Webhooks specification
// writes one: "whsec_" and the base64 of 24 random bytes (signingKey reads it back).
func NewSecret() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return secretPrefix + base64.StdEncoding.EncodeToString(b)
}

// signingKey is the HMAC key of a "whsec_<base64>" secret.
func signingKey(secret string) ([]byte, error) {
	rest, ok := strings.CutPrefix(secret, secretPrefix)
	if !ok {
		return nil, errors.New(`signing secret does not start with "whsec_"`)
	}
	key, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		return nil, fmt.Errorf("signing secret is not whsec_ and base64: %w", err)
	}
	if len(key) == 0 {
		return nil, errors.New("signing secret is empty")
	}
	return key, nil
}

// signature is one Standard Webhooks signature, "v1,<base64 HMAC-SHA256 of id.timestamp.body>".
func signature(key []byte, id string, ts int64, body []byte) string {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(id))
	h.Write([]byte{'.'})
	h.Write(strconv.AppendInt(nil, ts, 10))
	h.Write([]byte{'.'})
	h.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// Sign returns the webhook-signature header of a delivery of body with webhook-id id at
// Unix time ts, made at now: signed with the endpoint's secret and, while a rotation's
// previous secret has not expired, with that too (space-separated, the current one first),
// so a receiver still configured with either verifies it.
func Sign(e store.WebhookEndpoint, id string, ts int64, body []byte, now time.Time) (string, error) {
	key, err := signingKey(e.Secret)
	if err != nil {
		return "", err
	}
	sig := signature(key, id, ts, body)
	if e.PrevSecret != "" && now.Before(e.PrevSecretExpiresAt) {
		prev, err := signingKey(e.PrevSecret)
		if err != nil {
			return "", fmt.Errorf("previous %w", err)
		}
		sig += " " + signature(prev, id, ts, body)
	}
	return sig, nil
}
