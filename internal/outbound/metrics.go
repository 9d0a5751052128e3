package outbound

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livegate/livegate/internal/store"
)

type engineMetrics struct {
	attempts *prometheus.CounterVec
	latency  prometheus.Histogram
	lagging  prometheus.GaugeFunc
	slots    prometheus.GaugeFunc
	nodes    prometheus.GaugeFunc
}

func newEngineMetrics(e *Engine) *engineMetrics {
	m := &engineMetrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "livegate_webhooks_out_attempts_total",
			Help: "Outbound webhook delivery attempts (pings included), by outcome: succeeded, retrying (failed, tried again later), failed (given up).",
		}, []string{"outcome"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "livegate_webhooks_out_latency_seconds",
			Help:    "How long outbound webhook requests took, from sending to the end of the answer (or the failure).",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
	}
	for _, o := range []store.WebhookOutcome{store.WebhookSucceeded, store.WebhookRetrying, store.WebhookFailed} {
		m.attempts.WithLabelValues(string(o))
	}
	// A gauge read from the engine's state, under its lock.
	locked := func(name, help string, read func() int) prometheus.GaugeFunc {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 {
			e.mu.Lock()
			defer e.mu.Unlock()
			return float64(read())
		})
	}
	m.lagging = locked("livegate_webhooks_out_endpoints_lagging",
		"Endpoints this node delivers that have a matching event not yet delivered or given up (their cursor is behind the feed's head).",
		func() int {
			n := 0
			for _, w := range e.workers {
				if w.lagging.Load() {
					n++
				}
			}
			return n
		})
	m.slots = locked("livegate_webhooks_out_slots_held",
		"Delivery slots (of 16) whose endpoints this node delivers; on PostgreSQL the nodes share them out.",
		e.holding)
	m.nodes = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "livegate_webhooks_out_nodes",
		Help: "Nodes sharing the delivery slots, as this node last counted them (1 on SQLite).",
	}, func() float64 { return float64(e.nodes.Load()) })
	return m
}

func (m *engineMetrics) attempt(o store.WebhookOutcome, d time.Duration) {
	m.attempts.WithLabelValues(string(o)).Inc()
	m.latency.Observe(d.Seconds())
}

// Collectors are the engine's metrics, to register.
func (e *Engine) Collectors() []prometheus.Collector {
	return []prometheus.Collector{e.m.attempts, e.m.latency, e.m.lagging, e.m.slots, e.m.nodes}
}
