package accesslog

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// RefusedLines bounds the access log lines of refused requests: those a client's own error
// ended (an HTTP 4xx; a gRPC code such as UNAUTHENTICATED, NOT_FOUND or CANCELLED). A client
// that sends them as fast as it can, with no token, wrote a line for each: the network
// audit's rapid-reset client made 296,000 lines (151 MB) in 18 s, on the disk the database
// is on. Past the bound such lines are counted, not written, and the next line written says
// how many were left out (a line of its own, at most once a second). The lines of requests served, and of livegate's own failures, are
// always written; the request metrics count every request.
//
// A nil *RefusedLines bounds nothing. It is safe for concurrent use.
type RefusedLines struct {
	lim        *rate.Limiter
	suppressed atomic.Int64
	// The count's own line is written at most once a second (lastCount: Unix nanoseconds),
	// so that it does not double the lines written under a steady flood.
	lastCount atomic.Int64
}

// Default bounds of refused requests' lines: 100 a second, in bursts of up to 1,000.
const (
	DefaultRefusedLinesPerSecond = 100
	DefaultRefusedLinesBurst     = 1000
)

// NewRefusedLines bounds refused requests' lines to perSecond a second, in bursts of burst.
func NewRefusedLines(perSecond float64, burst int) *RefusedLines {
	return &RefusedLines{lim: rate.NewLimiter(rate.Limit(perSecond), burst)}
}

// Allow reports whether a request's line may be written (refused: the client's error ended
// it). Before a line is written, it first writes, on log, how many were left out since the
// last line written, if any.
func (r *RefusedLines) Allow(ctx context.Context, log *slog.Logger, refused bool) bool {
	if r == nil {
		return true
	}
	if refused && !r.lim.Allow() {
		r.suppressed.Add(1)
		return false
	}
	if r.suppressed.Load() == 0 {
		return true
	}
	now := time.Now().UnixNano()
	last := r.lastCount.Load()
	if now-last < int64(time.Second) || !r.lastCount.CompareAndSwap(last, now) {
		return true
	}
	if n := r.suppressed.Swap(0); n > 0 {
		log.LogAttrs(ctx, slog.LevelWarn, "access log lines of refused requests left out",
			slog.Int64("count", n), slog.Float64("per_second", float64(r.lim.Limit())), slog.Int("burst", r.lim.Burst()))
	}
	return true
}

// MaxValue is the most of a client-chosen value (a path, an account or app id) a log line
// holds: a client may send tens of kilobytes of it, and a line per request.
const MaxValue = 256

// Cut is s as a log line holds it: its first MaxValue bytes (valid UTF-8) and "…" when longer.
func Cut(s string) string {
	if len(s) <= MaxValue {
		return s
	}
	return strings.ToValidUTF8(s[:MaxValue], "") + "…"
}
