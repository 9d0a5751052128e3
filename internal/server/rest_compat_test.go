package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
)

// TestAnalyticsTimeFormats: every time in a query (the analytics ranges, the list's
// start_time/end_time) is accepted as RFC 3339 and as Unix seconds, with the same answer;
// what is neither is refused with 400 naming the parameter.
func TestAnalyticsTimeFormats(t *testing.T) {
	s := startServer(t, t.TempDir())
	creds := s.createApp(accA, appA)
	prefix := "/accounts/" + accA + "/realtime/kit/" + appA
	if r := s.rest("POST", prefix+"/meetings/fmt-meeting/livestreams", creds.APIToken, map[string]any{"name": "fmt"}); r.Status != 200 {
		t.Fatalf("start livestream: %d %s", r.Status, r.Raw)
	}
	now := time.Now().UTC()
	from, to := now.Add(-time.Hour).Truncate(time.Second), now.Add(time.Hour).Truncate(time.Second)
	unix := func(tm time.Time) string { return fmt.Sprint(tm.Unix()) }
	rfc := func(tm time.Time) string { return tm.Format(time.RFC3339) }
	query := func(start, end string) string {
		return "?" + url.Values{"start_time": {start}, "end_time": {end}}.Encode()
	}

	for _, route := range []string{"/analytics/livestreams/overall", "/analytics/livestreams/daywise", "/livestreams"} {
		var bodies []string
		for _, q := range []string{query(unix(from), unix(to)), query(rfc(from), rfc(to)), query(unix(from), rfc(to))} {
			r := s.rest("GET", prefix+route+q, creds.APIToken, nil)
			if r.Status != 200 {
				t.Fatalf("GET %s%s: %d %s", route, q, r.Status, r.Raw)
			}
			bodies = append(bodies, string(r.Raw))
		}
		if bodies[0] != bodies[1] || bodies[0] != bodies[2] {
			t.Errorf("%s: Unix seconds and RFC 3339 answer differently:\n%s\n%s\n%s", route, bodies[0], bodies[1], bodies[2])
		}
		// A range that excludes the livestream: the times are really read, not ignored.
		if r := s.rest("GET", prefix+route+query(unix(to), unix(to.Add(time.Hour))), creds.APIToken, nil); r.Status != 200 || string(r.Raw) == bodies[0] {
			t.Errorf("%s: a range in the future answers %d %s, the same as the current one", route, r.Status, r.Raw)
		}
	}
	overall := s.rest("GET", prefix+"/analytics/livestreams/overall"+query(unix(from), unix(to)), creds.APIToken, nil)
	if c := overall.data(t)["count"]; c != 1.0 {
		t.Errorf("overall count %v, want 1: %s", c, overall.Raw)
	}
	// Times in answers are RFC 3339 (UTC).
	list := s.rest("GET", prefix+"/livestreams", creds.APIToken, nil)
	created, _ := list.data(t)["livestreams"].([]any)[0].(map[string]any)["created_at"].(string)
	if _, err := time.Parse(time.RFC3339Nano, created); err != nil || !strings.HasSuffix(created, "Z") {
		t.Errorf("created_at %q is not RFC 3339 in UTC", created)
	}

	for _, bad := range []string{"12abc", "1.5", "99999999999999", "yesterday", "+"} {
		r := s.rest("GET", prefix+"/analytics/livestreams/overall?start_time="+url.QueryEscape(bad), creds.APIToken, nil)
		if msg := r.errorMessage(t); r.Status != 400 || !strings.Contains(msg, "start_time") || !strings.Contains(msg, "RFC 3339") || !strings.Contains(msg, "Unix seconds") {
			t.Errorf("start_time=%s: %d %q, want 400 naming start_time and both forms it takes", bad, r.Status, msg)
		}
	}
	r := s.rest("GET", prefix+"/analytics/livestreams/daywise?filters=livestream_id%3Dx", creds.APIToken, nil)
	if msg := r.errorMessage(t); r.Status != 400 || !strings.Contains(msg, "filters") {
		t.Errorf("daywise with filters: %d %q, want 400 naming filters", r.Status, msg)
	}
}

