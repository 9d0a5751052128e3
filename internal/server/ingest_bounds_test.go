package server_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/google/uuid"
	rtmpv1 "github.com/livegate/livegate/gen/go/livegate/rtmp/v1"
	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/amity"
	"github.com/livegate/livegate/internal/apierror"
	"github.com/livegate/livegate/internal/limits"
	"github.com/livegate/livegate/internal/rtmp"
	"github.com/livegate/livegate/internal/server"
	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/testenv"
)

// TestDeliveryBoundsOverHTTP: the two hostile 100ms deliveries of the report (an unknown
// type nested 5,500 deep, and 500k numbers in under 1 MiB) are refused over HTTP with a 4xx
// naming the limit, and store nothing; deliveries at the bounds are stored and read back
// through GetEvent and ListEvents, over gRPC and REST.
func TestDeliveryBoundsOverHTTP(t *testing.T) {
	s := startServer(t, t.TempDir())
	creds := s.createApp(accA, appA)
	secret := map[string]string{"X-Webhook-Secret": creds.WebhookSecret}
	body := func(id, data string) []byte {
		return []byte(`{"id":"` + id + `","type":"custom.unknown","data":{"x":` + data + `}}`)
	}

	deep := body("deep", strings.Repeat("[", 5500)+strings.Repeat("]", 5500))
	resp := s.post(hmsPath(accA, appA), secret, deep)
	if msg := resp.errorMessage(t); resp.Status != 400 || resp.Body["errors"].([]any)[0].(map[string]any)["reason"] != "INVALID_ARGUMENT" || !strings.Contains(msg, fmt.Sprint(limits.MaxJSONDepth)) {
		t.Fatalf("deep delivery: HTTP %d %s", resp.Status, resp.Raw)
	}
	many := body("many", "["+strings.TrimSuffix(strings.Repeat("1,", 500_000), ",")+"]")
	resp = s.post(hmsPath(accA, appA), secret, many)
	if msg := resp.errorMessage(t); resp.Status != 413 || resp.Body["errors"].([]any)[0].(map[string]any)["reason"] != "PAYLOAD_TOO_LARGE" || !strings.Contains(msg, fmt.Sprint(limits.MaxJSONValues)) {
		t.Fatalf("500k numbers: HTTP %d %s", resp.Status, resp.Raw)
	}
	amityDeep := []byte(`{"event":"video-streaming.didStart","data":{"videoStreamings":[{"metadata":{"x":` + strings.Repeat("[", 5500) + strings.Repeat("]", 5500) + `}}]}}`)
	resp = s.post(amityPath(accA, appA), map[string]string{amity.SignatureHeader: amity.Sign([]byte(creds.WebhookSecret), amityDeep)}, amityDeep)
	if msg := resp.errorMessage(t); resp.Status != 400 || !strings.Contains(msg, fmt.Sprint(limits.MaxJSONDepth)) {
		t.Fatalf("deep Amity delivery: HTTP %d %s", resp.Status, resp.Raw)
	}
	if got := s.allEvents(creds.APIToken, accA, appA); len(got) != 0 {
		t.Fatalf("refused deliveries stored %d events", len(got))
	}

	// At the bounds: the envelope and data are two levels, and five values.
	atDepth := body("at-depth", strings.Repeat("[", limits.MaxJSONDepth-2)+strings.Repeat("]", limits.MaxJSONDepth-2))
	atValues := body("at-values", "["+strings.TrimSuffix(strings.Repeat("null,", limits.MaxJSONValues-5), ",")+"]")
	var seqs []string
	for _, b := range [][]byte{atDepth, atValues} {
		resp := s.post(hmsPath(accA, appA), secret, b)
		if resp.Status != 200 {
			t.Fatalf("a delivery at the bounds: HTTP %d %.300s", resp.Status, resp.Raw)
		}
		seqs = append(seqs, resp.Body["sequence"].(string))
	}
	events := livegatev1.NewEventServiceClient(s.conn)
	for _, seq := range seqs {
		var n uint64
		fmt.Sscan(seq, &n)
		got, err := events.GetEvent(withToken(creds.APIToken), &livegatev1.GetEventRequest{AccountId: accA, AppId: appA, Sequence: n})
		if err != nil || got.GetEvent().GetUnknown().GetRaw() == nil {
			t.Fatalf("GetEvent %d: %v", n, err)
		}
		r := s.rest("GET", "/accounts/"+accA+"/realtime/kit/"+appA+"/events/"+seq, creds.APIToken, nil)
		if r.Status != 200 {
			t.Fatalf("GET event %s: HTTP %d %.300s", seq, r.Status, r.Raw)
		}
	}
	if got := s.allEvents(creds.APIToken, accA, appA); len(got) != 2 {
		t.Fatalf("ListEvents: %d events, want 2", len(got))
	}
	if r := s.rest("GET", "/accounts/"+accA+"/realtime/kit/"+appA+"/events", creds.APIToken, nil); r.Status != 200 {
		t.Fatalf("GET events: HTTP %d %.300s", r.Status, r.Raw)
	}
}

