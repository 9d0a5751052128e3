package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/livegate/livegate/internal/store"
)

const appCols = `account_id, app_id, token_id, token_hash, webhook_secret, created_at`

func scanApp(row scanner) (store.App, error) {
	var a store.App
	var created sql.NullInt64
	err := row.Scan(&a.AccountID, &a.AppID, &a.TokenID, &a.TokenHash, &a.WebhookSecret, &created)
	a.CreatedAt = fromMicros(created)
	return a, err
}

func (x *txn) AppByTokenID(ctx context.Context, tokenID string) (store.App, error) {
	a, err := scanApp(x.tx.QueryRowContext(x.ctx(ctx),
		`SELECT `+appCols+` FROM apps WHERE token_id = $1`, tokenID))
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

func (x *txn) CreateApp(ctx context.Context, a store.App) error {
	hash := a.TokenHash
	if hash == nil {
		hash = []byte{} // NOT NULL; a nil slice would bind as NULL
	}
	_, err := x.tx.ExecContext(x.ctx(ctx), `INSERT INTO apps (`+appCols+`) VALUES ($1, $2, $3, $4, $5, $6)`,
		a.AccountID, a.AppID, a.TokenID, hash, a.WebhookSecret, micros(a.CreatedAt))
	if err != nil {
		return writeErr(fmt.Sprintf("create app %s/%s", a.AccountID, a.AppID), err)
	}
	return nil
}
