package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/store/queries"
)

// Most of the SQL is shared with the SQLite store (internal/store/queries, which txn
// embeds); what is here and in the other files of this package is PostgreSQL's own.

// txn is the Reader and Writer of one transaction. View hands it out as a Reader on a
// read-only transaction, where any write fails.
type txn struct {
	queries.Queries // the SQL both stores share, run on tx (see pgTx)

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

// newTxn is the txn of tx; grouped and readOnly as in txn.
func newTxn(tx pgx.Tx, grouped, readOnly bool) *txn {
	x := &txn{tx: tx, grouped: grouped, readOnly: readOnly}
	x.Queries = queries.Queries{Tx: pgTx{x}}
	return x
}

// pgTx is a txn as queries.Tx: its statements run with x.ctx, and its writes through
// x.write (each under a savepoint of its own).
type pgTx struct{ x *txn }

func (a pgTx) QueryRow(ctx context.Context, q string, args ...any) queries.Row {
	return a.x.tx.QueryRow(a.x.ctx(ctx), q, args...)
}

func (a pgTx) Query(ctx context.Context, q string, args ...any) (queries.Rows, error) {
	return a.x.tx.Query(a.x.ctx(ctx), q, args...)
}

func (a pgTx) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	tag, err := a.x.write(a.x.ctx(ctx), q, args...)
	return tag.RowsAffected(), err
}

func (a pgTx) ExecRow(ctx context.Context, dest []any, q string, args ...any) (bool, error) {
	_, found, err := a.x.writeRow(a.x.ctx(ctx), q, dest, args...)
	return found, err
}

func (pgTx) IsUnique(err error) bool { return isUnique(err) }

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

// --- errors ---