// grpcReason returns the code and ErrorInfo reason of a gRPC error.
func grpcReason(err error) (codes.Code, string) {
	st := status.Convert(err)
	return st.Code(), apierror.Info(st).GetReason()
}

// TestWebhookSecretBeforeValidation: over gRPC, a wrong secret is 401 SIGNATURE_MISMATCH
// whatever else the request holds (an oversized body, no callback); with the right secret
// the same requests are refused for what they hold.
func TestWebhookSecretBeforeValidation(t *testing.T) {
	s := startServer(t, t.TempDir())
	creds := s.createApp(accA, appA)
	wh := livegatev1.NewWebhookServiceClient(s.conn)
	ctx := context.Background()
	huge := bytes.Repeat([]byte("x"), limits.MaxBodyBytes+1)
	deep := []byte(`{"type":"x","data":{"a":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}}`)

	check := func(name string, err error, wantCode codes.Code, wantReason string) {
		t.Helper()
		if code, reason := grpcReason(err); code != wantCode || reason != wantReason {
			t.Errorf("%s: got %v %s (%v), want %v %s", name, code, reason, err, wantCode, wantReason)
		}
	}
	for _, b := range [][]byte{huge, deep} {
		_, err := wh.DeliverHmsWebhook(ctx, &livegatev1.DeliverHmsWebhookRequest{AccountId: accA, AppId: appA, WebhookSecret: "wrong", Body: b})
		check("100ms, wrong secret", err, codes.Unauthenticated, "SIGNATURE_MISMATCH")
		_, err = wh.DeliverAmityWebhook(ctx, &livegatev1.DeliverAmityWebhookRequest{AccountId: accA, AppId: appA, Signature: "d3Jvbmc=", Body: b})
		check("Amity, wrong signature", err, codes.Unauthenticated, "SIGNATURE_MISMATCH")
	}
	_, err := wh.DeliverRtmpCallback(ctx, &livegatev1.DeliverRtmpCallbackRequest{CallbackSecret: "wrong"})
	check("RTMP, wrong secret, no callback", err, codes.Unauthenticated, "SIGNATURE_MISMATCH")
	_, err = wh.DeliverRtmpCallback(ctx, &livegatev1.DeliverRtmpCallbackRequest{CallbackSecret: "wrong", Callback: &rtmpv1.Callback{}})
	check("RTMP, wrong secret, empty callback", err, codes.Unauthenticated, "SIGNATURE_MISMATCH")

	// The right secret: refused for the request itself.
	_, err = wh.DeliverHmsWebhook(ctx, &livegatev1.DeliverHmsWebhookRequest{AccountId: accA, AppId: appA, WebhookSecret: creds.WebhookSecret, Body: huge})
	check("100ms, oversized body", err, codes.ResourceExhausted, "PAYLOAD_TOO_LARGE")
	_, err = wh.DeliverHmsWebhook(ctx, &livegatev1.DeliverHmsWebhookRequest{AccountId: accA, AppId: appA, WebhookSecret: creds.WebhookSecret, Body: deep})
	check("100ms, too deep", err, codes.InvalidArgument, "INVALID_ARGUMENT")
	_, err = wh.DeliverAmityWebhook(ctx, &livegatev1.DeliverAmityWebhookRequest{AccountId: accA, AppId: appA, Signature: amity.Sign([]byte(creds.WebhookSecret), huge), Body: huge})
	check("Amity, oversized body", err, codes.ResourceExhausted, "PAYLOAD_TOO_LARGE")
	secret := rtmpSecret(t, s)
	_, err = wh.DeliverRtmpCallback(ctx, &livegatev1.DeliverRtmpCallbackRequest{CallbackSecret: secret})
	if code, _ := grpcReason(err); code != codes.InvalidArgument || !strings.Contains(err.Error(), "callback") {
		t.Errorf("RTMP, no callback: %v", err)
	}
	_, err = wh.DeliverRtmpCallback(ctx, &livegatev1.DeliverRtmpCallbackRequest{CallbackSecret: secret, Callback: &rtmpv1.Callback{}})
	check("RTMP, empty callback", err, codes.InvalidArgument, "INVALID_ARGUMENT")
	// A malformed tenant id is 400 before anything is looked up.
	_, err = wh.DeliverHmsWebhook(ctx, &livegatev1.DeliverHmsWebhookRequest{AccountId: "a\x00b", AppId: appA, WebhookSecret: "wrong", Body: deep})
	if code, _ := grpcReason(err); code != codes.InvalidArgument || !strings.Contains(err.Error(), "account_id") {
		t.Errorf("100ms, malformed account id: %v", err)
	}
}

