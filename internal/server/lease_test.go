package server_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/livegate/livegate/internal/outbound"
	"github.com/livegate/livegate/internal/server"
	"github.com/livegate/livegate/internal/testenv"
)

// TestJobsRunOnOneNode: two nodes on one PostgreSQL database: retention, the RTMP reaper
// and each slot of outbound webhook endpoints are each run under a lease that exactly one
// of them holds; and each node holds its own lease under outbound.NodeLeases (the nodes
// count those to share the slots out).
func TestJobsRunOnOneNode(t *testing.T) {
	dsn := testenv.PostgresDB(t)
	for range 2 {
		startServer(t, t.TempDir(), func(c *server.Config) {
			c.DatabaseURL = dsn
			c.Retention.MaxEvents = 1000
		})
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)
	nodeLeases := "livegate lease " + outbound.NodeLeases
	holders := func() map[string]int {
		rows, err := conn.Query(ctx, `SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid)
			WHERE l.locktype = 'advisory' AND l.granted
			  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
			  AND a.application_name LIKE 'livegate lease %'`)
		if err != nil {
			t.Fatalf("read the leases: %v", err)
		}
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatalf("read the leases: %v", err)
		}
		m := map[string]int{}
		for _, n := range names {
			if strings.HasPrefix(n, nodeLeases) {
				n = nodeLeases + "*" // one per node, each its own name
			}
			m[n]++
		}
		return m
	}
	want := map[string]int{"livegate lease " + server.LeaseRetention: 1, "livegate lease " + server.LeaseRtmpReaper: 1, nodeLeases + "*": 2}
	for i := range outbound.Slots { // outbound webhooks: each slot's endpoints are delivered by one node
		want["livegate lease "+outbound.SlotLease(i)] = 1
	}
	same := func(m map[string]int) bool {
		if len(m) != len(want) {
			return false
		}
		for k, v := range want {
			if m[k] != v {
				return false
			}
		}
		return true
	}
	deadline := time.Now().Add(10 * time.Second)
	for m := holders(); !same(m); m = holders() {
		if time.Now().After(deadline) {
			t.Fatalf("lease holders = %v, want %v", m, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for range 10 { // and it stays so
		time.Sleep(50 * time.Millisecond)
		if m := holders(); !same(m) {
			t.Fatalf("lease holders = %v, want %v", m, want)
		}
	}
}
