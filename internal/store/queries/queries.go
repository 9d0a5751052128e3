// Package queries is the SQL that livegate's two stores (internal/store/sqlite and
// internal/store/postgres) share: their schemas hold the same tables and columns, times as
// Unix microseconds in BIGINT columns, and a statement written with $N placeholders (numbered
// in order of first use), COALESCE, COUNT(DISTINCT), INSERT ... SELECT and LIMIT/OFFSET runs
// unchanged on both. A method whose SQL differs between the two stays in its store.
//
// Each store's transaction embeds a Queries over an adapter of its driver's transaction (Tx),
// so the methods below are its own: a change to one of these queries is made once, and
// storetest runs it on both databases.
package queries

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/livegate/livegate/internal/store"
)

// Tx is one transaction of a store, as the shared queries use it. The store's adapter decides
// the context a statement runs with (a group commit's shared transaction ignores its callers'
// cancellation) and how a write runs (PostgreSQL's under a savepoint of its own).
type Tx interface {
	QueryRow(ctx context.Context, q string, args ...any) Row
	Query(ctx context.Context, q string, args ...any) (Rows, error)
	// Exec runs a writing statement and returns how many rows it changed.
	Exec(ctx context.Context, q string, args ...any) (int64, error)
	// ExecRow runs a writing statement with RETURNING and scans its one row into dest;
	// found is false when it returned no row.
	ExecRow(ctx context.Context, dest []any, q string, args ...any) (found bool, err error)
	// IsUnique reports whether err is the driver's UNIQUE or PRIMARY KEY violation.
	IsUnique(err error) bool
}

// Row is one row of a query, read by Scan; a query without a row fails Scan with an error
// that is sql.ErrNoRows (pgx.ErrNoRows is too).
type Row interface {
	Scan(dest ...any) error
}

// Rows are the rows of a query, as pgx.Rows reads them.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// Queries implements, over Tx, the store.Reader and store.Writer methods whose SQL both
// stores share.
type Queries struct {
	Tx Tx
}

// --- conversions ---

// Micros is t as Unix microseconds, for a NOT NULL column.
func Micros(t time.Time) int64 { return t.UnixMicro() }

// nullMicros is t as Unix microseconds, or NULL when t is zero.
func nullMicros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

// zeroMicros is t as Unix microseconds, or 0 when t is zero (for NOT NULL columns where 0
// means "not known").
func zeroMicros(t time.Time) int64 {
	if t.IsZero() {
		return 0
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

// NullText is s, or NULL when s is empty.
func NullText(s string) any {
	if s == "" {
		return nil
	}
	return s
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

// readErr maps a query without a row (sql.ErrNoRows, which pgx.ErrNoRows also is) to
// store.ErrNotFound.
func readErr(what string, err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// WriteErr maps a failed INSERT or UPDATE to a *store.AlreadyExistsError when a unique key
// collided (isUnique: the driver's test), keeping the driver's message (it names the column
// or constraint).
func WriteErr(what string, err error, isUnique func(error) bool) error {
	if isUnique(err) {
		return &store.AlreadyExistsError{Op: what, Err: err}
	}
	return fmt.Errorf("%s: %w", what, err)
}

// writeErr is WriteErr with the store's test.
func (q Queries) writeErr(what string, err error) error { return WriteErr(what, err, q.Tx.IsUnique) }

// mustAffect returns store.ErrNotFound when an UPDATE or DELETE matched no row.
func (q Queries) mustAffect(what string, n int64, err error) error {
	if err != nil {
		return q.writeErr(what, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	return nil
}

// page appends LIMIT and OFFSET to q for a page of a list: at most limit rows (none: no
// bound) after the first offset. LIMIT takes PostgreSQL's and SQLite's largest integer for
// "no bound" (SQLite has no LIMIT without a number).
func page(q string, args []any, offset, limit int) (string, []any) {
	offset = max(offset, 0)
	if limit <= 0 && offset == 0 {
		return q, args
	}
	bound := int64(math.MaxInt64)
	if limit > 0 {
		bound = int64(limit)
	}
	args = append(args, bound, offset)
	return q + fmt.Sprintf(" LIMIT $%d OFFSET $%d", len(args)-1, len(args)), args
}

// limitArg is a LIMIT's argument: a negative limit is none (PostgreSQL reads LIMIT NULL so,
// SQLite a negative one; the largest integer is none to both).
func limitArg(limit int) int64 {
	if limit < 0 {
		return math.MaxInt64
	}
	return int64(limit)
}

// one reads the one row of a query with scan; none is store.ErrNotFound. Errors name what
// was read.
func one[T any](row Row, what string, scan func(Row) (T, error)) (T, error) {
	v, err := scan(row)
	if err != nil {
		var zero T
		return zero, readErr(what, err)
	}
	return v, nil
}

// collect reads every row of a query with scan, and closes rows; rows and err are what Query
// returned. Errors name what was read.
func collect[T any](rows Rows, err error, what string, scan func(Row) (T, error)) ([]T, error) {
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}
