package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/livegate/livegate/internal/store"
)

// The SQL is SQLite's (internal/store/sqlite), in PostgreSQL's types.

// txn is the Reader and Writer of one transaction. View hands it out as a Reader on a
// read-only transaction, where any write fails.
type txn struct {
	tx pgx.Tx
	// grouped is set in write transactions shared by several Updates (group commit). Their
	// statements ignore the caller's cancellation: a canceled statement aborts the shared
	// transaction's current savepoint at best, and a caller canceled before its fn starts is
	// skipped instead.
	grouped  bool
	readOnly bool
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

// write runs a writing statement under a savepoint of its own, in one round trip: when it
// fails (a unique key taken, say) only it is undone, and the transaction stays usable for
// what the caller does next, as on SQLite (where a failed statement does not abort the
// transaction). In PostgreSQL any error aborts the transaction up to the last savepoint.
func (x *txn) write(ctx context.Context, q string, args ...any) (pgconn.CommandTag, error) {
	tag, _, err := x.writeRow(ctx, q, nil, args...)
	return tag, err
}

// writeRow is write for a statement with RETURNING: it scans the one row into dest (nil:
// no row expected).
func (x *txn) writeRow(ctx context.Context, q string, dest []any, args ...any) (pgconn.CommandTag, bool, error) {
	if x.readOnly {
		tag, err := x.tx.Exec(ctx, q, args...)
		return tag, false, err
	}
	b := &pgx.Batch{}
	b.Queue("SAVEPOINT w")
	b.Queue(q, args...)
	b.Queue("RELEASE SAVEPOINT w")
	br := x.tx.SendBatch(ctx, b)
	var tag pgconn.CommandTag
	_, errSave := br.Exec()
	var errStmt error
	found := false
	if dest != nil {
		var rows pgx.Rows
		rows, errStmt = br.Query()
		if errStmt == nil {
			if rows.Next() {
				found = true
				errStmt = rows.Scan(dest...)
			}
			rows.Close()
			if err := rows.Err(); err != nil && errStmt == nil {
				errStmt = err
			}
			tag = rows.CommandTag()
		}
	} else {
		tag, errStmt = br.Exec()
	}
	_, errRelease := br.Exec()
	errClose := br.Close()
	err := errors.Join(errSave, errStmt)
	if err == nil {
		err = errors.Join(errRelease, errClose)
	}
	if err != nil && errSave == nil {
		// The savepoint was set: undo the statement, keep the transaction.
		if _, rbErr := x.tx.Exec(ctx, "ROLLBACK TO SAVEPOINT w; RELEASE SAVEPOINT w"); rbErr != nil {
			return tag, false, fmt.Errorf("%w (and rolling back to its savepoint: %v)", err, rbErr)
		}
	}
	return tag, found, err
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
func fromMicros(v *int64) time.Time {
	if v == nil {
		return time.Time{}
	}
	return time.UnixMicro(*v).UTC()
}

// nullText is s, or NULL when s is empty.
func nullText(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// deref is *p, or "" for NULL.
func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// limitArg is a LIMIT's argument: a negative limit is none (NULL), as SQLite reads it.
func limitArg(limit int) any {
	if limit < 0 {
		return nil
	}
	return int64(limit)
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

// writeErr maps a failed INSERT or UPDATE to store.ErrAlreadyExists when a unique key
// collided, keeping the driver's message (it names the constraint).
func writeErr(what string, err error) error {
	if isUnique(err) {
		return fmt.Errorf("%s: %w: %w", what, store.ErrAlreadyExists, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// readErr maps pgx.ErrNoRows to store.ErrNotFound.
func readErr(what string, err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// mustAffect returns store.ErrNotFound when an UPDATE or DELETE matched no row.
func mustAffect(what string, tag pgconn.CommandTag, err error) error {
	if err != nil {
		return writeErr(what, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	return nil
}

type scanner interface{ Scan(dest ...any) error }

// --- apps ---

const appCols = `account_id, app_id, token_id, token_hash, webhook_secret, created_at`

func scanApp(row scanner) (store.App, error) {
	var a store.App
	var created *int64
	err := row.Scan(&a.AccountID, &a.AppID, &a.TokenID, &a.TokenHash, &a.WebhookSecret, &created)
	a.CreatedAt = fromMicros(created)
	return a, err
}

func (x *txn) AppByTokenID(ctx context.Context, tokenID string) (store.App, error) {
	a, err := scanApp(x.tx.QueryRow(x.ctx(ctx),
		`SELECT `+appCols+` FROM apps WHERE token_id = $1`, tokenID))
	if err != nil {
		return store.App{}, readErr("get app by token id "+tokenID, err)
	}
	return a, nil
}

func (x *txn) App(ctx context.Context, t store.Tenant) (store.App, error) {
	a, err := scanApp(x.tx.QueryRow(x.ctx(ctx),
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
	_, err := x.write(x.ctx(ctx), `INSERT INTO apps (`+appCols+`) VALUES ($1, $2, $3, $4, $5, $6)`,
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
		meeting          *string
		status           string
		disabled         bool
		created, updated *int64
	)
	err := row.Scan(&l.ID, &l.AccountID, &l.AppID, &l.Name, &meeting, &l.StreamKey, &status,
		&disabled, &l.Provider, &l.ProviderID, &created, &updated)
	l.MeetingID = deref(meeting)
	l.Status = store.Status(status)
	l.Disabled = disabled
	l.CreatedAt = fromMicros(created)
	l.UpdatedAt = fromMicros(updated)
	return l, err
}

func (x *txn) Livestream(ctx context.Context, t store.Tenant, id string) (store.Livestream, error) {
	l, err := scanLivestream(x.tx.QueryRow(x.ctx(ctx),
		`SELECT `+livestreamCols+` FROM livestreams WHERE id = $1 AND account_id = $2 AND app_id = $3`,
		id, t.AccountID, t.AppID))
	if err != nil {
		return store.Livestream{}, readErr("get livestream "+id, err)
	}
	return l, nil
}

func (x *txn) LivestreamByMeeting(ctx context.Context, t store.Tenant, meetingID string) (store.Livestream, error) {
	l, err := scanLivestream(x.tx.QueryRow(x.ctx(ctx),
		`SELECT `+livestreamCols+` FROM livestreams WHERE account_id = $1 AND app_id = $2 AND meeting_id = $3`,
		t.AccountID, t.AppID, meetingID))
	if err != nil {
		return store.Livestream{}, readErr("get livestream of meeting "+meetingID, err)
	}
	return l, nil
}

func (x *txn) LivestreamByStreamKey(ctx context.Context, streamKey string) (store.Livestream, error) {
	l, err := scanLivestream(x.tx.QueryRow(x.ctx(ctx),
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
	l, err := scanLivestream(x.tx.QueryRow(x.ctx(ctx),
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
	if err := x.tx.QueryRow(x.ctx(ctx), `SELECT COUNT(*) FROM livestreams WHERE `+cond, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count livestreams: %w", err)
	}

	order := "created_at DESC, id DESC"
	if f.Order == store.Ascending {
		order = "created_at ASC, id ASC"
	}
	q := `SELECT ` + livestreamCols + ` FROM livestreams WHERE ` + cond + ` ORDER BY ` + order
	q, args = page(q, args, f.Offset, f.Limit)
	rows, err := x.tx.Query(x.ctx(ctx), q, args...)
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
		q += fmt.Sprintf(" OFFSET $%d", len(args))
	}
	return q, args
}

func (x *txn) CreateLivestream(ctx context.Context, l store.Livestream) error {
	_, err := x.write(x.ctx(ctx),
		`INSERT INTO livestreams (`+livestreamCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		l.ID, l.AccountID, l.AppID, l.Name, nullText(l.MeetingID), l.StreamKey, string(l.Status),
		l.Disabled, l.Provider, l.ProviderID, micros(l.CreatedAt), micros(l.UpdatedAt))
	if err != nil {
		return writeErr("create livestream "+l.ID, err)
	}
	return nil
}

func (x *txn) UpdateLivestream(ctx context.Context, l store.Livestream) error {
	res, err := x.write(x.ctx(ctx),
		`UPDATE livestreams SET name = $1, stream_key = $2, status = $3, disabled = $4, updated_at = $5
		WHERE id = $6 AND account_id = $7 AND app_id = $8`,
		l.Name, l.StreamKey, string(l.Status), l.Disabled, micros(l.UpdatedAt),
		l.ID, l.AccountID, l.AppID)
	return mustAffect("update livestream "+l.ID, res, err)
}

func (x *txn) DeleteLivestream(ctx context.Context, t store.Tenant, id string) error {
	// Its sessions go with it: ON DELETE CASCADE (foreign_keys is on for every connection).
	res, err := x.write(x.ctx(ctx),
		`DELETE FROM livestreams WHERE id = $1 AND account_id = $2 AND app_id = $3`,
		id, t.AccountID, t.AppID)
	return mustAffect("delete livestream "+id, res, err)
}

// --- sessions ---

const sessionCols = `id, livestream_id, account_id, app_id, invoked_at, started_at, stopped_at, ingest_seconds, viewer_seconds, err_message, created_at, updated_at`

func scanSession(row scanner) (store.Session, error) {
	var (
		s                         store.Session
		invoked, started, stopped *int64
		created, updated          *int64
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
	s, err := scanSession(x.tx.QueryRow(x.ctx(ctx),
		`SELECT `+sessionCols+` FROM livestream_sessions WHERE id = $1 AND account_id = $2 AND app_id = $3`,
		id, t.AccountID, t.AppID))
	if err != nil {
		return store.Session{}, readErr("get session "+id, err)
	}
	return s, nil
}

func (x *txn) ActiveSession(ctx context.Context, t store.Tenant, livestreamID string) (store.Session, error) {
	s, err := scanSession(x.tx.QueryRow(x.ctx(ctx),
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
	s, err := scanSession(x.tx.QueryRow(x.ctx(ctx),
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
	if err := x.tx.QueryRow(x.ctx(ctx), `SELECT COUNT(*) FROM livestream_sessions WHERE `+cond, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("%s: %w", what, err)
	}
	q, args := page(`SELECT `+sessionCols+` FROM livestream_sessions WHERE `+cond+` ORDER BY created_at DESC, id DESC`,
		args, offset, limit)
	rows, err := x.tx.Query(x.ctx(ctx), q, args...)
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
	res, err := x.write(x.ctx(ctx),
		`INSERT INTO livestream_sessions (`+sessionCols+`)
		SELECT $1, id, account_id, app_id, $2, $3, $4, $5, $6, $7, $8, $9 FROM livestreams
		WHERE id = $10 AND account_id = $11 AND app_id = $12`,
		s.ID, nullMicros(s.InvokedAt), nullMicros(s.StartedAt), nullMicros(s.StoppedAt),
		s.IngestSeconds, s.ViewerSeconds, s.ErrMessage, micros(s.CreatedAt), micros(s.UpdatedAt),
		s.LivestreamID, s.AccountID, s.AppID)
	if err != nil {
		return writeErr("create session "+s.ID, err)
	}
	if res.RowsAffected() == 0 {
		return fmt.Errorf("create session %s: livestream %s: %w", s.ID, s.LivestreamID, store.ErrNotFound)
	}
	return nil
}

func (x *txn) UpdateSession(ctx context.Context, s store.Session) error {
	res, err := x.write(x.ctx(ctx),
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
	err := x.tx.QueryRow(x.ctx(ctx),
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
	rows, err := x.tx.Query(x.ctx(ctx), q, args...)
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
	_, err := x.write(x.ctx(ctx),
		`INSERT INTO recordings (id, account_id, app_id, livestream_id, source, recorded_at, duration_seconds)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		r.ID, r.AccountID, r.AppID, nullText(r.LivestreamID), r.Source, micros(r.RecordedAt), r.DurationSeconds)
	if err != nil {
		return writeErr("create recording "+r.ID, err)
	}
	return nil
}

// --- meeting sessions ---

func (x *txn) RecordMeetingSession(ctx context.Context, ms store.MeetingSession) error {
	_, err := x.write(x.ctx(ctx),
		`INSERT INTO meeting_sessions (account_id, app_id, id, room_id, started_at, stopped_at, duration_seconds)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (account_id, app_id, id) DO UPDATE SET
			room_id = CASE WHEN excluded.room_id <> '' THEN excluded.room_id ELSE meeting_sessions.room_id END,
			started_at = CASE WHEN excluded.started_at <> 0 THEN excluded.started_at ELSE meeting_sessions.started_at END,
			stopped_at = COALESCE(excluded.stopped_at, meeting_sessions.stopped_at),
			duration_seconds = CASE WHEN excluded.duration_seconds <> 0 THEN excluded.duration_seconds ELSE meeting_sessions.duration_seconds END`,
		ms.AccountID, ms.AppID, ms.ID, ms.RoomID, zeroMicros(ms.StartedAt), nullMicros(ms.StoppedAt), ms.DurationSeconds)
	if err != nil {
		return writeErr("record meeting session "+ms.ID, err)
	}
	return nil
}

// zeroMicros is t as Unix microseconds, or 0 when t is zero (for NOT NULL columns where
// 0 means "not known").
func zeroMicros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// --- events ---

const eventColumns = `seq, account_id, app_id, source, type, delivery_id, dedupe_key, livestream_id, room_id, received_at, body`

func (x *txn) AppendEvent(ctx context.Context, e *store.Event) error {
	body := e.Body
	if body == nil {
		body = []byte{} // NOT NULL; a nil slice would bind as NULL
	}
	// One statement: the counter row's increment (its lock held until the transaction ends:
	// see the package doc) and the insert. If the insert fails (the dedupe key is taken),
	// the savepoint undoes the increment too.
	var seq int64
	_, _, err := x.writeRow(x.ctx(ctx),
		`WITH next AS (UPDATE feed_head SET head = head + 1 WHERE id = 1 RETURNING head)
		INSERT INTO events (seq, account_id, app_id, source, type, delivery_id, dedupe_key, livestream_id, room_id, received_at, body)
		SELECT next.head, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10 FROM next RETURNING seq`,
		[]any{&seq},
		e.AccountID, e.AppID, e.Source, e.Type, e.DeliveryID, e.DedupeKey,
		nullText(e.LivestreamID), nullText(e.RoomID), micros(e.ReceivedAt), body)
	if err != nil {
		return writeErr(fmt.Sprintf("append %s event %s", e.Source, e.DedupeKey), err)
	}
	if seq == 0 {
		return fmt.Errorf("append %s event %s: the feed's counter row is missing", e.Source, e.DedupeKey)
	}
	e.Sequence = uint64(seq)
	// The commit hook gets the event as reads return it (ReceivedAt in UTC, to the
	// microsecond), not as the caller passed it.
	stored := *e
	stored.Body = body
	stored.ReceivedAt = time.UnixMicro(micros(e.ReceivedAt)).UTC()
	x.appended = append(x.appended, stored)
	return nil
}

func scanEvents(rows pgx.Rows, what string) ([]store.Event, error) {
	out, _, err := scanEventsBudget(rows, what, 0)
	return out, err
}

// scanEventsBudget scans events until their bodies would exceed maxBytes (<= 0: no limit),
// always keeping the first; more says it stopped for bytes with another event to come (the
// one read and dropped).
func scanEventsBudget(rows pgx.Rows, what string, maxBytes int) (_ []store.Event, more bool, _ error) {
	defer rows.Close()
	var out []store.Event
	var total int
	for rows.Next() {
		var (
			e          store.Event
			seq        int64
			ls, room   *string
			receivedAt int64
		)
		if err := rows.Scan(&seq, &e.AccountID, &e.AppID, &e.Source, &e.Type, &e.DeliveryID, &e.DedupeKey, &ls, &room, &receivedAt, &e.Body); err != nil {
			return nil, false, fmt.Errorf("%s: %w", what, err)
		}
		if maxBytes > 0 && len(out) > 0 && total+len(e.Body) > maxBytes {
			return out, true, nil
		}
		total += len(e.Body)
		e.Sequence = uint64(seq)
		e.LivestreamID, e.RoomID = deref(ls), deref(room)
		e.ReceivedAt = time.UnixMicro(receivedAt).UTC()
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("%s: %w", what, err)
	}
	return out, false, nil
}

func (x *txn) DeliveryEvents(ctx context.Context, t store.Tenant, source, deliveryID string) ([]store.Event, error) {
	rows, err := x.tx.Query(x.ctx(ctx),
		`SELECT `+eventColumns+` FROM events
		WHERE account_id = $1 AND app_id = $2 AND source = $3 AND delivery_id = $4 ORDER BY seq`,
		t.AccountID, t.AppID, source, deliveryID)
	if err != nil {
		return nil, fmt.Errorf("events of delivery %s: %w", deliveryID, err)
	}
	return scanEvents(rows, "events of delivery "+deliveryID)
}

func (x *txn) EventsAfter(ctx context.Context, t store.Tenant, after uint64, f store.EventFilter, limit int) ([]store.Event, error) {
	events, _, err := x.EventsAfterBytes(ctx, t, after, f, limit, 0)
	return events, err
}

func (x *txn) EventsAfterBytes(ctx context.Context, t store.Tenant, after uint64, f store.EventFilter, limit, maxBytes int) ([]store.Event, bool, error) {
	if after > math.MaxInt64 {
		// Beyond any sequence (int64(after) would wrap to a negative one and match them all).
		return nil, false, nil
	}
	q := strings.Builder{}
	q.WriteString(`SELECT ` + eventColumns + ` FROM events WHERE account_id = $1 AND app_id = $2 AND seq > $3`)
	args := []any{t.AccountID, t.AppID, int64(after)}
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if f.LivestreamID != "" {
		q.WriteString(" AND livestream_id = " + arg(f.LivestreamID))
	}
	if f.RoomID != "" {
		q.WriteString(" AND room_id = " + arg(f.RoomID))
	}
	if len(f.Sources) > 0 {
		ph := make([]string, len(f.Sources))
		for i, src := range f.Sources {
			ph[i] = arg(src)
		}
		q.WriteString(" AND source IN (" + strings.Join(ph, ", ") + ")")
	}
	if len(f.Types) > 0 {
		conds := make([]string, len(f.Types))
		for i, typ := range f.Types {
			if strings.HasSuffix(typ, ".") {
				// A prefix compared exactly, not LIKE (whose _ and % are wildcards), as the
				// feed's live filter (feed.TypeMatches) does. substr counts characters.
				conds[i] = "substr(type, 1, " + arg(utf8.RuneCountInString(typ)) + ") = " + arg(typ)
			} else {
				conds[i] = "type = " + arg(typ)
			}
		}
		q.WriteString(" AND (" + strings.Join(conds, " OR ") + ")")
	}
	q.WriteString(" ORDER BY seq LIMIT " + arg(limitArg(limit)))
	rows, err := x.tx.Query(x.ctx(ctx), q.String(), args...)
	if err != nil {
		return nil, false, fmt.Errorf("events after %d: %w", after, err)
	}
	return scanEventsBudget(rows, fmt.Sprintf("events after %d", after), maxBytes)
}

func (x *txn) Event(ctx context.Context, t store.Tenant, sequence uint64) (store.Event, error) {
	rows, err := x.tx.Query(x.ctx(ctx),
		`SELECT `+eventColumns+` FROM events WHERE account_id = $1 AND app_id = $2 AND seq = $3`,
		t.AccountID, t.AppID, int64(sequence))
	if err != nil {
		return store.Event{}, fmt.Errorf("event %d: %w", sequence, err)
	}
	events, err := scanEvents(rows, fmt.Sprintf("event %d", sequence))
	if err != nil {
		return store.Event{}, err
	}
	if len(events) == 0 {
		return store.Event{}, fmt.Errorf("event %d: %w", sequence, store.ErrNotFound)
	}
	return events[0], nil
}

func (x *txn) FeedBounds(ctx context.Context) (head, prunedThrough uint64, err error) {
	// feed_head.head is the greatest sequence ever assigned (deletes do not lower it), and
	// it is transactional: in a View's snapshot it names no event the snapshot cannot see.
	var h, p int64
	err = x.tx.QueryRow(x.ctx(ctx),
		`SELECT (SELECT head FROM feed_head WHERE id = 1), (SELECT pruned_through FROM feed_retention WHERE id = 1)`).Scan(&h, &p)
	if err != nil {
		return 0, 0, fmt.Errorf("feed bounds: %w", err)
	}
	return uint64(h), uint64(p), nil
}

func (x *txn) PruneEvents(ctx context.Context, before time.Time, keepLast uint64) (int, error) {
	head, pruned, err := x.FeedBounds(ctx)
	if err != nil {
		return 0, err
	}
	// The new watermark: everything at or below it goes.
	cut := pruned
	if keepLast > 0 && head > keepLast {
		cut = max(cut, head-keepLast)
	}
	if !before.IsZero() {
		var last *int64
		if err := x.tx.QueryRow(x.ctx(ctx), `SELECT MAX(seq) FROM events WHERE received_at < $1`, before.UnixMicro()).Scan(&last); err != nil {
			return 0, fmt.Errorf("prune events: %w", err)
		}
		if last != nil {
			cut = max(cut, uint64(*last))
		}
	}
	if cut == pruned {
		return 0, nil
	}
	// The delete and the watermark in one statement. The watermark never goes down, should
	// another process prune at the same time. feed_retention is not the counter row:
	// pruning does not hold up appends.
	var n int64
	_, _, err = x.writeRow(x.ctx(ctx),
		`WITH gone AS (DELETE FROM events WHERE seq <= $1 RETURNING 1),
		mark AS (UPDATE feed_retention SET pruned_through = GREATEST(pruned_through, $1) WHERE id = 1)
		SELECT COUNT(*) FROM gone`,
		[]any{&n}, int64(cut))
	if err != nil {
		return 0, fmt.Errorf("prune events through %d: %w", cut, err)
	}
	return int(n), nil
}

// --- livestreams by id ---

func (x *txn) LivestreamByID(ctx context.Context, id string) (store.Livestream, error) {
	l, err := scanLivestream(x.tx.QueryRow(x.ctx(ctx),
		`SELECT `+livestreamCols+` FROM livestreams WHERE id = $1`, id))
	if err != nil {
		return store.Livestream{}, readErr("get livestream "+id, err)
	}
	return l, nil
}

// --- nginx-rtmp clients ---

const rtmpClientCols = `client_id, account_id, app_id, livestream_id, session_id, publishing, since, seen_at`

// clientKey is an nginx-rtmp clientid as the BIGINT client_id column holds it; ok is false
// for an id above math.MaxInt64, which the column cannot hold (see migration 0003).
func clientKey(clientID uint64) (key int64, ok bool) {
	if clientID > math.MaxInt64 {
		return 0, false
	}
	return int64(clientID), true
}

func scanRtmpClient(row scanner) (store.RtmpClient, error) {
	var (
		c           store.RtmpClient
		id          int64
		session     *string
		publishing  bool
		since, seen *int64
	)
	err := row.Scan(&id, &c.AccountID, &c.AppID, &c.LivestreamID, &session, &publishing, &since, &seen)
	c.ClientID = uint64(id)
	c.SessionID = deref(session)
	c.Publishing = publishing
	c.Since = fromMicros(since)
	c.SeenAt = fromMicros(seen)
	return c, err
}

func (x *txn) RtmpClient(ctx context.Context, clientID uint64) (store.RtmpClient, error) {
	what := fmt.Sprintf("get RTMP client %d", clientID)
	key, ok := clientKey(clientID)
	if !ok { // never stored
		return store.RtmpClient{}, fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	c, err := scanRtmpClient(x.tx.QueryRow(x.ctx(ctx),
		`SELECT `+rtmpClientCols+` FROM rtmp_clients WHERE client_id = $1`, key))
	if err != nil {
		return store.RtmpClient{}, readErr(what, err)
	}
	return c, nil
}

func (x *txn) RtmpPublisher(ctx context.Context, t store.Tenant, livestreamID string) (store.RtmpClient, error) {
	// There should be one; if there are several, the most recent wins, the same on every call.
	c, err := scanRtmpClient(x.tx.QueryRow(x.ctx(ctx),
		`SELECT `+rtmpClientCols+` FROM rtmp_clients
		WHERE livestream_id = $1 AND publishing AND account_id = $2 AND app_id = $3
		ORDER BY since DESC, client_id DESC LIMIT 1`,
		livestreamID, t.AccountID, t.AppID))
	if err != nil {
		return store.RtmpClient{}, readErr("get RTMP publisher of livestream "+livestreamID, err)
	}
	return c, nil
}

func (x *txn) StaleRtmpClients(ctx context.Context, seenBefore time.Time, limit int) ([]store.RtmpClient, error) {
	what := "list RTMP clients not seen since " + seenBefore.UTC().Format(time.RFC3339Nano)
	rows, err := x.tx.Query(x.ctx(ctx),
		`SELECT `+rtmpClientCols+` FROM rtmp_clients WHERE seen_at < $1
		ORDER BY seen_at, client_id LIMIT $2`, micros(seenBefore), limitArg(limit))
	if err != nil {
		return nil, readErr(what, err)
	}
	defer rows.Close()
	var out []store.RtmpClient
	for rows.Next() {
		c, err := scanRtmpClient(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

func (x *txn) PutRtmpClient(ctx context.Context, c store.RtmpClient) error {
	what := fmt.Sprintf("put RTMP client %d", c.ClientID)
	key, ok := clientKey(c.ClientID)
	if !ok {
		return fmt.Errorf("%s: clientid is above %d, the largest this store holds", what, int64(math.MaxInt64))
	}
	// INSERT ... SELECT from the livestream, as CreateSession: a client of a livestream that
	// does not exist, or belongs to another tenant, inserts nothing and is reported as not
	// found.
	res, err := x.write(x.ctx(ctx),
		`INSERT INTO rtmp_clients (`+rtmpClientCols+`)
		SELECT $1, account_id, app_id, id, $2, $3, $4, $5 FROM livestreams
		WHERE id = $6 AND account_id = $7 AND app_id = $8
		ON CONFLICT (client_id) DO UPDATE SET
			account_id = excluded.account_id,
			app_id = excluded.app_id,
			livestream_id = excluded.livestream_id,
			session_id = excluded.session_id,
			publishing = excluded.publishing,
			since = excluded.since,
			seen_at = excluded.seen_at`,
		key, nullText(c.SessionID), c.Publishing, micros(c.Since), micros(c.SeenAt),
		c.LivestreamID, c.AccountID, c.AppID)
	// No row: the livestream is not the tenant's.
	return mustAffect(what+": livestream "+c.LivestreamID, res, err)
}

func (x *txn) DeleteRtmpClient(ctx context.Context, clientID uint64) error {
	what := fmt.Sprintf("delete RTMP client %d", clientID)
	key, ok := clientKey(clientID)
	if !ok { // never stored
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	res, err := x.write(x.ctx(ctx), `DELETE FROM rtmp_clients WHERE client_id = $1`, key)
	return mustAffect(what, res, err)
}

// --- settings ---

// A setting's value may be a secret (the RTMP callback secret): errors name the setting and
// never include its value. The driver's own messages do not either (a constraint violation
// names the column).

func (x *txn) Setting(ctx context.Context, name string) (string, error) {
	var value string
	err := x.tx.QueryRow(x.ctx(ctx), `SELECT value FROM settings WHERE name = $1`, name).Scan(&value)
	if err != nil {
		return "", readErr("get setting "+name, err)
	}
	return value, nil
}

func (x *txn) CreateSetting(ctx context.Context, name, value string) error {
	_, err := x.write(x.ctx(ctx), `INSERT INTO settings (name, value) VALUES ($1, $2)`, name, value)
	if err != nil {
		return writeErr("create setting "+name, err)
	}
	return nil
}
