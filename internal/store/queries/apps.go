package queries

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"

	"github.com/livegate/livegate/internal/store"
)

const appCols = `account_id, app_id, token_id, token_hash, webhook_secret, created_at, ` +
	`prev_token_id, prev_token_hash, prev_token_expires_at, prev_webhook_secret, prev_webhook_secret_expires_at`

func scanApp(row Row) (store.App, error) {
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

func (q Queries) AppByTokenID(ctx context.Context, tokenID string) (store.App, error) {
	return one(q.Tx.QueryRow(ctx,
		`SELECT `+appCols+` FROM apps WHERE token_id = $1 OR prev_token_id = $1`, tokenID),
		"get app by token id "+tokenID, scanApp)
}

func (q Queries) App(ctx context.Context, t store.Tenant) (store.App, error) {
	return one(q.Tx.QueryRow(ctx,
		`SELECT `+appCols+` FROM apps WHERE account_id = $1 AND app_id = $2`, t.AccountID, t.AppID),
		fmt.Sprintf("get app %s/%s", t.AccountID, t.AppID), scanApp)
}

func (q Queries) ListApps(ctx context.Context) ([]store.App, error) {
	rows, err := q.Tx.Query(ctx, `SELECT `+appCols+` FROM apps ORDER BY account_id, app_id`)
	return collect(rows, err, "list apps", scanApp)
}

func (q Queries) CreateApp(ctx context.Context, a store.App) error {
	hash := a.TokenHash
	if hash == nil {
		hash = []byte{} // NOT NULL; a nil slice would bind as NULL
	}
	_, err := q.Tx.Exec(ctx, `INSERT INTO apps (`+appCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		a.AccountID, a.AppID, a.TokenID, hash, a.WebhookSecret, Micros(a.CreatedAt),
		NullText(a.PrevTokenID), nullBytes(a.PrevTokenHash), nullMicros(a.PrevTokenExpiresAt),
		NullText(a.PrevWebhookSecret), nullMicros(a.PrevWebhookSecretExpiresAt))
	if err != nil {
		return q.writeErr(fmt.Sprintf("create app %s/%s", a.AccountID, a.AppID), err)
	}
	return nil
}

func (q Queries) UpdateAppCredentials(ctx context.Context, a store.App) error {
	hash := a.TokenHash
	if hash == nil {
		hash = []byte{}
	}
	n, err := q.Tx.Exec(ctx, `UPDATE apps SET token_id = $3, token_hash = $4, webhook_secret = $5,
		prev_token_id = $6, prev_token_hash = $7, prev_token_expires_at = $8,
		prev_webhook_secret = $9, prev_webhook_secret_expires_at = $10
		WHERE account_id = $1 AND app_id = $2`,
		a.AccountID, a.AppID, a.TokenID, hash, a.WebhookSecret,
		NullText(a.PrevTokenID), nullBytes(a.PrevTokenHash), nullMicros(a.PrevTokenExpiresAt),
		NullText(a.PrevWebhookSecret), nullMicros(a.PrevWebhookSecretExpiresAt))
	return q.mustAffect(fmt.Sprintf("update the credentials of app %s/%s", a.AccountID, a.AppID), n, err)
}

func (q Queries) DeleteApp(ctx context.Context, t store.Tenant) error {
	what := fmt.Sprintf("delete app %s/%s", t.AccountID, t.AppID)
	// Webhook delivery logs go by their endpoints (by the endpoints' index, not a scan).
	if _, err := q.Tx.Exec(ctx, `DELETE FROM webhook_attempts WHERE endpoint_id IN
		(SELECT id FROM webhook_endpoints WHERE account_id = $1 AND app_id = $2)`, t.AccountID, t.AppID); err != nil {
		return q.writeErr(what+": webhook_attempts", err)
	}
	// Sessions and RTMP clients go with their livestreams: ON DELETE CASCADE.
	for _, table := range []string{"livestreams", "recordings", "meeting_sessions", "events", "webhook_endpoints"} {
		if _, err := q.Tx.Exec(ctx, `DELETE FROM `+table+` WHERE account_id = $1 AND app_id = $2`, t.AccountID, t.AppID); err != nil {
			return q.writeErr(what+": "+table, err)
		}
	}
	n, err := q.Tx.Exec(ctx, `DELETE FROM apps WHERE account_id = $1 AND app_id = $2`, t.AccountID, t.AppID)
	return q.mustAffect(what, n, err)
}

const auditCols = `seq, at, actor, action, account_id, app_id, detail`

func (q Queries) AuditEntries(ctx context.Context, after uint64, limit int) ([]store.AuditEntry, error) {
	if after > math.MaxInt64 {
		// Beyond any entry (int64(after) would wrap to a negative one and match them all).
		return nil, nil
	}
	rows, err := q.Tx.Query(ctx, `SELECT `+auditCols+` FROM admin_audit WHERE seq > $1 ORDER BY seq LIMIT $2`, int64(after), limit)
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

func (q Queries) AppendAuditEntry(ctx context.Context, e *store.AuditEntry) error {
	var seq int64
	found, err := q.Tx.ExecRow(ctx, []any{&seq}, `INSERT INTO admin_audit (at, actor, action, account_id, app_id, detail)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING seq`,
		Micros(e.At), e.Actor, e.Action, e.AccountID, e.AppID, e.Detail)
	if err == nil && !found {
		err = errors.New("no sequence returned")
	}
	if err != nil {
		return q.writeErr("append to the admin audit log", err)
	}
	e.Seq = uint64(seq)
	return nil
}

func (q Queries) AppsVersion(ctx context.Context) (uint64, error) {
	var n int64
	if err := q.Tx.QueryRow(ctx, `SELECT n FROM apps_version WHERE id = 1`).Scan(&n); err != nil {
		return 0, fmt.Errorf("read the apps version: %w", err)
	}
	return uint64(n), nil
}
