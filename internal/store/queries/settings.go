package queries

import "context"

// A setting's value may be a secret (the RTMP callback secret): errors name the setting and
// never include its value. The driver's own messages do not either (a constraint violation
// names the column).

func (q Queries) Setting(ctx context.Context, name string) (string, error) {
	var value string
	err := q.Tx.QueryRow(ctx, `SELECT value FROM settings WHERE name = $1`, name).Scan(&value)
	if err != nil {
		return "", readErr("get setting "+name, err)
	}
	return value, nil
}

func (q Queries) CreateSetting(ctx context.Context, name, value string) error {
	_, err := q.Tx.Exec(ctx, `INSERT INTO settings (name, value) VALUES ($1, $2)`, name, value)
	if err != nil {
		return q.writeErr("create setting "+name, err)
	}
	return nil
}
