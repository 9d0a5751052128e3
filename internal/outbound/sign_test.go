package outbound_test

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/livegate/livegate/internal/outbound"
	"github.com/livegate/livegate/internal/store"
)

func newSecret(t *testing.T) string {
	t.Helper()
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// verify checks a signature with the Standard Webhooks reference library, never with
// livegate's own code.
func verify(t *testing.T, secret, id string, ts time.Time, sig string, body []byte) error {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set("webhook-id", id)
	h.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
	h.Set("webhook-signature", sig)
	return wh.Verify(body, h)
}

func TestSignVerifiesWithTheStandardLibrary(t *testing.T) {
	secret := newSecret(t)
	body := []byte(`{"type":"hls.started.success","n":"é"}`)
	now := time.Now()
	sig, err := outbound.Sign(store.WebhookEndpoint{Secret: secret}, "msg_1", now.Unix(), body, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := verify(t, secret, "msg_1", now, sig, body); err != nil {
		t.Fatalf("the standard library refuses %q: %v", sig, err)
	}
	if err := verify(t, secret, "msg_1", now, sig, append(body, ' ')); err == nil {
		t.Fatal("a changed body verified")
	}
	if err := verify(t, newSecret(t), "msg_1", now, sig, body); err == nil {
		t.Fatal("another secret verified")
	}
}

func TestSignDuringRotationCarriesBothSignatures(t *testing.T) {
	cur, prev := newSecret(t), newSecret(t)
	body := []byte(`{}`)
	now := time.Now()
	e := store.WebhookEndpoint{Secret: cur, PrevSecret: prev, PrevSecretExpiresAt: now.Add(time.Hour)}
	sig, err := outbound.Sign(e, "msg_2", now.Unix(), body, now)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(strings.Fields(sig)); n != 2 {
		t.Fatalf("signature header %q has %d signatures, want 2", sig, n)
	}
	for _, s := range []string{cur, prev} {
		if err := verify(t, s, "msg_2", now, sig, body); err != nil {
			t.Errorf("a receiver with one of the two secrets refuses it: %v", err)
		}
	}
	// Past the grace period, only the current secret signs.
	sig, err = outbound.Sign(e, "msg_2", now.Unix(), body, now.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(strings.Fields(sig)); n != 1 {
		t.Fatalf("after the grace period the header %q has %d signatures, want 1", sig, n)
	}
	if err := verify(t, prev, "msg_2", now, sig, body); err == nil {
		t.Error("the expired previous secret still verifies")
	}
}
