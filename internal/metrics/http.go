package metrics

import (
	"strconv"
	"time"

	"github.com/livegate/livegate/internal/accesslog"
)

// HTTPRequest counts one answered HTTP request (livegate_http_requests_total,
// livegate_http_request_duration_seconds), whether or not it reached gRPC. route is the
// matched route pattern as registered ("/accounts/{account_id}/..."), "cors-preflight" (a CORS
// preflight the gateway answered) or "unmatched"; never a path. The gateway's access log
// wrapper, which measures every request, calls it.
func (m *Metrics) HTTPRequest(route, method string, status int, took time.Duration) {
	if m == nil {
		return
	}
	method = methodLabel(method)
	m.httpRequests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.httpDuration.WithLabelValues(route, method).Observe(took.Seconds())
}

// methodLabel bounds the method label: the standard methods, else "other".
func methodLabel(m string) string {
	if accesslog.StandardMethod(m) {
		return m
	}
	return "other"
}
