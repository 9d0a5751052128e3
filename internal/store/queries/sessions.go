package queries

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/livegate/livegate/internal/store"
)

// --- sessions ---

const sessionCols = `id, livestream_id, account_id, app_id, invoked_at, started_at, stopped_at, ingest_seconds, viewer_seconds, err_message, created_at, updated_at`

func scanSession(row Row) (store.Session, error) {
	var (
		s                         store.Session
		invoked, started, stopped sql.NullInt64
		created, updated          sql.NullInt64
	)
	err := row.Scan(&s.ID, &s.LivestreamID, &s.AccountID, &s.AppID, &invoked, &started, &stopped,
		&s.IngestSeconds, &s.ViewerSeconds, &s.ErrMessage, &created, &updated)
	s.InvokedAt = fromMicros(invoked)
	s.StartedAt = fromMicros(started)
	s.StoppedAt = fromMicros(stopped)
	s.CreatedAt = fromMicros(created)
	s.UpdatedAt = fromMicros(updated)
	return s, err
}

func (q Queries) Session(ctx context.Context, t store.Tenant, id string) (store.Session, error) {
	return one(q.Tx.QueryRow(ctx,
		`SELECT `+sessionCols+` FROM livestream_sessions WHERE id = $1 AND account_id = $2 AND app_id = $3`,
		id, t.AccountID, t.AppID), "get session "+id, scanSession)
}

func (q Queries) ActiveSession(ctx context.Context, t store.Tenant, livestreamID string) (store.Session, error) {
	return one(q.Tx.QueryRow(ctx,
		`SELECT `+sessionCols+` FROM livestream_sessions
		WHERE livestream_id = $1 AND account_id = $2 AND app_id = $3 AND stopped_at IS NULL
		ORDER BY created_at DESC, id DESC LIMIT 1`,
		livestreamID, t.AccountID, t.AppID),
		"get active session of livestream "+livestreamID, scanSession)
}

func (q Queries) LatestSession(ctx context.Context, t store.Tenant, livestreamID string) (store.Session, error) {
	return one(q.Tx.QueryRow(ctx,
		`SELECT `+sessionCols+` FROM livestream_sessions
		WHERE livestream_id = $1 AND account_id = $2 AND app_id = $3
		ORDER BY created_at DESC, id DESC LIMIT 1`,
		livestreamID, t.AccountID, t.AppID),
		"get latest session of livestream "+livestreamID, scanSession)
}

func (q Queries) ListSessions(ctx context.Context, t store.Tenant, livestreamID string, offset, limit int) ([]store.Session, int, error) {
	what := "list sessions of livestream " + livestreamID
	const cond = `livestream_id = $1 AND account_id = $2 AND app_id = $3`
	args := []any{livestreamID, t.AccountID, t.AppID}
	var total int
	if err := q.Tx.QueryRow(ctx, `SELECT COUNT(*) FROM livestream_sessions WHERE `+cond, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("%s: %w", what, err)
	}
	query, args := page(`SELECT `+sessionCols+` FROM livestream_sessions WHERE `+cond+` ORDER BY created_at DESC, id DESC`,
		args, offset, limit)
	rows, err := q.Tx.Query(ctx, query, args...)
	out, err := collect(rows, err, what, scanSession)
	if err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

func (q Queries) CreateSession(ctx context.Context, s store.Session) error {
	// INSERT ... SELECT from the livestream: a session of a livestream that does not exist,
	// or belongs to another tenant, inserts nothing and is reported as not found.
	n, err := q.Tx.Exec(ctx,
		`INSERT INTO livestream_sessions (`+sessionCols+`)
		SELECT $1, id, account_id, app_id, $2, $3, $4, $5, $6, $7, $8, $9 FROM livestreams
		WHERE id = $10 AND account_id = $11 AND app_id = $12`,
		s.ID, nullMicros(s.InvokedAt), nullMicros(s.StartedAt), nullMicros(s.StoppedAt),
		s.IngestSeconds, s.ViewerSeconds, s.ErrMessage, Micros(s.CreatedAt), Micros(s.UpdatedAt),
		s.LivestreamID, s.AccountID, s.AppID)
	if err != nil {
		return q.writeErr("create session "+s.ID, err)
	}
	if n == 0 {
		return fmt.Errorf("create session %s: livestream %s: %w", s.ID, s.LivestreamID, store.ErrNotFound)
	}
	return nil
}

func (q Queries) UpdateSession(ctx context.Context, s store.Session) error {
	n, err := q.Tx.Exec(ctx,
		`UPDATE livestream_sessions SET invoked_at = $1, started_at = $2, stopped_at = $3,
			ingest_seconds = $4, viewer_seconds = $5, err_message = $6, updated_at = $7
		WHERE id = $8 AND account_id = $9 AND app_id = $10`,
		nullMicros(s.InvokedAt), nullMicros(s.StartedAt), nullMicros(s.StoppedAt),
		s.IngestSeconds, s.ViewerSeconds, s.ErrMessage, Micros(s.UpdatedAt),
		s.ID, s.AccountID, s.AppID)
	return q.mustAffect("update session "+s.ID, n, err)
}

// --- meeting sessions ---

func (q Queries) RecordMeetingSession(ctx context.Context, ms store.MeetingSession) error {
	_, err := q.Tx.Exec(ctx,
		`INSERT INTO meeting_sessions (account_id, app_id, id, room_id, started_at, stopped_at, duration_seconds)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (account_id, app_id, id) DO UPDATE SET
			room_id = CASE WHEN excluded.room_id <> '' THEN excluded.room_id ELSE meeting_sessions.room_id END,
			started_at = CASE WHEN excluded.started_at <> 0 THEN excluded.started_at ELSE meeting_sessions.started_at END,
			stopped_at = COALESCE(excluded.stopped_at, meeting_sessions.stopped_at),
			duration_seconds = CASE WHEN excluded.duration_seconds <> 0 THEN excluded.duration_seconds ELSE meeting_sessions.duration_seconds END`,
		ms.AccountID, ms.AppID, ms.ID, ms.RoomID, zeroMicros(ms.StartedAt), nullMicros(ms.StoppedAt), ms.DurationSeconds)
	if err != nil {
		return q.writeErr("record meeting session "+ms.ID, err)
	}
	return nil
}