// TestWebhookIDsBeforeSecretOverHTTP: over REST as over gRPC, a delivery whose account or
// app id is malformed is 400 naming the field, before its secret or signature is judged (the
// validation order). Until 2026-11-30 the REST 100ms route and an Amity delivery without a
// signature answered 401, as for a wrong secret.
func TestWebhookIDsBeforeSecretOverHTTP(t *testing.T) {
	t.Run("SQLite", func(t *testing.T) { checkWebhookIDsBeforeSecret(t, startServer(t, t.TempDir())) })
	// PostgreSQL refuses a NUL byte in a lookup: the first version of the early admission
	// looked the tenant up before checking the ids, and answered that 500.
	t.Run("PostgreSQL", func(t *testing.T) {
		dsn := testenv.PostgresDB(t)
		checkWebhookIDsBeforeSecret(t, startServer(t, t.TempDir(), func(c *server.Config) { c.DatabaseURL = dsn }))
	})
}

func checkWebhookIDsBeforeSecret(t *testing.T, s *testServer) {
	s.createApp(accA, appA)
	body := `{"type":"peer.join.success","data":{}}`
	for _, c := range []struct{ name, acc, app, field string }{
		{"a dot in the account id", "a.b", appA, "account_id"},
		{"a space in the app id", accA, "a%20b", "app_id"},
		{"a NUL in the account id", "a%00b", appA, "account_id"},
		{"a 70-character account id", strings.Repeat("a", 70), appA, "account_id"},
	} {
		for _, p := range []struct {
			route  string
			header []string
		}{
			{"100ms, wrong secret", []string{"X-Webhook-Secret", "nope"}},
			{"100ms, no secret", nil},
			{"Amity, a signature", []string{"x-amity-signature", "Zm9yZ2Vk"}},
			{"Amity, no signature", nil},
		} {
			path := "/accounts/" + c.acc + "/realtime/kit/" + c.app + "/webhooks/"
			if strings.HasPrefix(p.route, "100ms") {
				path += "100ms"
			} else {
				path += "amity"
			}
			got := s.rawPost(t, path, "application/json", body, p.header...)
			code, msg, reason := envelope(t, got.Raw)
			if got.Status != http.StatusBadRequest || code != 400 || reason != "INVALID_ARGUMENT" || !strings.Contains(msg, c.field) {
				t.Errorf("%s, %s: %d %s, want 400 INVALID_ARGUMENT naming %s", c.name, p.route, got.Status, got.Raw, c.field)
			}
		}
	}
}

