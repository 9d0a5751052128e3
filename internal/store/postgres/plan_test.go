package postgres

import (
	"strings"
	"testing"

	"github.com/livegate/livegate/internal/store/queries"
	"github.com/livegate/livegate/internal/testenv"
)

// TestDeliveryLookupPlan: the dedupe lookups find a delivery's events through the unique
// dedupe index and the partial events_by_delivery (its predicate is implied by the query's
// branch), on a table of one tenant's 20,000 100ms-like events and 2,000 Amity-like ones
// (analyzed), without a sequential scan.
func TestDeliveryLookupPlan(t *testing.T) {
	s := openT(t, testenv.PostgresDB(t))
	_, err := s.Pool().Exec(t.Context(), `INSERT INTO events (seq, account_id, app_id, source, type, delivery_id, dedupe_key, received_at, body)
		SELECT i, 'acc', 'app', 'hms', 'peer.join.success', 'd-' || i, 'd-' || i, i, '\x00'::bytea FROM generate_series(1, 20000) i
		UNION ALL
		SELECT 20000 + i, 'acc', 'app', 'amity', 'live.started', 'a-' || (i / 2), 'a-' || i, i, '\x00'::bytea FROM generate_series(1, 2000) i`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Pool().Exec(t.Context(), `ANALYZE events`); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{queries.DeliveryQuery(`seq`), queries.DeliveryQuery(queries.EventColumns)} {
		tx, err := s.Pool().Begin(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		rows, err := tx.Query(t.Context(), `EXPLAIN `+q, "acc", "app", "hms", "d-17")
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, line)
		}
		rows.Close()
		_ = tx.Rollback(t.Context())
		all := strings.Join(plan, "\n")
		t.Logf("%s\n%s", q, all)
		if strings.Contains(all, "Seq Scan") || !strings.Contains(all, "events_by_delivery") || !strings.Contains(all, "dedupe_key_key") {
			t.Errorf("plan of %s:\n%s\nwant both indexes, no sequential scan", q, all)
		}
	}
}
