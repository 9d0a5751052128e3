package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/server"
	"github.com/livegate/livegate/internal/testenv"
)

// corsPage is the browser app of TestBrowserOnOtherOrigin, served from an origin other than
// livegate's: it calls the REST API with fetch (an Authorization header makes the call
// non-simple, so the browser sends a real preflight first) and follows the feed with
// EventSource (which cannot set headers: the token goes in access_token). Each function
// answers a JSON-able result, a CORS failure included (fetch rejects with a TypeError; an
// EventSource refused by CORS fails and closes).
const corsPage = `<!doctype html>
<html><head><meta charset="utf-8"><title>livegate CORS test</title></head><body>
<script>
async function listLivestreams(base, path, token) {
  try {
    const r = await fetch(base + path, {headers: {"Authorization": "Bearer " + token}});
    return {status: r.status, requestId: r.headers.get("X-Request-Id"), body: await r.text()};
  } catch (e) {
    return {error: String(e)};
  }
}

let feed, events = [], waiters = [];
function openFeed(url) {
  return new Promise(resolve => {
    feed = new EventSource(url);
    feed.onopen = () => resolve({open: true});
    feed.onerror = () => resolve({open: false, readyState: feed.readyState});
    feed.addEventListener("peer.join.success", e => {
      events.push({type: e.type, lastEventId: e.lastEventId, data: JSON.parse(e.data)});
      waiters.splice(0).forEach(w => w());
    });
  });
}
// followUntilClosed follows url until the browser closes the EventSource by itself (it does
// on an answer that is not a 200 event stream), or ms pass, or (firstEvent) its first
// peer.join.success comes: what it opened, received and was told.
function followUntilClosed(url, ms, firstEvent) {
  return new Promise(resolve => {
    const got = {opens: 0, ids: [], reasons: [], closed: false};
    const es = new EventSource(url);
    es.onopen = () => got.opens++;
    es.addEventListener("peer.join.success", e => {
      got.ids.push(e.lastEventId);
      if (firstEvent) { es.close(); resolve(got); }
    });
    es.onerror = e => {
      if (e.data) got.reasons.push(JSON.parse(e.data).reason);
      if (es.readyState === EventSource.CLOSED) { got.closed = true; resolve(got); }
    };
    setTimeout(() => { es.close(); resolve(got); }, ms);
  });
}
function nextEvent() {
  if (events.length > 0) return Promise.resolve(events.shift());
  return new Promise(resolve => waiters.push(() => resolve(events.shift())));
}
</script></body></html>`

// followed is what the page's followUntilClosed answers.
type followed struct {
	Opens   int      `json:"opens"`
	IDs     []string `json:"ids"`
	Reasons []string `json:"reasons"`
	Closed  bool     `json:"closed"`
}

// pageServer serves corsPage on a loopback origin of its own until the test ends.
func pageServer(t *testing.T) *httptest.Server {
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(corsPage))
	}))
	t.Cleanup(page.Close)
	return page
}

// pageResult is what corsPage's functions answer.
type pageResult struct {
	Error      string `json:"error"`
	Status     int    `json:"status"`
	RequestID  string `json:"requestId"`
	Body       string `json:"body"`
	Open       bool   `json:"open"`
	ReadyState int    `json:"readyState"`
}

// pageEvent is an event the page's EventSource received.
type pageEvent struct {
	Type        string `json:"type"`
	LastEventID string `json:"lastEventId"`
	Data        struct {
		Sequence string `json:"sequence"`
		Type     string `json:"type"`
	} `json:"data"`
}

