package postgres

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/store/queries"
)

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
		queries.NullText(e.LivestreamID), queries.NullText(e.RoomID), queries.Micros(e.ReceivedAt), body)
	if err != nil {
		return queries.WriteErr(fmt.Sprintf("append %s event %s", e.Source, e.DedupeKey), err, isUnique)
	}
	if seq == 0 {
		return fmt.Errorf("append %s event %s: the feed's counter row is missing", e.Source, e.DedupeKey)
	}
	e.Sequence = uint64(seq)
	// The commit hook gets the event as reads return it (ReceivedAt in UTC, to the
	// microsecond), not as the caller passed it.
	stored := *e
	stored.Body = body
	stored.ReceivedAt = time.UnixMicro(queries.Micros(e.ReceivedAt)).UTC()
	x.appended = append(x.appended, stored)
	return nil
}

// Reads after a cursor with a byte budget
//
// The budget is applied by PostgreSQL, not by the client after the rows arrived: a query
// sends every row of its LIMIT, and a client that stops reading early still receives them
// all (pgx's Rows.Close reads the rest of the stream). With events of up to 1 MiB, a read of
// 500 events that keeps one would move hundreds of megabytes. withinBudget wraps the read
// so that only the bodies within the budget cross the wire.

// withinBudget wraps page, a query of events in sequence order with a LIMIT whose columns
// end with body, in one that applies a budget of budget bytes of bodies (a placeholder or
// literal, > 0) as store.Reader.EventsAfterBytes does: it keeps the events up to the one
// whose body would take the bodies past budget, and at least the first. Its columns are
// page's and then kept, a boolean: after the events kept comes, when there is one, the first
// event past the budget with kept false and a NULL body, which says only that more follow.
//
// The running total is octet_length(body), which for a body TOASTed out of line reads the
// size in the tuple's TOAST pointer, not the data (byteaoctetlen does not detoast): the
// bodies past the budget are never read from disk either. The page keeps its plan (the
// index scan and its LIMIT; the window needs no sort, the rows coming in sequence order).
func withinBudget(page, columns, budget string) string {
	if !strings.HasSuffix(columns, `body`) {
		panic("withinBudget: the columns must end with body: " + columns)
	}
	keep := `(n = 1 OR upto <= ` + budget + `)`
	return `SELECT ` + strings.TrimSuffix(columns, `body`) + `CASE WHEN ` + keep + ` THEN body END, ` + keep + `
		FROM (SELECT ` + columns + `, row_number() OVER w AS n, sum(octet_length(body)) OVER w AS upto
			FROM (` + page + `) page
			WINDOW w AS (ORDER BY seq ROWS UNBOUNDED PRECEDING)) budget
		WHERE n <= 2 OR upto - octet_length(body) <= ` + budget + `
		ORDER BY seq`
}

// eventsAfterQuery is queries.EventsAfterQuery, within a budget of maxBytes (> 0).
func eventsAfterQuery(columns string, t store.Tenant, after uint64, f store.EventFilter, limit, maxBytes int) (string, []any) {
	q, args := queries.EventsAfterQuery(columns, t, after, f, limit)
	args = append(args, int64(maxBytes))
	return withinBudget(q, columns, "$"+strconv.Itoa(len(args))), args
}

// EventsAfterBytes is the shared one (queries) with the budget applied by PostgreSQL.
func (x *txn) EventsAfterBytes(ctx context.Context, t store.Tenant, after uint64, f store.EventFilter, limit, maxBytes int) ([]store.Event, bool, error) {
	if maxBytes <= 0 {
		return x.Queries.EventsAfterBytes(ctx, t, after, f, limit, maxBytes)
	}
	if after > math.MaxInt64 {
		// Beyond any sequence (int64(after) would wrap to a negative one and match them all).
		return nil, false, nil
	}
	q, args := eventsAfterQuery(queries.EventColumns, t, after, f, limit, maxBytes)
	rows, err := x.tx.Query(x.ctx(ctx), q, args...)
	if err != nil {
		return nil, false, fmt.Errorf("events after %d: %w", after, err)
	}
	return queries.ScanEventsKept(rows, fmt.Sprintf("events after %d", after))
}

// EachEventAfter reads two columns, not eleven, and hands the body on as the connection's
// buffer holds it: a replay sends the body with its sequence. The budget is applied by
// PostgreSQL (withinBudget).
func (x *txn) EachEventAfter(ctx context.Context, t store.Tenant, after uint64, f store.EventFilter, limit, maxBytes int, fn func(seq uint64, body []byte) error) (bool, error) {
	if after > math.MaxInt64 {
		return false, nil
	}
	var (
		q    string
		args []any
		seq  int64
		body pgtype.DriverBytes // the connection's buffer, until the next row: no copy
		kept = true
		dest = []any{&seq, &body}
	)
	if maxBytes > 0 {
		q, args = eventsAfterQuery(`seq, body`, t, after, f, limit, maxBytes)
		dest = append(dest, &kept)
	} else {
		q, args = queries.EventsAfterQuery(`seq, body`, t, after, f, limit)
	}
	rows, err := x.tx.Query(x.ctx(ctx), q, args...)
	if err != nil {
		return false, fmt.Errorf("events after %d: %w", after, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return false, fmt.Errorf("events after %d: %w", after, err)
		}
		if !kept {
			return true, nil // the first event past the budget, without its body
		}
		if err := fn(uint64(seq), body); err != nil {
			return false, err
		}
	}
	if err := rows.Err(); err != nil {
		return false, fmt.Errorf("events after %d: %w", after, err)
	}
	return false, nil
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

func (x *txn) PruneEvents(ctx context.Context, before time.Time, keepLast uint64, limit int) (int, error) {
	head, pruned, err := x.FeedBounds(ctx)
	if err != nil {
		return 0, err
	}
	// The new watermark: everything at or below it goes.
	cut, err := x.PruneCut(ctx, head, pruned, before, keepLast, limit)
	if err != nil {
		return 0, err
	}
	if cut == pruned {
		return 0, nil
	}
	if err := x.SkipPruned(ctx, cut, time.Now()); err != nil {
		return 0, fmt.Errorf("prune events through %d: %w", cut, err)
	}
	// The delete and the watermark in one statement. The watermark never goes down, should
	// another process prune at the same time.
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
