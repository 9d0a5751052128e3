package queries

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"time"

	"github.com/livegate/livegate/internal/store"
)

const webhookEndpointCols = `id, account_id, app_id, name, url, events, enabled, secret, prev_secret, ` +
	`prev_secret_expires_at, cursor, failing_since, disabled_reason, created_at, updated_at`

func scanWebhookEndpoint(row Row) (store.WebhookEndpoint, error) {
	var (
		e                       store.WebhookEndpoint
		events                  string
		prevSecret              sql.NullString
		prevExp, failing        sql.NullInt64
		cursor, created, update int64
	)
	if err := row.Scan(&e.ID, &e.AccountID, &e.AppID, &e.Name, &e.URL, &events, &e.Enabled, &e.Secret, &prevSecret,
		&prevExp, &cursor, &failing, &e.DisabledReason, &created, &update); err != nil {
		return store.WebhookEndpoint{}, err
	}
	var err error
	if e.Events, err = store.ParseWebhookEventsColumn(e.ID, events); err != nil {
		return store.WebhookEndpoint{}, err
	}
	e.PrevSecret = prevSecret.String
	e.PrevSecretExpiresAt = fromMicros(prevExp)
	e.Cursor = uint64(cursor)
	e.FailingSince = fromMicros(failing)
	e.CreatedAt = time.UnixMicro(created).UTC()
	e.UpdatedAt = time.UnixMicro(update).UTC()
	return e, nil
}

func (q Queries) WebhookEndpoint(ctx context.Context, t store.Tenant, id string) (store.WebhookEndpoint, error) {
	return one(q.Tx.QueryRow(ctx,
		`SELECT `+webhookEndpointCols+` FROM webhook_endpoints WHERE id = $1 AND account_id = $2 AND app_id = $3`,
		id, t.AccountID, t.AppID), "get webhook endpoint "+id, scanWebhookEndpoint)
}

func (q Queries) ListWebhookEndpoints(ctx context.Context, t store.Tenant) ([]store.WebhookEndpoint, error) {
	return q.webhookEndpoints(ctx, fmt.Sprintf("list the webhook endpoints of %s/%s", t.AccountID, t.AppID),
		`SELECT `+webhookEndpointCols+` FROM webhook_endpoints WHERE account_id = $1 AND app_id = $2 ORDER BY created_at, id`,
		t.AccountID, t.AppID)
}

func (q Queries) EnabledWebhookEndpoints(ctx context.Context) ([]store.WebhookEndpoint, error) {
	return q.webhookEndpoints(ctx, "list the enabled webhook endpoints",
		`SELECT `+webhookEndpointCols+` FROM webhook_endpoints WHERE enabled = TRUE ORDER BY id`)
}

func (q Queries) webhookEndpoints(ctx context.Context, what, query string, args ...any) ([]store.WebhookEndpoint, error) {
	rows, err := q.Tx.Query(ctx, query, args...)
	return collect(rows, err, what, scanWebhookEndpoint)
}

func (q Queries) CreateWebhookEndpoint(ctx context.Context, e store.WebhookEndpoint) error {
	what := "create webhook endpoint " + e.ID
	events, err := store.WebhookEventsColumn(e.Events)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	_, err = q.Tx.Exec(ctx, `INSERT INTO webhook_endpoints (`+webhookEndpointCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
		e.ID, e.AccountID, e.AppID, e.Name, e.URL, events, e.Enabled, e.Secret, NullText(e.PrevSecret),
		nullMicros(e.PrevSecretExpiresAt), int64(e.Cursor), nullMicros(e.FailingSince), e.DisabledReason,
		Micros(e.CreatedAt), Micros(e.UpdatedAt))
	if err != nil {
		return q.writeErr(what, err)
	}
	return nil
}

func (q Queries) UpdateWebhookEndpoint(ctx context.Context, e store.WebhookEndpoint) error {
	what := "update webhook endpoint " + e.ID
	events, err := store.WebhookEventsColumn(e.Events)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	n, err := q.Tx.Exec(ctx, `UPDATE webhook_endpoints SET name = $4, url = $5, events = $6,
		enabled = $7, secret = $8, prev_secret = $9, prev_secret_expires_at = $10, disabled_reason = $11, updated_at = $12
		WHERE id = $1 AND account_id = $2 AND app_id = $3`,
		e.ID, e.AccountID, e.AppID, e.Name, e.URL, events,
		e.Enabled, e.Secret, NullText(e.PrevSecret), nullMicros(e.PrevSecretExpiresAt), e.DisabledReason, Micros(e.UpdatedAt))
	return q.mustAffect(what, n, err)
}

