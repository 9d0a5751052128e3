package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/server"
	"github.com/livegate/livegate/internal/testenv"
	"github.com/livegate/livegate/services/event"
)

// The event feed over HTTP: newline-delimited JSON (`events:stream`, grpc-gateway's stream
// mapping) and Server-Sent Events (`events/sse`), through real HTTP against a real server.

const rfWait = 20 * time.Second // deadline for anything expected to arrive

// rfHTTP bounds the tests' plain requests, so that a stuck server fails the test.
var rfHTTP = &http.Client{Timeout: rfWait}

// rfApp is a server with one app whose events the tests post.
type rfApp struct {
	s        *testServer
	acc, app string
	token    string
	secret   string
}

func newRFApp(t *testing.T) *rfApp {
	t.Helper()
	s := startServer(t, t.TempDir())
	creds := s.createApp("acc-feed", "app-feed")
	return &rfApp{s: s, acc: "acc-feed", app: "app-feed", token: creds.APIToken, secret: creds.WebhookSecret}
}

func (f *rfApp) path(rest string) string {
	return "/accounts/" + f.acc + "/realtime/kit/" + f.app + rest
}

// post delivers a 100ms webhook of the type in room and returns its sequence.
func (f *rfApp) post(t *testing.T, typ, room string) uint64 {
	t.Helper()
	seq, dup, err := testenv.PostHMS(rfHTTP, f.s.base, f.acc, f.app, f.secret, testenv.HMSDelivery(typ, room))
	if err != nil || dup {
		t.Fatalf("post %s: %v (duplicate: %v)", typ, err, dup)
	}
	return seq
}

// open sends a GET that may stream; the response body is closed when the test ends.
func (f *rfApp) open(t *testing.T, path string, header http.Header) *http.Response {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.s.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	type result struct {
		resp *http.Response
		err  error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		got <- result{resp, err}
	}()
	select {
	case r := <-got:
		if r.err != nil {
			cancel()
			t.Fatalf("GET %s: %v", path, r.err)
		}
		t.Cleanup(func() { cancel(); r.resp.Body.Close() })
		return r.resp
	case <-time.After(rfWait):
		cancel()
		t.Fatalf("GET %s: no response headers within %v", path, rfWait)
		return nil
	}
}

// rfCtx is a context that ends after rfWait.
func rfCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), rfWait)
	t.Cleanup(cancel)
	return ctx
}

func rfBearer(token string) http.Header {
	return http.Header{"Authorization": {"Bearer " + token}}
}

// ---- NDJSON ----

// ndjsonLine is one line of events:stream: {"result": SubscribeResponse} or {"error": Status}.
type ndjsonLine struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Details []struct {
			Type     string            `json:"@type"`
			Reason   string            `json:"reason"`
			Metadata map[string]string `json:"metadata"`
		} `json:"details"`
	} `json:"error"`

	msg *livegatev1.SubscribeResponse
	raw string
}

// ndjsonLines reads a stream's lines as they arrive; the channel closes at the end.
func ndjsonLines(t *testing.T, body io.Reader) <-chan ndjsonLine {
	out := make(chan ndjsonLine, 64)
	go func() {
		defer close(out)
		sc := bufio.NewScanner(body)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for sc.Scan() {
			line := ndjsonLine{raw: sc.Text()}
			if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
				line.raw = "NOT JSON: " + line.raw
			} else if line.Result != nil {
				line.msg = &livegatev1.SubscribeResponse{}
				if err := protojson.Unmarshal(line.Result, line.msg); err != nil {
					line.raw = "NOT A SubscribeResponse: " + line.raw
					line.msg = nil
				}
			}
			out <- line
		}
	}()
	return out
}

// nextNDJSON returns the next line that is an event or an error (progress lines are
// skipped), failing the test past the deadline or at the end of the stream.
func nextNDJSON(t *testing.T, lines <-chan ndjsonLine) ndjsonLine {
	t.Helper()
	deadline := time.After(rfWait)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("NDJSON stream ended")
			}
			if l.Error == nil && l.msg == nil {
				t.Fatalf("bad NDJSON line: %s", l.raw)
			}
			if l.msg != nil && l.msg.GetProgress() != nil {
				continue
			}
			return l
		case <-deadline:
			t.Fatalf("no NDJSON line within %v", rfWait)
		}
	}
}

func wantNDJSONEvent(t *testing.T, lines <-chan ndjsonLine, seq uint64, typ string) {
	t.Helper()
	l := nextNDJSON(t, lines)
	ev := l.msg.GetEvent()
	if ev == nil || ev.GetSequence() != seq || ev.GetType() != typ {
		t.Fatalf("want event %d %s, got line %s", seq, typ, l.raw)
	}
}

