// Package metrics holds livegate's Prometheus instruments, on a registry of their own (not
// the global default), and the hooks the other packages call to move them.
//
// Every method is safe on a nil *Metrics (it does nothing), so that packages and tests that
// run without metrics need no special case. Label values are bounded: route patterns (never
// paths), methods, status codes, sources, outcomes, faces, statuses; no ids, no tenants.
// The hot path (the feed's sends, the commit path) only adds to counters and histograms,
// which are atomic operations on instruments resolved once, without allocating.
package metrics

import (
	"net/http"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Sources of ingest deliveries (the `source` label).
const (
	SourceHMS   = "hms"
	SourceAmity = "amity"
	SourceRTMP  = "rtmp"
)

// Outcomes of an ingest delivery (the `outcome` label).
const (
	OutcomeAccepted        = "accepted"        // stored (a new delivery)
	OutcomeDuplicate       = "duplicate"       // already stored: nothing new written
	OutcomeIgnored         = "ignored"         // acknowledged, nothing to store (Amity's legacy copy, an RTMP call with nothing to record)
	OutcomeUnauthenticated = "unauthenticated" // missing or wrong secret or signature (an unknown tenant is answered as one), or an RTMP client refused
	OutcomeInvalid         = "invalid"         // malformed ids or body, refused by validation, a 404 or 409 for what it names
	OutcomeTooLarge        = "too_large"       // over a size limit
	OutcomeError           = "error"           // failed on livegate's side (storage, overload, cancelled)
)

var (
	sources  = []string{SourceHMS, SourceAmity, SourceRTMP}
	outcomes = []string{OutcomeAccepted, OutcomeDuplicate, OutcomeIgnored, OutcomeUnauthenticated, OutcomeInvalid, OutcomeTooLarge, OutcomeError}
)

// Faces of a feed subscription (the `face` label).
const (
	FaceGRPC   = "grpc"
	FaceNDJSON = "ndjson"
	FaceSSE    = "sse"
)

// Event sources counted by livegate_feed_events_appended_total; anything else is "other".
var appendSources = []string{"hms", "amity", "rtmp", "livegate"}

// Metrics is livegate's set of instruments and their registry.
type Metrics struct {
	reg  *prometheus.Registry
	grpc *grpcprom.ServerMetrics
	// subscribeSent counts the Subscribe messages sent past the interceptors (see
	// SubscribeSender); they are added to grpc_server_msg_sent_total (grpcCollector).
	subscribeSent atomic.Uint64

	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec

	deliveries      *prometheus.CounterVec
	requestToCommit *prometheus.HistogramVec
	commitBatch     prometheus.Histogram
	commitDuration  prometheus.Histogram
	appended        [5]prometheus.Counter // appendSources, then "other"

	subscriptions *prometheus.GaugeVec
	faces         [3]prometheus.Gauge // grpc, ndjson, sse
	sent          prometheus.Counter
	fallbacks     prometheus.Counter
	lag           prometheus.Histogram
	pruned        prometheus.Counter
	connsRefused  *prometheus.CounterVec
}

// New returns the instruments, registered on a new registry with the Go runtime and
// process collectors and livegate_build_info.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.grpc = grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram(
		grpcprom.WithHistogramBuckets([]float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}),
	))
	m.httpRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "livegate_http_requests_total",
		Help: "HTTP requests answered by the REST face, by route pattern (\"unmatched\": no route, or refused before routing; \"cors-preflight\": a CORS preflight), method and status code.",
	}, []string{"route", "method", "code"})
	m.httpDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "livegate_http_request_duration_seconds",
		Help:    "Time from an HTTP request's arrival to the end of its answer (a subscription: its whole life), by route pattern and method.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
	}, []string{"route", "method"})
	m.deliveries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "livegate_ingest_deliveries_total",
		Help: "Provider deliveries (100ms and Amity webhooks, nginx-rtmp callbacks) by source and outcome.",
	}, []string{"source", "outcome"})
	m.requestToCommit = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "livegate_ingest_request_to_commit_seconds",
		Help:    "Time from an accepted delivery reaching the gRPC server to its events being committed, by source.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"source"})
	m.commitBatch = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "livegate_store_commit_batch_size",
		Help:    "Writes (store Updates) committed together in one transaction by the group committer.",
		Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256},
	})
	m.commitDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "livegate_store_commit_duration_seconds",
		Help:    "Time to run and commit one group of writes (the transaction, its savepoints and the durable commit).",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	})
	appended := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "livegate_feed_events_appended_total",
		Help: "Events this process committed to the feed, by source (hms, amity, rtmp, livegate).",
	}, []string{"source"})
	for i, s := range append(appendSources, "other") {
		m.appended[i] = appended.WithLabelValues(s)
	}
	m.subscriptions = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "livegate_feed_subscriptions",
		Help: "Live event subscriptions (accepted, not yet ended), by face: grpc (Subscribe), ndjson (events:stream), sse (events/sse).",
	}, []string{"face"})
	for i, f := range []string{FaceGRPC, FaceNDJSON, FaceSSE} {
		m.faces[i] = m.subscriptions.WithLabelValues(f)
	}
	m.sent = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "livegate_feed_events_sent_total",
		Help: "Events handed to subscribers (replayed from the store or live), all faces.",
	})
	m.fallbacks = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "livegate_feed_fallbacks_total",
		Help: "Times a subscriber's live queue overflowed (it read too slowly) and it fell back to reading the store.",
	})
	m.lag = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "livegate_feed_send_lag_events",
		Help:    "How many sequences behind the feed's head an event is when it is sent to a subscriber.",
		Buckets: []float64{0, 1, 10, 100, 1000, 10000, 100000, 1e6},
	})
	m.connsRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "livegate_connections_refused_total",
		Help: "Connections closed as soon as accepted because their client address already held its share (--http-max-conns-per-client, --grpc-max-conns-per-client), by listener (http, grpc).",
	}, []string{"listener"})
	for _, l := range []string{"http", "grpc"} {
		m.connsRefused.WithLabelValues(l)
	}
	m.pruned = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "livegate_feed_events_pruned_total",
		Help: "Events deleted by retention (--retention-max-age, --retention-max-events) by this process.",
	})
	for _, s := range sources {
		for _, o := range outcomes {
			m.deliveries.WithLabelValues(s, o)
		}
	}
	version, commit := Build()
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "livegate_build_info",
			Help:        "Always 1; the labels say which livegate this is.",
			ConstLabels: prometheus.Labels{"version": version, "commit": commit, "goversion": runtime.Version()},
		}, func() float64 { return 1 }),
		newGRPCCollector(m.grpc, &m.subscribeSent), m.httpRequests, m.httpDuration,
		m.deliveries, m.requestToCommit, m.commitBatch, m.commitDuration, appended,
		m.subscriptions, m.sent, m.fallbacks, m.lag, m.pruned, m.connsRefused,
	)
	return m
}