func (q Queries) MoveWebhookCursor(ctx context.Context, t store.Tenant, id string, from, to uint64, failingSince time.Time) (bool, error) {
	what := fmt.Sprintf("move the cursor of webhook endpoint %s from %d to %d", id, from, to)
	n, err := q.Tx.Exec(ctx, `UPDATE webhook_endpoints SET cursor = $4, failing_since = $5
		WHERE id = $1 AND account_id = $2 AND app_id = $3 AND cursor = $6`,
		id, t.AccountID, t.AppID, int64(to), nullMicros(failingSince), int64(from))
	return q.cursorMoved(ctx, what, t, id, n, err)
}

// cursorMoved is the outcome of a compare-and-set UPDATE of an endpoint's cursor that
// affected n rows: moved, not moved (the condition did not hold), or ErrNotFound.
func (q Queries) cursorMoved(ctx context.Context, what string, t store.Tenant, id string, n int64, err error) (bool, error) {
	if err != nil {
		return false, fmt.Errorf("%s: %w", what, err)
	}
	if n > 0 {
		return true, nil
	}
	// Not moved: the condition did not hold, or there is no such endpoint.
	var one int64
	err = q.Tx.QueryRow(ctx, `SELECT 1 FROM webhook_endpoints WHERE id = $1 AND account_id = $2 AND app_id = $3`,
		id, t.AccountID, t.AppID).Scan(&one)
	if err != nil {
		return false, readErr(what, err)
	}
	return false, nil
}

func (q Queries) StepWebhookCursor(ctx context.Context, t store.Tenant, id string, from, to uint64, updatedAt time.Time) (bool, error) {
	what := fmt.Sprintf("step the cursor of webhook endpoint %s from %d to %d", id, from, to)
	n, err := q.Tx.Exec(ctx, `UPDATE webhook_endpoints SET cursor = $4
		WHERE id = $1 AND account_id = $2 AND app_id = $3 AND cursor = $5 AND updated_at = $6`,
		id, t.AccountID, t.AppID, int64(to), int64(from), Micros(updatedAt))
	return q.cursorMoved(ctx, what, t, id, n, err)
}

func (q Queries) DeleteWebhookEndpoint(ctx context.Context, t store.Tenant, id string) error {
	what := "delete webhook endpoint " + id
	n, err := q.Tx.Exec(ctx, `DELETE FROM webhook_endpoints WHERE id = $1 AND account_id = $2 AND app_id = $3`,
		id, t.AccountID, t.AppID)
	if err := q.mustAffect(what, n, err); err != nil {
		return err
	}
	if _, err := q.Tx.Exec(ctx, `DELETE FROM webhook_attempts WHERE endpoint_id = $1`, id); err != nil {
		return fmt.Errorf("%s: its delivery log: %w", what, err)
	}
	return nil
}

const webhookAttemptCols = `id, endpoint_id, account_id, app_id, at, seq, event_id, event_type, attempt, ` +
	`status_code, latency_us, error, response_body, outcome`

