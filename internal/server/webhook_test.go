package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/amity"
	"github.com/livegate/livegate/internal/hms"
	"github.com/livegate/livegate/internal/payload"
)

// post sends a raw webhook delivery and returns the status and decoded body.
func (s *testServer) post(path string, headers map[string]string, body []byte) restResponse {
	s.t.Helper()
	req, err := http.NewRequest("POST", s.base+path, bytes.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := restResponse{Status: resp.StatusCode, Raw: raw}
	_ = json.Unmarshal(raw, &out.Body)
	return out
}

func hmsPath(acc, app string) string {
	return "/accounts/" + acc + "/realtime/kit/" + app + "/webhooks/100ms"
}
func amityPath(acc, app string) string {
	return "/accounts/" + acc + "/realtime/kit/" + app + "/webhooks/amity"
}

// withID returns a 100ms delivery with its envelope id replaced (the seed's samples share
// one masked id).
func withID(t testing.TB, body []byte, id string) []byte {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	m["id"], _ = json.Marshal(id)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// allEvents lists every event of the tenant through gRPC, following page tokens.
func (s *testServer) allEvents(token, acc, app string) []*livegatev1.Event {
	s.t.Helper()
	var out []*livegatev1.Event
	events := livegatev1.NewEventServiceClient(s.conn)
	req := &livegatev1.ListEventsRequest{AccountId: acc, AppId: app, PageSize: 7}
	for {
		resp, err := events.ListEvents(withToken(token), req)
		if err != nil {
			s.t.Fatalf("ListEvents: %v", err)
		}
		out = append(out, resp.GetEvents()...)
		if resp.GetNextPageToken() == "" {
			return out
		}
		req.PageToken = resp.GetNextPageToken()
	}
}

func readFixture(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestWebhookSamplesStoredTyped posts every 100ms and Amity sample over HTTP: each is
// answered 200 and comes back from ListEvents as its typed message.
func TestWebhookSamplesStoredTyped(t *testing.T) {
	s := startServer(t, t.TempDir())
	creds := s.createApp(accA, appA)
	files, err := filepath.Glob("../../testdata/hms/*.json")
	if err != nil || len(files) != 33 {
		t.Fatalf("want the 33 100ms fixtures, found %d (%v)", len(files), err)
	}
	want := map[uint64]proto.Message{}
	for _, f := range files {
		body := withID(t, readFixture(t, f), uuid.NewString())
		resp := s.post(hmsPath(accA, appA), map[string]string{"X-Webhook-Secret": creds.WebhookSecret}, body)
		if resp.Status != 200 {
			t.Fatalf("%s: HTTP %d %s", filepath.Base(f), resp.Status, resp.Raw)
		}
		var seq uint64
		if _, err := fmt.Sscan(resp.Body["sequence"].(string), &seq); err != nil || resp.Body["duplicate"] != false {
			t.Fatalf("%s: answer %s", filepath.Base(f), resp.Raw)
		}
		decoded, err := hms.Decode(body)
		if err != nil || decoded.Payload == nil {
			t.Fatalf("%s: %v", f, err)
		}
		want[seq] = decoded.Payload
	}
	for _, f := range []string{"video-streaming.didStop.json", "video-streaming.didRecord.two-streams.json"} {
		body := readFixture(t, "../../testdata/amity/"+f)
		resp := s.post(amityPath(accA, appA), map[string]string{amity.SignatureHeader: amity.Sign([]byte(creds.WebhookSecret), body)}, body)
		if resp.Status != 200 {
			t.Fatalf("%s: HTTP %d %s", f, resp.Status, resp.Raw)
		}
		w, _ := amity.Decode(body)
		split := amity.Split(w)
		seqs := resp.Body["sequences"].([]any)
		if len(seqs) != len(split) {
			t.Fatalf("%s: %d sequences for %d streams", f, len(seqs), len(split))
		}
		for i, sq := range seqs {
			var seq uint64
			fmt.Sscan(sq.(string), &seq)
			want[seq] = split[i]
		}
	}

	got := map[uint64]*livegatev1.Event{}
	for _, ev := range s.allEvents(creds.APIToken, accA, appA) {
		got[ev.GetSequence()] = ev
	}
	for seq, msg := range want {
		ev := got[seq]
		if ev == nil {
			t.Errorf("event %d not listed", seq)
			continue
		}
		if ev.GetUnknown() != nil {
			t.Errorf("event %d (%s) stored as unknown", seq, ev.GetType())
			continue
		}
		if fd, ok := payload.Field(ev.GetSource(), ev.GetType()); !ok || ev.ProtoReflect().WhichOneof(fd.ContainingOneof()) != fd {
			t.Errorf("event %d (%s): payload in the wrong oneof case", seq, ev.GetType())
		} else if !proto.Equal(ev.ProtoReflect().Get(fd).Message().Interface(), msg) {
			t.Errorf("event %d (%s): payload differs from the delivery's", seq, ev.GetType())
		}
		if ev.GetOccurredAt() == nil || ev.GetReceivedAt() == nil || ev.GetProviderEventId() == "" {
			t.Errorf("event %d: envelope incomplete: %v", seq, ev)
		}
	}
}

// TestWebhookDeliveryTable: each row of the delivery table, through real HTTP, with the store
// checked afterwards.
func TestWebhookDeliveryTable(t *testing.T) {
	s := startServer(t, t.TempDir())
	creds := s.createApp(accA, appA)
	secret := map[string]string{"X-Webhook-Secret": creds.WebhookSecret}
	sample := readFixture(t, "../../testdata/hms/peer.join.success.json")
	amityBody := readFixture(t, "../../testdata/amity/video-streaming.didStop.json")
	signed := map[string]string{amity.SignatureHeader: amity.Sign([]byte(creds.WebhookSecret), amityBody)}
	count := func() int { return len(s.allEvents(creds.APIToken, accA, appA)) }

	firstID := uuid.NewString()
	var firstSeq any
	cases := []struct {
		name      string
		path      string
		headers   map[string]string
		body      []byte
		wantHTTP  int
		wantMsg   string // in the error message
		wantAdded int    // events stored by this delivery
		check     func(t *testing.T, r restResponse)
	}{
		{name: "valid, new", path: hmsPath(accA, appA), headers: secret, body: withID(t, sample, firstID), wantHTTP: 200, wantAdded: 1,
			check: func(t *testing.T, r restResponse) { firstSeq = r.Body["sequence"] }},
		{name: "same event again", path: hmsPath(accA, appA), headers: secret, body: withID(t, sample, firstID), wantHTTP: 200, wantAdded: 0,
			check: func(t *testing.T, r restResponse) {
				if r.Body["sequence"] != firstSeq || r.Body["duplicate"] != true {
					t.Errorf("redelivery answered %s, want the original sequence %v", r.Raw, firstSeq)
				}
			}},
		{name: "missing secret", path: hmsPath(accA, appA), body: withID(t, sample, uuid.NewString()), wantHTTP: 401, wantMsg: "X-Webhook-Secret"},
		{name: "wrong secret", path: hmsPath(accA, appA), headers: map[string]string{"X-Webhook-Secret": "whsec_wrong"}, body: withID(t, sample, uuid.NewString()), wantHTTP: 401, wantMsg: "X-Webhook-Secret"},
		{name: "amity wrong signature", path: amityPath(accA, appA), headers: map[string]string{amity.SignatureHeader: amity.Sign([]byte("other"), amityBody)}, body: amityBody, wantHTTP: 401, wantMsg: "x-amity-signature"},
		{name: "amity unsigned", path: amityPath(accA, appA), body: amityBody, wantHTTP: 401, wantMsg: "x-amity-signature"},
		{name: "unknown tenant", path: hmsPath(accA, "nope"), headers: secret, body: withID(t, sample, uuid.NewString()), wantHTTP: 401, wantMsg: "X-Webhook-Secret"},
		{name: "not JSON", path: hmsPath(accA, appA), headers: secret, body: []byte("type=peer.join.success"), wantHTTP: 400, wantMsg: "JSON"},
		{name: "JSON without type", path: hmsPath(accA, appA), headers: secret, body: []byte(`{"id":"x","data":{}}`), wantHTTP: 400, wantMsg: "type"},
		{name: "known type, data of the wrong shape", path: hmsPath(accA, appA), headers: secret, body: []byte(`{"id":"y","type":"peer.leave.success","data":{"duration":"forty"}}`), wantHTTP: 400, wantMsg: "data.duration"},
		{name: "amity JSON without event", path: amityPath(accA, appA), headers: map[string]string{amity.SignatureHeader: amity.Sign([]byte(creds.WebhookSecret), []byte(`{"data":{}}`))}, body: []byte(`{"data":{}}`), wantHTTP: 400, wantMsg: "event"},
		{name: "unknown type", path: hmsPath(accA, appA), headers: secret, body: []byte(`{"id":"` + uuid.NewString() + `","type":"poll.created.success","data":{"room_id":"r","question":"why?"}}`), wantHTTP: 200, wantAdded: 1,
			check: func(t *testing.T, r restResponse) {
				var seq uint64
				fmt.Sscan(r.Body["sequence"].(string), &seq)
				ev, err := livegatev1.NewEventServiceClient(s.conn).GetEvent(withToken(creds.APIToken), &livegatev1.GetEventRequest{AccountId: accA, AppId: appA, Sequence: seq})
				if err != nil {
					t.Fatal(err)
				}
				raw := ev.GetEvent().GetUnknown().GetRaw().AsMap()
				if ev.GetEvent().GetType() != "poll.created.success" || raw["data"].(map[string]any)["question"] != "why?" {
					t.Errorf("unknown event not kept raw: %v", ev)
				}
				// Its data.room_id is the event's room, as a known type's is: the feed's room
				// filter finds it (it found none before: the feed audit).
				if ev.GetEvent().GetRoomId() != "r" {
					t.Errorf("unknown event's room %q, want data.room_id's", ev.GetEvent().GetRoomId())
				}
				page, err := livegatev1.NewEventServiceClient(s.conn).ListEvents(withToken(creds.APIToken), &livegatev1.ListEventsRequest{AccountId: accA, AppId: appA, RoomId: "r"})
				if err != nil || len(page.GetEvents()) != 1 || page.GetEvents()[0].GetSequence() != seq {
					t.Errorf("events of room r: %v, %v; want the unknown event %d", page.GetEvents(), err, seq)
				}
			}},
		{name: "unknown type, a room id no known type may have", path: hmsPath(accA, appA), headers: secret,
			body: []byte(`{"id":"` + uuid.NewString() + `","type":"poll.closed.success","data":{"room_id":"` + strings.Repeat("r", 256) + `","session_id":7}}`), wantHTTP: 200, wantAdded: 1,
			check: func(t *testing.T, r restResponse) {
				var seq uint64
				fmt.Sscan(r.Body["sequence"].(string), &seq)
				ev, err := livegatev1.NewEventServiceClient(s.conn).GetEvent(withToken(creds.APIToken), &livegatev1.GetEventRequest{AccountId: accA, AppId: appA, Sequence: seq})
				if err != nil || ev.GetEvent().GetRoomId() != "" || ev.GetEvent().GetSessionId() != "" {
					t.Errorf("event %v, %v; want it stored, with no room or session", ev, err)
				}
			}},
		{name: "body over 1 MiB", path: hmsPath(accA, appA), headers: secret, body: append([]byte(`{"type":"x","pad":"`), append(bytes.Repeat([]byte("a"), 1<<20), `"}`...)...), wantHTTP: 413, wantMsg: "limit"},
		{name: "amity legacy duplicate", path: amityPath(accA, appA), headers: map[string]string{amity.LegacySignatureHeader: "bGVnYWN5"}, body: amityBody, wantHTTP: 200, wantAdded: 0,
			check: func(t *testing.T, r restResponse) {
				if r.Body["ignored"] != true {
					t.Errorf("legacy delivery answered %s", r.Raw)
				}
			}},
		{name: "amity valid", path: amityPath(accA, appA), headers: signed, body: amityBody, wantHTTP: 200, wantAdded: 1},
		{name: "amity redelivery", path: amityPath(accA, appA), headers: signed, body: amityBody, wantHTTP: 200, wantAdded: 0,
			check: func(t *testing.T, r restResponse) {
				if r.Body["duplicate"] != true {
					t.Errorf("redelivery answered %s", r.Raw)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := count()
			resp := s.post(tc.path, tc.headers, tc.body)
			if resp.Status != tc.wantHTTP {
				t.Fatalf("HTTP %d, want %d: %s", resp.Status, tc.wantHTTP, resp.Raw)
			}
			if tc.wantHTTP != 200 {
				if msg := resp.errorMessage(t); !strings.Contains(msg, tc.wantMsg) {
					t.Errorf("message %q does not name %q", msg, tc.wantMsg)
				}
			}
			if tc.check != nil {
				tc.check(t, resp)
			}
			if added := count() - before; added != tc.wantAdded {
				t.Errorf("stored %d events, want %d", added, tc.wantAdded)
			}
		})
	}
}

// TestWebhookConcurrentDuplicates: the same delivery sent by many senders at once is stored
// once, and every sender is answered 200 with its sequence.
func TestWebhookConcurrentDuplicates(t *testing.T) {
	s := startServer(t, t.TempDir())
	creds := s.createApp(accA, appA)
	body := withID(t, readFixture(t, "../../testdata/hms/session.open.success.json"), uuid.NewString())
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		seqs = map[any]int{}
	)
	for range 20 {
		wg.Go(func() {
			r := s.post(hmsPath(accA, appA), map[string]string{"X-Webhook-Secret": creds.WebhookSecret}, body)
			mu.Lock()
			defer mu.Unlock()
			if r.Status != 200 {
				t.Errorf("HTTP %d %s", r.Status, r.Raw)
				return
			}
			seqs[r.Body["sequence"]]++
		})
	}
	wg.Wait()
	if len(seqs) != 1 {
		t.Errorf("concurrent duplicates answered with sequences %v, want one", seqs)
	}
	if n := len(s.allEvents(creds.APIToken, accA, appA)); n != 1 {
		t.Errorf("stored %d events, want 1", n)
	}
}

// TestWebhookUnknownTenantIsAWrongSecret: a delivery to an account or app that does not exist
// is answered exactly like one with a wrong secret or signature (401, byte for byte the same
// body and headers), so an unauthenticated caller cannot tell which accounts and apps exist.
func TestWebhookUnknownTenantIsAWrongSecret(t *testing.T) {
	s := startServer(t, t.TempDir())
	creds := s.createApp(accA, appA)
	hmsBody := withID(t, readFixture(t, "../../testdata/hms/peer.join.success.json"), "fixed-id")
	amityBody := readFixture(t, "../../testdata/amity/video-streaming.didStop.json")
	wrongSig := amity.Sign([]byte("whsec_wrong"), amityBody)
	answer := func(path string, headers map[string]string, body []byte) string {
		t.Helper()
		req, err := http.NewRequest("POST", s.base+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		resp.Header.Del("Date")
		resp.Header.Del("X-Request-Id")
		var hdr bytes.Buffer
		_ = resp.Header.Write(&hdr)
		return fmt.Sprintf("%d\n%s\n%s", resp.StatusCode, hdr.String(), raw)
	}
	for _, tc := range []struct {
		name          string
		known, others []string // paths: the known tenant's, and unknown ones
		headers       map[string]string
		body          []byte
	}{
		{"100ms wrong secret", []string{hmsPath(accA, appA)}, []string{hmsPath(accA, "nope"), hmsPath("nobody", appA), hmsPath("nobody", "nope")},
			map[string]string{"X-Webhook-Secret": "whsec_wrong"}, hmsBody},
		{"100ms no secret", []string{hmsPath(accA, appA)}, []string{hmsPath(accA, "nope")}, nil, hmsBody},
		{"amity wrong signature", []string{amityPath(accA, appA)}, []string{amityPath(accA, "nope"), amityPath("nobody", "nope")},
			map[string]string{amity.SignatureHeader: wrongSig}, amityBody},
		{"amity unsigned", []string{amityPath(accA, appA)}, []string{amityPath(accA, "nope")}, nil, amityBody},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := answer(tc.known[0], tc.headers, tc.body)
			if !strings.HasPrefix(want, "401\n") {
				t.Fatalf("the known tenant's answer:\n%s\nwant 401", want)
			}
			for _, p := range tc.others {
				if got := answer(p, tc.headers, tc.body); got != want {
					t.Errorf("POST %s answered\n%s\nwant the wrong-secret answer\n%s", p, got, want)
				}
			}
		})
	}
	// The unknown tenant's secret is not the empty one: a delivery signed with the empty key
	// (what an unknown tenant's missing secret would be) is refused the same way.
	empty := map[string]string{amity.SignatureHeader: amity.Sign(nil, amityBody)}
	if got, want := answer(amityPath(accA, "nope"), empty, amityBody), answer(amityPath(accA, appA), map[string]string{amity.SignatureHeader: wrongSig}, amityBody); got != want {
		t.Errorf("an unknown tenant's delivery signed with the empty key answered\n%s\nwant\n%s", got, want)
	}
	if n := len(s.allEvents(creds.APIToken, accA, appA)); n != 0 {
		t.Errorf("refused deliveries stored %d events", n)
	}
}