// TestRtmpArgsNotStored: the query string of a publish URL (`?key=...`, here also as a form
// field `args`) does not reach the feed.
func TestRtmpArgsNotStored(t *testing.T) {
	f := newRTMPFixture(t, nil)
	resp := f.callback(t, f.secret, "on_publish", client(1), "call=publish", "name="+url.QueryEscape(f.ls.GetStreamKey()), "type=live",
		"args=key%3Dsupersecret", "key=supersecret2", "supersecret3=")
	if resp.Status/100 != 3 {
		t.Fatalf("publish: HTTP %d %s", resp.Status, resp.Raw)
	}
	var recs []store.Event
	err := f.s.db().View(context.Background(), func(r store.Reader) error {
		var err error
		recs, err = r.EventsAfter(context.Background(), store.Tenant{AccountID: f.acc, AppID: f.app}, 0, store.EventFilter{}, 100)
		return err
	})
	if err != nil || len(recs) == 0 {
		t.Fatalf("events: %d, %v", len(recs), err)
	}
	for _, rec := range recs {
		if bytes.Contains(rec.Body, []byte("supersecret")) {
			t.Errorf("stored %s event holds the query string: %q", rec.Type, rec.Body)
		}
	}
	r := f.s.rest("GET", "/accounts/"+f.acc+"/realtime/kit/"+f.app+"/events", f.token, nil)
	if r.Status != 200 || bytes.Contains(r.Raw, []byte("supersecret")) || !bytes.Contains(r.Raw, []byte("rtmp.publish")) {
		t.Errorf("ListEvents: HTTP %d %s", r.Status, r.Raw)
	}
}

// TestMeetingIDValidated: meeting_id takes the characters of other ids, on every request
// that takes it, over REST and gRPC.
func TestMeetingIDValidated(t *testing.T) {
	s := startServer(t, t.TempDir())
	creds := s.createApp(accA, appA)
	ctx := withToken(creds.APIToken)
	for _, id := range []string{"a\x00b", "a\x01b", "line\nbreak", "tab\tid", "sp ace", "é", strings.Repeat("m", 129)} {
		calls := map[string]error{}
		_, calls["StartMeetingLivestream"] = s.livestreams.StartMeetingLivestream(ctx, &livegatev1.StartMeetingLivestreamRequest{AccountId: accA, AppId: appA, MeetingId: id})
		_, calls["StopMeetingLivestream"] = s.livestreams.StopMeetingLivestream(ctx, &livegatev1.StopMeetingLivestreamRequest{AccountId: accA, AppId: appA, MeetingId: id})
		_, calls["GetMeetingActiveLivestream"] = s.livestreams.GetMeetingActiveLivestream(ctx, &livegatev1.GetMeetingActiveLivestreamRequest{AccountId: accA, AppId: appA, MeetingId: id})
		for call, err := range calls {
			if code, _ := grpcReason(err); code != codes.InvalidArgument || !strings.Contains(err.Error(), "meeting_id") {
				t.Errorf("%s(%q): %v", call, id, err)
			}
		}
		base := "/accounts/" + accA + "/realtime/kit/" + appA + "/meetings/" + url.PathEscape(id)
		for _, r := range []struct{ method, path string }{
			{"POST", base + "/livestreams"}, {"POST", base + "/active-livestream/stop"}, {"GET", base + "/active-livestream"},
		} {
			var body any
			if r.method == "POST" {
				body = map[string]any{}
			}
			resp := s.rest(r.method, r.path, creds.APIToken, body)
			if resp.Status != 400 || !strings.Contains(resp.errorMessage(t), "meeting_id") {
				t.Errorf("%s %q: HTTP %d %s", r.method, r.path, resp.Status, resp.Raw)
			}
		}
	}
	// The ids meetings have are still taken.
	for _, id := range []string{"m1", "room-1", "0f2b_9c", strings.Repeat("m", 128)} {
		if _, err := s.livestreams.GetMeetingActiveLivestream(ctx, &livegatev1.GetMeetingActiveLivestreamRequest{AccountId: accA, AppId: appA, MeetingId: id}); status.Code(err) != codes.NotFound {
			t.Errorf("GetMeetingActiveLivestream(%q): %v, want NOT_FOUND", id, err)
		}
	}
}