func (q Queries) WebhookAttempts(ctx context.Context, t store.Tenant, endpointID string, before uint64, limit int) ([]store.WebhookAttempt, error) {
	what := "read the delivery log of webhook endpoint " + endpointID
	bound := int64(math.MaxInt64) // before 0: no bound
	if before > 0 && before < math.MaxInt64 {
		bound = int64(before)
	}
	rows, err := q.Tx.Query(ctx, `SELECT `+webhookAttemptCols+` FROM webhook_attempts
		WHERE endpoint_id = $1 AND account_id = $2 AND app_id = $3 AND id < $4
		ORDER BY id DESC LIMIT $5`, endpointID, t.AccountID, t.AppID, bound, limitArg(limit))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	var out []store.WebhookAttempt
	for rows.Next() {
		var (
			a                  store.WebhookAttempt
			id, at, seq, latUS int64
			outcome            string
		)
		if err := rows.Scan(&id, &a.EndpointID, &a.AccountID, &a.AppID, &at, &seq, &a.EventID, &a.EventType, &a.Attempt,
			&a.StatusCode, &latUS, &a.Error, &a.ResponseBody, &outcome); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		a.ID, a.Sequence = uint64(id), uint64(seq)
		a.At = time.UnixMicro(at).UTC()
		a.Latency = time.Duration(latUS) * time.Microsecond
		a.Outcome = store.WebhookOutcome(outcome)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

func (q Queries) AppendWebhookAttempt(ctx context.Context, a *store.WebhookAttempt) error {
	what := "append to the delivery log of webhook endpoint " + a.EndpointID
	a.Error = store.WebhookText(a.Error, 0)
	a.ResponseBody = store.WebhookText(a.ResponseBody, store.MaxWebhookResponseBody)
	// INSERT ... SELECT from the endpoint, as PutRtmpClient: an attempt of an endpoint that
	// does not exist (deleted meanwhile) or is another tenant's inserts nothing: ErrNotFound.
	var id int64
	found, err := q.Tx.ExecRow(ctx, []any{&id}, `INSERT INTO webhook_attempts (endpoint_id, account_id, app_id, at, seq,
		event_id, event_type, attempt, status_code, latency_us, error, response_body, outcome)
		SELECT id, account_id, app_id, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13 FROM webhook_endpoints
		WHERE id = $1 AND account_id = $2 AND app_id = $3
		RETURNING id`,
		a.EndpointID, a.AccountID, a.AppID, Micros(a.At), int64(a.Sequence), a.EventID, a.EventType, a.Attempt,
		a.StatusCode, a.Latency.Microseconds(), a.Error, a.ResponseBody, string(a.Outcome))
	if err != nil {
		return q.writeErr(what, err)
	}
	if !found {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	a.ID = uint64(id)
	return nil
}

// SkipPruned is part of PruneEvents, before it deletes the events through `through`: a
// webhook endpoint (enabled or not) whose cursor is before one of its app's events among them
// will never be sent those events. Each such endpoint gets an entry in its delivery log saying
// which (failed, attempt 0, at now), and its cursor moves to through, so that the loss is
// told once, and a retry in progress (resumed from the log) is not taken up again.
func (q Queries) SkipPruned(ctx context.Context, through uint64, now time.Time) error {
	rows, err := q.Tx.Query(ctx, `SELECT id, account_id, app_id, cursor, failing_since,
		(SELECT MAX(v.seq) FROM events v WHERE v.account_id = e.account_id AND v.app_id = e.app_id AND v.seq > e.cursor AND v.seq <= $1)
		FROM webhook_endpoints e WHERE cursor < $1`, int64(through))
	if err != nil {
		return fmt.Errorf("webhook endpoints behind retention: %w", err)
	}
	type behind struct {
		t            store.Tenant
		id           string
		cursor, last int64
		failingSince time.Time
	}
	var bs []behind
	for rows.Next() {
		var (
			b       behind
			failing sql.NullInt64
			last    sql.NullInt64
		)
		if err := rows.Scan(&b.id, &b.t.AccountID, &b.t.AppID, &b.cursor, &failing, &last); err != nil {
			rows.Close()
			return fmt.Errorf("webhook endpoints behind retention: %w", err)
		}
		if last.Valid {
			b.last, b.failingSince = last.Int64, fromMicros(failing)
			bs = append(bs, b)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("webhook endpoints behind retention: %w", err)
	}
	for _, b := range bs {
		a := &store.WebhookAttempt{Tenant: b.t, EndpointID: b.id, At: now, Sequence: uint64(b.last), Outcome: store.WebhookFailed,
			Error: fmt.Sprintf("events after %d through %d were deleted by retention (--retention-max-age, --retention-max-events) before they were sent; the endpoint goes on after them", b.cursor, b.last)}
		if err := q.AppendWebhookAttempt(ctx, a); err != nil {
			return err
		}
		if _, err := q.MoveWebhookCursor(ctx, b.t, b.id, uint64(b.cursor), through, b.failingSince); err != nil {
			return err
		}
	}
	return nil
}

func (q Queries) PruneWebhookAttempts(ctx context.Context, before time.Time) (int, error) {
	n, err := q.Tx.Exec(ctx, `DELETE FROM webhook_attempts WHERE at < $1`, Micros(before))
	if err != nil {
		return 0, fmt.Errorf("prune the webhook delivery logs: %w", err)
	}
	return int(n), nil
}
