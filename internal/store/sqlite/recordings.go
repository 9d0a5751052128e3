package sqlite

import (
	"context"

	"github.com/livegate/livegate/internal/store"
)

func (x *txn) CreateRecording(ctx context.Context, r store.Recording) error {
	_, err := x.tx.ExecContext(x.ctx(ctx),
		`INSERT INTO recordings (id, account_id, app_id, livestream_id, source, recorded_at, duration_seconds)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		r.ID, r.AccountID, r.AppID, nullText(r.LivestreamID), r.Source, micros(r.RecordedAt), r.DurationSeconds)
	if err != nil {
		return writeErr("create recording "+r.ID, err)
	}
	return nil
}