// TestBrowserOnOtherOrigin: a real browser (headless Chromium) on a page from an allowed
// origin lists livestreams with fetch (through a preflight), reads the exposed X-Request-Id,
// follows the feed with EventSource and sees an event posted meanwhile; on a page from an
// origin not allowed, the browser refuses both.
func TestBrowserOnOtherOrigin(t *testing.T) {
	allowed, denied := pageServer(t), pageServer(t)

	s := startServer(t, t.TempDir(), func(c *server.Config) { c.CORSOrigins = []string{allowed.URL} })
	const acc, app = "acc-cors", "app-cors"
	creds := s.createApp(acc, app)
	prefix := "/accounts/" + acc + "/realtime/kit/" + app
	created := s.rest(http.MethodPost, prefix+"/livestreams", creds.APIToken, map[string]any{"name": "browser"})
	if created.Status != http.StatusCreated {
		t.Fatalf("create livestream: %d %s", created.Status, created.Raw)
	}
	id, _ := created.data(t)["id"].(string)

	ctx := newBrowser(t)
	call := func(expr string, args ...any) pageResult {
		t.Helper()
		enc := make([]string, len(args))
		for i, a := range args {
			b, _ := json.Marshal(a)
			enc[i] = string(b)
		}
		js := fmt.Sprintf("%s(%s)", expr, strings.Join(enc, ","))
		out, err := chromedp.Run(ctx, chromedp.Evaluate[pageResult](js, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("page: %s: %v", js, err)
		}
		return out
	}

	// Allowed origin: fetch through a preflight.
	if err := chromedp.Do(ctx, chromedp.Navigate(allowed.URL)); err != nil {
		t.Fatalf("load the page: %v", err)
	}
	got := call("listLivestreams", s.base, prefix+"/livestreams", creds.APIToken)
	if got.Error != "" || got.Status != http.StatusOK || !strings.Contains(got.Body, id) {
		t.Fatalf("page on %s listing livestreams: %+v, want 200 with livestream %s", allowed.URL, got, id)
	}
	if got.RequestID == "" {
		t.Errorf("page cannot read X-Request-Id: not exposed")
	}
	preflights := func() int {
		n := 0
		for _, l := range s.logLines(t, "http request") {
			if l["method"] == http.MethodOptions && l["route"] == "cors-preflight" && l["status"] == float64(http.StatusNoContent) {
				n++
			}
		}
		return n
	}
	if n := preflights(); n != 1 {
		t.Errorf("access log has %d preflights answered 204, want 1 (the browser's, before its fetch)", n)
	}

	// EventSource follows the feed and sees an event posted meanwhile.
	sse := s.base + prefix + "/events/sse?only_new=true&access_token=" + creds.APIToken
	if got := call("openFeed", sse); !got.Open {
		t.Fatalf("page's EventSource did not open: %+v", got)
	}
	seq, _, err := testenv.PostHMS(http.DefaultClient, s.base, acc, app, creds.WebhookSecret, testenv.HMSDelivery("peer.join.success", "room-cors"))
	if err != nil {
		t.Fatalf("post a 100ms delivery: %v", err)
	}
	ev, err := chromedp.Run(ctx, chromedp.Evaluate[pageEvent]("nextEvent()", chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("page waiting for the event: %v", err)
	}
	if ev.Type != "peer.join.success" || ev.LastEventID != strconv.FormatUint(seq, 10) || ev.Data.Sequence != ev.LastEventID {
		t.Errorf("page's EventSource got %+v, want peer.join.success with id %d", ev, seq)
	}

	// An origin not allowed: the browser refuses the fetch and the feed.
	if err := chromedp.Do(ctx, chromedp.Navigate(denied.URL)); err != nil {
		t.Fatalf("load the page: %v", err)
	}
	got = call("listLivestreams", s.base, prefix+"/livestreams", creds.APIToken)
	if got.Error == "" || got.Status != 0 {
		t.Errorf("page on %s (not allowed) listing livestreams: %+v, want fetch to fail (CORS)", denied.URL, got)
	}
	if got := call("openFeed", sse); got.Open || got.ReadyState != 2 {
		t.Errorf("page on %s (not allowed) opening the feed: %+v, want it failed and closed (readyState 2)", denied.URL, got)
	}
}

// newBrowser starts headless Chromium (Debian's chromium package; scripts/test.sh installs
// it) with a profile of its own, and stops it when the test ends. No Chromium fails the
// test: it is part of what CI checks.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium not found (install Debian's chromium package; scripts/test.sh does): %v", err)
	}
	profile := t.TempDir()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(profile),
		chromedp.Headless,
		chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true),
	)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses to run as root with its sandbox
	}
	ctx, cancelTimeout := context.WithTimeout(context.Background(), 60*time.Second)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	// Registered after t.TempDir, so it runs first: the browser has exited when its
	// profile is removed.
	t.Cleanup(func() {
		_ = chromedp.Cancel(bctx)
		cancelBrowser()
		cancelAlloc()
		cancelTimeout()
	})
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return bctx
}

