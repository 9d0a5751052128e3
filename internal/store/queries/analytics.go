package queries

import (
	"context"
	"fmt"
	"time"

	"github.com/livegate/livegate/internal/store"
)

// began is when a livestream session began, the time analytics count it at: its start, else
// when it was invoked, else when it was stored. (A session is stored when livegate learns of
// it, which for a provider's late events can be days after it began.) The stores index it
// as this very expression (livestream_sessions_tenant_began).
const began = `COALESCE(started_at, invoked_at, created_at)`

// microsPerDay buckets Unix microseconds into UTC days (days since the epoch): see dayOf.
const microsPerDay = 86_400_000_000

// dayOf is the SQL of the UTC day (days since the epoch) of col, Unix microseconds, with
// microsPerDay as $1: floor division, since SQL's integer division truncates toward zero and
// a time before 1970 (a provider may send one) would land a day late.
func dayOf(col string) string {
	return `((` + col + `) - (((` + col + `) % $1) + $1) % $1) / $1`
}

// SessionTotalsQuery sums a tenant's ($1, $2) livestream sessions that began in [$3, $4).
const SessionTotalsQuery = `SELECT COUNT(DISTINCT livestream_id), COALESCE(SUM(ingest_seconds), 0.0), COALESCE(SUM(viewer_seconds), 0.0)
	FROM livestream_sessions
	WHERE account_id = $1 AND app_id = $2 AND ` + began + ` >= $3 AND ` + began + ` < $4`

func (q Queries) SessionTotals(ctx context.Context, t store.Tenant, from, to time.Time) (store.Totals, error) {
	lo, hi := bounds(from, to)
	var tot store.Totals
	err := q.Tx.QueryRow(ctx, SessionTotalsQuery,
		t.AccountID, t.AppID, lo, hi).Scan(&tot.Livestreams, &tot.IngestSeconds, &tot.ViewerSeconds)
	if err != nil {
		return store.Totals{}, fmt.Errorf("session totals: %w", err)
	}
	return tot, nil
}

func (q Queries) SessionDays(ctx context.Context, t store.Tenant, from, to time.Time) ([]store.DayStat, error) {
	lo, hi := bounds(from, to)
	return q.days(ctx, "session days",
		`SELECT day, COUNT(*), COALESCE(SUM(seconds), 0.0) FROM (
			SELECT `+dayOf(began)+` AS day, ingest_seconds AS seconds
			FROM livestream_sessions
			WHERE account_id = $2 AND app_id = $3 AND `+began+` >= $4 AND `+began+` < $5
			UNION ALL
			SELECT `+dayOf("started_at")+` AS day, duration_seconds AS seconds
			FROM meeting_sessions
			WHERE account_id = $2 AND app_id = $3 AND started_at >= $4 AND started_at < $5
		) AS sessions
		GROUP BY day ORDER BY day`,
		int64(microsPerDay), t.AccountID, t.AppID, lo, hi)
}

func (q Queries) LivestreamDays(ctx context.Context, t store.Tenant, from, to time.Time) ([]store.LivestreamDay, error) {
	lo, hi := bounds(from, to)
	rows, err := q.Tx.Query(ctx,
		`SELECT `+dayOf(began)+` AS day, COUNT(*), COALESCE(SUM(ingest_seconds), 0.0), COALESCE(SUM(viewer_seconds), 0.0)
		FROM livestream_sessions
		WHERE account_id = $2 AND app_id = $3 AND `+began+` >= $4 AND `+began+` < $5
		GROUP BY day ORDER BY day`,
		int64(microsPerDay), t.AccountID, t.AppID, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("livestream days: %w", err)
	}
	defer rows.Close()
	var out []store.LivestreamDay
	for rows.Next() {
		var day int64
		var d store.LivestreamDay
		if err := rows.Scan(&day, &d.Sessions, &d.IngestSeconds, &d.ViewerSeconds); err != nil {
			return nil, fmt.Errorf("livestream days: %w", err)
		}
		d.Day = time.UnixMicro(day * microsPerDay).UTC().Format(time.DateOnly)
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("livestream days: %w", err)
	}
	return out, nil
}

func (q Queries) RecordingDays(ctx context.Context, t store.Tenant, from, to time.Time) ([]store.DayStat, error) {
	lo, hi := bounds(from, to)
	return q.days(ctx, "recording days",
		`SELECT `+dayOf("recorded_at")+` AS day, COUNT(*), COALESCE(SUM(duration_seconds), 0.0)
		FROM recordings
		WHERE account_id = $2 AND app_id = $3 AND recorded_at >= $4 AND recorded_at < $5
		GROUP BY day ORDER BY day`,
		int64(microsPerDay), t.AccountID, t.AppID, lo, hi)
}

// days runs a query returning (day number, count, seconds) rows.
func (q Queries) days(ctx context.Context, what, query string, args ...any) ([]store.DayStat, error) {
	rows, err := q.Tx.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	var out []store.DayStat
	for rows.Next() {
		var day int64
		var d store.DayStat
		var seconds float64
		if err := rows.Scan(&day, &d.Count, &seconds); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		d.Day = time.UnixMicro(day * microsPerDay).UTC().Format(time.DateOnly)
		d.Minutes = seconds / 60
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}