// TestPageNoBounded: a page number whose offsets would overflow int32 is refused with 400
// naming page_no; the last page allowed has non-negative offsets.
func TestPageNoBounded(t *testing.T) {
	s := startServer(t, t.TempDir())
	creds := s.createApp(accA, appA)
	ctx := withToken(creds.APIToken)
	ls, err := s.livestreams.CreateLivestream(ctx, &livegatev1.CreateLivestreamRequest{AccountId: accA, AppId: appA, Name: "x"})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"page_no=2147483647", "page_no=2147483647&per_page=100", "page_no=1000001"} {
		for _, path := range []string{"/livestreams", "/livestreams/" + ls.GetData().GetId()} {
			resp := s.rest("GET", "/accounts/"+accA+"/realtime/kit/"+appA+path+"?"+q, creds.APIToken, nil)
			if resp.Status != 400 || !strings.Contains(resp.errorMessage(t), "page_no") {
				t.Errorf("GET %s?%s: HTTP %d %s", path, q, resp.Status, resp.Raw)
			}
		}
	}
	_, err = s.livestreams.ListLivestreams(ctx, &livegatev1.ListLivestreamsRequest{AccountId: accA, AppId: appA, PageNo: 2147483647})
	if code, _ := grpcReason(err); code != codes.InvalidArgument {
		t.Errorf("ListLivestreams page_no=2147483647: %v", err)
	}
	list, err := s.livestreams.ListLivestreams(ctx, &livegatev1.ListLivestreamsRequest{AccountId: accA, AppId: appA, PageNo: 1_000_000, PerPage: 100})
	if err != nil {
		t.Fatal(err)
	}
	if p := list.GetData().GetPaging(); p.GetStartOffset() != 99_999_900 || p.GetEndOffset() != 99_999_899 {
		t.Errorf("last page: %v", p)
	}
	got, err := s.livestreams.GetLivestream(ctx, &livegatev1.GetLivestreamRequest{AccountId: accA, AppId: appA, LivestreamId: ls.GetData().GetId(), PageNo: 1_000_000, PerPage: 100})
	if err != nil {
		t.Fatal(err)
	}
	if p := got.GetData().GetPaging(); p.GetStartOffset() < 0 || p.GetEndOffset() < -1 {
		t.Errorf("sessions, last page: %v", p)
	}
}

// rtmpSecret returns the installation's RTMP callback secret.
func rtmpSecret(t *testing.T, s *testServer) string {
	t.Helper()
	secret, err := rtmp.CallbackSecret(context.Background(), s.db())
	if err != nil {
		t.Fatal(err)
	}
	return secret
}

// TestNULInProviderKeys: a NUL character in what livegate keys rows by (a 100ms type, id or
// correlation key, an Amity event or streamId, an RTMP form value) is a 400 naming the field,
// on SQLite and on a real PostgreSQL alike; elsewhere in a payload it is kept (a failure's
// error_message, which goes in a text column too, without it). PostgreSQL stores no NUL in
// text: a 100ms room_id with one was a 500 there, and stored on SQLite.
func TestNULInProviderKeys(t *testing.T) {
	t.Run("SQLite", func(t *testing.T) { checkNULInProviderKeys(t, nil) })
	t.Run("PostgreSQL", func(t *testing.T) {
		dsn := testenv.PostgresDB(t)
		checkNULInProviderKeys(t, func(c *server.Config) { c.DatabaseURL = dsn })
	})
}