// TestFeedNDJSONReplayLiveFilterShutdown: events:stream replays stored events, then delivers
// new ones as they are committed (each line flushed as it is sent: the stream is still
// open when it is read), filtered by type; the server's shutdown ends it with an error line.
func TestFeedNDJSONReplayLiveFilterShutdown(t *testing.T) {
	f := newRFApp(t)
	j1 := f.post(t, "peer.join.success", "r1")
	f.post(t, "peer.leave.success", "r1")
	j2 := f.post(t, "peer.join.success", "r2")

	resp := f.open(t, f.path("/events:stream?type=peer.join.success&type=session."), rfBearer(f.token))
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/x-ndjson" {
		t.Errorf("Content-Type %q, want application/x-ndjson", ct)
	}
	lines := ndjsonLines(t, resp.Body)
	wantNDJSONEvent(t, lines, j1, "peer.join.success")
	wantNDJSONEvent(t, lines, j2, "peer.join.success")

	f.post(t, "peer.leave.success", "r2") // filtered out
	j3 := f.post(t, "peer.join.success", "r3")
	s1 := f.post(t, "session.open.success", "r3")
	wantNDJSONEvent(t, lines, j3, "peer.join.success")
	wantNDJSONEvent(t, lines, s1, "session.open.success")

	// The line format: {"result":{"event":{...}}}, proto field names, sequence as a string.
	f.post(t, "peer.join.success", "r4")
	l := nextNDJSON(t, lines)
	var generic map[string]map[string]map[string]any
	if err := json.Unmarshal([]byte(l.raw), &generic); err != nil {
		t.Fatalf("line %s: %v", l.raw, err)
	}
	if ev := generic["result"]["event"]; ev == nil || ev["room_id"] != "r4" || ev["sequence"] != strconv.FormatUint(l.msg.GetEvent().GetSequence(), 10) {
		t.Errorf("line format: %s", l.raw)
	}

	// Shutdown: a last line {"error": {"code": 14 (UNAVAILABLE), ...}}, then the end.
	f.s.stop()
	l = nextNDJSON(t, lines)
	if l.Error == nil || l.Error.Code != 14 {
		t.Fatalf("want an UNAVAILABLE error line, got %s", l.raw)
	}
	if rest, ok := <-lines; ok {
		t.Errorf("line after the error: %s", rest.raw)
	}
}

// TestFeedNDJSONErrors: errors before the stream has started keep their HTTP status.
func TestFeedNDJSONErrors(t *testing.T) {
	f := newRFApp(t)
	for i := 0; i < 5; i++ {
		f.post(t, "peer.join.success", "r1")
	}
	if err := (event.Retention{MaxEvents: 2}).PruneOnce(rfCtx(t), f.s.db(), time.Now(), nil); err != nil {
		t.Fatal(err)
	}
	oldest := rfOldestKept(t, f)

	resp := f.open(t, f.path("/events:stream?after_sequence=1"), rfBearer(f.token))
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("old cursor: status %d, want 400: %s", resp.StatusCode, body)
	}
	var l ndjsonLine
	if err := json.Unmarshal(bytes.TrimSpace(body), &l); err != nil || l.Error == nil || l.Error.Code != 11 {
		t.Fatalf("old cursor: want one OUT_OF_RANGE error line, got %s", body)
	}
	if len(l.Error.Details) != 1 || l.Error.Details[0].Metadata["oldest_sequence"] != strconv.FormatUint(oldest, 10) {
		t.Errorf("old cursor: want ErrorInfo oldest_sequence %d: %s", oldest, body)
	}

	resp = f.open(t, f.path("/events:stream"), nil)
	body, _ = io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no token: status %d, want 401: %s", resp.StatusCode, body)
	}
}

// rfOldestKept is the smallest sequence still stored for the app.
func rfOldestKept(t *testing.T, f *rfApp) uint64 {
	t.Helper()
	evs := rfAllEvents(t, f.s, f.token, f.acc, f.app)
	if len(evs) == 0 {
		t.Fatal("no events kept")
	}
	return evs[0].GetSequence()
}

