package queries

import (
	"context"

	"github.com/livegate/livegate/internal/store"
)

func (q Queries) CreateRecording(ctx context.Context, r store.Recording) error {
	_, err := q.Tx.Exec(ctx,
		`INSERT INTO recordings (id, account_id, app_id, livestream_id, source, recorded_at, duration_seconds, dedupe_key)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (account_id, app_id, dedupe_key) WHERE dedupe_key IS NOT NULL DO NOTHING`,
		r.ID, r.AccountID, r.AppID, NullText(r.LivestreamID), r.Source, Micros(r.RecordedAt), r.DurationSeconds, NullText(r.Key))
	if err != nil {
		return q.writeErr("create recording "+r.ID, err)
	}
	return nil
}
