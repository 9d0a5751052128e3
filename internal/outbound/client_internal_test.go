package outbound

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livegate/livegate/internal/netguard"
	"github.com/livegate/livegate/internal/store"
)

var allowLocal = netguard.Policy{AllowHTTP: true, AllowPrivate: true}

// unsigned is a sign that sends no headers of its own.
func unsigned(time.Time) (http.Header, error) { return http.Header{}, nil }

func postTo(t *testing.T, c *client, url string) result {
	t.Helper()
	res, err := c.post(context.Background(), store.Tenant{AccountID: "acc", AppID: "app"}, url, unsigned, []byte(`{}`), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestClassifyAnswers(t *testing.T) {
	date := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	for _, tc := range []struct {
		name       string
		status     int
		retryAfter string
		ok, retry  bool
		wait       time.Duration // Retry-After read, ±2 s
		errHas     string
	}{
		{"2xx", 200, "", true, false, 0, ""},
		{"500 retried", 500, "", false, true, 0, "HTTP 500"},
		{"503 retried", 503, "", false, true, 0, "HTTP 503"},
		{"408 retried", 408, "", false, true, 0, "HTTP 408"},
		{"429 with Retry-After seconds", 429, "120", false, true, 120 * time.Second, "HTTP 429"},
		{"429 with Retry-After date", 429, date, false, true, 90 * time.Second, "HTTP 429"},
		{"429 with a bad Retry-After", 429, "soon", false, true, 0, "HTTP 429"},
		{"410 not retried", 410, "", false, false, 0, "not retried"},
		{"400 not retried", 400, "", false, false, 0, "not retried"},
		{"302 not followed", 302, "", false, false, 0, "redirects are not followed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var followed atomic.Bool
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/elsewhere" {
					followed.Store(true)
					return
				}
				if tc.retryAfter != "" {
					w.Header().Set("Retry-After", tc.retryAfter)
				}
				if tc.status == 302 {
					w.Header().Set("Location", "/elsewhere")
				}
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte("answer " + strings.Repeat("x", 2000)))
			}))
			defer srv.Close()
			res := postTo(t, newClient(allowLocal, 5*time.Second, 4, "livegate-webhooks/test"), srv.URL)
			if res.ok() != tc.ok || res.retry != tc.retry || res.status != tc.status {
				t.Fatalf("got ok=%v retry=%v status=%d (%q), want ok=%v retry=%v status=%d", res.ok(), res.retry, res.status, res.err, tc.ok, tc.retry, tc.status)
			}
			if !strings.Contains(res.err, tc.errHas) {
				t.Errorf("error %q does not say %q", res.err, tc.errHas)
			}
			if d := res.retryAfter - tc.wait; d < -2*time.Second || d > 2*time.Second {
				t.Errorf("Retry-After read as %s, want about %s", res.retryAfter, tc.wait)
			}
			if len(res.body) != 1024 || !strings.HasPrefix(res.body, "answer ") {
				t.Errorf("logged answer is %d bytes (%.10q…), want the first 1024", len(res.body), res.body)
			}
			if followed.Load() {
				t.Error("the redirect was followed")
			}
		})
	}
}

func TestTimeoutAndConnectionErrorsAreRetried(t *testing.T) {
	stuck := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-stuck:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(stuck)
	res := postTo(t, newClient(allowLocal, 200*time.Millisecond, 4, "x"), srv.URL)
	if res.ok() || !res.retry || !strings.Contains(res.err, "timed out") || res.status != 0 {
		t.Errorf("a stuck endpoint: got %+v, want a retried timeout", res)
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nobody listens there now
	res = postTo(t, newClient(allowLocal, time.Second, 4, "x"), "http://"+addr+"/")
	if res.ok() || !res.retry || !strings.Contains(res.err, "connection failed") {
		t.Errorf("connection refused: got %+v, want a retried connection failure", res)
	}
}

func TestDialRefusesPrivateAddresses(t *testing.T) {
	var hit atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hit.Store(true) }))
	defer srv.Close()
	res := postTo(t, newClient(netguard.Policy{AllowHTTP: true}, time.Second, 4, "x"), srv.URL)
	if res.ok() || !strings.Contains(res.err, "not a public address") {
		t.Errorf("posting to loopback without --webhooks-allow-private: got %+v", res)
	}
	if hit.Load() {
		t.Error("the request reached the loopback server")
	}
	// Through a name, the log says what kind of address it resolved to, not which: the
	// tenant reading it must not map the operator's internal names to addresses.
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	res = postTo(t, newClient(netguard.Policy{AllowHTTP: true}, time.Second, 4, "x"), "http://localhost:"+u.Port()+"/")
	if res.ok() || !strings.Contains(res.err, "not a public address (loopback)") || strings.Contains(res.err, "127.0.0.1") || strings.Contains(res.err, "::1") {
		t.Errorf("posting to localhost: %q, want a refusal naming the kind of address only", res.err)
	}
	if hit.Load() {
		t.Error("the request reached the loopback server")
	}
}

