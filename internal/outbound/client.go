package outbound

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/livegate/livegate/internal/netguard"
	"github.com/livegate/livegate/internal/store"
)

// drainBytes is how much of an answer past what the log keeps is read (and dropped) so the
// connection can be reused; a longer answer closes it instead.
const drainBytes = 64 << 10

// maxAnswerHeaderBytes bounds the header block of a receiver's answer. net/http's default
// is 10 MiB, so a hostile receiver could make every attempt in flight read that much (64
// attempts: some 640 MB); a webhook answer needs a status line and a few headers, and a
// longer block fails the attempt ("server response headers exceeded 65536 bytes").
const maxAnswerHeaderBytes = 64 << 10

// client posts deliveries: through a dialer that refuses non-public addresses (netguard),
// following no redirect, each request bounded by a timeout, and at most a bounded number in
// flight across all endpoints, and of those at most perApp for one app (so that an app whose
// receivers hang holds a share of the slots, never all of them).
type client struct {
	http    *http.Client
	timeout time.Duration
	slots   chan struct{}
	agent   string

	perApp int // <= 0: no bound of its own (the global one applies)
	mu     sync.Mutex
	apps   map[store.Tenant]*appSlots // the apps with a request in flight or waiting
}

// appSlots are one app's slots; users counts the requests holding or waiting for one, so
// the entry goes when the last leaves.
type appSlots struct {
	ch    chan struct{}
	users int
}

// acquireApp waits for one of t's slots (ctx bounds the wait) and returns its release.
func (c *client) acquireApp(ctx context.Context, t store.Tenant) (func(), error) {
	if c.perApp <= 0 {
		return func() {}, nil
	}
	c.mu.Lock()
	a := c.apps[t]
	if a == nil {
		a = &appSlots{ch: make(chan struct{}, c.perApp)}
		c.apps[t] = a
	}
	a.users++
	c.mu.Unlock()
	leave := func() {
		c.mu.Lock()
		if a.users--; a.users == 0 {
			delete(c.apps, t)
		}
		c.mu.Unlock()
	}
	select {
	case a.ch <- struct{}{}:
		return func() { <-a.ch; leave() }, nil
	case <-ctx.Done():
		leave()
		return nil, ctx.Err()
	}
}

func newClient(policy netguard.Policy, timeout time.Duration, maxConcurrent int, agent string) *client {
	return newClientPerApp(policy, timeout, maxConcurrent, 0, agent)
}

// newClientPerApp is newClient with at most perApp requests of one app in flight (<= 0: no
// bound of its own).
func newClientPerApp(policy netguard.Policy, timeout time.Duration, maxConcurrent, perApp int, agent string) *client {
	dialer := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Control: policy.Control}
	tr := &http.Transport{
		// No proxy: a proxy would dial for us, around the address check.
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           max(maxConcurrent, 16),
		MaxIdleConnsPerHost:    4,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    timeout,
		ResponseHeaderTimeout:  timeout,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: maxAnswerHeaderBytes,
	}
	return &client{
		http: &http.Client{
			Transport: tr,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse // a 3xx is the answer, and a failure
			},
		},
		timeout: timeout,
		slots:   make(chan struct{}, maxConcurrent),
		agent:   agent,
		perApp:  perApp,
		apps:    map[store.Tenant]*appSlots{},
	}
}

func (c *client) close() { c.http.CloseIdleConnections() }

// result is what came of one request.
type result struct {
	status     int
	latency    time.Duration
	err        string // empty on a 2xx
	body       string // the start of the answer, at most store.MaxWebhookResponseBody bytes
	retry      bool   // worth trying again
	retryAfter time.Duration
	at         time.Time // when it was signed and sent (after the waits for slots)
}

func (r result) ok() bool { return r.err == "" }

// sign returns the headers of an attempt sent at `at` (its webhook-timestamp and signature).
type sign func(at time.Time) (http.Header, error)

