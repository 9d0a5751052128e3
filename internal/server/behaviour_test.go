package server_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
)

// TestTenantIsolation: app A's token reads nothing of app B, through either face, and the
// refusal does not say whether B's resources exist.
func TestTenantIsolation(t *testing.T) {
	s := startServer(t, t.TempDir())
	a := s.createApp(accA, appA)
	b := s.createApp(accB, appB)
	fxB := newFixture(t, s, b.APIToken, accB, appB)

	// A's own view of its tenant holds none of B's livestreams.
	listA, err := s.livestreams.ListLivestreams(withToken(a.APIToken), &livegatev1.ListLivestreamsRequest{AccountId: accA, AppId: appA})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(listA.GetData().GetLivestreams()); n != 0 {
		t.Fatalf("app A lists %d livestreams, want 0", n)
	}
	// A's ids on A's path: B's livestream is simply not found there.
	_, err = s.livestreams.GetLivestream(withToken(a.APIToken), &livegatev1.GetLivestreamRequest{AccountId: accA, AppId: appA, LivestreamId: fxB.idle.GetId()})
	if status.Code(err) != codes.NotFound {
		t.Errorf("A reading B's livestream through A's path: %v, want NotFound", err)
	}
	// A's token on B's path: denied, the same for existing and missing resources.
	pathB := "/accounts/" + accB + "/realtime/kit/" + appB
	for _, p := range []string{
		"/livestreams",
		"/livestreams/" + fxB.idle.GetId(),
		"/livestreams/00000000-0000-4000-8000-000000000000",
		"/livestreams/sessions/" + fxB.session,
		"/meetings/" + fxB.meeting + "/active-livestream",
		"/analytics/livestreams/overall",
	} {
		resp := s.rest("GET", pathB+p, a.APIToken, nil)
		if resp.Status != http.StatusForbidden {
			t.Errorf("GET %s with A's token: HTTP %d, want 403", p, resp.Status)
			continue
		}
		msg := resp.errorMessage(t)
		if strings.Contains(string(resp.Raw), fxB.idle.GetStreamKey()) || strings.Contains(msg, "not found") {
			t.Errorf("GET %s leaks: %s", p, resp.Raw)
		}
	}
	// Writes are refused too, and change nothing of B.
	resp := s.rest("PUT", pathB+"/livestreams/"+fxB.idle.GetId()+"/disable", a.APIToken, nil)
	if resp.Status != http.StatusForbidden {
		t.Errorf("disable B's livestream with A's token: HTTP %d", resp.Status)
	}
	got, err := s.livestreams.GetLivestream(withToken(b.APIToken), &livegatev1.GetLivestreamRequest{AccountId: accB, AppId: appB, LivestreamId: fxB.idle.GetId()})
	if err != nil || got.GetData().GetLivestream().GetDisabled() {
		t.Errorf("B's livestream after A's attempt: %v, %v", got, err)
	}
}