// inFlightPeak counts the requests a test receiver is answering, and the most at once.
type inFlightPeak struct{ now, peak atomic.Int32 }

func (c *inFlightPeak) enter() {
	n := c.now.Add(1)
	for p := c.peak.Load(); n > p && !c.peak.CompareAndSwap(p, n); p = c.peak.Load() {
	}
}

func TestConcurrencyBound(t *testing.T) {
	var inFlight inFlightPeak
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inFlight.enter()
		<-release
		inFlight.now.Add(-1)
	}))
	defer srv.Close()
	c := newClient(allowLocal, 10*time.Second, 3, "x")
	done := make(chan struct{}, 10)
	for range 10 {
		go func() { postTo(t, c, srv.URL); done <- struct{}{} }()
	}
	deadline := time.Now().Add(5 * time.Second)
	for inFlight.now.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	close(release)
	for range 10 {
		<-done
	}
	if p := inFlight.peak.Load(); p != 3 {
		t.Errorf("%d requests were in flight at once, want the bound, 3", p)
	}
}

// TestConcurrencyBoundPerApp: one app's endpoints hold at most the per-app bound of the
// slots, so an app whose receivers hang cannot take the slots other apps' deliveries need.
func TestConcurrencyBoundPerApp(t *testing.T) {
	slow, other := store.Tenant{AccountID: "acc", AppID: "slow"}, store.Tenant{AccountID: "acc", AppID: "other"}
	var slowInFlight inFlightPeak
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/slow" {
			return // the other app's receiver answers at once
		}
		slowInFlight.enter()
		<-release
		slowInFlight.now.Add(-1)
	}))
	defer srv.Close()
	defer close(release)
	c := newClient(allowLocal, 10*time.Second, 4, "x")
	c.perApp = 2
	for range 6 {
		go func() {
			_, _ = c.post(context.Background(), slow, srv.URL+"/slow", unsigned, []byte(`{}`), time.Now)
		}()
	}
	deadline := time.Now().Add(5 * time.Second)
	for slowInFlight.now.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // room for a third to start, if the bound let it
	// The other app gets a slot although the slow one has 6 deliveries waiting.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := c.post(ctx, other, srv.URL+"/other", unsigned, []byte(`{}`), time.Now)
	if err != nil || !res.ok() {
		t.Fatalf("the other app's delivery: %+v, %v (waited for a slot the slow app holds)", res, err)
	}
	if p := slowInFlight.peak.Load(); p != 2 {
		t.Errorf("the slow app had %d requests in flight at once, want its bound, 2", p)
	}
}

