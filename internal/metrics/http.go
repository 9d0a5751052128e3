package metrics

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// RouteUnmatched is the route label of a request no route took: an unknown path or method,
// or one refused before routing (a body over the size limit, no room for its body).
const RouteUnmatched = "unmatched"

// HTTP measures every request next answers (livegate_http_requests_total,
// livegate_http_request_duration_seconds), whether or not it reaches gRPC. The route label
// is the pattern the router reports with SetRoute, or RouteUnmatched.
func (m *Metrics) HTTP(next http.Handler) http.Handler {
	if m == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rt := &route{}
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), routeKey{}, rt)))
		pattern := RouteUnmatched
		if rt.pattern != "" {
			// grpc-gateway spells a variable {name=*}; the label keeps the path template's {name}.
			pattern = strings.ReplaceAll(rt.pattern, "=*}", "}")
		}
		code := rec.code
		if code == 0 {
			code = http.StatusOK
		}
		method := methodLabel(r.Method)
		m.httpRequests.WithLabelValues(pattern, method, strconv.Itoa(code)).Inc()
		m.httpDuration.WithLabelValues(pattern, method).Observe(time.Since(start).Seconds())
	})
}

// methodLabel bounds the method label: the standard methods, else "other".
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "other"
}

// statusRecorder remembers the status code written. Flush and Unwrap let the streaming
// routes flush and set deadlines through it (http.ResponseController).
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.code == 0 && code >= 200 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

func (w *statusRecorder) Flush() { _ = http.NewResponseController(w.ResponseWriter).Flush() }

func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }
