package queries

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"

	"github.com/livegate/livegate/internal/store"
)

const livestreamCols = `id, account_id, app_id, name, meeting_id, stream_key, status, disabled, provider, provider_id, playback_url, created_at, updated_at`

func scanLivestream(row Row) (store.Livestream, error) {
	var (
		l                store.Livestream
		meeting          sql.NullString
		status           string
		created, updated sql.NullInt64
	)
	err := row.Scan(&l.ID, &l.AccountID, &l.AppID, &l.Name, &meeting, &l.StreamKey, &status,
		&l.Disabled, &l.Provider, &l.ProviderID, &l.PlaybackURL, &created, &updated)
	l.MeetingID = meeting.String
	l.Status = store.Status(status)
	l.CreatedAt = fromMicros(created)
	l.UpdatedAt = fromMicros(updated)
	return l, err
}

func (q Queries) Livestream(ctx context.Context, t store.Tenant, id string) (store.Livestream, error) {
	return one(q.Tx.QueryRow(ctx,
		`SELECT `+livestreamCols+` FROM livestreams WHERE id = $1 AND account_id = $2 AND app_id = $3`,
		id, t.AccountID, t.AppID), "get livestream "+id, scanLivestream)
}

func (q Queries) LivestreamByMeeting(ctx context.Context, t store.Tenant, meetingID string) (store.Livestream, error) {
	return one(q.Tx.QueryRow(ctx,
		`SELECT `+livestreamCols+` FROM livestreams WHERE account_id = $1 AND app_id = $2 AND meeting_id = $3`,
		t.AccountID, t.AppID, meetingID), "get livestream of meeting "+meetingID, scanLivestream)
}

func (q Queries) LivestreamByStreamKey(ctx context.Context, streamKey string) (store.Livestream, error) {
	// The stream key is a secret: keep it out of the error.
	return one(q.Tx.QueryRow(ctx,
		`SELECT `+livestreamCols+` FROM livestreams WHERE stream_key = $1`, streamKey),
		"get livestream by stream key", scanLivestream)
}

func (q Queries) LivestreamByProviderID(ctx context.Context, t store.Tenant, provider, providerID string) (store.Livestream, error) {
	what := fmt.Sprintf("get livestream by %s id %s", provider, providerID)
	if providerID == "" { // stored for livestreams that have none: never a match
		return store.Livestream{}, fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	return one(q.Tx.QueryRow(ctx, LivestreamByProviderIDQuery, t.AccountID, t.AppID, provider, providerID), what, scanLivestream)
}

// LivestreamByProviderIDQuery finds a tenant's livestream by its provider's id ($1 to $4:
// account, app, provider, a non-empty provider id). The unique index on those four, partial
// on a non-empty provider_id, finds the one row: the query states that condition, so that a
// planner may use the partial index for a bound id, and has no ORDER BY. Until 2026-11-29
// it ordered by created_at (the oldest winning, should a provider reuse an id: the index
// already rules that out), and SQLite walked the tenant's livestreams by creation time to
// avoid the sort: an Amity delivery cost time in proportion to the app's livestreams, inside
// the one write transaction every tenant's writes wait for.
const LivestreamByProviderIDQuery = `SELECT ` + livestreamCols + ` FROM livestreams
	WHERE account_id = $1 AND app_id = $2 AND provider = $3 AND provider_id = $4 AND provider_id <> ''`

func (q Queries) ListLivestreams(ctx context.Context, t store.Tenant, f store.LivestreamFilter) ([]store.Livestream, int, error) {
	where := []string{"account_id = $1", "app_id = $2"}
	args := []any{t.AccountID, t.AppID}
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, cond+" $"+strconv.Itoa(len(args)))
	}
	if f.ExcludeMeetings {
		where = append(where, "meeting_id IS NULL")
	}
	if f.Status != "" {
		add("status =", string(f.Status))
	}
	if !f.CreatedFrom.IsZero() {
		add("created_at >=", f.CreatedFrom.UnixMicro())
	}
	if !f.CreatedTo.IsZero() {
		add("created_at <", f.CreatedTo.UnixMicro())
	}
	cond := strings.Join(where, " AND ")

	var total int
	if err := q.Tx.QueryRow(ctx, `SELECT COUNT(*) FROM livestreams WHERE `+cond, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count livestreams: %w", err)
	}

	order := "created_at DESC, id DESC"
	if f.Order == store.Ascending {
		order = "created_at ASC, id ASC"
	}
	query, args := page(`SELECT `+livestreamCols+` FROM livestreams WHERE `+cond+` ORDER BY `+order, args, f.Offset, f.Limit)
	rows, err := q.Tx.Query(ctx, query, args...)
	out, err := collect(rows, err, "list livestreams", scanLivestream)
	if err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

func (q Queries) CreateLivestream(ctx context.Context, l store.Livestream) error {
	_, err := q.Tx.Exec(ctx,
		`INSERT INTO livestreams (`+livestreamCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		l.ID, l.AccountID, l.AppID, l.Name, NullText(l.MeetingID), l.StreamKey, string(l.Status),
		l.Disabled, l.Provider, l.ProviderID, l.PlaybackURL, Micros(l.CreatedAt), Micros(l.UpdatedAt))
	if err != nil {
		return q.writeErr("create livestream "+l.ID, err)
	}
	return nil
}

func (q Queries) UpdateLivestream(ctx context.Context, l store.Livestream) error {
	n, err := q.Tx.Exec(ctx,
		`UPDATE livestreams SET name = $1, stream_key = $2, status = $3, disabled = $4, playback_url = $5, updated_at = $6
		WHERE id = $7 AND account_id = $8 AND app_id = $9`,
		l.Name, l.StreamKey, string(l.Status), l.Disabled, l.PlaybackURL, Micros(l.UpdatedAt),
		l.ID, l.AccountID, l.AppID)
	return q.mustAffect("update livestream "+l.ID, n, err)
}

func (q Queries) DeleteLivestream(ctx context.Context, t store.Tenant, id string) error {
	// Its sessions go with it: ON DELETE CASCADE (foreign_keys is on for every connection).
	n, err := q.Tx.Exec(ctx,
		`DELETE FROM livestreams WHERE id = $1 AND account_id = $2 AND app_id = $3`,
		id, t.AccountID, t.AppID)
	return q.mustAffect("delete livestream "+id, n, err)
}

func (q Queries) LivestreamByID(ctx context.Context, id string) (store.Livestream, error) {
	return one(q.Tx.QueryRow(ctx,
		`SELECT `+livestreamCols+` FROM livestreams WHERE id = $1`, id),
		"get livestream "+id, scanLivestream)
}
