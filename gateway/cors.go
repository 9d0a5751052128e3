package gateway

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/rs/cors"

	"github.com/livegate/livegate/internal/accesslog"
)

// PreflightRoute is the access log's and the metrics' route of a CORS preflight the gateway
// answered itself.
const PreflightRoute = "cors-preflight"

// CORS headers of the REST API and the SSE route (see withCORS).
var (
	// corsMethods are the REST API's methods (PATCH: editing a webhook).
	corsMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}
	// corsRequestHeaders are the request headers a page may send beyond the CORS-safelisted
	// ones: the app token, a JSON body's type, an SSE resume (EventSource sends it itself
	// when it reconnects; a page driving SSE with fetch sets it), the caller's request id.
	corsRequestHeaders = []string{"Authorization", "Content-Type", "Last-Event-ID", accesslog.RequestIDHeader}
	// corsExposedHeaders are the response headers a page may read beyond the safelisted
	// ones: how long to wait after a 429 or 503, and the id naming the request in the logs.
	corsExposedHeaders = []string{"Retry-After", accesslog.RequestIDHeader}
)

// CORSMaxAge is how long, in seconds, a browser may cache a preflight's answer (Chromium
// caps it at 2 hours; ten minutes lets a changed --cors-origins take effect soon).
const CORSMaxAge = 600

// ParseCORSOrigins reads a comma-separated list of origins allowed to call the REST API and
// the SSE route from a browser: "*" (any origin) or origins as a browser sends them,
// scheme://host[:port] with scheme http or https and no path (a trailing slash is refused:
// it would never match), where the host may start with "*." for any subdomain. Empty
// entries are skipped; an empty list turns CORS off.
func ParseCORSOrigins(s string) ([]string, error) {
	var origins []string
	for o := range strings.SplitSeq(s, ",") {
		o = strings.TrimSpace(o)
		if o == "" {
			continue
		}
		if err := checkOrigin(o); err != nil {
			return nil, err
		}
		origins = append(origins, strings.ToLower(o))
	}
	return origins, nil
}

func checkOrigin(o string) error {
	if o == "*" {
		return nil
	}
	bad := func(why string) error {
		return fmt.Errorf("origin %q: %s (want scheme://host[:port], e.g. https://app.example.com, or *)", o, why)
	}
	u, err := url.Parse(strings.Replace(o, "://*.", "://x.", 1))
	switch {
	case err != nil:
		return bad("not a URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return bad("scheme must be http or https")
	case u.Opaque != "" || u.Host == "":
		return bad("no host")
	case u.User != nil:
		return bad("must not have user info")
	case u.Path != "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(o, "#"):
		return bad("must not have a path, query or fragment (not even a trailing slash)")
	case strings.Contains(u.Host, "*"):
		return bad("a wildcard may only start the host, as *.")
	}
	host := u.Hostname()
	if host == "" || strings.ContainsAny(host, " %") {
		return bad("bad host")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return bad("bad port")
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return bad("bad port")
	}
	if strings.Contains(host, ":") && net.ParseIP(host) == nil {
		return bad("bad host")
	}
	return nil
}

// withCORS answers the CORS of browser pages on the origins allowed (see
// ParseCORSOrigins; none: next is returned, CORS off, and browsers allow same-origin calls
// only). Preflights are answered 204 here, before the body limits and the 415 check, with
// the methods and headers asked for when they are allowed and no CORS header otherwise (the
// browser then refuses the call). Other requests pass on with Access-Control-Allow-Origin
// and the exposed headers when their origin is allowed. Credentials (cookies, TLS client
// certificates) are allowed for listed origins, never with "*": livegate authenticates by
// bearer token and needs none, but a proxy in front may. Webhook and RTMP callback routes
// are for providers' servers, not browsers, and get no CORS.
func withCORS(next http.Handler, origins []string) (http.Handler, error) {
	if len(origins) == 0 {
		return next, nil
	}
	for _, o := range origins {
		if err := checkOrigin(o); err != nil {
			return nil, fmt.Errorf("CORS: %w", err)
		}
	}
	c := cors.New(cors.Options{
		AllowedOrigins:       origins,
		AllowedMethods:       corsMethods,
		AllowedHeaders:       corsRequestHeaders,
		ExposedHeaders:       corsExposedHeaders,
		MaxAge:               CORSMaxAge,
		AllowCredentials:     !slices.Contains(origins, "*"),
		OptionsSuccessStatus: http.StatusNoContent,
	})
	withCORS := c.Handler(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isProviderRoute(r.URL.Path) || strings.HasPrefix(r.URL.Path, "/admin/") {
			// For providers' servers and operators, not for pages.
			next.ServeHTTP(w, r)
			return
		}
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			if info := accesslog.InfoFrom(r.Context()); info != nil {
				info.Route = PreflightRoute
			}
		}
		withCORS.ServeHTTP(w, r)
	}), nil
}
