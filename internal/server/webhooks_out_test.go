package server_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/livegate/livegate/internal/amity"
	"github.com/livegate/livegate/internal/server"
	"github.com/livegate/livegate/internal/testenv"
)

// webhooksPath is the outbound webhooks API of an app.
func webhooksPath(acc, app string) string {
	return "/accounts/" + acc + "/realtime/kit/" + app + "/webhooks"
}

// publicHookURL is on a public address: registered without DNS and without the development
// flags (nothing in these tests makes an event for it to be sent).
const publicHookURL = "https://93.184.215.14/hooks/livegate"

func strs(v any) []string {
	l, _ := v.([]any)
	out := make([]string, len(l))
	for i, x := range l {
		out[i], _ = x.(string)
	}
	return out
}

// TestWebhooksOutREST drives the outbound webhooks API over REST on a real server: create
// (201, RealtimeKit's envelope and fields, the secret once, the cursor at the feed's head),
// list, get, edit (PATCH: only what is sent changes), replace (PUT), rotate-secret,
// deliveries, replay, delete (answering the webhook deleted), then 404; the API's errors in
// RealtimeKit's envelope (400 naming the field, 401, 403, 404, 415, 429 at the per-app cap).
func TestWebhooksOutREST(t *testing.T) {
	s := startServer(t, t.TempDir(), func(c *server.Config) { c.WebhooksOut.MaxPerApp = 2 })
	creds := s.createApp(accA, appA)
	other := s.createApp(accB, appB)
	tok := creds.APIToken
	base := webhooksPath(accA, appA)

	// Two events in the feed before the webhook: its cursor starts after them.
	for range 2 {
		if _, _, err := testenv.PostHMS(http.DefaultClient, s.base, accA, appA, creds.WebhookSecret, testenv.HMSDelivery("peer.join.success", "room-1")); err != nil {
			t.Fatal(err)
		}
	}

	created := s.rest("POST", base, tok, map[string]any{"name": "backend", "url": publicHookURL, "events": []string{"livestreaming.statusUpdate", "peer."}})
	if created.Status != http.StatusCreated {
		t.Fatalf("create: HTTP %d %s", created.Status, created.Raw)
	}
	d := created.data(t)
	id, _ := d["id"].(string)
	secret, _ := d["secret"].(string)
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if id == "" || d["name"] != "backend" || d["url"] != publicHookURL || d["enabled"] != true ||
		!slices.Equal(strs(d["events"]), []string{"livestreaming.statusUpdate", "peer."}) ||
		d["created_at"] == nil || d["created_at"] != d["updated_at"] || !strings.HasPrefix(secret, "whsec_") || err != nil || len(key) != 24 ||
		d["cursor"] != "2" || d["state"] != "enabled" || d["disabled_reason"] != "" {
		t.Errorf("created: %s", created.Raw)
	}
	for _, absent := range []string{"failing_since", "previous_secret_expires_at"} {
		if _, ok := d[absent]; ok {
			t.Errorf("created webhook has %s: %s", absent, created.Raw)
		}
	}

	got := s.rest("GET", base+"/"+id, tok, nil)
	g := got.data(t)
	if got.Status != 200 || g["id"] != id || g["name"] != "backend" {
		t.Errorf("get: HTTP %d %s", got.Status, got.Raw)
	}
	if _, ok := g["secret"]; ok {
		t.Errorf("get shows the secret: %s", got.Raw)
	}
	list := s.rest("GET", base, tok, nil)
	if items, _ := list.Body["data"].([]any); list.Status != 200 || list.Body["success"] != true || len(items) != 1 || items[0].(map[string]any)["id"] != id {
		t.Errorf("list: HTTP %d %s", list.Status, list.Raw)
	}

	edited := s.rest("PATCH", base+"/"+id, tok, map[string]any{"enabled": false})
	e := edited.data(t)
	if edited.Status != 200 || e["enabled"] != false || e["state"] != "disabled" || e["name"] != "backend" || e["url"] != publicHookURL ||
		!slices.Equal(strs(e["events"]), []string{"livestreaming.statusUpdate", "peer."}) {
		t.Errorf("PATCH enabled=false: HTTP %d %s", edited.Status, edited.Raw)
	}
	replaced := s.rest("PUT", base+"/"+id, tok, map[string]any{"name": "replaced", "url": publicHookURL, "events": []string{"meeting.started"}})
	rd := replaced.data(t)
	if replaced.Status != 200 || rd["name"] != "replaced" || rd["enabled"] != true || !slices.Equal(strs(rd["events"]), []string{"meeting.started"}) || rd["created_at"] != d["created_at"] {
		t.Errorf("PUT: HTTP %d %s", replaced.Status, replaced.Raw)
	}

	rotated := s.rest("POST", base+"/"+id+"/rotate-secret", tok, map[string]any{"grace": "3600s"})
	rt := rotated.data(t)
	if newSecret, _ := rt["secret"].(string); rotated.Status != 200 || !strings.HasPrefix(newSecret, "whsec_") || newSecret == secret || rt["previous_secret_expires_at"] == nil {
		t.Errorf("rotate-secret: HTTP %d %s", rotated.Status, rotated.Raw)
	}
	if r := s.rest("POST", base+"/"+id+"/rotate-secret", tok, nil); r.Status != 200 || r.data(t)["secret"] == nil {
		t.Errorf("rotate-secret without a body (the 24h default): HTTP %d %s", r.Status, r.Raw)
	}
	if r := s.rest("POST", base+"/"+id+"/rotate-secret", tok, map[string]any{"grace": "700000s"}); r.Status != 400 || !strings.Contains(r.errorMessage(t), "grace") {
		t.Errorf("rotate-secret with an 8-day grace: HTTP %d %s", r.Status, r.Raw)
	}

	deliveries := s.rest("GET", base+"/"+id+"/deliveries?page_size=10", tok, nil)
	if items, ok := deliveries.Body["data"].([]any); deliveries.Status != 200 || !ok || len(items) != 0 || deliveries.Body["next_page_token"] != "" {
		t.Errorf("deliveries of a new webhook: HTTP %d %s", deliveries.Status, deliveries.Raw)
	}

	replayed := s.rest("POST", base+"/"+id+"/replay", tok, map[string]any{"after_sequence": "1"})
	if replayed.Status != 200 || replayed.data(t)["cursor"] != "1" {
		t.Errorf("replay from 1: HTTP %d %s", replayed.Status, replayed.Raw)
	}
	ahead := s.rest("POST", base+"/"+id+"/replay", tok, map[string]any{"after_sequence": 99})
	if _, msg, reason := envelope(t, ahead.Raw); ahead.Status != 400 || reason != "CURSOR_AHEAD" || !strings.Contains(msg, "at most 2") {
		t.Errorf("replay beyond the head: HTTP %d %s", ahead.Status, ahead.Raw)
	}

	// Errors, in RealtimeKit's envelope.
	for _, tc := range []struct {
		name, method, path, token string
		body                      any
		status                    int
		reason, words             string
	}{
		{"no token", "GET", base, "", nil, 401, "UNAUTHENTICATED", ""},
		{"another app's token", "GET", base, other.APIToken, nil, 403, "PERMISSION_DENIED", ""},
		{"another app's webhook", "GET", webhooksPath(accB, appB) + "/" + id, other.APIToken, nil, 404, "NOT_FOUND", id},
		{"an unknown webhook", "DELETE", base + "/0b7a7c1e-0000-4000-8000-000000000000", tok, nil, 404, "NOT_FOUND", "webhook"},
		{"an id that is not a UUID", "GET", base + "/not-a-uuid", tok, nil, 400, "", "webhook_id"},
		{"no events", "POST", base, tok, map[string]any{"name": "x", "url": publicHookURL, "events": []string{}}, 400, "INVALID_ARGUMENT", "events"},
		{"a RealtimeKit event livegate cannot send", "POST", base, tok, map[string]any{"name": "x", "url": publicHookURL, "events": []string{"meeting.summary"}}, 400, "INVALID_ARGUMENT", "meeting.summary (livegate has no meeting summary source)"},
		{"no name", "POST", base, tok, map[string]any{"url": publicHookURL, "events": []string{"hls."}}, 400, "", "name"},
		{"not JSON", "POST", base, tok, "name=x", 400, "", ""},
	} {
		r := s.rest(tc.method, tc.path, tc.token, tc.body)
		code, msg, reason := envelope(t, r.Raw)
		if r.Status != tc.status || code != tc.status || (tc.reason != "" && reason != tc.reason) || !strings.Contains(msg, tc.words) {
			t.Errorf("%s: HTTP %d %s; want %d %s %q", tc.name, r.Status, r.Raw, tc.status, tc.reason, tc.words)
		}
	}
	req, _ := http.NewRequest("POST", s.base+base, strings.NewReader("name=x"))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("a form body: %v %v, want 415", resp, err)
	} else {
		resp.Body.Close()
	}

	// The per-app cap (2 here): 429, no Retry-After (waiting frees nothing).
	if r := s.rest("POST", base, tok, map[string]any{"name": "second", "url": publicHookURL, "events": []string{"hls."}}); r.Status != 201 {
		t.Fatalf("second create: HTTP %d %s", r.Status, r.Raw)
	}
	third := s.rest("POST", base, tok, map[string]any{"name": "third", "url": publicHookURL, "events": []string{"hls."}})
	if _, msg, reason := envelope(t, third.Raw); third.Status != 429 || reason != "TOO_MANY_REQUESTS" || !strings.Contains(msg, "limit of 2 webhooks") {
		t.Errorf("third create: HTTP %d %s", third.Status, third.Raw)
	}
	// Its headers tell the Cloudflare SDKs, which retry a 429, not to: waiting frees nothing.
	req, _ = http.NewRequest(http.MethodPost, s.base+base, strings.NewReader(`{"name":"third","url":"`+publicHookURL+`","events":["hls."]}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	if resp, err := http.DefaultClient.Do(req); err != nil {
		t.Error(err)
	} else {
		resp.Body.Close()
		if resp.StatusCode != 429 || resp.Header.Get("X-Should-Retry") != "false" || resp.Header.Get("Retry-After") != "" {
			t.Errorf("third create: HTTP %d, x-should-retry %q, Retry-After %q; want 429, false, none",
				resp.StatusCode, resp.Header.Get("X-Should-Retry"), resp.Header.Get("Retry-After"))
		}
	}

	deleted := s.rest("DELETE", base+"/"+id, tok, nil)
	if dd := deleted.data(t); deleted.Status != 200 || dd["id"] != id || dd["name"] != "replaced" || dd["url"] != publicHookURL {
		t.Errorf("delete: HTTP %d %s", deleted.Status, deleted.Raw)
	}
	if r := s.rest("GET", base+"/"+id, tok, nil); r.Status != 404 {
		t.Errorf("get after delete: HTTP %d %s", r.Status, r.Raw)
	}
}

// TestWebhooksOutSSRF: without the development flags, creating (or editing to) a URL on
// loopback, a private network, the metadata service, IPv6 loopback, or a name resolving to
// loopback is refused with 400 naming the url and the rule, as is http; with
// --webhooks-allow-http and --webhooks-allow-private they are accepted, and the server says
// so in its log at start.
func TestWebhooksOutSSRF(t *testing.T) {
	refused := []string{
		"https://127.0.0.1/hook", "https://10.0.0.7:8443/hook", "https://169.254.169.254/latest/meta-data/",
		"https://[::1]:8443/hook", "https://localhost/hook", "https://127.1/hook", "https://[::ffff:10.0.0.1]/hook",
	}
	s := startServer(t, t.TempDir())
	creds := s.createApp(accA, appA)
	base := webhooksPath(accA, appA)
	for _, u := range refused {
		r := s.rest("POST", base, creds.APIToken, map[string]any{"name": "x", "url": u, "events": []string{"hls."}})
		// 127.1 is no IP address to Go: it is refused as a name that does not resolve.
		if _, msg, reason := envelope(t, r.Raw); r.Status != 400 || reason != "INVALID_ARGUMENT" || !strings.HasPrefix(msg, "url: ") ||
			(u != "https://127.1/hook" && !strings.Contains(msg, "public addresses only")) {
			t.Errorf("create on %s: HTTP %d %s", u, r.Status, r.Raw)
		}
	}
	r := s.rest("POST", base, creds.APIToken, map[string]any{"name": "x", "url": "http://93.184.215.14/hook", "events": []string{"hls."}})
	if _, msg, _ := envelope(t, r.Raw); r.Status != 400 || !strings.Contains(msg, "must be https") {
		t.Errorf("create on http: HTTP %d %s", r.Status, r.Raw)
	}
	ok := s.rest("POST", base, creds.APIToken, map[string]any{"name": "x", "url": publicHookURL, "events": []string{"hls."}})
	if ok.Status != 201 {
		t.Fatalf("create on a public address: HTTP %d %s", ok.Status, ok.Raw)
	}
	id, _ := ok.data(t)["id"].(string)
	edit := s.rest("PATCH", base+"/"+id, creds.APIToken, map[string]any{"url": "https://169.254.169.254/"})
	if edit.Status != 400 || !strings.Contains(edit.errorMessage(t), "169.254.169.254") {
		t.Errorf("edit to the metadata service: HTTP %d %s", edit.Status, edit.Raw)
	}
	if list := s.rest("GET", base, creds.APIToken, nil); len(list.Body["data"].([]any)) != 1 {
		t.Errorf("after the refusals: %s", list.Raw)
	}
	if lines := s.logLines(t, "outbound webhooks: URLs are not held to https and public addresses: for development only"); len(lines) != 0 {
		t.Errorf("a server without the development flags warned: %v", lines)
	}

	dev := startServer(t, t.TempDir(), func(c *server.Config) { c.WebhooksOut.AllowHTTP, c.WebhooksOut.AllowPrivate = true, true })
	creds = dev.createApp(accA, appA)
	for _, u := range append(refused, "http://127.0.0.1:9/hook") {
		r := dev.rest("POST", base, creds.APIToken, map[string]any{"name": "dev", "url": u, "events": []string{"hls."}, "enabled": false})
		if r.Status != 201 {
			t.Errorf("create on %s with the development flags: HTTP %d %s", u, r.Status, r.Raw)
		}
	}
	lines := dev.logLines(t, "outbound webhooks: URLs are not held to https and public addresses: for development only")
	if len(lines) != 1 || lines[0]["level"] != "WARN" || lines[0]["webhooks_allow_http"] != true || lines[0]["webhooks_allow_private"] != true {
		t.Errorf("the development flags' warning: %v", lines)
	}
}

// TestWebhooksOutLeaveInboundRoutes: the provider routes under webhooks/ (100ms, Amity)
// still take deliveries beside the outbound webhooks API, and are not taken for a webhook
// id: a 100ms or Amity delivery is stored, other methods on them are 405 as before (not the
// API's 400 for an id that is not a UUID), the API lists only the webhook created.
func TestWebhooksOutLeaveInboundRoutes(t *testing.T) {
	s := startServer(t, t.TempDir())
	creds := s.createApp(accA, appA)
	base := webhooksPath(accA, appA)
	if r := s.rest("POST", base, creds.APIToken, map[string]any{"name": "x", "url": publicHookURL, "events": []string{"hls."}, "enabled": false}); r.Status != 201 {
		t.Fatalf("create: HTTP %d %s", r.Status, r.Raw)
	}
	seq, dup, err := testenv.PostHMS(http.DefaultClient, s.base, accA, appA, creds.WebhookSecret, testenv.HMSDelivery("peer.join.success", "room-1"))
	if err != nil || dup || seq == 0 {
		t.Errorf("a 100ms delivery: seq %d, duplicate %v, %v", seq, dup, err)
	}
	amityBody := readFixture(t, "../../testdata/amity/video-streaming.didStop.json")
	r := s.post(amityPath(accA, appA), map[string]string{amity.SignatureHeader: amity.Sign([]byte(creds.WebhookSecret), amityBody)}, amityBody)
	if r.Status != 200 {
		t.Errorf("an Amity delivery: HTTP %d %s", r.Status, r.Raw)
	}
	// A wrong secret is still the provider route's answer (401), not the API's.
	r = s.post(hmsPath(accA, appA), map[string]string{"X-Webhook-Secret": "wrong"}, testenv.HMSDelivery("peer.join.success", "room-1"))
	if r.Status != 401 {
		t.Errorf("a 100ms delivery with a wrong secret: HTTP %d %s", r.Status, r.Raw)
	}
	if got := s.allEvents(creds.APIToken, accA, appA); len(got) < 2 {
		t.Errorf("%d events stored, want the 100ms and the Amity deliveries'", len(got))
	}
	// Other methods on the provider routes are 405, as before the API's webhooks/{id}.
	for _, p := range []string{"100ms", "amity"} {
		for _, m := range []string{"GET", "PUT", "PATCH", "DELETE"} {
			r := s.rest(m, base+"/"+p, creds.APIToken, nil)
			if _, msg, reason := envelope(t, r.Raw); r.Status != 405 || reason != "METHOD_NOT_ALLOWED" || msg != m+" is not allowed on "+base+"/"+p {
				t.Errorf("%s webhooks/%s: HTTP %d %s, want 405", m, p, r.Status, r.Raw)
			}
		}
	}
	if list := s.rest("GET", base, creds.APIToken, nil); fmt.Sprint(len(list.Body["data"].([]any))) != "1" {
		t.Errorf("list: %s", list.Raw)
	}
}

// TestWebhooksOutTwoNodes: two nodes on one PostgreSQL database serve one app's webhooks:
// what one creates the other lists, gets and deletes; the per-app cap counts both nodes'
// creates, also when they race (it is counted inside the write transaction); a new webhook's
// cursor is the shared feed's head.
func TestWebhooksOutTwoNodes(t *testing.T) {
	dsn := testenv.PostgresDB(t)
	var nodes []*testServer
	for range 2 {
		nodes = append(nodes, startServer(t, t.TempDir(), func(c *server.Config) {
			c.DatabaseURL = dsn
			c.WebhooksOut.MaxPerApp = 3
		}))
	}
	a, b := nodes[0], nodes[1]
	creds := a.createApp(accA, appA)
	base := webhooksPath(accA, appA)
	if _, _, err := testenv.PostHMS(http.DefaultClient, b.base, accA, appA, creds.WebhookSecret, testenv.HMSDelivery("peer.join.success", "room-1")); err != nil {
		t.Fatal(err)
	}
	created := a.rest("POST", base, creds.APIToken, map[string]any{"name": "a", "url": publicHookURL, "events": []string{"hls."}})
	if created.Status != 201 || created.data(t)["cursor"] != "1" {
		t.Fatalf("create on node A: HTTP %d %s", created.Status, created.Raw)
	}
	id, _ := created.data(t)["id"].(string)
	if r := b.rest("GET", base+"/"+id, creds.APIToken, nil); r.Status != 200 || r.data(t)["name"] != "a" {
		t.Errorf("get on node B: HTTP %d %s", r.Status, r.Raw)
	}

	// Four creates at once, two on each node: two fit under the cap of 3.
	statuses := make(chan int, 4)
	for i := range 4 {
		n := nodes[i%2]
		go func() {
			req, _ := http.NewRequest("POST", n.base+base, strings.NewReader(`{"name":"race","url":"`+publicHookURL+`","events":["hls."]}`))
			req.Header.Set("Authorization", "Bearer "+creds.APIToken)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				statuses <- 0
				return
			}
			resp.Body.Close()
			statuses <- resp.StatusCode
		}()
	}
	count := map[int]int{}
	for range 4 {
		count[<-statuses]++
	}
	if count[201] != 2 || count[429] != 2 {
		t.Errorf("four racing creates under a cap of 3 with 1 made: %v, want two 201 and two 429", count)
	}
	if items := b.rest("GET", base, creds.APIToken, nil).Body["data"].([]any); len(items) != 3 {
		t.Errorf("node B lists %d webhooks, want 3", len(items))
	}
	if r := b.rest("DELETE", base+"/"+id, creds.APIToken, nil); r.Status != 200 {
		t.Errorf("delete on node B: HTTP %d %s", r.Status, r.Raw)
	}
	if r := a.rest("GET", base+"/"+id, creds.APIToken, nil); r.Status != 404 {
		t.Errorf("get on node A after the delete: HTTP %d %s", r.Status, r.Raw)
	}
}