// TestNoGrpcMetadataHeaders: REST answers, successes and errors alike, carry no
// Grpc-Metadata-* or Grpc-Trailer-* headers (gRPC metadata means nothing to an HTTP
// caller), and still carry X-Request-Id.
func TestNoGrpcMetadataHeaders(t *testing.T) {
	s := startServer(t, t.TempDir())
	creds := s.createApp(accA, appA)
	prefix := s.base + "/accounts/" + accA + "/realtime/kit/" + appA
	for _, tc := range []struct {
		method, url, body, token string
		status                   int
	}{
		{"POST", prefix + "/livestreams", `{"name":"hdr"}`, creds.APIToken, 201},
		{"GET", prefix + "/livestreams", "", creds.APIToken, 200},
		{"POST", prefix + "/meetings/hdr-meeting/livestreams", `{"name":"m"}`, creds.APIToken, 200},
		{"GET", prefix + "/analytics/livestreams/daywise", "", creds.APIToken, 200},
		{"GET", prefix + "/livestreams/00000000-0000-4000-8000-000000000000", "", creds.APIToken, 404},
		{"GET", prefix + "/livestreams", "", "wrong", 401},
		{"GET", prefix + "/analytics/livestreams/overall?start_time=x", "", creds.APIToken, 400},
	} {
		var body io.Reader
		if tc.body != "" {
			body = bytes.NewBufferString(tc.body)
		}
		req, err := http.NewRequest(tc.method, tc.url, body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+tc.token)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("TE", "trailers") // grpc-gateway forwards trailers only when asked
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !json.Valid(raw) {
			t.Errorf("%s %s: %d %s, want %d", tc.method, tc.url, resp.StatusCode, raw, tc.status)
		}
		for _, h := range []http.Header{resp.Header, resp.Trailer} {
			for name := range h {
				if l := strings.ToLower(name); strings.HasPrefix(l, "grpc-metadata-") || strings.HasPrefix(l, "grpc-trailer-") {
					t.Errorf("%s %s: answer carries %s: %q", tc.method, tc.url, name, h.Values(name))
				}
			}
		}
		if resp.Header.Get("X-Request-Id") == "" {
			t.Errorf("%s %s: no X-Request-Id", tc.method, tc.url)
		}
	}
}

