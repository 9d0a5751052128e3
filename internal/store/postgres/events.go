package postgres

import (
	"context"
	"fmt"
	"math"
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

// EachEventAfter reads two columns, not eleven, and hands the body on as the connection's
// buffer holds it: a replay sends the body with its sequence.
func (x *txn) EachEventAfter(ctx context.Context, t store.Tenant, after uint64, f store.EventFilter, limit, maxBytes int, fn func(seq uint64, body []byte) error) (bool, error) {
	if after > math.MaxInt64 {
		return false, nil
	}
	q, args := queries.EventsAfterQuery(`seq, body`, t, after, f, limit)
	rows, err := x.tx.Query(x.ctx(ctx), q, args...)
	if err != nil {
		return false, fmt.Errorf("events after %d: %w", after, err)
	}
	defer rows.Close()
	var (
		seq      int64
		body     pgtype.DriverBytes // the connection's buffer, until the next row: no copy
		n, total int
	)
	for rows.Next() {
		if err := rows.Scan(&seq, &body); err != nil {
			return false, fmt.Errorf("events after %d: %w", after, err)
		}
		if maxBytes > 0 && n > 0 && total+len(body) > maxBytes {
			return true, nil
		}
		n++
		total += len(body)
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
