package server_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
)

// BenchmarkWebhookDeliveries reports webhook deliveries per second over real HTTP with 16
// concurrent senders: livegate (authenticated, decoded, deduplicated, projected, committed
// durably before the 200) beside a bare HTTP handler on this machine that only decodes the JSON
// (the ceiling: what HTTP and JSON alone cost here).
func BenchmarkWebhookDeliveries(b *testing.B) {
	const senders = 16
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: senders, MaxConnsPerHost: senders}}
	run := func(b *testing.B, url string, headers map[string]string) {
		var failed atomic.Int64
		b.SetParallelism(max(1, senders/runtime.GOMAXPROCS(0))) // 16 senders in all
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				body := hmsDelivery("peer.join.success", time.Now(), `{"room_id":"bench","peer_id":"`+uuid.NewString()+`"}`)
				req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
				for k, v := range headers {
					req.Header.Set(k, v)
				}
				resp, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
		if n := failed.Load(); n > 0 {
			b.Fatalf("%d deliveries failed", n)
		}
	}

	b.Run("livegate-durable", func(b *testing.B) {
		s := startServer(b, b.TempDir())
		creds := s.createApp(accA, appA)
		run(b, s.base+hmsPath(accA, appA), map[string]string{"X-Webhook-Secret": creds.WebhookSecret})
	})
	b.Run("bare-json-decode", func(b *testing.B) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var v map[string]any
			if err := json.NewDecoder(r.Body).Decode(&v); err != nil {
				http.Error(w, err.Error(), 400)
				return
			}
			w.Write([]byte(`{"sequence":"1"}`))
		})}
		go srv.Serve(ln)
		defer srv.Close()
		run(b, "http://"+ln.Addr().String()+"/", nil)
	})
}