func checkNULInProviderKeys(t *testing.T, tune func(*server.Config)) {
	f := newRTMPFixture(t, tune)
	s := f.s
	creds := s.createApp(accA, appA)
	hms := func(typ, data string) restResponse {
		return s.post(hmsPath(accA, appA), map[string]string{"X-Webhook-Secret": creds.WebhookSecret}, hmsDelivery(typ, time.Now(), data))
	}
	// event and streamID as they go in the JSON text (with \u0000 escapes).
	amitySend := func(event, streamID string) restResponse {
		body := []byte(`{"event":"` + event + `","data":{"videoStreamings":[{"streamId":"` + streamID + `","title":"t","status":"live"}],"users":[],"files":[]}}`)
		return s.post(amityPath(accA, appA), map[string]string{amity.SignatureHeader: amity.Sign([]byte(creds.WebhookSecret), body)}, body)
	}
	for _, c := range []struct {
		name  string
		got   func() restResponse
		field string // "" : accepted
	}{
		{"100ms room_id", func() restResponse { return hms("peer.join.success", `{"room_id":"a\u0000b","peer_id":"p"}`) }, "data.room_id"},
		{"100ms type", func() restResponse {
			body := []byte(`{"version":"2.0","id":"` + uuid.NewString() + `","type":"peer.join\u0000success","data":{"room_id":"r"}}`)
			return s.post(hmsPath(accA, appA), map[string]string{"X-Webhook-Secret": creds.WebhookSecret}, body)
		}, "type"},
		{"Amity streamId", func() restResponse { return amitySend("video-streaming.didStart", `s\u0000t`) }, "data.videoStreamings[0].streamId"},
		{"Amity event", func() restResponse { return amitySend(`video-streaming.did\u0000Start`, "st") }, "event"},
		{"RTMP stream key", func() restResponse {
			a := f.callback(t, f.secret, "on_publish", "clientid=5", "call=publish", "name=k%00ey")
			return restResponse{Status: a.Status, Raw: a.Raw}
		}, "name"},
		{"100ms error_message of a failure, kept without it", func() restResponse {
			if _, err := s.livestreams.StartMeetingLivestream(withToken(creds.APIToken), &livegatev1.StartMeetingLivestreamRequest{AccountId: accA, AppId: appA, MeetingId: "room-fail"}); err != nil {
				t.Fatal(err)
			}
			return hms("hls.failure", `{"room_id":"room-fail","error_message":"bad\u0000thing"}`)
		}, ""},
		{"100ms user_name, kept", func() restResponse {
			return hms("peer.join.success", `{"room_id":"r","peer_id":"p","user_name":"x\u0000y"}`)
		}, ""},
	} {
		r := c.got()
		if c.field == "" {
			if r.Status != 200 {
				t.Errorf("%s: HTTP %d %s, want 200", c.name, r.Status, r.Raw)
			}
			continue
		}
		if r.Status != 400 || !strings.Contains(string(r.Raw), c.field+": invalid value: holds a NUL character") {
			t.Errorf("%s: HTTP %d %s, want 400 naming %s", c.name, r.Status, r.Raw, c.field)
		}
	}
}

// TestNULInRequests: a NUL character in any string of an API request is a 400
// (INVALID_ARGUMENT) naming the field, on SQLite and on PostgreSQL, over REST and gRPC,
// unary and streaming. (The API audit's NUL in a webhook endpoint's name was a 500 on
// PostgreSQL, whose text cannot hold one, and stored as it was on SQLite; so were the
// feed's type, room_id and livestream_id filters.)
func TestNULInRequests(t *testing.T) {
	t.Run("SQLite", func(t *testing.T) { checkNULInRequests(t, nil) })
	t.Run("PostgreSQL", func(t *testing.T) {
		dsn := testenv.PostgresDB(t)
		checkNULInRequests(t, func(c *server.Config) { c.DatabaseURL = dsn })
	})
}

