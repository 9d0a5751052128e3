package sqlite

import (
	"strings"
	"testing"

	"github.com/livegate/livegate/internal/store/queries"
)

// TestDeliveryLookupPlan: the dedupe lookups find a delivery's events through the indexes
// (the unique dedupe key's and the partial events_by_delivery), never by scanning events.
func TestDeliveryLookupPlan(t *testing.T) {
	s := openT(t, t.TempDir())
	for _, q := range []string{
		queries.DeliveryQuery(`seq`),
		queries.DeliveryQuery(queries.EventColumns),
	} {
		rows, err := s.r.QueryContext(t.Context(), `EXPLAIN QUERY PLAN `+q, "acc", "app", "hms", "d-1")
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		all := strings.Join(plan, "\n")
		t.Logf("%s\n%s", q, all)
		if strings.Contains(all, "SCAN events") || !strings.Contains(all, "events_by_delivery") || !strings.Contains(all, "sqlite_autoindex_events") {
			t.Errorf("plan of %s:\n%s\nwant both indexes searched, no scan of events", q, all)
		}
	}
}
