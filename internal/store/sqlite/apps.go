package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/livegate/livegate/internal/store"
)

const appCols = `account_id, app_id, token_id, token_hash, webhook_secret, created_at, ` +
	`prev_token_id, prev_token_hash, prev_token_expires_at, prev_webhook_secret, prev_webhook_secret_expires_at`

func scanApp(row scanner) (store.App, error) {
	var a store.App
	var created, prevTokenExp, prevSecretExp sql.NullInt64
	var prevTokenID, prevSecret sql.NullString
	err := row.Scan(&a.AccountID, &a.AppID, &a.TokenID, &a.TokenHash, &a.WebhookSecret, &created,
		&prevTokenID, &a.PrevTokenHash, &prevTokenExp, &prevSecret, &prevSecretExp)
	a.CreatedAt = fromMicros(created)
	a.PrevTokenID = prevTokenID.String
	a.PrevTokenExpiresAt = fromMicros(prevTokenExp)
	a.PrevWebhookSecret = prevSecret.String
	a.PrevWebhookSecretExpiresAt = fromMicros(prevSecretExp)
	return a, err
}

// nullBytes is b, or NULL when it is empty.
func nullBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

func (x *txn) AppByTokenID(ctx context.Context, tokenID string) (store.App, error) {
	a, err := scanApp(x.tx.QueryRowContext(x.ctx(ctx),
		`SELECT `+appCols+` FROM apps WHERE token_id = $1 OR prev_token_id = $1`, tokenID))
	if err != nil {
		return store.App{}, readErr("get app by token id "+tokenID, err)
	}
	return a, nil
}

func (x *txn) App(ctx context.Context, t store.Tenant) (store.App, error) {
	a, err := scanApp(x.tx.QueryRowContext(x.ctx(ctx),
		`SELECT `+appCols+` FROM apps WHERE account_id = $1 AND app_id = $2`, t.AccountID, t.AppID))
	if err != nil {
		return store.App{}, readErr(fmt.Sprintf("get app %s/%s", t.AccountID, t.AppID), err)
	}
	return a, nil
}