// rfAllEvents lists the tenant's events through gRPC.
func rfAllEvents(t *testing.T, s *testServer, token, acc, app string) []*livegatev1.Event {
	t.Helper()
	client := livegatev1.NewEventServiceClient(s.conn)
	req := &livegatev1.ListEventsRequest{AccountId: acc, AppId: app, PageSize: 1000}
	var out []*livegatev1.Event
	for {
		ctx, cancel := context.WithTimeout(withToken(token), rfWait)
		resp, err := client.ListEvents(ctx, req)
		cancel()
		if err != nil {
			t.Fatalf("ListEvents: %v", err)
		}
		out = append(out, resp.GetEvents()...)
		if resp.GetNextPageToken() == "" {
			return out
		}
		req.PageToken = resp.GetNextPageToken()
	}
}

// ---- SSE ----

// sseEvent is one dispatched block of an SSE stream: its fields, and its comment lines.
type sseEvent struct {
	ID, Event, Retry string
	HasID            bool
	Data             []string
	Comments         []string
}

// sseEvents parses an SSE stream as it arrives; the channel closes at the end.
func sseEvents(body io.Reader) <-chan sseEvent {
	out := make(chan sseEvent, 64)
	go func() {
		defer close(out)
		r := bufio.NewReader(body)
		var cur sseEvent
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimSuffix(line, "\n")
			switch {
			case line == "":
				out <- cur
				cur = sseEvent{}
			case strings.HasPrefix(line, ":"):
				cur.Comments = append(cur.Comments, strings.TrimSpace(line[1:]))
			default:
				name, value, _ := strings.Cut(line, ":")
				value = strings.TrimPrefix(value, " ")
				switch name {
				case "id":
					cur.ID, cur.HasID = value, true
				case "event":
					cur.Event = value
				case "data":
					cur.Data = append(cur.Data, value)
				case "retry":
					cur.Retry = value
				}
			}
		}
	}()
	return out
}

// nextSSE returns the next block with data (heartbeats and progress are skipped).
func nextSSE(t *testing.T, events <-chan sseEvent) sseEvent {
	t.Helper()
	deadline := time.After(rfWait)
	for {
		select {
		case e, ok := <-events:
			if !ok {
				t.Fatal("SSE stream ended")
			}
			if len(e.Data) == 0 {
				continue
			}
			return e
		case <-deadline:
			t.Fatalf("no SSE event within %v", rfWait)
		}
	}
}

// wantSSEEvent reads the next event and checks its framing: id is the sequence, event the
// type, data the Event as one line of JSON.
func wantSSEEvent(t *testing.T, events <-chan sseEvent, seq uint64, typ string) {
	t.Helper()
	e := nextSSE(t, events)
	if e.ID != strconv.FormatUint(seq, 10) || e.Event != typ || len(e.Data) != 1 {
		t.Fatalf("want id %d event %s with one data line, got %+v", seq, typ, e)
	}
	var ev livegatev1.Event
	if err := protojson.Unmarshal([]byte(e.Data[0]), &ev); err != nil {
		t.Fatalf("data is not an Event: %v: %s", err, e.Data[0])
	}
	if ev.GetSequence() != seq || ev.GetType() != typ {
		t.Fatalf("data: want %d %s, got %d %s", seq, typ, ev.GetSequence(), ev.GetType())
	}
	if !strings.Contains(e.Data[0], `"sequence":"`+e.ID+`"`) {
		t.Errorf("data does not use proto names and string sequences: %s", e.Data[0])
	}
}