func checkNULInRequests(t *testing.T, tune func(*server.Config)) {
	s := startServer(t, t.TempDir(), func(c *server.Config) {
		c.WebhooksOut.AllowHTTP, c.WebhooksOut.AllowPrivate = true, true
		if tune != nil {
			tune(c)
		}
	})
	creds := s.createApp(accA, appA)
	prefix := "/accounts/" + accA + "/realtime/kit/" + appA
	endpoint := s.rest("POST", prefix+"/webhooks", creds.APIToken, map[string]any{"name": "ok", "url": "http://127.0.0.1:9/x", "events": []string{"hls."}})
	if endpoint.Status != 201 {
		t.Fatalf("create endpoint: %d %s", endpoint.Status, endpoint.Raw)
	}
	id, _ := endpoint.data(t)["id"].(string)
	for _, c := range []struct {
		method, path string
		body         any
		field        string
	}{
		{"POST", "/webhooks", map[string]any{"name": "a\x00b", "url": "http://127.0.0.1:9/x", "events": []string{"hls."}}, "name"},
		{"PATCH", "/webhooks/" + id, map[string]any{"name": "a\x00b"}, "name"},
		{"PUT", "/webhooks/" + id, map[string]any{"name": "ok", "url": "http://127.0.0.1:9/x", "events": []string{"hls.", "peer\x00."}}, "events[1]"},
		{"GET", "/events?type=a%00.", nil, "type[0]"},
		{"GET", "/events?room_id=a%00b", nil, "room_id"},
		{"GET", "/events?livestream_id=a%00b", nil, "livestream_id"},
		{"GET", "/events:stream?only_new=true&type=a%00.", nil, "type[0]"},
	} {
		r := s.rest(c.method, prefix+c.path, creds.APIToken, c.body)
		if strings.Contains(c.path, ":stream") {
			// NDJSON's error before the stream is grpc-gateway's {"error": …} (README).
			if r.Status != 400 || !strings.Contains(string(r.Raw), `"message":"`+c.field+`: must not contain a NUL character"`) {
				t.Errorf("%s %s: %d %s, want 400 naming %s", c.method, c.path, r.Status, r.Raw, c.field)
			}
			continue
		}
		if msg := r.errorMessage(t); r.Status != 400 || !strings.HasPrefix(msg, c.field+": ") || !strings.Contains(msg, "NUL") {
			t.Errorf("%s %s: %d %q, want 400 naming %s", c.method, c.path, r.Status, msg, c.field)
		}
	}
	if got := s.rest("GET", prefix+"/webhooks/"+id, creds.APIToken, nil); !strings.Contains(string(got.Raw), `"name":"ok"`) {
		t.Errorf("the endpoint changed: %s", got.Raw)
	}
	// gRPC: a streaming call's request (the feed), and a unary one.
	stream, err := livegatev1.NewEventServiceClient(s.conn).Subscribe(withToken(creds.APIToken),
		&livegatev1.SubscribeRequest{AccountId: accA, AppId: appA, OnlyNew: true, RoomId: "r\x00"})
	if err == nil {
		_, err = stream.Recv()
	}
	if st := status.Convert(err); st.Code() != codes.InvalidArgument || !strings.HasPrefix(st.Message(), "room_id: ") {
		t.Errorf("Subscribe with a NUL in room_id: %v, want INVALID_ARGUMENT naming room_id", err)
	}
	_, err = livegatev1.NewWebhookEndpointServiceClient(s.conn).EditWebhook(withToken(creds.APIToken),
		&livegatev1.EditWebhookRequest{AccountId: accA, AppId: appA, WebhookId: id, Name: proto.String("x\x00")})
	if st := status.Convert(err); st.Code() != codes.InvalidArgument || !strings.HasPrefix(st.Message(), "name: ") {
		t.Errorf("EditWebhook with a NUL in name: %v, want INVALID_ARGUMENT naming name", err)
	}
}
