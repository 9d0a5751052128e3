package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// serverMemory is what bench feed --admin reads of the server from its admin listener.
type serverMemory struct {
	heap, stacks  float64 // go_memstats_heap_inuse_bytes, go_memstats_stack_inuse_bytes
	goroutines    float64 // go_goroutines
	subscriptions float64 // livegate_feed_subscriptions, every face
}

// idleCost is what `bench feed --admin` reports: the server's memory per open, idle
// subscription.
type idleCost struct {
	HeapBytes       float64 `json:"heap_bytes"`       // whole bytes
	StackBytes      float64 `json:"stack_bytes"`      // whole bytes
	Goroutines      float64 `json:"goroutines"`       // to 0.001
	TotalKB         float64 `json:"total_kb"`         // heap and stacks, KB (1,000 bytes) to 0.1
	OpenSubscribers int     `json:"open_subscribers"` // what the figures are divided by
}

func (c idleCost) String() string {
	return fmt.Sprintf("%.1f KB a subscription (heap %.1f KB, goroutine stacks %.1f KB, %.2f goroutines), from %d open",
		c.TotalKB, c.HeapBytes/1e3, c.StackBytes/1e3, c.Goroutines, c.OpenSubscribers)
}

// adminURL checks --admin: an http(s) base URL (a path is kept as its prefix).
func adminURL(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSuffix(raw, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--admin %q: want the admin listener's base URL, like http://localhost:9091", raw)
	}
	return u, nil
}

// readServerMemory collects the server's garbage twice (the heap profile's gc=1: the second
// collection frees what the first one's finalizers let go), then reads its metrics.
func readServerMemory(ctx context.Context, client *http.Client, admin *url.URL) (serverMemory, error) {
	get := func(path string) ([]byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, admin.String()+path, nil)
		if err != nil {
			return nil, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("GET %s: %s", path, resp.Status)
		}
		return body, err
	}
	for range 2 {
		if _, err := get("/debug/pprof/heap?gc=1"); err != nil {
			return serverMemory{}, err
		}
	}
	body, err := get("/metrics")
	if err != nil {
		return serverMemory{}, err
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		return serverMemory{}, fmt.Errorf("GET /metrics: %w", err)
	}
	var m serverMemory
	for name, dst := range map[string]*float64{
		"go_memstats_heap_inuse_bytes":  &m.heap,
		"go_memstats_stack_inuse_bytes": &m.stacks,
		"go_goroutines":                 &m.goroutines,
		"livegate_feed_subscriptions":   &m.subscriptions,
	} {
		f := families[name]
		if f == nil {
			return serverMemory{}, fmt.Errorf("GET /metrics: no %s (is this livegate's admin listener?)", name)
		}
		for _, s := range f.GetMetric() { // gauges all, by face for the subscriptions
			*dst += s.GetGauge().GetValue()
		}
	}
	return m, nil
}

// idleCostOf is the server's memory per subscription: the growth from base, read before the
// n subscriptions opened, to open, read with them open and idle (every event received).
// Whatever else the server held at either read is in both, if the run's posting left
// nothing open: the poster's idle connections are closed before the second read.
func idleCostOf(base, open serverMemory, n int) (idleCost, error) {
	if d := open.subscriptions - base.subscriptions; d != float64(n) {
		return idleCost{}, fmt.Errorf("the server's subscriptions went from %.0f to %.0f, not up by %d: other clients came or went, and the figures would not be per subscription",
			base.subscriptions, open.subscriptions, n)
	}
	per := func(a, b float64) float64 { return (a - b) / float64(n) }
	heap, stacks := per(open.heap, base.heap), per(open.stacks, base.stacks)
	return idleCost{
		HeapBytes:       math.Round(heap),
		StackBytes:      math.Round(stacks),
		Goroutines:      math.Round(per(open.goroutines, base.goroutines)*1000) / 1000,
		TotalKB:         math.Round((heap+stacks)/100) / 10,
		OpenSubscribers: n,
	}, nil
}
