package metrics

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livegate/livegate/internal/store"
)

// StateCacheFor is how long the state gauges reuse one reading of the store: scrapes more
// frequent than this (several Prometheus servers, a curl loop) cost no extra query.
const StateCacheFor = 5 * time.Second

// stateTimeout bounds one reading of the store during a scrape.
const stateTimeout = 2 * time.Second

// State registers the state gauges, read from c when scraped (at most once per
// StateCacheFor): livegate_livestreams{status} and livegate_rtmp_clients{role}. When the
// store cannot be read they are left out of the scrape (the readiness check says why).
func (m *Metrics) State(c store.Counter) {
	if m == nil || c == nil {
		return
	}
	m.reg.MustRegister(&stateCollector{
		counter: c,
		livestreams: prometheus.NewDesc("livegate_livestreams",
			"Livestreams by status (IDLE, INVOKED, LIVE, ERRORED), all tenants, read from the store.", []string{"status"}, nil),
		rtmp: prometheus.NewDesc("livegate_rtmp_clients",
			"RTMP clients nginx-rtmp reported and that have not gone, by role (publisher, viewer), read from the store.", []string{"role"}, nil),
	})
}

type stateCollector struct {
	counter           store.Counter
	livestreams, rtmp *prometheus.Desc

	mu     sync.Mutex
	at     time.Time
	counts store.Counts
	ok     bool
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.livestreams
	ch <- c.rtmp
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	if time.Since(c.at) >= StateCacheFor {
		ctx, cancel := context.WithTimeout(context.Background(), stateTimeout)
		counts, err := c.counter.Counts(ctx)
		cancel()
		c.at, c.counts, c.ok = time.Now(), counts, err == nil
	}
	counts, ok := c.counts, c.ok
	c.mu.Unlock()
	if !ok {
		return
	}
	for _, st := range store.Statuses {
		ch <- prometheus.MustNewConstMetric(c.livestreams, prometheus.GaugeValue, float64(counts.Livestreams[st]), string(st))
	}
	ch <- prometheus.MustNewConstMetric(c.rtmp, prometheus.GaugeValue, float64(counts.RtmpPublishers), "publisher")
	ch <- prometheus.MustNewConstMetric(c.rtmp, prometheus.GaugeValue, float64(counts.RtmpViewers), "viewer")
}
