// Package auth issues and checks livegate's credentials: per-app API tokens (bearer tokens
// on every gRPC and REST call) and webhook secrets.
//
// An API token is "lgt_<id>_<secret>". The id is public and is the lookup key; only
// SHA-256(secret) is stored, and it is compared in constant time, so neither a database read
// nor a timing difference reveals a token.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/livegate/livegate/internal/apierror"
	"github.com/livegate/livegate/internal/store"
)

const tokenPrefix = "lgt_"

// Token is a freshly issued API token: the string to hand to the user once, and what to store.
type Token struct {
	// Plain is the whole token; shown once, never stored.
	Plain string
	// ID is the public lookup key.
	ID string
	// Hash is SHA-256 of the secret half.
	Hash []byte
}

// NewToken issues a random API token (64-bit id, 128+-bit secret).
func NewToken() Token {
	id := make([]byte, 8)
	_, _ = rand.Read(id) // crypto/rand.Read never returns an error (Go 1.24+)
	secret := rand.Text()
	h := sha256.Sum256([]byte(secret))
	return Token{
		Plain: tokenPrefix + hex.EncodeToString(id) + "_" + secret,
		ID:    hex.EncodeToString(id),
		Hash:  h[:],
	}
}

// NewWebhookSecret returns a random secret (128+ bits) for provider deliveries.
func NewWebhookSecret() string { return "whsec_" + rand.Text() }

// ParseToken splits a token into its id and the hash of its secret.
func ParseToken(token string) (id string, hash []byte, ok bool) {
	rest, found := strings.CutPrefix(token, tokenPrefix)
	if !found {
		return "", nil, false
	}
	id, secret, found := strings.Cut(rest, "_")
	if !found || len(id) != 16 || secret == "" {
		return "", nil, false
	}
	h := sha256.Sum256([]byte(secret))
	return id, h[:], true
}

// Authenticator resolves bearer tokens to apps.
type Authenticator struct {
	store store.Store
	now   func() time.Time
}

// NewAuthenticator returns an Authenticator reading apps from st.
func NewAuthenticator(st store.Store) *Authenticator {
	return &Authenticator{store: st, now: time.Now}
}

var errUnauthenticated = apierror.New(apierror.ReasonUnauthenticated, "missing or unknown API token: send Authorization: Bearer <token>")

// Authenticate returns the tenant an "Authorization" header value (with or without the
// "Bearer " scheme) belongs to, or an UNAUTHENTICATED error.
func (a *Authenticator) Authenticate(ctx context.Context, authorization string) (store.Tenant, error) {
	scheme, token, found := strings.Cut(strings.TrimSpace(authorization), " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return store.Tenant{}, errUnauthenticated
	}
	id, hash, ok := ParseToken(strings.TrimSpace(token))
	if !ok {
		return store.Tenant{}, errUnauthenticated
	}
	var app store.App
	err := a.store.View(ctx, func(r store.Reader) error {
		var err error
		app, err = r.AppByTokenID(ctx, id)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return store.Tenant{}, errUnauthenticated
	}
	if err != nil {
		return store.Tenant{}, fmt.Errorf("look up token %s: %w", id, err)
	}
	want := app.TokenHash
	if id != app.TokenID {
		// The token a rotation replaced: accepted until its expiry.
		if id != app.PrevTokenID || !a.now().Before(app.PrevTokenExpiresAt) {
			return store.Tenant{}, errUnauthenticated
		}
		want = app.PrevTokenHash
	}
	if subtle.ConstantTimeCompare(want, hash) != 1 {
		return store.Tenant{}, errUnauthenticated
	}
	return app.Tenant, nil
}

// WebhookSecrets are the webhook secrets an app's deliveries may be signed with at now: its
// secret, and the one a rotation replaced until that one expires.
func WebhookSecrets(app store.App, now time.Time) []string {
	secrets := []string{app.WebhookSecret}
	if app.PrevWebhookSecret != "" && now.Before(app.PrevWebhookSecretExpiresAt) {
		secrets = append(secrets, app.PrevWebhookSecret)
	}
	return secrets
}

// TenantScoped is a request addressed to one tenant: every livegate request message with
// account_id and app_id fields.
type TenantScoped interface {
	GetAccountId() string
	GetAppId() string
}

// Authorize checks that a request addressed to a tenant comes from that tenant's token. It
// names neither the other tenant nor whether it exists.
func Authorize(caller store.Tenant, req TenantScoped) error {
	if caller.AccountID != req.GetAccountId() || caller.AppID != req.GetAppId() {
		return apierror.New(apierror.ReasonPermissionDenied,
			"this API token does not grant access to account %q app %q", req.GetAccountId(), req.GetAppId())
	}
	return nil
}

type tenantKey struct{}

// WithTenant returns a context carrying the authenticated tenant.
func WithTenant(ctx context.Context, t store.Tenant) context.Context {
	return context.WithValue(ctx, tenantKey{}, t)
}

// TenantFrom returns the authenticated tenant of a request context.
func TenantFrom(ctx context.Context) (store.Tenant, bool) {
	t, ok := ctx.Value(tenantKey{}).(store.Tenant)
	return t, ok
}

type recheckKey struct{}

// Recheck authenticates a long-lived call's credentials again: nil while they still
// authenticate its tenant; an UNAUTHENTICATED error once they do not (the app was deleted,
// or the token was rotated and its grace is over); another error when it cannot tell (the
// store failed).
type Recheck func(ctx context.Context) error

// WithRecheck returns a context carrying how to recheck its call's credentials.
func WithRecheck(ctx context.Context, r Recheck) context.Context {
	return context.WithValue(ctx, recheckKey{}, r)
}

// RecheckFrom returns how to recheck a call's credentials (false: the call carries none).
func RecheckFrom(ctx context.Context) (Recheck, bool) {
	r, ok := ctx.Value(recheckKey{}).(Recheck)
	return r, ok
}

// Recheck returns a Recheck of the authorization header a call for tenant t was
// authenticated with.
func (a *Authenticator) Recheck(authorization string, t store.Tenant) Recheck {
	return func(ctx context.Context) error {
		got, err := a.Authenticate(ctx, authorization)
		if err != nil {
			return err
		}
		if got != t {
			return errUnauthenticated
		}
		return nil
	}
}

// Credentials are what creating an app hands out, once: livegate keeps only the token's hash.
type Credentials struct {
	AccountID     string `json:"account_id"`
	AppID         string `json:"app_id"`
	APIToken      string `json:"api_token"`
	WebhookSecret string `json:"webhook_secret"`
}

// CreateApp creates a tenant's app with a new API token and webhook secret.
// store.ErrAlreadyExists if the tenant exists.
func CreateApp(ctx context.Context, st store.Store, t store.Tenant, now time.Time) (Credentials, error) {
	token := NewToken()
	a := store.App{
		Tenant:        t,
		TokenID:       token.ID,
		TokenHash:     token.Hash,
		WebhookSecret: NewWebhookSecret(),
		CreatedAt:     now.UTC(),
	}
	if err := st.Update(ctx, func(w store.Writer) error { return w.CreateApp(ctx, a) }); err != nil {
		return Credentials{}, fmt.Errorf("create app %s/%s: %w", t.AccountID, t.AppID, err)
	}
	return Credentials{AccountID: t.AccountID, AppID: t.AppID, APIToken: token.Plain, WebhookSecret: a.WebhookSecret}, nil
}
