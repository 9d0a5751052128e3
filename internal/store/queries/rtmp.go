package queries

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"time"

	"github.com/livegate/livegate/internal/store"
)

const rtmpClientCols = `client_id, account_id, app_id, livestream_id, session_id, publishing, since, seen_at`

// clientKey is an nginx-rtmp clientid as the BIGINT client_id column holds it; ok is false
// for an id above math.MaxInt64, which the column cannot hold (see migration 0003).
func clientKey(clientID uint64) (key int64, ok bool) {
	if clientID > math.MaxInt64 {
		return 0, false
	}
	return int64(clientID), true
}

func scanRtmpClient(row Row) (store.RtmpClient, error) {
	var (
		c           store.RtmpClient
		id          int64
		session     sql.NullString
		since, seen sql.NullInt64
	)
	err := row.Scan(&id, &c.AccountID, &c.AppID, &c.LivestreamID, &session, &c.Publishing, &since, &seen)
	c.ClientID = uint64(id)
	c.SessionID = session.String
	c.Since = fromMicros(since)
	c.SeenAt = fromMicros(seen)
	return c, err
}

func (q Queries) RtmpClient(ctx context.Context, clientID uint64) (store.RtmpClient, error) {
	what := fmt.Sprintf("get RTMP client %d", clientID)
	key, ok := clientKey(clientID)
	if !ok { // never stored
		return store.RtmpClient{}, fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	return one(q.Tx.QueryRow(ctx,
		`SELECT `+rtmpClientCols+` FROM rtmp_clients WHERE client_id = $1`, key),
		what, scanRtmpClient)
}

func (q Queries) RtmpPublisher(ctx context.Context, t store.Tenant, livestreamID string) (store.RtmpClient, error) {
	// There should be one; if there are several, the most recent wins, the same on every call.
	return one(q.Tx.QueryRow(ctx,
		`SELECT `+rtmpClientCols+` FROM rtmp_clients
		WHERE livestream_id = $1 AND publishing = TRUE AND account_id = $2 AND app_id = $3
		ORDER BY since DESC, client_id DESC LIMIT 1`,
		livestreamID, t.AccountID, t.AppID),
		"get RTMP publisher of livestream "+livestreamID, scanRtmpClient)
}

func (q Queries) StaleRtmpClients(ctx context.Context, seenBefore time.Time, limit int) ([]store.RtmpClient, error) {
	what := "list RTMP clients not seen since " + seenBefore.UTC().Format(time.RFC3339Nano)
	rows, err := q.Tx.Query(ctx,
		`SELECT `+rtmpClientCols+` FROM rtmp_clients WHERE seen_at < $1
		ORDER BY seen_at, client_id LIMIT $2`, Micros(seenBefore), limitArg(limit))
	return collect(rows, err, what, scanRtmpClient)
}

func (q Queries) PutRtmpClient(ctx context.Context, c store.RtmpClient) error {
	what := fmt.Sprintf("put RTMP client %d", c.ClientID)
	key, ok := clientKey(c.ClientID)
	if !ok {
		return fmt.Errorf("%s: clientid is above %d, the largest this store holds", what, int64(math.MaxInt64))
	}
	// INSERT ... SELECT from the livestream, as CreateSession: a client of a livestream that
	// does not exist, or belongs to another tenant, inserts nothing and is reported as not
	// found. (The SELECT's WHERE also keeps SQLite from reading ON CONFLICT as a join's ON.)
	n, err := q.Tx.Exec(ctx,
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
		key, NullText(c.SessionID), c.Publishing, Micros(c.Since), Micros(c.SeenAt),
		c.LivestreamID, c.AccountID, c.AppID)
	// No row: the livestream is not the tenant's.
	return q.mustAffect(what+": livestream "+c.LivestreamID, n, err)
}

func (q Queries) DeleteRtmpClient(ctx context.Context, clientID uint64) error {
	what := fmt.Sprintf("delete RTMP client %d", clientID)
	key, ok := clientKey(clientID)
	if !ok { // never stored
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	n, err := q.Tx.Exec(ctx, `DELETE FROM rtmp_clients WHERE client_id = $1`, key)
	return q.mustAffect(what, n, err)
}
