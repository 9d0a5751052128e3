package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/livegate/livegate/internal/store"
)

// The SQL below sticks to what PostgreSQL also accepts: $N placeholders (numbered in order
// of first use), COALESCE, COUNT(DISTINCT), INSERT ... SELECT, LIMIT/OFFSET.

// txn is the Reader and Writer of one transaction. View hands it out as a Reader on a
// read-only connection, where any write fails.
type txn struct {
	tx *sql.Tx
	// grouped is set in write transactions shared by several Updates (group commit). Their
	// statements ignore the caller's cancellation: the driver would interrupt the statement,
	// and SQLite then rolls back the whole shared transaction, failing every Update in it. A
	// caller canceled before its fn starts is skipped instead.
	grouped bool
	// appended are the events AppendEvent wrote, for the commit hook.
	appended []store.Event
}

var _ store.Writer = (*txn)(nil)

// ctx is the context a statement runs with (see grouped).
func (x *txn) ctx(ctx context.Context) context.Context {
	if x.grouped {
		return context.WithoutCancel(ctx)
	}
	return ctx
}

// --- conversions ---

// micros is t as Unix microseconds, for a NOT NULL column.
func micros(t time.Time) int64 { return t.UnixMicro() }

// nullMicros is t as Unix microseconds, or NULL when t is zero.
func nullMicros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

// fromMicros turns a stored timestamp back into a UTC time; NULL becomes the zero time.
func fromMicros(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMicro(v.Int64).UTC()
}