func sseOK(t *testing.T, resp *http.Response) <-chan sseEvent {
	t.Helper()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	for k, want := range map[string]string{
		"Content-Type":      "text/event-stream",
		"Cache-Control":     "no-cache",
		"X-Accel-Buffering": "no",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	return sseEvents(resp.Body)
}

// TestFeedSSEFramingAndResume: replay and live events framed as SSE; a reconnect with
// Last-Event-ID gets exactly the events after it, even with an older after_sequence in the
// URL (the header wins).
func TestFeedSSEFramingAndResume(t *testing.T) {
	f := newRFApp(t)
	type posted struct {
		seq uint64
		typ string
	}
	var all []posted
	post := func(typ string) {
		all = append(all, posted{f.post(t, typ, "r1"), typ})
	}
	post("peer.join.success")
	post("peer.leave.success")
	post("session.open.success")

	events := sseOK(t, f.open(t, f.path("/events/sse?after_sequence=0"), rfBearer(f.token)))
	for _, p := range all {
		wantSSEEvent(t, events, p.seq, p.typ)
	}
	post("peer.join.success")
	wantSSEEvent(t, events, all[3].seq, all[3].typ)

	// Events committed while the client is away, then a reconnect as EventSource does it.
	post("peer.leave.success")
	post("role.change.success")
	h := rfBearer(f.token)
	h.Set("Last-Event-ID", strconv.FormatUint(all[3].seq, 10))
	resumed := sseOK(t, f.open(t, f.path("/events/sse?after_sequence="+strconv.FormatUint(all[0].seq, 10)), h))
	post("session.close.success")
	for _, p := range all[4:] {
		wantSSEEvent(t, resumed, p.seq, p.typ)
	}
	// Nothing else is pending: the next event is the next one posted.
	post("peer.join.success")
	wantSSEEvent(t, resumed, all[len(all)-1].seq, "peer.join.success")
}

// TestFeedSSEFilterAndAccessToken: the token as ?access_token= (EventSource cannot set
// headers), filters as query parameters, and an idle subscription (only_new, nothing
// matching yet) is answered 200 before any event exists.
func TestFeedSSEFilterAndAccessToken(t *testing.T) {
	f := newRFApp(t)
	before := f.post(t, "peer.leave.success", "r2") // before only_new: never delivered

	events := sseOK(t, f.open(t, f.path("/events/sse?only_new=true&type=peer.&source=hms&room_id=r2&access_token="+f.token), nil))
	// The 200 may come before the subscription has taken its starting point (the server has
	// not sent anything yet), so post in rounds until one matching event arrives. Each round
	// posts two that the filter rejects before the one it accepts.
	matching := map[uint64]bool{}
	var got sseEvent
	deadline := time.Now().Add(rfWait)
	for len(got.Data) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no SSE event within %v", rfWait)
		}
		f.post(t, "peer.join.success", "r1")    // other room
		f.post(t, "session.open.success", "r2") // other type
		matching[f.post(t, "peer.leave.success", "r2")] = true
		select {
		case e, ok := <-events:
			if !ok {
				t.Fatal("SSE stream ended")
			}
			got = e
		case <-time.After(200 * time.Millisecond):
		}
	}
	seq, err := strconv.ParseUint(got.ID, 10, 64)
	if err != nil || !matching[seq] || seq == before || got.Event != "peer.leave.success" {
		t.Fatalf("got %+v; want one of the matching events %v", got, matching)
	}
}

// TestFeedSSEErrors: errors before the stream starts are the JSON error envelope with their
// HTTP status.
func TestFeedSSEErrors(t *testing.T) {
	f := newRFApp(t)
	other := f.s.createApp("acc-other", "app-other")
	for i := 0; i < 5; i++ {
		f.post(t, "peer.join.success", "r1")
	}
	if err := (event.Retention{MaxEvents: 2}).PruneOnce(rfCtx(t), f.s.db(), time.Now(), nil); err != nil {
		t.Fatal(err)
	}
	oldest := rfOldestKept(t, f)
	lastEventID := func(v string) http.Header {
		h := rfBearer(f.token)
		h.Set("Last-Event-ID", v)
		return h
	}

	for _, tc := range []struct {
		name   string
		path   string
		header http.Header
		status int
		reason string
		inMsg  []string
	}{
		{"no token", "/events/sse", nil, 401, "UNAUTHENTICATED", nil},
		{"unknown token", "/events/sse?access_token=lgt_nope", nil, 401, "UNAUTHENTICATED", nil},
		{"other tenant's token", "/events/sse?access_token=" + other.APIToken, nil, 403, "PERMISSION_DENIED", nil},
		{"old cursor", "/events/sse?after_sequence=1", rfBearer(f.token), 400, "CURSOR_COMPACTED", []string{strconv.FormatUint(oldest, 10)}},
		{"old Last-Event-ID", "/events/sse", lastEventID("1"), 400, "CURSOR_COMPACTED", []string{strconv.FormatUint(oldest, 10)}},
		{"bad after_sequence", "/events/sse?after_sequence=abc", rfBearer(f.token), 400, "INVALID_ARGUMENT", []string{"after_sequence", "abc"}},
		{"after_sequence with a space", "/events/sse?after_sequence=%208", rfBearer(f.token), 400, "INVALID_ARGUMENT", []string{"after_sequence"}},
		{"bad Last-Event-ID", "/events/sse?after_sequence=3", lastEventID("x1"), 400, "INVALID_ARGUMENT", []string{"Last-Event-ID", "x1"}},
		{"bad only_new", "/events/sse?only_new=maybe", rfBearer(f.token), 400, "INVALID_ARGUMENT", []string{"only_new"}},
		{"bad source", "/events/sse?source=zoom", rfBearer(f.token), 400, "INVALID_ARGUMENT", []string{"source"}},
		{"too many sources", "/events/sse?source=hms" + strings.Repeat("&source=hms", 32), rfBearer(f.token), 400, "INVALID_ARGUMENT", []string{"source", "no more than 32"}},
		{"duplicate sources", "/events/sse?source=hms&source=amity&source=hms", rfBearer(f.token), 400, "INVALID_ARGUMENT", []string{"source", "unique"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := f.open(t, f.path(tc.path), tc.header)
			if resp.StatusCode == http.StatusOK && tc.status != http.StatusOK {
				t.Fatalf("status 200 (the stream started), want %d", tc.status) // its body never ends
			}
			raw, _ := io.ReadAll(resp.Body)
			r := restResponse{Status: resp.StatusCode, Raw: raw}
			if r.Status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.Status, tc.status, raw)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			msg := r.errorMessage(t)
			var env struct {
				Errors []struct {
					Reason string `json:"reason"`
				} `json:"errors"`
			}
			_ = json.Unmarshal(raw, &env)
			if env.Errors[0].Reason != tc.reason {
				t.Errorf("reason %q, want %q: %s", env.Errors[0].Reason, tc.reason, raw)
			}
			for _, s := range tc.inMsg {
				if !strings.Contains(msg, s) {
					t.Errorf("message %q does not name %q", msg, s)
				}
			}
		})
	}
}

