package sqlite

import (
	"strings"
	"testing"

	"github.com/livegate/livegate/internal/store/queries"
)

// queryPlan is SQLite's EXPLAIN QUERY PLAN of q with args, a line per step.
func queryPlan(t *testing.T, s *Store, q string, args ...any) string {
	t.Helper()
	rows, err := s.r.QueryContext(t.Context(), `EXPLAIN QUERY PLAN `+q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(plan, "\n")
}

// TestLivestreamByProviderIDPlan: an Amity stream's livestream is found through the provider
// index, not by walking the tenant's livestreams (by creation time, as the query's ORDER BY
// led SQLite to until 2026-11-29: with 15,000 livestreams in an app, an Amity delivery of
// 8,000 streams held the write transaction for 412 s).
func TestLivestreamByProviderIDPlan(t *testing.T) {
	s := openT(t, t.TempDir())
	all := queryPlan(t, s, queries.LivestreamByProviderIDQuery, "acc", "app", "amity", "stream-1")
	if !strings.Contains(all, "livestreams_provider") || !strings.Contains(all, "provider_id=?") || strings.Contains(all, "TEMP B-TREE") {
		t.Errorf("plan:\n%s\nwant a search of a provider index on all four columns, and no sort", all)
	}
}

// TestDeliveryLookupPlan: the dedupe lookups find a delivery's events through the indexes
// (the unique dedupe key's and the partial events_by_delivery), never by scanning events.
func TestDeliveryLookupPlan(t *testing.T) {
	s := openT(t, t.TempDir())
	for _, q := range []string{
		queries.DeliveryQuery(`seq`),
		queries.DeliveryQuery(queries.EventColumns),
	} {
		all := queryPlan(t, s, q, "acc", "app", "hms", "d-1")
		t.Logf("%s\n%s", q, all)
		if strings.Contains(all, "SCAN events") || !strings.Contains(all, "events_by_delivery") || !strings.Contains(all, "sqlite_autoindex_events") {
			t.Errorf("plan of %s:\n%s\nwant both indexes searched, no scan of events", q, all)
		}
	}
}

// TestSessionTotalsPlan: analytics find a tenant's sessions by when they began through the
// index on that very expression, not by scanning the tenant's sessions.
func TestSessionTotalsPlan(t *testing.T) {
	s := openT(t, t.TempDir())
	all := queryPlan(t, s, queries.SessionTotalsQuery, "acc", "app", 0, 1)
	if !strings.Contains(all, "livestream_sessions_tenant_began") || !strings.Contains(all, "<expr>>?") {
		t.Errorf("plan:\n%s\nwant a range search of livestream_sessions_tenant_began", all)
	}
}