// TestGRPCTimesInRange: over gRPC, a time in a request (the analytics ranges, the list's
// start_time/end_time) outside years 1 to 9999 is refused with INVALID_ARGUMENT naming the
// field, as REST refuses it. (The API audit's gRPC client sent seconds ±1e15: daywise
// analytics answered with days "10000-01-10" and "31690708-06-06", which break the
// response's YYYY-MM-DD.) The first and last instants of the range are accepted.
func TestGRPCTimesInRange(t *testing.T) {
	s := startServer(t, t.TempDir())
	creds := s.createApp(accA, appA)
	ctx := withToken(creds.APIToken)
	first := &timestamppb.Timestamp{Seconds: -62135596800}                    // 0001-01-01T00:00:00Z
	last := &timestamppb.Timestamp{Seconds: 253402300799, Nanos: 999_999_999} // 9999-12-31T23:59:59.999999999Z
	calls := map[string]func(start, end *timestamppb.Timestamp) error{
		"GetLivestreamAnalytics": func(start, end *timestamppb.Timestamp) error {
			_, err := s.analytics.GetLivestreamAnalytics(ctx, &livegatev1.GetLivestreamAnalyticsRequest{AccountId: accA, AppId: appA, StartTime: start, EndTime: end})
			return err
		},
		"GetLivestreamDaywiseAnalytics": func(start, end *timestamppb.Timestamp) error {
			_, err := s.analytics.GetLivestreamDaywiseAnalytics(ctx, &livegatev1.GetLivestreamDaywiseAnalyticsRequest{AccountId: accA, AppId: appA, StartTime: start, EndTime: end})
			return err
		},
		"ListLivestreams": func(start, end *timestamppb.Timestamp) error {
			_, err := s.livestreams.ListLivestreams(ctx, &livegatev1.ListLivestreamsRequest{AccountId: accA, AppId: appA, StartTime: start, EndTime: end})
			return err
		},
	}
	for name, call := range calls {
		for _, tc := range []struct {
			field      string
			start, end *timestamppb.Timestamp
		}{
			{"start_time", &timestamppb.Timestamp{Seconds: 1e15}, nil},
			{"start_time", &timestamppb.Timestamp{Seconds: -1e15}, nil},
			{"start_time", &timestamppb.Timestamp{Seconds: 253402300800}, nil}, // 10000-01-01
			{"end_time", nil, &timestamppb.Timestamp{Seconds: 1e15}},
			{"end_time", nil, &timestamppb.Timestamp{Seconds: -62135596801}}, // 0000-12-31T23:59:59Z
		} {
			err := call(tc.start, tc.end)
			if st := status.Convert(err); st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), tc.field) {
				t.Errorf("%s(%v, %v): %v, want INVALID_ARGUMENT naming %s", name, tc.start, tc.end, err, tc.field)
			}
		}
		if name == "GetLivestreamDaywiseAnalytics" {
			continue // its range spans at most 366 days
		}
		if err := call(first, last); err != nil {
			t.Errorf("%s(0001-01-01, 9999-12-31T23:59:59.999999999Z): %v, want OK", name, err)
		}
	}
}

// TestBodyIsOneJSONValue: a REST body is one JSON value, as encoding/json.Unmarshal has it:
// a second one after it is a 400 and nothing is created (the API audit's
// `{"name":"x"}{"name":"y"}` was a 201 for "x"). Whitespace after the value is fine, and a
// route whose body is optional still takes none.
func TestBodyIsOneJSONValue(t *testing.T) {
	s := startServer(t, t.TempDir())
	creds := s.createApp(accA, appA)
	prefix := s.base + "/accounts/" + accA + "/realtime/kit/" + appA
	post := func(path, body string) restResponse {
		t.Helper()
		req, err := http.NewRequest("POST", prefix+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+creds.APIToken)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return restResponse{Status: resp.StatusCode, Raw: raw}
	}
	for _, c := range []struct{ body, says string }{
		{`{"name":"x"}{"name":"y"}`, "more than one JSON value"},
		{`{"name":"x"} 1`, "more than one JSON value"},
		{`{"name":"x"}]`, "not JSON after its first value"},
		{`{"name":"x"}}`, "not JSON after its first value"},
		{`{"name":"x"} xyz`, "not JSON after its first value"},
	} {
		if r := post("/livestreams", c.body); r.Status != 400 || !strings.Contains(r.errorMessage(t), c.says) {
			t.Errorf("%s: %d %s, want 400 saying %q", c.body, r.Status, r.Raw, c.says)
		}
	}
	if list := s.rest("GET", "/accounts/"+accA+"/realtime/kit/"+appA+"/livestreams", creds.APIToken, nil); strings.Contains(string(list.Raw), `"name":"x"`) {
		t.Errorf("a refused body created a livestream: %s", list.Raw)
	}
	if r := post("/livestreams", "{\"name\":\"x\"}\n\t \n"); r.Status != 201 {
		t.Errorf("a body with whitespace after it: %d %s, want 201", r.Status, r.Raw)
	}
	if r := post("/meetings/one-value/livestreams", ""); r.Status != 200 {
		t.Errorf("an empty body where one is optional: %d %s, want 200", r.Status, r.Raw)
	}
}
