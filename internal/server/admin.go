package server

import (
	"context"
	"fmt"
	"net/http"
	"net/http/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livegate/livegate/internal/feed"
	"github.com/livegate/livegate/internal/metrics"
	"github.com/livegate/livegate/internal/store"
)

// The admin listener (Config.AdminAddr) serves what operators and their tools read:
//
//	/metrics       Prometheus text format (livegate's own registry)
//	/livez         200 while the process runs
//	/readyz        200 when the store answers a query, the feed follows the log, and (on
//	               PostgreSQL) this node's clock agrees with the database's or (on SQLite)
//	               the database file is the one opened; else
//	               503 with the reason (and while shutting down)
//	/debug/pprof/  the standard profiles (not cmdline: it may hold secrets)
//
// It is meant for a private network or loopback (the default): nothing on it is
// authenticated.

// FollowGrace is how long the feed may stay behind a head the store reported before
// /readyz says it is not following the log. Followers read the log at least every second.
const FollowGrace = 10 * time.Second

// readyTimeout bounds the store query of one readiness check.
const readyTimeout = 2 * time.Second

// readiness answers /readyz.
type readiness struct {
	store    store.Store
	hub      *feed.Hub
	shutting atomic.Bool

	mu      sync.Mutex
	pending uint64    // a store head the hub had not reached when it was read (0: none)
	since   time.Time // when pending was read
	now     func() time.Time
}

// check returns why the server is not ready ("" when it is).
func (r *readiness) check(ctx context.Context) string {
	if r.shutting.Load() {
		return "shutting down"
	}
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	var head uint64
	err := r.store.View(ctx, func(rd store.Reader) error {
		var err error
		head, _, err = rd.FeedBounds(ctx)
		return err
	})
	if err != nil {
		return "store unavailable: " + err.Error()
	}
	// What else makes the store refuse writes: on PostgreSQL a node whose clock is off
	// (postgres.Store.HealthCheck), on SQLite a database file removed or replaced.
	if c, ok := r.store.(interface{ HealthCheck(context.Context) error }); ok {
		if err := c.HealthCheck(ctx); err != nil {
			return "store unavailable: " + err.Error()
		}
	}
	// The feed follows the log when the hub reaches, within FollowGrace, every head the
	// store reported: commits are published within milliseconds (SQLite: before the writer
	// is answered; PostgreSQL: by the log follower, woken by NOTIFY or a poll every second).
	hubHead := r.hub.Head()
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if hubHead >= head {
		r.pending = 0
		return ""
	}
	if r.pending == 0 || hubHead >= r.pending {
		r.pending, r.since = head, now
	}
	if behind := now.Sub(r.since); behind > FollowGrace {
		return fmt.Sprintf("the feed is not following the log: its head is sequence %d, the store's reached %d %s ago",
			hubHead, r.pending, behind.Truncate(time.Second))
	}
	return ""
}

// adminHandler is the admin listener's handler.
func adminHandler(m *metrics.Metrics, ready *readiness) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if why := ready.check(r.Context()); why != "" {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not ready: " + why + "\n"))
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	// Not the command line: it may hold secrets (a --database-url with its password), and
	// this listener has no authentication and is often open to the metrics scraper.
	mux.HandleFunc("/debug/pprof/cmdline", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "not served: the command line may hold secrets (--database-url)", http.StatusNotFound)
	})
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}