func TestScheduleNext(t *testing.T) {
	s := Schedule{Steps: []time.Duration{5 * time.Second, 30 * time.Second, time.Hour}, For: 24 * time.Hour}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		attempt    int
		at         time.Duration // since t0
		retryAfter time.Duration
		want       time.Duration // since at; -1: given up
	}{
		{1, 0, 0, 5 * time.Second},
		{2, 5 * time.Second, 0, 30 * time.Second},
		{3, time.Minute, 0, time.Hour},
		{7, 10 * time.Hour, 0, time.Hour},                 // the last step repeats
		{1, 0, 20 * time.Second, 20 * time.Second},        // Retry-After longer than the step
		{1, 0, 10 * time.Minute, 30 * time.Second},        // …capped at the next step
		{1, 0, 2 * time.Second, 5 * time.Second},          // shorter: the step
		{20, 23*time.Hour + 30*time.Minute, 0, -1},        // past 24 h: given up
		{20, 22*time.Hour + 59*time.Minute, 0, time.Hour}, // exactly within
	} {
		at := t0.Add(tc.at)
		next, ok := s.Next(t0, at, tc.attempt, tc.retryAfter)
		if tc.want < 0 {
			if ok {
				t.Errorf("attempt %d at +%s: retried at +%s, want given up", tc.attempt, tc.at, next.Sub(t0))
			}
			continue
		}
		if !ok || next.Sub(at) != tc.want {
			t.Errorf("attempt %d at +%s (Retry-After %s): next in %s (ok %v), want %s", tc.attempt, tc.at, tc.retryAfter, next.Sub(at), ok, tc.want)
		}
	}
	// Jitter stays within its bound.
	s.Jitter = 0.1
	for range 100 {
		next, _ := s.Next(t0, t0, 2, 0)
		if d := next.Sub(t0); d < 27*time.Second || d > 33*time.Second {
			t.Fatalf("jittered 30 s step is %s", d)
		}
	}
	if _, err := ParseSteps("5s,30s,2m,10m,1h"); err != nil {
		t.Error(err)
	}
	if _, err := ParseSteps("5s,,1h"); err == nil {
		t.Error(`"5s,,1h" parsed`)
	}
}

// TestSignedWhenSent: an attempt is signed when it is sent, after its wait for a slot, and
// its result says when: its webhook-timestamp is not the time it began to wait (the outbound
// audit's healthy endpoint got timestamps 10 s stale behind hanging ones; past a receiver's
// 5 minutes of tolerance it would be refused, and a 4xx is not retried).
func TestSignedWhenSent(t *testing.T) {
	release := make(chan struct{})
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hang" {
			<-release
			return
		}
		got <- r.Header.Get(HeaderTimestamp)
	}))
	defer srv.Close()
	c := newClient(allowLocal, 10*time.Second, 1, "x") // one slot
	app := store.Tenant{AccountID: "acc", AppID: "app"}
	hung := make(chan struct{})
	go func() {
		defer close(hung)
		_, _ = c.post(context.Background(), app, srv.URL+"/hang", unsigned, []byte(`{}`), time.Now)
	}()
	for len(c.slots) == 0 {
		time.Sleep(time.Millisecond)
	}
	began := time.Now()
	var signedAt time.Time
	sign := func(at time.Time) (http.Header, error) {
		signedAt = at
		h := http.Header{}
		h.Set(HeaderTimestamp, strconv.FormatInt(at.Unix(), 10))
		return h, nil
	}
	go func() {
		time.Sleep(1500 * time.Millisecond) // the wait for the slot
		close(release)
	}()
	res, err := c.post(context.Background(), app, srv.URL+"/ok", sign, []byte(`{}`), time.Now)
	<-hung
	if err != nil || !res.ok() {
		t.Fatalf("post: %+v, %v", res, err)
	}
	if waited := signedAt.Sub(began); waited < time.Second || !res.at.Equal(signedAt) {
		t.Errorf("signed %v after it began to wait, result at %v: want signed after the wait (1.5 s), and the result saying when", waited, res.at)
	}
	if ts := <-got; ts != strconv.FormatInt(signedAt.Unix(), 10) {
		t.Errorf("webhook-timestamp %s, want %d (when sent)", ts, signedAt.Unix())
	}
}

// TestLookupFailureNamesNoResolver: a delivery to a name that does not resolve says so, and
// not which resolver was asked (its address is the operator's; the log is the tenant's).
func TestLookupFailureNamesNoResolver(t *testing.T) {
	err := &url.Error{Op: "Post", URL: "http://x.invalid/", Err: &net.OpError{Op: "dial", Net: "tcp",
		Err: &net.DNSError{Err: "no such host", Name: "x.invalid", Server: "10.255.255.53:53", IsNotFound: true}}}
	if got := describe(err, time.Second); got != "connection failed: host x.invalid does not resolve (no such host)" {
		t.Errorf("describe = %q", got)
	}
}