// TestBrowserOnlyNewResumesAcrossRestart: a page follows the feed with only_new=true, and
// the server restarts before any event came. EventSource reconnects to the same URL, with
// only_new again; it sends Last-Event-ID only if it was given an id. The stream gives it one
// at once (its cursor, as a progress), so the events committed while it was away reach it.
// Until 2026-11-29 the first id came with the first event or progress (4-5 s in): the
// browser reconnected with only_new and lost them (this stop's feed audit).
func TestBrowserOnlyNewResumesAcrossRestart(t *testing.T) {
	page := pageServer(t)
	dir := t.TempDir()
	cors := func(c *server.Config) { c.CORSOrigins = []string{page.URL} }
	s := startServer(t, dir, cors)
	const acc, app = "acc-only-new", "app-only-new"
	creds := s.createApp(acc, app)
	addr := strings.TrimPrefix(s.base, "http://")

	ctx := newBrowser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(page.URL)); err != nil {
		t.Fatalf("load the page: %v", err)
	}
	sse := s.base + "/accounts/" + acc + "/realtime/kit/" + app + "/events/sse?only_new=true&access_token=" + creds.APIToken
	opened, err := chromedp.Run(ctx, chromedp.Evaluate[pageResult](fmt.Sprintf("openFeed(%q)", sse), chromedp.EvalAwaitPromise))
	if err != nil || !opened.Open {
		t.Fatalf("page's EventSource did not open: %+v %v", opened, err)
	}
	time.Sleep(time.Second) // what the stream sends at once (its cursor) reaches the page

	// Restart, and commit three events before the browser reconnects (it waits about 3 s).
	s.stop()
	s = startServer(t, dir, cors, func(c *server.Config) { c.HTTPAddr = addr })
	var want []string
	for range 3 {
		seq, _, err := testenv.PostHMS(http.DefaultClient, s.base, acc, app, creds.WebhookSecret, testenv.HMSDelivery("peer.join.success", "room-away"))
		if err != nil {
			t.Fatalf("post a 100ms delivery: %v", err)
		}
		want = append(want, strconv.FormatUint(seq, 10))
	}
	var got []string
	for range want {
		ev, err := chromedp.Run(ctx, chromedp.Evaluate[pageEvent]("nextEvent()", chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("page waiting for the events committed while it was away (got %v, want %v): %v", got, want, err)
		}
		got = append(got, ev.LastEventID)
	}
	if !slices.Equal(got, want) {
		t.Errorf("after the restart the page got %v, want the events committed while it was away, %v", got, want)
	}
}

// TestBrowserStopsAtUnreadableEvent: a page follows the feed from the start, and the
// tenant's second event cannot be read back. The browser gets the first event, then
// livegate's error event (EVENT_UNREADABLE); EventSource reconnects by itself from the first
// event's id, is answered 500 with the error envelope, and stops. Until 2026-11-30 the
// reconnect was answered 200 and the same error event (the header went before the replay
// read): the browser reconnected to the same cursor every 3 s, for as long as the page
// stayed open.
func TestBrowserStopsAtUnreadableEvent(t *testing.T) {
	page := pageServer(t)
	s := startServer(t, t.TempDir(), func(c *server.Config) { c.CORSOrigins = []string{page.URL} })
	ft := newFeedTenant(s, "acc-poison", "app-poison")
	seqs := appendItems(t, server.StoreOf(s.srv), feedItem{ft: ft}, feedItem{ft: ft, poison: true}, feedItem{ft: ft})

	ctx := newBrowser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(page.URL)); err != nil {
		t.Fatalf("load the page: %v", err)
	}
	sse := s.base + "/accounts/" + ft.acc + "/realtime/kit/" + ft.app + "/events/sse?after_sequence=0&access_token=" + ft.token
	got, err := chromedp.Run(ctx, chromedp.Evaluate[followed](fmt.Sprintf("followUntilClosed(%q, 12000)", sse), chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("page following the feed: %v", err)
	}
	if !got.Closed || got.Opens != 1 || !slices.Equal(got.IDs, []string{strconv.FormatUint(seqs[0], 10)}) ||
		!slices.Equal(got.Reasons, []string{"EVENT_UNREADABLE"}) {
		t.Errorf("page's EventSource: %+v; want it opened once, given event %d and EVENT_UNREADABLE, then closed by the browser", got, seqs[0])
	}
	var statuses []float64
	for _, l := range s.logLines(t, "http request") {
		if strings.HasSuffix(fmt.Sprint(l["path"]), "/events/sse") {
			statuses = append(statuses, l["status"].(float64))
		}
	}
	if !slices.Equal(statuses, []float64{200, 500}) {
		t.Errorf("the feed's requests were answered %v; want 200, then 500 to the browser's one reconnect", statuses)
	}
}