// TestFeedSSEPassingRefusal: a refusal that waiting ends (here the app's subscription
// limit, 429 with Retry-After) is a 200 event stream of one `error` event with a `retry:` of
// the Retry-After, then its end, so that EventSource reconnects then rather than stop for
// good, as it does on any answer that is not 200. (The feed audit's browser reconnected while
// PostgreSQL was down, got 503, and received nothing more until the page was reloaded.) The
// others stay statuses (TestFeedSSEErrors).
func TestFeedSSEPassingRefusal(t *testing.T) {
	s := startServer(t, t.TempDir(), func(c *server.Config) { c.Feed.MaxPerApp = 1 })
	creds := s.createApp("acc-feed", "app-feed")
	f := &rfApp{s: s, acc: "acc-feed", app: "app-feed", token: creds.APIToken, secret: creds.WebhookSecret}
	held := sseOK(t, f.open(t, f.path("/events/sse?only_new=true"), rfBearer(f.token)))
	if e := <-held; !e.HasID {
		t.Fatalf("first message of the held subscription: %+v, want its cursor", e)
	}

	events := sseOK(t, f.open(t, f.path("/events/sse?only_new=true"), rfBearer(f.token)))
	e := nextSSE(t, events)
	var d struct {
		Code   int    `json:"code"`
		Reason string `json:"reason"`
	}
	retry, _ := strconv.Atoi(e.Retry)
	if err := json.Unmarshal([]byte(e.Data[0]), &d); err != nil || e.Event != "error" || retry < 5000 || retry >= 10000 || d.Code != 429 || d.Reason != "TOO_MANY_REQUESTS" {
		t.Fatalf("got %+v; want an error event, 429 TOO_MANY_REQUESTS, with a retry: of 5 to 10 s (Retry-After 5, and a random part)", e)
	}
	for e := range events {
		t.Errorf("after the error event: %+v", e)
	}
	// Logged (and counted) as the refusal it is, answered 200.
	var refusals int
	for _, l := range s.logLines(t, "http request") {
		if strings.HasSuffix(fmt.Sprint(l["path"]), "/events/sse") && l["status"] == 429.0 && l["answered"] == 200.0 {
			refusals++
		}
	}
	if refusals != 1 {
		t.Errorf("%d access log lines of the refusal with status 429, answered 200; want 1", refusals)
	}
}

// TestFeedSSEShutdown: a stream that has started ends with an `error` event (UNAVAILABLE)
// when the server shuts down.
func TestFeedSSEShutdown(t *testing.T) {
	f := newRFApp(t)
	seq := f.post(t, "peer.join.success", "r1")
	events := sseOK(t, f.open(t, f.path("/events/sse"), rfBearer(f.token)))
	wantSSEEvent(t, events, seq, "peer.join.success")

	f.s.stop()
	e := nextSSE(t, events)
	if e.Event != "error" || len(e.Data) != 1 {
		t.Fatalf("want an error event, got %+v", e)
	}
	var d struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Reason  string `json:"reason"`
	}
	if err := json.Unmarshal([]byte(e.Data[0]), &d); err != nil || d.Code != 503 || d.Reason != "UNAVAILABLE" || d.Message == "" {
		t.Fatalf("error data %q", e.Data[0])
	}
	for e := range events {
		t.Errorf("after the error event: %+v", e)
	}
}
