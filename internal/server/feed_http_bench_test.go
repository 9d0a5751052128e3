package server_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livegate/livegate/internal/server"
)

// BenchmarkFeedNDJSON: N subscribers of events:stream (NDJSON over HTTP, each a gRPC client
// of the server inside the gateway), one op a batch of 200 webhook deliveries posted by 4
// senders, done when every subscriber has the batch's last event. The subscribers only find
// each line's sequence (no JSON decoding), so the figure is mostly the server's: gRPC
// fan-out, the gateway's decode and its JSON rendering. Reported: event lines delivered to
// subscribers per second.
func BenchmarkFeedNDJSON(b *testing.B) {
	for _, n := range []int{100} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) { benchFeedNDJSON(b, n) })
	}
}

func benchFeedNDJSON(b *testing.B, n int) {
	const batch, senders = 200, 4
	s := startServer(b, b.TempDir(), func(c *server.Config) { c.Feed.MaxPerApp, c.Feed.MaxSubscriptions = -1, -1 })
	ft := newFeedTenant(s, accA, appA)
	// A stream answers its headers with its first line: each replays this event first.
	warm, err := postHMS(s.base, ft, hmsBody("peer.join.success", "room-bench", -1))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 0, MaxIdleConnsPerHost: n}}
	last := make([]atomic.Uint64, n)
	var lines atomic.Int64
	for i := range n {
		url := fmt.Sprintf("%s/accounts/%s/realtime/kit/%s/events:stream?after_sequence=%d", s.base, ft.acc, ft.app, warm-1)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+ft.token)
		resp, err := client.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("GET %s: %v %v", url, resp, err)
		}
		wg.Go(func() {
			defer resp.Body.Close()
			sc := bufio.NewScanner(resp.Body)
			sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
			key := []byte(`"sequence":"`)
			for sc.Scan() {
				l := sc.Bytes()
				j := bytes.Index(l, key)
				if j < 0 {
					continue // progress
				}
				l = l[j+len(key):]
				seq, err := strconv.ParseUint(string(l[:bytes.IndexByte(l, '"')]), 10, 64)
				if err != nil {
					return
				}
				last[i].Store(seq)
				lines.Add(1)
			}
		})
	}
	waitAll := func(seq uint64) {
		deadline := time.Now().Add(2 * time.Minute)
		for i := range last {
			for last[i].Load() < seq {
				if time.Now().After(deadline) {
					b.Fatalf("a subscriber is at %d, want %d", last[i].Load(), seq)
				}
				time.Sleep(100 * time.Microsecond)
			}
		}
	}
	waitAll(warm)
	lines.Store(0)
	deliveries := 0
	for b.Loop() {
		var top atomic.Uint64
		var sw sync.WaitGroup
		for g := range senders {
			sw.Go(func() {
				for i := g; i < batch; i += senders {
					seq, err := postHMS(s.base, ft, hmsBody("peer.join.success", "room-bench", deliveries+i))
					if err != nil {
						b.Error(err)
						return
					}
					for old := top.Load(); seq > old && !top.CompareAndSwap(old, seq); old = top.Load() {
					}
				}
			})
		}
		sw.Wait()
		if b.Failed() {
			b.FailNow()
		}
		deliveries += batch
		waitAll(top.Load())
	}
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(lines.Load())/b.Elapsed().Seconds(), "delivered-lines/s")
}