// TestBrowserRetriesPastTheSubscriptionLimit: a page's EventSource refused for now (the
// app's subscription limit, 429 with Retry-After: 5) reconnects by itself and, once a
// subscription is free, receives the feed. (Answered with the 429 as its status, as it was,
// EventSource closed for good: so did the feed audit's after a reconnect while PostgreSQL was
// down, 503.)
func TestBrowserRetriesPastTheSubscriptionLimit(t *testing.T) {
	page := pageServer(t)
	s := startServer(t, t.TempDir(), func(c *server.Config) {
		c.CORSOrigins = []string{page.URL}
		c.Feed.MaxPerApp = 1
	})
	ft := newFeedTenant(s, "acc-full", "app-full")
	// The app's one subscription, held over gRPC until the page has been refused.
	holdCtx, release := context.WithCancel(withToken(ft.token))
	defer release()
	held, err := livegatev1.NewEventServiceClient(s.conn).Subscribe(holdCtx, &livegatev1.SubscribeRequest{AccountId: ft.acc, AppId: ft.app, OnlyNew: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := held.Recv(); err != nil {
		t.Fatal(err)
	}

	ctx := newBrowser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(page.URL)); err != nil {
		t.Fatalf("load the page: %v", err)
	}
	sse := s.base + "/accounts/" + ft.acc + "/realtime/kit/" + ft.app + "/events/sse?only_new=true&access_token=" + ft.token
	// Follow until the first event, the browser closing the EventSource, or 20 s.
	script := fmt.Sprintf("followUntilClosed(%q, 20000, true)", sse)
	type result struct {
		got followed
		err error
	}
	done := make(chan result, 1)
	go func() {
		got, err := chromedp.Run(ctx, chromedp.Evaluate[followed](script, chromedp.EvalAwaitPromise))
		done <- result{got, err}
	}()
	// Once the page has been refused, free the subscription; then post until the page has
	// an event (it reconnects about 5 s after the refusal).
	testenv.WaitFor(t, "the page's first subscription", func() bool {
		for _, l := range s.logLines(t, "http request") {
			if strings.HasSuffix(fmt.Sprint(l["path"]), "/events/sse") {
				return true
			}
		}
		return false
	})
	release()
	var seqs []uint64
	var res result
	for wait := time.After(30 * time.Second); ; {
		seq, err := postHMS(s.base, ft, hmsBody("peer.join.success", "room-full", 0))
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, seq)
		select {
		case res = <-done:
		case <-time.After(500 * time.Millisecond):
			continue
		case <-wait:
			t.Fatal("the page did not finish within 30 s")
		}
		break
	}
	if res.err != nil {
		t.Fatalf("page following the feed: %v", res.err)
	}
	got := res.got
	if got.Closed || got.Opens != 2 || !slices.Equal(got.Reasons, []string{"TOO_MANY_REQUESTS"}) ||
		len(got.IDs) != 1 || !slices.Contains(seqs, mustUint(t, got.IDs[0])) {
		t.Errorf("page's EventSource: %+v; want TOO_MANY_REQUESTS on its first open, then, reconnected by itself, one of the events posted after (%v)", got, seqs)
	}
}