func (x *txn) ListApps(ctx context.Context) ([]store.App, error) {
	rows, err := x.tx.QueryContext(x.ctx(ctx), `SELECT `+appCols+` FROM apps ORDER BY account_id, app_id`)
	if err != nil {
		return nil, fmt.Errorf("list apps: %w", err)
	}
	defer rows.Close()
	var out []store.App
	for rows.Next() {
		a, err := scanApp(rows)
		if err != nil {
			return nil, fmt.Errorf("list apps: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list apps: %w", err)
	}
	return out, nil
}

func (x *txn) CreateApp(ctx context.Context, a store.App) error {
	x.appsChanged()
	hash := a.TokenHash
	if hash == nil {
		hash = []byte{} // NOT NULL; a nil slice would bind as NULL
	}
	_, err := x.tx.ExecContext(x.ctx(ctx), `INSERT INTO apps (`+appCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		a.AccountID, a.AppID, a.TokenID, hash, a.WebhookSecret, micros(a.CreatedAt),
		nullText(a.PrevTokenID), nullBytes(a.PrevTokenHash), nullMicros(a.PrevTokenExpiresAt),
		nullText(a.PrevWebhookSecret), nullMicros(a.PrevWebhookSecretExpiresAt))
	if err != nil {
		return writeErr(fmt.Sprintf("create app %s/%s", a.AccountID, a.AppID), err)
	}
	return nil
}

func (x *txn) UpdateAppCredentials(ctx context.Context, a store.App) error {
	x.appsChanged()
	hash := a.TokenHash
	if hash == nil {
		hash = []byte{}
	}
	res, err := x.tx.ExecContext(x.ctx(ctx), `UPDATE apps SET token_id = $3, token_hash = $4, webhook_secret = $5,
		prev_token_id = $6, prev_token_hash = $7, prev_token_expires_at = $8,
		prev_webhook_secret = $9, prev_webhook_secret_expires_at = $10
		WHERE account_id = $1 AND app_id = $2`,
		a.AccountID, a.AppID, a.TokenID, hash, a.WebhookSecret,
		nullText(a.PrevTokenID), nullBytes(a.PrevTokenHash), nullMicros(a.PrevTokenExpiresAt),
		nullText(a.PrevWebhookSecret), nullMicros(a.PrevWebhookSecretExpiresAt))
	return mustAffect(fmt.Sprintf("update the credentials of app %s/%s", a.AccountID, a.AppID), res, err)
}

func (x *txn) DeleteApp(ctx context.Context, t store.Tenant) error {
	x.appsChanged()
	what := fmt.Sprintf("delete app %s/%s", t.AccountID, t.AppID)
	// Webhook delivery logs go by their endpoints (by the endpoints' index, not a scan).
	if _, err := x.tx.ExecContext(x.ctx(ctx), `DELETE FROM webhook_attempts WHERE endpoint_id IN
		(SELECT id FROM webhook_endpoints WHERE account_id = $1 AND app_id = $2)`, t.AccountID, t.AppID); err != nil {
		return writeErr(what+": webhook_attempts", err)
	}
	// Sessions and RTMP clients go with their livestreams: ON DELETE CASCADE.
	for _, table := range []string{"livestreams", "recordings", "meeting_sessions", "events", "webhook_endpoints"} {
		if _, err := x.tx.ExecContext(x.ctx(ctx), `DELETE FROM `+table+` WHERE account_id = $1 AND app_id = $2`, t.AccountID, t.AppID); err != nil {
			return writeErr(what+": "+table, err)
		}
	}
	res, err := x.tx.ExecContext(x.ctx(ctx), `DELETE FROM apps WHERE account_id = $1 AND app_id = $2`, t.AccountID, t.AppID)
	return mustAffect(what, res, err)
}

const auditCols = `seq, at, actor, action, account_id, app_id, detail`

func (x *txn) AuditEntries(ctx context.Context, after uint64, limit int) ([]store.AuditEntry, error) {
	rows, err := x.tx.QueryContext(x.ctx(ctx), `SELECT `+auditCols+` FROM admin_audit WHERE seq > $1 ORDER BY seq LIMIT $2`, int64(after), limit)
	if err != nil {
		return nil, fmt.Errorf("read the admin audit log: %w", err)
	}
	defer rows.Close()
	var out []store.AuditEntry
	for rows.Next() {
		var e store.AuditEntry
		var at sql.NullInt64
		var seq int64
		if err := rows.Scan(&seq, &at, &e.Actor, &e.Action, &e.AccountID, &e.AppID, &e.Detail); err != nil {
			return nil, fmt.Errorf("read the admin audit log: %w", err)
		}
		e.Seq, e.At = uint64(seq), fromMicros(at)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the admin audit log: %w", err)
	}
	return out, nil
}

func (x *txn) AppendAuditEntry(ctx context.Context, e *store.AuditEntry) error {
	var seq int64
	err := x.tx.QueryRowContext(x.ctx(ctx), `INSERT INTO admin_audit (at, actor, action, account_id, app_id, detail)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING seq`,
		micros(e.At), e.Actor, e.Action, e.AccountID, e.AppID, e.Detail).Scan(&seq)
	if err != nil {
		return writeErr("append to the admin audit log", err)
	}
	e.Seq = uint64(seq)
	return nil
}

func (x *txn) AppsVersion(ctx context.Context) (uint64, error) {
	if x.batch != nil && x.batch.appsVersionKnown {
		return x.batch.appsVersion, nil
	}
	var n int64
	if err := x.tx.QueryRowContext(x.ctx(ctx), `SELECT n FROM apps_version WHERE id = 1`).Scan(&n); err != nil {
		return 0, fmt.Errorf("read the apps version: %w", err)
	}
	if x.batch != nil {
		x.batch.appsVersion, x.batch.appsVersionKnown = uint64(n), true
	}
	return uint64(n), nil
}

// appsChanged forgets the group's AppsVersion: apps are being written (their triggers move
// it), and a write rolled back to its savepoint moves it back.
func (x *txn) appsChanged() {
	if x.batch != nil {
		x.batch.appsVersionKnown = false
	}
}
