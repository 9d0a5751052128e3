package postgres

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/store/queries"
)

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
		queries.NullText(e.LivestreamID), queries.NullText(e.RoomID), queries.Micros(e.ReceivedAt), body)
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
	stored.ReceivedAt = time.UnixMicro(queries.Micros(e.ReceivedAt)).UTC()
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

// deliveryQuery selects columns of the events of delivery $4 of source $3, in seq order,
// through two indexes: events_by_delivery holds only events whose delivery id is not their
// dedupe key (migration 0008 on SQLite, 0005 on PostgreSQL); those whose delivery id is their
// dedupe key (every 100ms event) are found in the unique dedupe index. The two branches are
// disjoint, and each matches only events whose delivery_id is $4. (As one WHERE with an OR,
// SQLite walks the tenant's events in seq order, events_by_tenant, instead.)
func deliveryQuery(columns string) string {
	return `SELECT ` + columns + ` FROM events
		WHERE account_id = $1 AND app_id = $2 AND source = $3 AND dedupe_key = $4 AND delivery_id = $4
		UNION ALL
		SELECT ` + columns + ` FROM events
		WHERE account_id = $1 AND app_id = $2 AND source = $3 AND delivery_id = $4 AND delivery_id <> dedupe_key
		ORDER BY seq`
}

func (x *txn) DeliveryEvents(ctx context.Context, t store.Tenant, source, deliveryID string) ([]store.Event, error) {
	rows, err := x.tx.Query(x.ctx(ctx),
		deliveryQuery(eventColumns),
		t.AccountID, t.AppID, source, deliveryID)
	if err != nil {
		return nil, fmt.Errorf("events of delivery %s: %w", deliveryID, err)
	}
	return scanEvents(rows, "events of delivery "+deliveryID)
}

func (x *txn) DeliverySequences(ctx context.Context, t store.Tenant, source, deliveryID string) ([]uint64, error) {
	rows, err := x.tx.Query(x.ctx(ctx),
		deliveryQuery(`seq`),
		t.AccountID, t.AppID, source, deliveryID)
	if err != nil {
		return nil, fmt.Errorf("sequences of delivery %s: %w", deliveryID, err)
	}
	defer rows.Close()
	var out []uint64
	for rows.Next() {
		var seq int64
		if err := rows.Scan(&seq); err != nil {
			return nil, fmt.Errorf("sequences of delivery %s: %w", deliveryID, err)
		}
		out = append(out, uint64(seq))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sequences of delivery %s: %w", deliveryID, err)
	}
	return out, nil
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
	q, args := eventsAfterQuery(eventColumns, t, after, f, limit)
	rows, err := x.tx.Query(x.ctx(ctx), q, args...)
	if err != nil {
		return nil, false, fmt.Errorf("events after %d: %w", after, err)
	}
	return scanEventsBudget(rows, fmt.Sprintf("events after %d", after), maxBytes)
}

// EachEventAfter reads two columns, not eleven, and hands the body on as the connection's
// buffer holds it: a replay sends the body with its sequence.
func (x *txn) EachEventAfter(ctx context.Context, t store.Tenant, after uint64, f store.EventFilter, limit, maxBytes int, fn func(seq uint64, body []byte) error) (bool, error) {
	if after > math.MaxInt64 {
		return false, nil
	}
	q, args := eventsAfterQuery(`seq, body`, t, after, f, limit)
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

// eventsAfterQuery is the query of EventsAfterBytes, selecting columns.
func eventsAfterQuery(columns string, t store.Tenant, after uint64, f store.EventFilter, limit int) (string, []any) {
	q := strings.Builder{}
	q.WriteString(`SELECT ` + columns + ` FROM events WHERE account_id = $1 AND app_id = $2 AND seq > $3`)
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
	return q.String(), args
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
