package queries

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/livegate/livegate/internal/store"
)

const EventColumns = `seq, account_id, app_id, source, type, delivery_id, dedupe_key, livestream_id, room_id, received_at, body`

func scanEvents(rows Rows, what string) ([]store.Event, error) {
	out, _, err := ScanEventsBudget(rows, what, 0)
	return out, err
}

// ScanEventsBudget scans events until their bodies would exceed maxBytes (<= 0: no limit),
// always keeping the first; more says it stopped for bytes with another event to come (the
// one read and dropped).
func ScanEventsBudget(rows Rows, what string, maxBytes int) (_ []store.Event, more bool, _ error) {
	return scanEventsBudget(rows, what, maxBytes, false)
}

// ScanEventsKept scans events whose byte budget the database applied: each row holds
// EventColumns and then kept, a boolean. A row with kept false is the first one past the
// budget, sent without its body (NULL) to say that another event follows: it ends the scan,
// and more is true. (PostgreSQL's reads after a cursor: see internal/store/postgres.)
func ScanEventsKept(rows Rows, what string) (_ []store.Event, more bool, _ error) {
	return scanEventsBudget(rows, what, 0, true)
}

func scanEventsBudget(rows Rows, what string, maxBytes int, marked bool) (_ []store.Event, more bool, _ error) {
	defer rows.Close()
	var (
		out        []store.Event
		total      int
		e          store.Event
		seq        int64
		ls, room   sql.NullString
		receivedAt int64
		kept       bool
	)
	// One list of destinations for every row: Scan is an interface method, so the list it
	// is given escapes, and a fresh one per row was an allocation per event.
	dest := []any{&seq, &e.AccountID, &e.AppID, &e.Source, &e.Type, &e.DeliveryID, &e.DedupeKey, &ls, &room, &receivedAt, &e.Body}
	if marked {
		dest = append(dest, &kept)
	}
	for rows.Next() {
		e = store.Event{}
		if err := rows.Scan(dest...); err != nil {
			return nil, false, fmt.Errorf("%s: %w", what, err)
		}
		if marked && !kept {
			return out, true, nil
		}
		if maxBytes > 0 && len(out) > 0 && total+len(e.Body) > maxBytes {
			return out, true, nil
		}
		total += len(e.Body)
		e.Sequence = uint64(seq)
		e.LivestreamID, e.RoomID = ls.String, room.String
		e.ReceivedAt = time.UnixMicro(receivedAt).UTC()
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("%s: %w", what, err)
	}
	return out, false, nil
}

// DeliveryQuery selects columns of the events of delivery $4 of source $3, in seq order,
// through two indexes: events_by_delivery holds only events whose delivery id is not their
// dedupe key (migration 0008 on SQLite, 0005 on PostgreSQL); those whose delivery id is their
// dedupe key (every 100ms event) are found in the unique dedupe index. The two branches are
// disjoint, and each matches only events whose delivery_id is $4. (As one WHERE with an OR,
// SQLite walks the tenant's events in seq order, events_by_tenant, instead.)
func DeliveryQuery(columns string) string {
	return `SELECT ` + columns + ` FROM events
		WHERE account_id = $1 AND app_id = $2 AND source = $3 AND dedupe_key = $4 AND delivery_id = $4
		UNION ALL
		SELECT ` + columns + ` FROM events
		WHERE account_id = $1 AND app_id = $2 AND source = $3 AND delivery_id = $4 AND delivery_id <> dedupe_key
		ORDER BY seq`
}

func (q Queries) DeliveryEvents(ctx context.Context, t store.Tenant, source, deliveryID string) ([]store.Event, error) {
	rows, err := q.Tx.Query(ctx,
		DeliveryQuery(EventColumns),
		t.AccountID, t.AppID, source, deliveryID)
	if err != nil {
		return nil, fmt.Errorf("events of delivery %s: %w", deliveryID, err)
	}
	return scanEvents(rows, "events of delivery "+deliveryID)
}

