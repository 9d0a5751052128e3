package auth_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/livegate/livegate/internal/auth"
	"github.com/livegate/livegate/internal/store"
)

// TestRotation: a rotated token and webhook secret stay valid until their expiry and not
// after; a rotation without grace, or a second rotation, revokes the replaced one at once;
// the new one works at once; every action is in the audit log under its actor.
func TestRotation(t *testing.T) {
	ctx := t.Context()
	st := openStore(t)
	m := auth.Manager{Store: st, Actor: auth.OperatorActor("op-token")}
	a := auth.NewAuthenticator(st)
	ok := func(what, token string, want bool) {
		t.Helper()
		got, err := a.Authenticate(ctx, "Bearer "+token)
		if want && (err != nil || got != tenantA) {
			t.Errorf("%s: %v %v, want accepted for %v", what, got, err, tenantA)
		}
		if !want && err == nil {
			t.Errorf("%s: accepted, want refused", what)
		}
	}

	creds, err := m.Create(ctx, tenantA)
	if err != nil {
		t.Fatal(err)
	}
	r1, err := m.RotateToken(ctx, tenantA, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if r1.PreviousValidUntil == nil || time.Until(*r1.PreviousValidUntil) < 59*time.Minute {
		t.Errorf("PreviousValidUntil %v, want an hour from now", r1.PreviousValidUntil)
	}
	ok("the old token in its grace", creds.APIToken, true)
	ok("the new token", r1.APIToken, true)

	r2, err := m.RotateToken(ctx, tenantA, 0)
	if err != nil || r2.PreviousValidUntil != nil {
		t.Fatalf("rotation without grace: %+v, %v", r2, err)
	}
	ok("the first token after a second rotation", creds.APIToken, false)
	ok("the second token after a rotation without grace", r1.APIToken, false)
	ok("the third token", r2.APIToken, true)

	// A rotation whose grace is over: its clock two hours behind, a grace of one.
	past := auth.Manager{Store: st, Actor: "cli:test", Now: func() time.Time { return time.Now().Add(-2 * time.Hour) }}
	r3, err := past.RotateToken(ctx, tenantA, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ok("a token whose grace is over", r2.APIToken, false)
	ok("the fourth token", r3.APIToken, true)

	secrets := func() []string {
		var app store.App
		if err := st.View(ctx, func(r store.Reader) error { app, err = r.App(ctx, tenantA); return err }); err != nil {
			t.Fatal(err)
		}
		return auth.WebhookSecrets(app, time.Now())
	}
	w1, err := m.RotateWebhookSecret(ctx, tenantA, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if got := secrets(); !slices.Equal(got, []string{w1.WebhookSecret, creds.WebhookSecret}) {
		t.Errorf("webhook secrets in the grace: %q, want the new and the old", got)
	}
	w2, err := past.RotateWebhookSecret(ctx, tenantA, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if got := secrets(); !slices.Equal(got, []string{w2.WebhookSecret}) {
		t.Errorf("webhook secrets after the grace: %q, want the new one only", got)
	}

	if _, err := m.RotateToken(ctx, tenantA, -time.Second); err == nil {
		t.Error("a negative grace was accepted")
	}
	for _, g := range []time.Duration{auth.MaxGrace + time.Second, 100 * 365 * 24 * time.Hour} {
		if _, err := m.RotateToken(ctx, tenantA, g); err == nil {
			t.Errorf("a grace of %s was accepted (at most %s)", g, auth.MaxGrace)
		}
		if _, err := m.RotateWebhookSecret(ctx, tenantA, g); err == nil {
			t.Errorf("a webhook secret grace of %s was accepted (at most %s)", g, auth.MaxGrace)
		}
	}
	if _, err := m.RotateToken(ctx, tenantB, time.Hour); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("rotating an unknown app: %v, want ErrNotFound", err)
	}
	if err := m.Delete(ctx, tenantA); err != nil {
		t.Fatal(err)
	}
	ok("the token of a deleted app", r3.APIToken, false)

	entries, err := m.AuditEntries(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		if e.Tenant != tenantA {
			t.Errorf("audit entry %+v: tenant, want %v", e, tenantA)
		}
		got = append(got, e.Actor+" "+e.Action)
	}
	op := auth.OperatorActor("op-token")
	want := []string{op + " apps.create", op + " apps.rotate_token", op + " apps.rotate_token", "cli:test apps.rotate_token",
		op + " apps.rotate_webhook_secret", "cli:test apps.rotate_webhook_secret", op + " apps.delete"}
	if !slices.Equal(got, want) {
		t.Errorf("audit log:\n%q\nwant\n%q", got, want)
	}
	if op == "operator:" || len(op) != len("operator:")+12 || op == auth.OperatorActor("another") {
		t.Errorf("OperatorActor %q: want a 12-digit fingerprint that tells tokens apart", op)
	}
}
