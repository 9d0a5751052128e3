package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"time"

	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/store/queries"
)

func (x *txn) AppendEvent(ctx context.Context, e *store.Event) error {
	var seq int64
	err := x.tx.QueryRowContext(x.ctx(ctx),
		`INSERT INTO events (account_id, app_id, source, type, delivery_id, dedupe_key, livestream_id, room_id, received_at, body)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING seq`,
		e.AccountID, e.AppID, e.Source, e.Type, e.DeliveryID, e.DedupeKey,
		queries.NullText(e.LivestreamID), queries.NullText(e.RoomID), queries.Micros(e.ReceivedAt), e.Body).Scan(&seq)
	if err != nil {
		return queries.WriteErr(fmt.Sprintf("append %s event %s", e.Source, e.DedupeKey), err, isUnique)
	}
	e.Sequence = uint64(seq)
	// The commit hook gets the event as reads return it (ReceivedAt in UTC, to the
	// microsecond), not as the caller passed it.
	stored := *e
	stored.ReceivedAt = time.UnixMicro(queries.Micros(e.ReceivedAt)).UTC()
	x.appended = append(x.appended, stored)
	return nil
}

// EachEventAfter reads two columns, not eleven, into a reused buffer (sql.RawBytes): a
// replay sends the body with its sequence.
func (x *txn) EachEventAfter(ctx context.Context, t store.Tenant, after uint64, f store.EventFilter, limit, maxBytes int, fn func(seq uint64, body []byte) error) (bool, error) {
	if after > math.MaxInt64 {
		return false, nil
	}
	q, args := queries.EventsAfterQuery(`seq, body`, t, after, f, limit)
	rows, err := x.tx.QueryContext(x.ctx(ctx), q, args...)
	if err != nil {
		return false, fmt.Errorf("events after %d: %w", after, err)
	}
	defer rows.Close()
	var (
		seq      int64
		body     sql.RawBytes
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
	// sqlite_sequence keeps the greatest seq ever assigned, also after deletes; it has no row
	// until the first insert.
	var h sql.NullInt64
	var p int64
	err = x.tx.QueryRowContext(x.ctx(ctx),
		`SELECT (SELECT seq FROM sqlite_sequence WHERE name = 'events'), pruned_through FROM feed_state WHERE id = 1`).Scan(&h, &p)
	if err != nil {
		return 0, 0, fmt.Errorf("feed bounds: %w", err)
	}
	return uint64(h.Int64), uint64(p), nil
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
	res, err := x.tx.ExecContext(x.ctx(ctx), `DELETE FROM events WHERE seq <= $1`, int64(cut))
	if err != nil {
		return 0, fmt.Errorf("prune events through %d: %w", cut, err)
	}
	n, _ := res.RowsAffected()
	if _, err := x.tx.ExecContext(x.ctx(ctx), `UPDATE feed_state SET pruned_through = $1 WHERE id = 1`, int64(cut)); err != nil {
		return 0, fmt.Errorf("prune events through %d: %w", cut, err)
	}
	return int(n), nil
}