// post sends body to rawURL for app t, with the headers sign gives it. It waits for a free
// slot of t's, then for a free slot (ctx bounds the waits; its error is returned and nothing
// was sent), and only then signs: webhook-timestamp is when the attempt is sent, not when it
// began to wait (a wait of minutes would have put it outside a receiver's tolerance). An app
// waiting for its own slots holds none of the shared ones. Once sent, the request runs to
// its answer or the timeout, whatever ctx does: an attempt that was made is finished, and
// its outcome known, so that it can be logged and not made again.
func (c *client) post(ctx context.Context, t store.Tenant, rawURL string, sign sign, body []byte, now func() time.Time) (result, error) {
	releaseApp, err := c.acquireApp(ctx, t)
	if err != nil {
		return result{}, err
	}
	defer releaseApp()
	select {
	case c.slots <- struct{}{}:
	case <-ctx.Done():
		return result{}, ctx.Err()
	}
	defer func() { <-c.slots }()

	start := now()
	headers, err := sign(start)
	if err != nil {
		return result{}, err
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, rawURL, bytes.NewReader(body))
	if err != nil {
		return result{err: "invalid URL: " + err.Error(), at: start}, nil
	}
	req.Header = headers
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", c.agent)
	resp, err := c.http.Do(req)
	r := result{at: start}
	if err != nil {
		r.latency = now().Sub(start)
		r.err, r.retry = describe(err, c.timeout), true
		return r, nil
	}
	head := make([]byte, store.MaxWebhookResponseBody)
	n, rerr := io.ReadFull(resp.Body, head)
	if rerr == nil {
		_, _ = io.CopyN(io.Discard, resp.Body, drainBytes)
	}
	_ = resp.Body.Close()
	r.latency = now().Sub(start)
	r.status = resp.StatusCode
	r.body = strings.ToValidUTF8(string(head[:n]), "\uFFFD")
	classify(&r, resp.Header.Get("Retry-After"), now())
	return r, nil
}

// classify says whether an answer succeeded, and if not, whether to retry it: timeouts,
// connection errors (post), 408, 429 and 5xx are retried; other 4xx and 3xx are not.
func classify(r *result, retryAfter string, now time.Time) {
	s := r.status
	switch {
	case s >= 200 && s < 300:
		r.err = ""
		return
	case s >= 300 && s < 400:
		r.err = fmt.Sprintf("HTTP %d: redirects are not followed", s)
	case s == http.StatusRequestTimeout, s == http.StatusTooManyRequests, s >= 500:
		r.err = fmt.Sprintf("HTTP %d", s)
		r.retry = true
		if s == http.StatusTooManyRequests || s == http.StatusServiceUnavailable {
			r.retryAfter = parseRetryAfter(retryAfter, now)
		}
	default:
		r.err = fmt.Sprintf("HTTP %d: not retried (only 408, 429 and 5xx are)", s)
	}
}

// parseRetryAfter reads a Retry-After header: seconds, or an HTTP date (zero: none, or
// unreadable, or past).
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		return time.Duration(min(n, int64(365*24*3600))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// describe turns a transport error into words for the delivery log.
func describe(err error, timeout time.Duration) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
		return fmt.Sprintf("timed out after %s", timeout)
	}
	if errors.Is(err, netguard.ErrNotPublic) {
		// The dial's *net.OpError names the address, which DNS gave: the tenant reading the
		// log learns only what kind of address it was (netguard.Control's words).
		var oe *net.OpError
		if errors.As(err, &oe) && oe.Err != nil {
			err = oe.Err
		}
		return "refused: " + err.Error()
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		// Not the resolver's error itself: it names the resolver's address, which is the
		// operator's, not the tenant's to learn (as at registration).
		return "connection failed: " + netguard.LookupFailure(dnsErr.Name, err)
	}
	return "connection failed: " + err.Error()
}

func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}