func (q Queries) DeliverySequences(ctx context.Context, t store.Tenant, source, deliveryID string) ([]uint64, error) {
	// Both indexes hold seq (the rowid) in their entries: a new delivery (the usual case)
	// is answered from the indexes alone.
	rows, err := q.Tx.Query(ctx,
		DeliveryQuery(`seq`),
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

func (q Queries) EventsAfter(ctx context.Context, t store.Tenant, after uint64, f store.EventFilter, limit int) ([]store.Event, error) {
	events, _, err := q.EventsAfterBytes(ctx, t, after, f, limit, 0)
	return events, err
}

func (q Queries) EventsAfterBytes(ctx context.Context, t store.Tenant, after uint64, f store.EventFilter, limit, maxBytes int) ([]store.Event, bool, error) {
	if after > math.MaxInt64 {
		// Beyond any sequence (int64(after) would wrap to a negative one and match them all).
		return nil, false, nil
	}
	query, args := EventsAfterQuery(EventColumns, t, after, f, limit)
	rows, err := q.Tx.Query(ctx, query, args...)
	if err != nil {
		return nil, false, fmt.Errorf("events after %d: %w", after, err)
	}
	return ScanEventsBudget(rows, fmt.Sprintf("events after %d", after), maxBytes)
}

// EventsAfterQuery is the query of EventsAfterBytes, selecting columns (the stores'
// EachEventAfter runs it too). The byte budget is not in it: SQLite's rows are read as they
// are scanned, and a read that stops at the budget reads no further. PostgreSQL would send
// every row of the LIMIT, bodies and all, however early the read stopped: its reads wrap
// this query in one that applies the budget (internal/store/postgres, withinBudget).
func EventsAfterQuery(columns string, t store.Tenant, after uint64, f store.EventFilter, limit int) (string, []any) {
	var q strings.Builder
	q.WriteString(`SELECT ` + columns + ` FROM events WHERE account_id = $1 AND app_id = $2 AND seq > $3`)
	args := []any{t.AccountID, t.AppID, int64(after)}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
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
				// A prefix compared exactly, not with LIKE (SQLite's is case-insensitive for
				// ASCII, and _ and % are wildcards), as the feed's live filter
				// (feed.TypeMatches) does. substr counts characters on both databases.
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

func (q Queries) Event(ctx context.Context, t store.Tenant, sequence uint64) (store.Event, error) {
	rows, err := q.Tx.Query(ctx,
		`SELECT `+EventColumns+` FROM events WHERE account_id = $1 AND app_id = $2 AND seq = $3`,
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

// PruneCut is PruneEvents' new watermark, given the feed's head and its watermark now
// (pruned): every event received before `before` (zero: no age limit) and all but the newest
// keepLast (0: no count limit) go, but at most limit of them (<= 0: no limit), the oldest:
// then it is the limit-th oldest at or below that. pruned itself means nothing to prune.
func (q Queries) PruneCut(ctx context.Context, head, pruned uint64, before time.Time, keepLast uint64, limit int) (uint64, error) {
	cut := pruned
	if keepLast > 0 && head > keepLast {
		cut = max(cut, head-keepLast)
	}
	if !before.IsZero() {
		var last sql.NullInt64
		if err := q.Tx.QueryRow(ctx, `SELECT MAX(seq) FROM events WHERE received_at < $1`, before.UnixMicro()).Scan(&last); err != nil {
			return 0, fmt.Errorf("prune events: %w", err)
		}
		cut = max(cut, uint64(last.Int64))
	}
	if cut == pruned || limit <= 0 {
		return cut, nil
	}
	var last int64
	err := q.Tx.QueryRow(ctx, `SELECT seq FROM events WHERE seq <= $1 ORDER BY seq LIMIT 1 OFFSET $2`, int64(cut), limit-1).Scan(&last)
	switch {
	case err == nil:
		return uint64(last), nil
	case errors.Is(err, sql.ErrNoRows):
		return cut, nil // no more than limit
	}
	return 0, fmt.Errorf("prune events: %w", err)
}
