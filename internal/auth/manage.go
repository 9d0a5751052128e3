package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/livegate/livegate/internal/store"
)

// Admin actions, as the admin audit log names them.
const (
	ActionCreate              = "apps.create"
	ActionRotateToken         = "apps.rotate_token"
	ActionRotateWebhookSecret = "apps.rotate_webhook_secret"
	ActionDelete              = "apps.delete"
)

// DefaultGrace is how long a rotated credential stays valid unless told otherwise.
const DefaultGrace = 24 * time.Hour

// Manager performs the operators' actions on apps (create, list, rotate credentials,
// delete), each write recorded in the admin audit log in the same transaction as the action,
// under Actor.
type Manager struct {
	Store store.Store
	// Actor is who acts: OperatorActor of the operator token, or "cli" for the command line.
	Actor string
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// OperatorActor is how the audit log names the holder of an operator token: a fingerprint
// of it (the first 12 hex digits of its SHA-256), never the token.
func OperatorActor(token string) string {
	h := sha256.Sum256([]byte(token))
	return "operator:" + hex.EncodeToString(h[:6])
}

// now is the clock's time, to the microsecond the stores keep, so that an expiry printed is
// the one stored.
func (m Manager) now() time.Time {
	now := time.Now
	if m.Now != nil {
		now = m.Now
	}
	return now().UTC().Truncate(time.Microsecond)
}

// Rotated is the outcome of a rotation: the new credential (shown once) and until when the
// one it replaced stays valid (nil: not at all, a rotation with no grace).
type Rotated struct {
	AccountID     string `json:"account_id"`
	AppID         string `json:"app_id"`
	APIToken      string `json:"api_token,omitempty"`
	WebhookSecret string `json:"webhook_secret,omitempty"`
	// PreviousValidUntil is when the replaced credential stops being accepted.
	PreviousValidUntil *time.Time `json:"previous_valid_until,omitempty"`
}

func (m Manager) audit(ctx context.Context, w store.Writer, action string, t store.Tenant, now time.Time, detail string) error {
	return w.AppendAuditEntry(ctx, &store.AuditEntry{At: now, Actor: m.Actor, Action: action, Tenant: t, Detail: detail})
}

// Create creates a tenant's app with a new API token and webhook secret.
// store.ErrAlreadyExists if the tenant exists.
func (m Manager) Create(ctx context.Context, t store.Tenant) (Credentials, error) {
	now := m.now()
	token := NewToken()
	a := store.App{Tenant: t, TokenID: token.ID, TokenHash: token.Hash, WebhookSecret: NewWebhookSecret(), CreatedAt: now}
	err := m.Store.Update(ctx, func(w store.Writer) error {
		if err := w.CreateApp(ctx, a); err != nil {
			return err
		}
		return m.audit(ctx, w, ActionCreate, t, now, "")
	})
	if err != nil {
		return Credentials{}, fmt.Errorf("create app %s/%s: %w", t.AccountID, t.AppID, err)
	}
	return Credentials{AccountID: t.AccountID, AppID: t.AppID, APIToken: token.Plain, WebhookSecret: a.WebhookSecret}, nil
}

// List returns every app (credentials are hashes or secrets: callers show neither).
func (m Manager) List(ctx context.Context) ([]store.App, error) {
	var apps []store.App
	err := m.Store.View(ctx, func(r store.Reader) error {
		var err error
		apps, err = r.ListApps(ctx)
		return err
	})
	return apps, err
}

// MaxGrace is the longest a rotated credential may stay valid (as for outbound webhook
// secrets): past it, a "rotation" would leave the old credential working for good.
const MaxGrace = 7 * 24 * time.Hour

// CheckGrace says what is wrong with a rotation's grace (nil: nothing): negative, or over
// MaxGrace.
func CheckGrace(grace time.Duration) error {
	if grace < 0 || grace > MaxGrace {
		return fmt.Errorf("grace %s: must be between 0s and %s (7 days)", grace, MaxGrace)
	}
	return nil
}

// rotate replaces a credential of the app with change, recording action.
func (m Manager) rotate(ctx context.Context, t store.Tenant, grace time.Duration, action, what string, change func(a *store.App, until time.Time)) (*time.Time, error) {
	if err := CheckGrace(grace); err != nil {
		return nil, err
	}
	now := m.now()
	until := now.Add(grace)
	err := m.Store.Update(ctx, func(w store.Writer) error {
		a, err := w.App(ctx, t)
		if err != nil {
			return err
		}
		change(&a, until)
		if err := w.UpdateAppCredentials(ctx, a); err != nil {
			return err
		}
		detail := "previous " + what + " revoked at once"
		if grace > 0 {
			detail = "previous " + what + " valid until " + until.Format(time.RFC3339)
		}
		return m.audit(ctx, w, action, t, now, detail)
	})
	if err != nil {
		return nil, fmt.Errorf("rotate the %s of app %s/%s: %w", what, t.AccountID, t.AppID, err)
	}
	if grace == 0 {
		return nil, nil
	}
	return &until, nil
}

// RotateToken gives the app a new API token. The one it replaces stays valid for grace (0:
// revoked at once); a token replaced earlier and still in its grace is revoked now (an app
// has at most one previous token). store.ErrNotFound if the app does not exist.
func (m Manager) RotateToken(ctx context.Context, t store.Tenant, grace time.Duration) (Rotated, error) {
	token := NewToken()
	until, err := m.rotate(ctx, t, grace, ActionRotateToken, "API token", func(a *store.App, until time.Time) {
		a.PrevTokenID, a.PrevTokenHash, a.PrevTokenExpiresAt = "", nil, time.Time{}
		if grace > 0 {
			a.PrevTokenID, a.PrevTokenHash, a.PrevTokenExpiresAt = a.TokenID, a.TokenHash, until
		}
		a.TokenID, a.TokenHash = token.ID, token.Hash
	})
	if err != nil {
		return Rotated{}, err
	}
	return Rotated{AccountID: t.AccountID, AppID: t.AppID, APIToken: token.Plain, PreviousValidUntil: until}, nil
}

// RotateWebhookSecret gives the app a new webhook secret. Deliveries signed with the one it
// replaces are accepted for grace (0: refused at once); a secret replaced earlier and still
// in its grace is refused from now on. store.ErrNotFound if the app does not exist.
func (m Manager) RotateWebhookSecret(ctx context.Context, t store.Tenant, grace time.Duration) (Rotated, error) {
	secret := NewWebhookSecret()
	until, err := m.rotate(ctx, t, grace, ActionRotateWebhookSecret, "webhook secret", func(a *store.App, until time.Time) {
		a.PrevWebhookSecret, a.PrevWebhookSecretExpiresAt = "", time.Time{}
		if grace > 0 {
			a.PrevWebhookSecret, a.PrevWebhookSecretExpiresAt = a.WebhookSecret, until
		}
		a.WebhookSecret = secret
	})
	if err != nil {
		return Rotated{}, err
	}
	return Rotated{AccountID: t.AccountID, AppID: t.AppID, WebhookSecret: secret, PreviousValidUntil: until}, nil
}

// Delete deletes the app and all its tenant's data (livestreams, sessions, recordings,
// events): its token and webhook secret stop working at once. store.ErrNotFound if it does
// not exist.
func (m Manager) Delete(ctx context.Context, t store.Tenant) error {
	now := m.now()
	err := m.Store.Update(ctx, func(w store.Writer) error {
		if err := w.DeleteApp(ctx, t); err != nil {
			return err
		}
		return m.audit(ctx, w, ActionDelete, t, now, "")
	})
	if err != nil {
		return fmt.Errorf("delete app %s/%s: %w", t.AccountID, t.AppID, err)
	}
	return nil
}

// AuditEntries reads the admin audit log: up to limit entries after sequence after.
func (m Manager) AuditEntries(ctx context.Context, after uint64, limit int) ([]store.AuditEntry, error) {
	var out []store.AuditEntry
	err := m.Store.View(ctx, func(r store.Reader) error {
		var err error
		out, err = r.AuditEntries(ctx, after, limit)
		return err
	})
	return out, err
}
