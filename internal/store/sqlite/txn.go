package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/store/queries"
)

// Most of the SQL is shared with the PostgreSQL store (internal/store/queries, which txn
// embeds); what is here and in the other files of this package is SQLite's own. It sticks
// to what PostgreSQL also accepts where it can: $N placeholders (numbered in order of first
// use), COALESCE, COUNT(DISTINCT), INSERT ... SELECT, LIMIT/OFFSET.

// txn is the Reader and Writer of one transaction. View hands it out as a Reader on a
// read-only connection, where any write fails.
type txn struct {
	queries.Queries // the SQL both stores share, run on tx (see sqlTx)

	tx *sql.Tx
	// grouped is set in write transactions shared by several Updates (group commit). Their
	// statements ignore the caller's cancellation: the driver would interrupt the statement,
	// and SQLite then rolls back the whole shared transaction, failing every Update in it. A
	// caller canceled before its fn starts is skipped instead.
	grouped bool
	// appended are the events AppendEvent wrote, for the commit hook.
	appended []store.Event
	// batch is what the Updates of one group commit share; nil outside group commits.
	batch *batchState
}

// batchState is shared by the Updates of one group commit's transaction.
type batchState struct {
	// appsVersion is AppsVersion as read in this transaction, until a write to apps in it
	// (which moves it) forgets it: nobody else writes while the transaction holds the
	// database's write lock (BEGIN IMMEDIATE), so one read serves the whole group.
	appsVersion      uint64
	appsVersionKnown bool
}

var _ store.Writer = (*txn)(nil)

// newTxn is the txn of tx; grouped and batch as in txn.
func newTxn(tx *sql.Tx, grouped bool, batch *batchState) *txn {
	x := &txn{tx: tx, grouped: grouped, batch: batch}
	x.Queries = queries.Queries{Tx: sqlTx{x}}
	return x
}

// sqlTx is a txn as queries.Tx: its statements run with x.ctx.
type sqlTx struct{ x *txn }

func (a sqlTx) QueryRow(ctx context.Context, q string, args ...any) queries.Row {
	return a.x.tx.QueryRowContext(a.x.ctx(ctx), q, args...)
}

func (a sqlTx) Query(ctx context.Context, q string, args ...any) (queries.Rows, error) {
	rows, err := a.x.tx.QueryContext(a.x.ctx(ctx), q, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{rows}, nil
}

func (a sqlTx) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	res, err := a.x.tx.ExecContext(a.x.ctx(ctx), q, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (a sqlTx) ExecRow(ctx context.Context, dest []any, q string, args ...any) (bool, error) {
	err := a.x.tx.QueryRowContext(a.x.ctx(ctx), q, args...).Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

func (sqlTx) IsUnique(err error) bool { return isUnique(err) }

// sqlRows are *sql.Rows as queries.Rows (whose Close returns nothing, as pgx's).
type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { _ = r.Rows.Close() }

// ctx is the context a statement runs with (see grouped).
func (x *txn) ctx(ctx context.Context) context.Context {
	if x.grouped {
		return context.WithoutCancel(ctx)
	}
	return ctx
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
