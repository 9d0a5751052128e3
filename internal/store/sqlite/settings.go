package sqlite

import "context"

// A setting's value may be a secret (the RTMP callback secret): errors name the setting and
// never include its value. The driver's own messages do not either (a constraint violation
// names the column).

func (x *txn) Setting(ctx context.Context, name string) (string, error) {
	var value string
	err := x.tx.QueryRowContext(x.ctx(ctx), `SELECT value FROM settings WHERE name = $1`, name).Scan(&value)
	if err != nil {
		return "", readErr("get setting "+name, err)
	}
	return value, nil
}

func (x *txn) CreateSetting(ctx context.Context, name, value string) error {
	_, err := x.tx.ExecContext(x.ctx(ctx), `INSERT INTO settings (name, value) VALUES ($1, $2)`, name, value)
	if err != nil {
		return writeErr("create setting "+name, err)
	}
	return nil
}
