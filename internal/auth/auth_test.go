package auth_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/livegate/livegate/internal/apierror"
	"github.com/livegate/livegate/internal/auth"
	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/store/sqlite"
)

func openStore(t *testing.T) store.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

var (
	tenantA = store.Tenant{AccountID: "acc-a", AppID: "app-a"}
	tenantB = store.Tenant{AccountID: "acc-b", AppID: "app-b"}
)

// TestAuthenticate: a token resolves to its app's tenant, and every malformed, unknown or
// altered token is UNAUTHENTICATED with the same message (which reveals nothing).
func TestAuthenticate(t *testing.T) {
	st := openStore(t)
	a, err := auth.CreateApp(t.Context(), st, tenantA, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	b, err := auth.CreateApp(t.Context(), st, tenantB, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	authn := auth.NewAuthenticator(st)
	for _, tc := range []struct {
		header string
		want   store.Tenant // zero: UNAUTHENTICATED
	}{
		{"Bearer " + a.APIToken, tenantA},
		{"bearer " + b.APIToken, tenantB},
		{"  Bearer   " + a.APIToken + "  ", tenantA},
		{"", store.Tenant{}},
		{a.APIToken, store.Tenant{}}, // no scheme
		{"Basic " + a.APIToken, store.Tenant{}},
		{"Bearer ", store.Tenant{}},
		{"Bearer lgt_", store.Tenant{}},
		{"Bearer " + strings.TrimPrefix(a.APIToken, "lgt_"), store.Tenant{}},                      // no prefix
		{"Bearer " + a.APIToken + "x", store.Tenant{}},                                            // secret altered
		{"Bearer " + a.APIToken[:21] + b.APIToken[21:], store.Tenant{}},                           // A's id, B's secret
		{"Bearer lgt_0123456789abcdef_" + strings.Split(a.APIToken, "_")[2], store.Tenant{}},      // unknown id
		{"Bearer lgt_0123_" + strings.Split(a.APIToken, "_")[2], store.Tenant{}},                  // short id
		{"Bearer " + strings.Join(strings.Split(a.APIToken, "_")[:2], "_") + "_", store.Tenant{}}, // empty secret
	} {
		got, err := authn.Authenticate(t.Context(), tc.header)
		if tc.want != (store.Tenant{}) {
			if err != nil || got != tc.want {
				t.Errorf("Authenticate(%q) = %v, %v; want %v", tc.header, got, err, tc.want)
			}
			continue
		}
		var e *apierror.Error
		if !errors.As(err, &e) || e.Reason != apierror.ReasonUnauthenticated || got != (store.Tenant{}) {
			t.Errorf("Authenticate(%q) = %v, %v; want UNAUTHENTICATED", tc.header, got, err)
			continue
		}
		if !strings.Contains(e.Message, "Authorization: Bearer <token>") {
			t.Errorf("message %q does not say how to authenticate", e.Message)
		}
	}
}

// TestTokens: issued tokens and secrets are distinct and parse back to the stored hash;
// only SHA-256 of the secret is kept.
func TestTokens(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		tok := auth.NewToken()
		if seen[tok.Plain] || seen[tok.ID] {
			t.Fatalf("token %s issued twice", tok.Plain)
		}
		seen[tok.Plain], seen[tok.ID] = true, true
		id, hash, ok := auth.ParseToken(tok.Plain)
		if !ok || id != tok.ID || string(hash) != string(tok.Hash) {
			t.Fatalf("ParseToken(%s) = %s, %x, %v; want %s, %x", tok.Plain, id, hash, ok, tok.ID, tok.Hash)
		}
		if strings.Contains(string(tok.Hash), strings.Split(tok.Plain, "_")[2]) {
			t.Fatal("the stored hash holds the secret")
		}
		s := auth.NewWebhookSecret()
		if seen[s] || !strings.HasPrefix(s, "whsec_") || len(s) < 6+26 {
			t.Fatalf("webhook secret %q reused or too short", s)
		}
		seen[s] = true
	}
}

// TestAuthorize: a token may address its own tenant only; the refusal names the tenant asked
// for, not the caller's.
func TestAuthorize(t *testing.T) {
	req := func(acc, app string) auth.TenantScoped { return scoped{acc, app} }
	if err := auth.Authorize(tenantA, req("acc-a", "app-a")); err != nil {
		t.Errorf("own tenant: %v", err)
	}
	for _, r := range []auth.TenantScoped{req("acc-b", "app-b"), req("acc-a", "app-b"), req("acc-b", "app-a"), req("", "")} {
		err := auth.Authorize(tenantA, r)
		var e *apierror.Error
		if !errors.As(err, &e) || e.Reason != apierror.ReasonPermissionDenied {
			t.Errorf("Authorize(A, %v) = %v, want PERMISSION_DENIED", r, err)
			continue
		}
		if strings.Contains(e.Message, "acc-a\" app \"app-a") {
			t.Errorf("message %q names the caller's tenant", e.Message)
		}
	}
}

type scoped struct{ acc, app string }

func (s scoped) GetAccountId() string { return s.acc }
func (s scoped) GetAppId() string     { return s.app }

// TestCreateAppTwice: a tenant's app is created once; the second attempt is
// store.ErrAlreadyExists and leaves the first credentials working.
func TestCreateAppTwice(t *testing.T) {
	st := openStore(t)
	first, err := auth.CreateApp(t.Context(), st, tenantA, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if first.AccountID != tenantA.AccountID || first.AppID != tenantA.AppID || first.APIToken == "" || first.WebhookSecret == "" {
		t.Fatalf("credentials %+v", first)
	}
	if _, err := auth.CreateApp(t.Context(), st, tenantA, time.Now()); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("second create: %v, want store.ErrAlreadyExists", err)
	}
	if got, err := auth.NewAuthenticator(st).Authenticate(t.Context(), "Bearer "+first.APIToken); err != nil || got != tenantA {
		t.Fatalf("first token after the second create: %v, %v", got, err)
	}
}

// TestTenantContext: the tenant put in a context is the one read back; none is none.
func TestTenantContext(t *testing.T) {
	if _, ok := auth.TenantFrom(t.Context()); ok {
		t.Error("a tenant in a bare context")
	}
	if got, ok := auth.TenantFrom(auth.WithTenant(t.Context(), tenantB)); !ok || got != tenantB {
		t.Errorf("TenantFrom = %v, %v", got, ok)
	}
}
