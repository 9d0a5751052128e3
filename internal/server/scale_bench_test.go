package server_test

import (
	"bytes"
	"io"
	"net/http"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/livegate/livegate/internal/server"
	"github.com/livegate/livegate/internal/testenv"
)

// BenchmarkScale compares the backends side by side, every server in this process (they
// share the 2 cores with the senders, the subscribers and PostgreSQL itself):
//
//   - deliveries/...: durable 100ms webhook deliveries per second over real HTTP, 64
//     concurrent senders, each delivery a new one (committed before its 200): on SQLite,
//     on PostgreSQL with one node, and on PostgreSQL with three nodes on one database, the
//     senders' requests spread over the nodes round-robin.
//   - feed-latency/...: from a node's 200 to a gRPC subscriber on another node receiving the
//     event (the second node follows the log: NOTIFY after commit, LISTEN, a read of the
//     events table), p50 and p99 in ms, as BenchmarkFeed's latency (4 senders, batches of 500).
//
// The deliveries run on a PostgreSQL cluster of their own with durability on (fsync and full
// page writes, testenv.NewDurableCluster: initdb in a temporary directory, on this machine),
// so that its commits are flushed to disk as SQLite's are (synchronous=FULL); the feed
// latency runs on the tests' throwaway cluster. Numbers are reported, never asserted.
func BenchmarkScale(b *testing.B) {
	durable, err := testenv.NewDurableCluster()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = durable.Stop() })
	durableDB := func(b *testing.B) string {
		dsn, err := durable.CreateDatabase(b.Context())
		if err != nil {
			b.Fatal(err)
		}
		return dsn
	}
	b.Run("deliveries/sqlite", func(b *testing.B) {
		benchScaleDeliveries(b, []*testServer{startServer(b, b.TempDir())})
	})
	b.Run("deliveries/postgres-1-node", func(b *testing.B) {
		benchScaleDeliveries(b, pgNodesOn(b, durableDB(b), 1, nil))
	})
	b.Run("deliveries/postgres-3-nodes", func(b *testing.B) {
		benchScaleDeliveries(b, pgNodesOn(b, durableDB(b), 3, nil))
	})
	b.Run("feed-latency/postgres-2-nodes", func(b *testing.B) {
		nodes := pgNodes(b, 2, func(c *server.Config) { c.Feed.MaxPerApp, c.Feed.MaxSubscriptions = -1, -1 })
		benchFeedLatencyOn(b, 1, nodes[0], nodes[1])
	})
}

// pgNodes starts n servers on one fresh database of the tests' PostgreSQL cluster.
func pgNodes(b *testing.B, n int, tune func(*server.Config)) []*testServer {
	return pgNodesOn(b, testenv.PostgresDB(b), n, tune)
}

// pgNodesOn starts n servers on the PostgreSQL database dsn.
func pgNodesOn(b *testing.B, dsn string, n int, tune func(*server.Config)) []*testServer {
	nodes := make([]*testServer, n)
	for i := range nodes {
		nodes[i] = startServer(b, b.TempDir(), func(c *server.Config) {
			c.DatabaseURL = dsn
			if tune != nil {
				tune(c)
			}
		})
	}
	return nodes
}

// benchScaleDeliveries posts new 100ms deliveries from 64 concurrent senders, spread over
// nodes round-robin, and reports deliveries/s.
func benchScaleDeliveries(b *testing.B, nodes []*testServer) {
	const senders = 64
	creds := nodes[0].createApp(accA, appA)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: senders, MaxConnsPerHost: senders}}
	var next atomic.Uint64
	var failed atomic.Int64
	var firstErr atomic.Value
	b.SetParallelism(max(1, senders/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			node := nodes[next.Add(1)%uint64(len(nodes))]
			body := hmsDelivery("peer.join.success", time.Now(), `{"room_id":"bench","peer_id":"`+uuid.NewString()+`"}`)
			req, _ := http.NewRequest("POST", node.base+hmsPath(accA, appA), bytes.NewReader(body))
			req.Header.Set("X-Webhook-Secret", creds.WebhookSecret)
			resp, err := client.Do(req)
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
				continue
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, resp.Status+" "+string(raw))
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
	b.ReportMetric(0, "ns/op")
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d of %d deliveries failed, the first: %v", n, b.N, firstErr.Load())
	}
}