// nullText is s, or NULL when s is empty.
func nullText(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// bounds turns a [from, to) range into microseconds; a zero end is unbounded.
func bounds(from, to time.Time) (lo, hi int64) {
	lo, hi = math.MinInt64, math.MaxInt64
	if !from.IsZero() {
		lo = from.UnixMicro()
	}
	if !to.IsZero() {
		hi = to.UnixMicro()
	}
	return lo, hi
}

// --- errors ---

// isUnique reports whether err is a UNIQUE or PRIMARY KEY constraint violation.
func isUnique(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

// writeErr maps a failed INSERT or UPDATE to store.ErrAlreadyExists when a unique key
// collided, keeping the driver's message (it names the column).
func writeErr(what string, err error) error {
	if isUnique(err) {
		return fmt.Errorf("%s: %w: %w", what, store.ErrAlreadyExists, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// readErr maps sql.ErrNoRows to store.ErrNotFound.
func readErr(what string, err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// mustAffect returns store.ErrNotFound when an UPDATE or DELETE matched no row.
func mustAffect(what string, res sql.Result, err error) error {
	if err != nil {
		return writeErr(what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	return nil
}

type scanner interface{ Scan(dest ...any) error }

// --- apps ---

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

// --- livestreams ---

const livestreamCols = `id, account_id, app_id, name, meeting_id, stream_key, status, disabled, provider, provider_id, created_at, updated_at`

func scanLivestream(row scanner) (store.Livestream, error) {
	var (
		l                store.Livestream
		meeting          sql.NullString
		status           string
		disabled         int64
		created, updated sql.NullInt64
	)
	err := row.Scan(&l.ID, &l.AccountID, &l.AppID, &l.Name, &meeting, &l.StreamKey, &status,
		&disabled, &l.Provider, &l.ProviderID, &created, &updated)
	l.MeetingID = meeting.String
	l.Status = store.Status(status)
	l.Disabled = disabled != 0
	l.CreatedAt = fromMicros(created)
	l.UpdatedAt = fromMicros(updated)
	return l, err
}

func (x *txn) Livestream(ctx context.Context, t store.Tenant, id string) (store.Livestream, error) {
	l, err := scanLivestream(x.tx.QueryRowContext(x.ctx(ctx),
		`SELECT `+livestreamCols+` FROM livestreams WHERE id = $1 AND account_id = $2 AND app_id = $3`,
		id, t.AccountID, t.AppID))
	if err != nil {
		return store.Livestream{}, readErr("get livestream "+id, err)
	}
	return l, nil
}

func (x *txn) LivestreamByMeeting(ctx context.Context, t store.Tenant, meetingID string) (store.Livestream, error) {
	l, err := scanLivestream(x.tx.QueryRowContext(x.ctx(ctx),
		`SELECT `+livestreamCols+` FROM livestreams WHERE account_id = $1 AND app_id = $2 AND meeting_id = $3`,
		t.AccountID, t.AppID, meetingID))
	if err != nil {
		return store.Livestream{}, readErr("get livestream of meeting "+meetingID, err)
	}
	return l, nil
}

func (x *txn) LivestreamByStreamKey(ctx context.Context, streamKey string) (store.Livestream, error) {
	l, err := scanLivestream(x.tx.QueryRowContext(x.ctx(ctx),
		`SELECT `+livestreamCols+` FROM livestreams WHERE stream_key = $1`, streamKey))
	if err != nil {
		// The stream key is a secret: keep it out of the error.
		return store.Livestream{}, readErr("get livestream by stream key", err)
	}
	return l, nil
}

func (x *txn) LivestreamByProviderID(ctx context.Context, t store.Tenant, provider, providerID string) (store.Livestream, error) {
	what := fmt.Sprintf("get livestream by %s id %s", provider, providerID)
	if providerID == "" { // stored for livestreams that have none: never a match
		return store.Livestream{}, fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	// If a provider ever reused an id, the oldest livestream wins, the same on every call.
	l, err := scanLivestream(x.tx.QueryRowContext(x.ctx(ctx),
		`SELECT `+livestreamCols+` FROM livestreams
		WHERE account_id = $1 AND app_id = $2 AND provider = $3 AND provider_id = $4
		ORDER BY created_at, id LIMIT 1`,
		t.AccountID, t.AppID, provider, providerID))
	if err != nil {
		return store.Livestream{}, readErr(what, err)
	}
	return l, nil
}

func (x *txn) ListLivestreams(ctx context.Context, t store.Tenant, f store.LivestreamFilter) ([]store.Livestream, int, error) {
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
	if err := x.tx.QueryRowContext(x.ctx(ctx), `SELECT COUNT(*) FROM livestreams WHERE `+cond, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count livestreams: %w", err)
	}

	order := "created_at DESC, id DESC"
	if f.Order == store.Ascending {
		order = "created_at ASC, id ASC"
	}
	q := `SELECT ` + livestreamCols + ` FROM livestreams WHERE ` + cond + ` ORDER BY ` + order
	q, args = page(q, args, f.Offset, f.Limit)
	rows, err := x.tx.QueryContext(x.ctx(ctx), q, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("list livestreams: %w", err)
	}
	defer rows.Close()
	var out []store.Livestream
	for rows.Next() {
		l, err := scanLivestream(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("list livestreams: %w", err)
		}
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("list livestreams: %w", err)
	}
	return out, total, nil
}

// page appends LIMIT/OFFSET to q. A limit <= 0 means no limit, a negative offset none.
func page(q string, args []any, offset, limit int) (string, []any) {
	offset = max(offset, 0)
	switch {
	case limit > 0:
		args = append(args, limit, offset)
		q += fmt.Sprintf(" LIMIT $%d OFFSET $%d", len(args)-1, len(args))
	case offset > 0:
		args = append(args, offset)
		q += fmt.Sprintf(" LIMIT -1 OFFSET $%d", len(args)) // SQLite's "no limit"
	}
	return q, args
}

func (x *txn) CreateLivestream(ctx context.Context, l store.Livestream) error {
	_, err := x.tx.ExecContext(x.ctx(ctx),
		`INSERT INTO livestreams (`+livestreamCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		l.ID, l.AccountID, l.AppID, l.Name, nullText(l.MeetingID), l.StreamKey, string(l.Status),
		boolInt(l.Disabled), l.Provider, l.ProviderID, micros(l.CreatedAt), micros(l.UpdatedAt))
	if err != nil {
		return writeErr("create livestream "+l.ID, err)
	}
	return nil
}

func (x *txn) UpdateLivestream(ctx context.Context, l store.Livestream) error {
	res, err := x.tx.ExecContext(x.ctx(ctx),
		`UPDATE livestreams SET name = $1, stream_key = $2, status = $3, disabled = $4, updated_at = $5
		WHERE id = $6 AND account_id = $7 AND app_id = $8`,
		l.Name, l.StreamKey, string(l.Status), boolInt(l.Disabled), micros(l.UpdatedAt),
		l.ID, l.AccountID, l.AppID)
	return mustAffect("update livestream "+l.ID, res, err)
}

func (x *txn) DeleteLivestream(ctx context.Context, t store.Tenant, id string) error {
	// Its sessions go with it: ON DELETE CASCADE (foreign_keys is on for every connection).
	res, err := x.tx.ExecContext(x.ctx(ctx),
		`DELETE FROM livestreams WHERE id = $1 AND account_id = $2 AND app_id = $3`,
		id, t.AccountID, t.AppID)
	return mustAffect("delete livestream "+id, res, err)
}

// --- sessions ---

const sessionCols = `id, livestream_id, account_id, app_id, invoked_at, started_at, stopped_at, ingest_seconds, viewer_seconds, err_message, created_at, updated_at`

func scanSession(row scanner) (store.Session, error) {
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

func (x *txn) Session(ctx context.Context, t store.Tenant, id string) (store.Session, error) {
	s, err := scanSession(x.tx.QueryRowContext(x.ctx(ctx),
		`SELECT `+sessionCols+` FROM livestream_sessions WHERE id = $1 AND account_id = $2 AND app_id = $3`,
		id, t.AccountID, t.AppID))
	if err != nil {
		return store.Session{}, readErr("get session "+id, err)
	}
	return s, nil
}

func (x *txn) ActiveSession(ctx context.Context, t store.Tenant, livestreamID string) (store.Session, error) {
	s, err := scanSession(x.tx.QueryRowContext(x.ctx(ctx),
		`SELECT `+sessionCols+` FROM livestream_sessions
		WHERE livestream_id = $1 AND account_id = $2 AND app_id = $3 AND stopped_at IS NULL
		ORDER BY created_at DESC, id DESC LIMIT 1`,
		livestreamID, t.AccountID, t.AppID))
	if err != nil {
		return store.Session{}, readErr("get active session of livestream "+livestreamID, err)
	}
	return s, nil
}

func (x *txn) LatestSession(ctx context.Context, t store.Tenant, livestreamID string) (store.Session, error) {
	s, err := scanSession(x.tx.QueryRowContext(x.ctx(ctx),
		`SELECT `+sessionCols+` FROM livestream_sessions
		WHERE livestream_id = $1 AND account_id = $2 AND app_id = $3
		ORDER BY created_at DESC, id DESC LIMIT 1`,
		livestreamID, t.AccountID, t.AppID))
	if err != nil {
		return store.Session{}, readErr("get latest session of livestream "+livestreamID, err)
	}
	return s, nil
}

func (x *txn) ListSessions(ctx context.Context, t store.Tenant, livestreamID string, offset, limit int) ([]store.Session, int, error) {
	what := "list sessions of livestream " + livestreamID
	const cond = `livestream_id = $1 AND account_id = $2 AND app_id = $3`
	args := []any{livestreamID, t.AccountID, t.AppID}
	var total int
	if err := x.tx.QueryRowContext(x.ctx(ctx), `SELECT COUNT(*) FROM livestream_sessions WHERE `+cond, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("%s: %w", what, err)
	}
	q, args := page(`SELECT `+sessionCols+` FROM livestream_sessions WHERE `+cond+` ORDER BY created_at DESC, id DESC`,
		args, offset, limit)
	rows, err := x.tx.QueryContext(x.ctx(ctx), q, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	var out []store.Session
	for rows.Next() {
		s, err := scanSession(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("%s: %w", what, err)
	}
	return out, total, nil
}

func (x *txn) CreateSession(ctx context.Context, s store.Session) error {
	// INSERT ... SELECT from the livestream: a session of a livestream that does not exist,
	// or belongs to another tenant, inserts nothing and is reported as not found.
	res, err := x.tx.ExecContext(x.ctx(ctx),
		`INSERT INTO livestream_sessions (`+sessionCols+`)
		SELECT $1, id, account_id, app_id, $2, $3, $4, $5, $6, $7, $8, $9 FROM livestreams
		WHERE id = $10 AND account_id = $11 AND app_id = $12`,
		s.ID, nullMicros(s.InvokedAt), nullMicros(s.StartedAt), nullMicros(s.StoppedAt),
		s.IngestSeconds, s.ViewerSeconds, s.ErrMessage, micros(s.CreatedAt), micros(s.UpdatedAt),
		s.LivestreamID, s.AccountID, s.AppID)
	if err != nil {
		return writeErr("create session "+s.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("create session %s: %w", s.ID, err)
	}
	if n == 0 {
		return fmt.Errorf("create session %s: livestream %s: %w", s.ID, s.LivestreamID, store.ErrNotFound)
	}
	return nil
}

func (x *txn) UpdateSession(ctx context.Context, s store.Session) error {
	res, err := x.tx.ExecContext(x.ctx(ctx),
		`UPDATE livestream_sessions SET invoked_at = $1, started_at = $2, stopped_at = $3,
			ingest_seconds = $4, viewer_seconds = $5, err_message = $6, updated_at = $7
		WHERE id = $8 AND account_id = $9 AND app_id = $10`,
		nullMicros(s.InvokedAt), nullMicros(s.StartedAt), nullMicros(s.StoppedAt),
		s.IngestSeconds, s.ViewerSeconds, s.ErrMessage, micros(s.UpdatedAt),
		s.ID, s.AccountID, s.AppID)
	return mustAffect("update session "+s.ID, res, err)
}

// --- analytics ---

// microsPerDay buckets Unix microseconds into UTC days by integer division (days since the
// epoch; times before 1970 would land a day late, and livegate has none).
const microsPerDay = 86_400_000_000

func (x *txn) SessionTotals(ctx context.Context, t store.Tenant, from, to time.Time) (store.Totals, error) {
	lo, hi := bounds(from, to)
	var tot store.Totals
	err := x.tx.QueryRowContext(x.ctx(ctx),
		`SELECT COUNT(DISTINCT livestream_id), COALESCE(SUM(ingest_seconds), 0.0), COALESCE(SUM(viewer_seconds), 0.0)
		FROM livestream_sessions
		WHERE account_id = $1 AND app_id = $2 AND created_at >= $3 AND created_at < $4`,
		t.AccountID, t.AppID, lo, hi).Scan(&tot.Livestreams, &tot.IngestSeconds, &tot.ViewerSeconds)
	if err != nil {
		return store.Totals{}, fmt.Errorf("session totals: %w", err)
	}
	return tot, nil
}

func (x *txn) SessionDays(ctx context.Context, t store.Tenant, from, to time.Time) ([]store.DayStat, error) {
	lo, hi := bounds(from, to)
	return x.days(ctx, "session days",
		`SELECT day, COUNT(*), COALESCE(SUM(seconds), 0.0) FROM (
			SELECT created_at / $1 AS day, ingest_seconds AS seconds
			FROM livestream_sessions
			WHERE account_id = $2 AND app_id = $3 AND created_at >= $4 AND created_at < $5
			UNION ALL
			SELECT started_at / $1 AS day, duration_seconds AS seconds
			FROM meeting_sessions
			WHERE account_id = $2 AND app_id = $3 AND started_at >= $4 AND started_at < $5
		) AS sessions
		GROUP BY day ORDER BY day`,
		int64(microsPerDay), t.AccountID, t.AppID, lo, hi)
}

func (x *txn) RecordingDays(ctx context.Context, t store.Tenant, from, to time.Time) ([]store.DayStat, error) {
	lo, hi := bounds(from, to)
	return x.days(ctx, "recording days",
		`SELECT recorded_at / $1 AS day, COUNT(*), COALESCE(SUM(duration_seconds), 0.0)
		FROM recordings
		WHERE account_id = $2 AND app_id = $3 AND recorded_at >= $4 AND recorded_at < $5
		GROUP BY recorded_at / $1 ORDER BY day`,
		int64(microsPerDay), t.AccountID, t.AppID, lo, hi)
}

// days runs a query returning (day number, count, seconds) rows.
func (x *txn) days(ctx context.Context, what, q string, args ...any) ([]store.DayStat, error) {
	rows, err := x.tx.QueryContext(x.ctx(ctx), q, args...)
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

// --- recordings ---

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