// TestMeetingLifecycle: start → stop → start reuses the meeting's livestream with a new
// session; reset key replaces the key; delete removes it.
func TestMeetingLifecycle(t *testing.T) {
	s := startServer(t, t.TempDir())
	creds := s.createApp(accA, appA)
	ctx := withToken(creds.APIToken)
	start := func() *livegatev1.Livestream {
		r, err := s.livestreams.StartMeetingLivestream(ctx, &livegatev1.StartMeetingLivestreamRequest{AccountId: accA, AppId: appA, MeetingId: "m1"})
		if err != nil {
			t.Fatalf("start: %v", err)
		}
		return r.GetData()
	}
	stop := func() {
		if _, err := s.livestreams.StopMeetingLivestream(ctx, &livegatev1.StopMeetingLivestreamRequest{AccountId: accA, AppId: appA, MeetingId: "m1"}); err != nil {
			t.Fatalf("stop: %v", err)
		}
	}
	first := start()
	if first.GetStatus() != livegatev1.LivestreamStatus_INVOKED || first.GetMeetingId() != "m1" {
		t.Fatalf("started: %v", first)
	}
	stop()
	second := start()
	if second.GetId() != first.GetId() {
		t.Errorf("restart made a new livestream %s, want the meeting's %s reused", second.GetId(), first.GetId())
	}
	stop()
	got, err := s.livestreams.GetLivestream(ctx, &livegatev1.GetLivestreamRequest{AccountId: accA, AppId: appA, LivestreamId: first.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	d := got.GetData()
	if d.GetLivestream().GetStatus() != livegatev1.LivestreamStatus_IDLE || d.GetPaging().GetTotalCount() != 2 || len(d.GetSessions()) != 2 {
		t.Fatalf("after two runs: status %v, %d sessions (total %d)", d.GetLivestream().GetStatus(), len(d.GetSessions()), d.GetPaging().GetTotalCount())
	}
	for _, sess := range d.GetSessions() {
		if sess.GetInvokedTime() == nil || sess.GetStoppedTime() == nil {
			t.Errorf("session %s: invoked %v stopped %v", sess.GetId(), sess.GetInvokedTime(), sess.GetStoppedTime())
		}
	}
	if d.GetSession().GetId() != d.GetSessions()[0].GetId() {
		t.Errorf("latest session %s is not the first of the newest-first page %s", d.GetSession().GetId(), d.GetSessions()[0].GetId())
	}

	reset, err := s.livestreams.ResetStreamKey(ctx, &livegatev1.ResetStreamKeyRequest{AccountId: accA, AppId: appA, LivestreamId: first.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	if d := reset.GetData(); d.GetStreamKey() != "" || d.GetIngestServer() != "" || d.GetPlaybackUrl() != "" || d.GetProvider() != "hms" {
		t.Errorf("a meeting's livestream (100ms ingests it; livegate's RTMP ingest refuses it) after a key reset: ingest_server %q, stream_key %q, playback_url %q, provider %q; want none and hms",
			d.GetIngestServer(), d.GetStreamKey(), d.GetPlaybackUrl(), d.GetProvider())
	}
	if _, err := s.livestreams.DeleteLivestream(ctx, &livegatev1.DeleteLivestreamRequest{AccountId: accA, AppId: appA, LivestreamId: first.GetId()}); err != nil {
		t.Fatal(err)
	}
	_, err = s.livestreams.GetLivestreamSession(ctx, &livegatev1.GetLivestreamSessionRequest{AccountId: accA, AppId: appA, LivestreamSessionId: d.GetSession().GetId()})
	if status.Code(err) != codes.NotFound {
		t.Errorf("session of a deleted livestream: %v, want NotFound", err)
	}
}

// TestListPagingAndFilters checks paging arithmetic, order and filters over REST.
func TestListPagingAndFilters(t *testing.T) {
	s := startServer(t, t.TempDir())
	creds := s.createApp(accA, appA)
	ctx := withToken(creds.APIToken)
	var ids []string
	for i := range 5 {
		r, err := s.livestreams.CreateLivestream(ctx, &livegatev1.CreateLivestreamRequest{AccountId: accA, AppId: appA, Name: fmt.Sprintf("s%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.GetData().GetId())
	}
	if _, err := s.livestreams.StartMeetingLivestream(ctx, &livegatev1.StartMeetingLivestreamRequest{AccountId: accA, AppId: appA, MeetingId: "m"}); err != nil {
		t.Fatal(err)
	}
	base := "/accounts/" + accA + "/realtime/kit/" + appA + "/livestreams"
	page := func(query string) ([]string, map[string]any) {
		d := s.rest("GET", base+query, creds.APIToken, nil).data(t)
		var got []string
		for _, l := range d["livestreams"].([]any) {
			got = append(got, l.(map[string]any)["id"].(string))
		}
		return got, d["paging"].(map[string]any)
	}
	got, p := page("?per_page=2&page_no=2&sort_order=ASC&exclude_meetings=true")
	if strings.Join(got, ",") != strings.Join(ids[2:4], ",") || p["start_offset"] != 2.0 || p["end_offset"] != 3.0 || p["total_count"] != 5.0 {
		t.Errorf("page 2 ASC: %v %v, want %v offsets 2..3 of 5", got, p, ids[2:4])
	}
	got, _ = page("?per_page=1&sort_order=DSC&exclude_meetings=true")
	if len(got) != 1 || got[0] != ids[4] {
		t.Errorf("newest first: %v, want %s", got, ids[4])
	}
	_, p = page("?status=INVOKED")
	if p["total_count"] != 1.0 {
		t.Errorf("status=INVOKED total %v, want 1", p["total_count"])
	}
	got, p = page("?page_no=9")
	if len(got) != 0 || p["total_count"] != 6.0 {
		t.Errorf("past the end: %v %v", got, p)
	}
	_, p = page("?start_time=2000-01-01T00:00:00Z&end_time=2001-01-01T00:00:00Z")
	if p["total_count"] != 0.0 {
		t.Errorf("time range in 2000 matched %v", p["total_count"])
	}
}

// TestDataSurvivesRestart: what was stored before a graceful restart is there after it, and
// the token still works.
func TestDataSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	creds := s.createApp(accA, appA)
	fx := newFixture(t, s, creds.APIToken, accA, appA)
	s.stop()

	s2 := startServer(t, dir)
	got, err := s2.livestreams.GetActiveLivestreamSession(withToken(creds.APIToken), &livegatev1.GetActiveLivestreamSessionRequest{AccountId: accA, AppId: appA, LivestreamId: fx.meetingStream.GetId()})
	if err != nil {
		t.Fatalf("after restart: %v", err)
	}
	if got.GetData().GetSession().GetId() != fx.session || got.GetData().GetLivestream().GetStreamKey() != fx.meetingStream.GetStreamKey() {
		t.Errorf("after restart: %v", got.GetData())
	}
	idle := s2.rest("GET", "/accounts/"+accA+"/realtime/kit/"+appA+"/livestreams/"+fx.idle.GetId(), creds.APIToken, nil).data(t)
	if idle["livestream"].(map[string]any)["name"] != "fixture" {
		t.Errorf("idle livestream after restart: %v", idle)
	}
}

// TestConcurrentStartsOneWins: many concurrent starts of one meeting create one active
// livestream; the rest get 409.
func TestConcurrentStartsOneWins(t *testing.T) {
	s := startServer(t, t.TempDir())
	creds := s.createApp(accA, appA)
	var wg sync.WaitGroup
	codesSeen := make(chan codes.Code, 20)
	for range 20 {
		wg.Go(func() {
			_, err := s.livestreams.StartMeetingLivestream(withToken(creds.APIToken), &livegatev1.StartMeetingLivestreamRequest{AccountId: accA, AppId: appA, MeetingId: "race"})
			codesSeen <- status.Code(err)
		})
	}
	wg.Wait()
	close(codesSeen)
	count := map[codes.Code]int{}
	for c := range codesSeen {
		count[c]++
	}
	if count[codes.OK] != 1 || count[codes.AlreadyExists] != 19 {
		t.Errorf("concurrent starts: %v, want 1 OK and 19 AlreadyExists", count)
	}
}

func TestOpenAPIServed(t *testing.T) {
	s := startServer(t, t.TempDir())
	resp := s.rest("GET", "/openapi.json", "", nil)
	if resp.Status != 200 || !strings.Contains(string(resp.Raw), "/accounts/{account_id}/realtime/kit/{app_id}/livestreams") {
		t.Errorf("/openapi.json: HTTP %d", resp.Status)
	}
}