// Registry is where the instruments are registered (to add collectors, or gather).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus text format (or OpenMetrics, if asked).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// GRPC is the gRPC server's instruments (grpc_server_*): its interceptors go first in both
// servers' chains.
func (m *Metrics) GRPC() *grpcprom.ServerMetrics { return m.grpc }

// GaugeFunc registers a gauge read when scraped (such as the feed's head).
func (m *Metrics) GaugeFunc(name, help string, f func() float64) {
	if m == nil {
		return
	}
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
}

// CounterFunc registers a counter read when scraped.
func (m *Metrics) CounterFunc(name, help string, f func() float64) {
	if m == nil {
		return
	}
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, f))
}

// ConnRefused counts a connection of listener ("http", "grpc") refused for its address.
func (m *Metrics) ConnRefused(listener string) {
	if m == nil {
		return
	}
	m.connsRefused.WithLabelValues(listener).Inc()
}

// Delivery counts one provider delivery's outcome.
func (m *Metrics) Delivery(source, outcome string) {
	if m == nil {
		return
	}
	m.deliveries.WithLabelValues(source, outcome).Inc()
}

// Committed observes one group commit: how many writes it held, and how long it took.
func (m *Metrics) Committed(writes int, d time.Duration) {
	if m == nil {
		return
	}
	m.commitBatch.Observe(float64(writes))
	m.commitDuration.Observe(d.Seconds())
}

// Appended counts one event committed by this process, by its source.
func (m *Metrics) Appended(source string) {
	if m == nil {
		return
	}
	for i, s := range appendSources {
		if s == source {
			m.appended[i].Inc()
			return
		}
	}
	m.appended[len(appendSources)].Inc()
}

// Sent counts one event sent to a subscriber, lag sequences behind the head.
func (m *Metrics) Sent(lag uint64) {
	if m == nil {
		return
	}
	m.sent.Inc()
	m.lag.Observe(float64(lag))
}

// FellBack counts a subscriber falling back to the store.
func (m *Metrics) FellBack() {
	if m == nil {
		return
	}
	m.fallbacks.Inc()
}

// Pruned counts events deleted by retention.
func (m *Metrics) Pruned(n int) {
	if m == nil || n <= 0 {
		return
	}
	m.pruned.Add(float64(n))
}

// face returns the gauge of a face (FaceGRPC, FaceNDJSON, FaceSSE).
func (m *Metrics) face(f string) prometheus.Gauge {
	switch f {
	case FaceSSE:
		return m.faces[2]
	case FaceNDJSON:
		return m.faces[1]
	default:
		return m.faces[0]
	}
}

// Build returns livegate's version (the main module's, "(devel)" when built from a work
// tree) and the VCS commit it was built from ("unknown" if not recorded), from the binary's
// build information.
func Build() (version, commit string) {
	version, commit = "(devel)", "unknown"
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return version, commit
	}
	if v := bi.Main.Version; v != "" {
		version = v
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && s.Value != "" {
			commit = s.Value
		}
	}
	return version, commit
}
