package server_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	cloudflare "github.com/cloudflare/cloudflare-go/v7"
	"github.com/cloudflare/cloudflare-go/v7/option"
	"github.com/cloudflare/cloudflare-go/v7/realtime_kit"
)

// TestRealtimeKitSDKv7 drives the newest official RealtimeKit Go SDK (cloudflare-go v7.9.0)
// against a running livegate: all 11 livestream operations (v7 adds
// GetLivestreamAnalyticsDaywise and sends the analytics range as Unix seconds) succeed, every
// response decodes with no field marked invalid, and the values are the ones livegate stored.
func TestRealtimeKitSDKv7(t *testing.T) {
	s := startServer(t, t.TempDir())
	creds := s.createApp(accA, appA)
	sdk := realtime_kit.NewLivestreamService(
		option.WithBaseURL(s.base+"/"),
		option.WithAPIToken(creds.APIToken),
		option.WithMaxRetries(0),
	)
	ctx := context.Background()
	acc := cloudflare.F(accA)

	// 1. Create an independent livestream.
	created, err := sdk.NewIndependentLivestream(ctx, appA, realtime_kit.LivestreamNewIndependentLivestreamParams{
		AccountID: acc, Name: cloudflare.F("sdk-stream_1"),
	})
	if err != nil {
		t.Fatalf("NewIndependentLivestream: %v", err)
	}
	assertDecoded(t, "NewIndependentLivestream", created)
	d := created.Data
	if d.ID == "" || d.Name != "sdk-stream_1" || d.Status != "IDLE" || d.Disabled || d.IngestServer != testIngestBase ||
		len(d.StreamKey) < 26 || d.PlaybackURL != testPlaybackBase+"/"+d.ID+"/index.m3u8" || strings.Contains(d.PlaybackURL, d.StreamKey) {
		t.Errorf("created livestream: %+v", d)
	}
	independentID := d.ID

	// 2. Start livestreaming a meeting.
	started, err := sdk.StartLivestreamingAMeeting(ctx, appA, "sdk-meeting", realtime_kit.LivestreamStartLivestreamingAMeetingParams{
		AccountID:   acc,
		Name:        cloudflare.F("meeting-stream"),
		VideoConfig: cloudflare.F(realtime_kit.LivestreamStartLivestreamingAMeetingParamsVideoConfig{Height: cloudflare.F(int64(720)), Width: cloudflare.F(int64(1280))}),
	})
	if err != nil {
		t.Fatalf("StartLivestreamingAMeeting: %v", err)
	}
	assertDecoded(t, "StartLivestreamingAMeeting", started)
	meetingStreamID := started.Data.ID
	// A meeting's livestream is ingested by 100ms: no RTMP ingest details that livegate's
	// ingest would refuse, as empty strings the SDK decodes.
	if started.Data.Status != "INVOKED" || meetingStreamID == "" || started.Data.StreamKey != "" || started.Data.IngestServer != "" || started.Data.PlaybackURL != "" {
		t.Errorf("started: %+v", started.Data)
	}

	// 3. Fetch all livestreams (the page is under data.livestreams, see ListLivestreamsResponse).
	all, err := sdk.GetAllLivestreams(ctx, appA, realtime_kit.LivestreamGetAllLivestreamsParams{
		AccountID: acc, PerPage: cloudflare.F(int64(10)), PageNo: cloudflare.F(int64(1)),
		SortOrder: cloudflare.F(realtime_kit.LivestreamGetAllLivestreamsParamsSortOrderAsc),
	})
	if err != nil {
		t.Fatalf("GetAllLivestreams: %v", err)
	}
	assertDecoded(t, "GetAllLivestreams", all)
	if p := all.Data.Paging; p.TotalCount != 2 || p.StartOffset != 0 || p.EndOffset != 1 {
		t.Errorf("paging %+v, want 2 livestreams on page 1", p)
	}
	if raw := all.Data.JSON.ExtraFields["livestreams"].Raw(); !strings.Contains(raw, independentID) || !strings.Contains(raw, meetingStreamID) {
		t.Errorf("data.livestreams does not list both livestreams: %s", raw)
	}
	excluded, err := sdk.GetAllLivestreams(ctx, appA, realtime_kit.LivestreamGetAllLivestreamsParams{
		AccountID: acc, ExcludeMeetings: cloudflare.F(true),
		Status: cloudflare.F(realtime_kit.LivestreamGetAllLivestreamsParamsStatusIdle),
	})
	if err != nil {
		t.Fatalf("GetAllLivestreams(exclude_meetings, IDLE): %v", err)
	}
	if excluded.Data.Paging.TotalCount != 1 {
		t.Errorf("exclude_meetings+IDLE total %d, want 1", excluded.Data.Paging.TotalCount)
	}

	// The list's range is RFC 3339 in v7 (format date-time).
	ranged, err := sdk.GetAllLivestreams(ctx, appA, realtime_kit.LivestreamGetAllLivestreamsParams{
		AccountID: acc, StartTime: cloudflare.F(time.Now().Add(-time.Hour)), EndTime: cloudflare.F(time.Now().Add(time.Hour)),
	})
	if err != nil {
		t.Fatalf("GetAllLivestreams(start_time, end_time): %v", err)
	}
	if ranged.Data.Paging.TotalCount != 2 {
		t.Errorf("livestreams created in the last hour: %d, want 2", ranged.Data.Paging.TotalCount)
	}

	// 4. Fetch the meeting's active livestream.
	active, err := sdk.GetMeetingActiveLivestreams(ctx, appA, "sdk-meeting", realtime_kit.LivestreamGetMeetingActiveLivestreamsParams{AccountID: acc})
	if err != nil {
		t.Fatalf("GetMeetingActiveLivestreams: %v", err)
	}
	assertDecoded(t, "GetMeetingActiveLivestreams", active)
	if active.Data.ID != meetingStreamID || active.Data.MeetingID != "sdk-meeting" || active.Data.Disabled != "false" || active.Data.CreatedAt.IsZero() {
		t.Errorf("active livestream: %+v", active.Data)
	}

	// 4b. 100ms says the run is live, and where it plays: the SDK reads that playback URL.
	const hlsURL = "https://cdn.100ms.example/beam/sdk-meeting/master.m3u8"
	startedAt := time.Now().UTC()
	live := hmsDelivery("hls.started.success", startedAt, fmt.Sprintf(`{"room_id":"sdk-meeting","beam_id":"b-1","started_at":%q,"url":%q}`, startedAt.Format(time.RFC3339), hlsURL))
	if _, err := postHMS(s.base, feedTenant{acc: accA, app: appA, token: creds.APIToken, secret: creds.WebhookSecret}, live); err != nil {
		t.Fatalf("hls.started.success: %v", err)
	}
	playing, err := sdk.GetMeetingActiveLivestreams(ctx, appA, "sdk-meeting", realtime_kit.LivestreamGetMeetingActiveLivestreamsParams{AccountID: acc})
	if err != nil {
		t.Fatalf("GetMeetingActiveLivestreams: %v", err)
	}
	if playing.Data.Status != realtime_kit.LivestreamGetMeetingActiveLivestreamsResponseDataStatusLive || playing.Data.PlaybackURL != hlsURL ||
		playing.Data.StreamKey != "" || playing.Data.IngestServer != "" {
		t.Errorf("the meeting's livestream once 100ms started it: %+v, want LIVE, playing at %s, no ingest details", playing.Data, hlsURL)
	}

	// 5. Fetch the livestream's active session.
	activeSession, err := sdk.GetActiveLivestreamsForLivestreamID(ctx, appA, meetingStreamID, realtime_kit.LivestreamGetActiveLivestreamsForLivestreamIDParams{AccountID: acc})
	if err != nil {
		t.Fatalf("GetActiveLivestreamsForLivestreamID: %v", err)
	}
	assertDecoded(t, "GetActiveLivestreamsForLivestreamID", activeSession)
	sessionID := activeSession.Data.Session.ID
	if sessionID == "" || activeSession.Data.Livestream.ID != meetingStreamID || activeSession.Data.Session.InvokedTime.IsZero() {
		t.Errorf("active session: %+v", activeSession.Data)
	}

	// 6. Fetch the session by id.
	sess, err := sdk.GetLivestreamSessionDetailsForSessionID(ctx, appA, sessionID, realtime_kit.LivestreamGetLivestreamSessionDetailsForSessionIDParams{AccountID: acc})
	if err != nil {
		t.Fatalf("GetLivestreamSessionDetailsForSessionID: %v", err)
	}
	assertDecoded(t, "GetLivestreamSessionDetailsForSessionID", sess)
	if sess.Data.ID != sessionID || sess.Data.LivestreamID != meetingStreamID {
		t.Errorf("session: %+v", sess.Data)
	}

	// 7. Stop the meeting's livestream.
	stopped, err := sdk.StopLivestreamingAMeeting(ctx, appA, "sdk-meeting", realtime_kit.LivestreamStopLivestreamingAMeetingParams{AccountID: acc})
	if err != nil {
		t.Fatalf("StopLivestreamingAMeeting: %v", err)
	}
	assertDecoded(t, "StopLivestreamingAMeeting", stopped)
	if !strings.Contains(stopped.Data.Message, meetingStreamID) {
		t.Errorf("stop message %q", stopped.Data.Message)
	}

	// 8. Fetch the livestream with its sessions.
	withSessions, err := sdk.GetLivestreamSessionForLivestreamID(ctx, appA, meetingStreamID, realtime_kit.LivestreamGetLivestreamSessionForLivestreamIDParams{
		AccountID: acc, PerPage: cloudflare.F(int64(5)), PageNo: cloudflare.F(int64(1)),
	})
	if err != nil {
		t.Fatalf("GetLivestreamSessionForLivestreamID: %v", err)
	}
	assertDecoded(t, "GetLivestreamSessionForLivestreamID", withSessions)
	if ws := withSessions.Data; ws.Livestream.ID != meetingStreamID || ws.Livestream.Status != "IDLE" || ws.Session.ID != sessionID ||
		ws.Session.StoppedTime.IsZero() || ws.Paging.TotalCount != 1 {
		t.Errorf("livestream with sessions: %+v", ws)
	}

	// 9. Overall analytics, over a range given in Unix seconds as v7 sends it: the meeting's
	// livestream had one session.
	now := time.Now()
	overall, err := sdk.GetLivestreamAnalyticsComplete(ctx, appA, realtime_kit.LivestreamGetLivestreamAnalyticsCompleteParams{
		AccountID: acc, StartTime: cloudflare.F(now.Add(-time.Hour).Unix()), EndTime: cloudflare.F(now.Add(time.Hour).Unix()),
	})
	if err != nil {
		t.Fatalf("GetLivestreamAnalyticsComplete: %v", err)
	}
	assertDecoded(t, "GetLivestreamAnalyticsComplete", overall)
	if overall.Data.Count != 1 {
		t.Errorf("overall analytics count %d, want 1", overall.Data.Count)
	}

	// 10. Daywise analytics over the default 30 days: one session today.
	daywise, err := sdk.GetOrgAnalytics(ctx, appA, realtime_kit.LivestreamGetOrgAnalyticsParams{AccountID: acc})
	if err != nil {
		t.Fatalf("GetOrgAnalytics: %v", err)
	}
	assertDecoded(t, "GetOrgAnalytics", daywise)
	if ss := daywise.Data.SessionStats; ss.SessionsCount != 1 || len(ss.DayStats) != 30 || ss.DayStats[29].TotalSessions != 1 {
		t.Errorf("daywise session stats: count %d, %d days", ss.SessionsCount, len(ss.DayStats))
	}

	// 11. Livestream analytics per day, the range in Unix seconds: three days, the session
	// counted today, in whole seconds.
	today := now.UTC().Truncate(24 * time.Hour)
	perDay, err := sdk.GetLivestreamAnalyticsDaywise(ctx, appA, realtime_kit.LivestreamGetLivestreamAnalyticsDaywiseParams{
		AccountID: acc, StartTime: cloudflare.F(today.AddDate(0, 0, -2).Unix()), EndTime: cloudflare.F(today.AddDate(0, 0, 1).Unix()),
	})
	if err != nil {
		t.Fatalf("GetLivestreamAnalyticsDaywise: %v", err)
	}
	assertDecoded(t, "GetLivestreamAnalyticsDaywise", perDay)
	if len(perDay.Data) != 3 || !perDay.Success {
		t.Fatalf("daywise livestream analytics: %s, want 3 days", perDay.JSON.RawJSON())
	}
	for i, d := range perDay.Data {
		wantDate, wantCount := today.AddDate(0, 0, i-2).Format(time.DateOnly), int64(0)
		if i == 2 {
			wantCount = 1
		}
		if d.Date != wantDate || d.Count != wantCount {
			t.Errorf("day %d: %s, want date %s count %d", i, d.JSON.RawJSON(), wantDate, wantCount)
		}
		// The SDK models the seconds as integers: the JSON numbers are whole.
		for _, f := range []string{d.JSON.TotalIngestSeconds.Raw(), d.JSON.TotalViewerSeconds.Raw()} {
			if _, err := strconv.ParseInt(f, 10, 64); err != nil {
				t.Errorf("day %d: seconds %s are not a whole JSON number", i, f)
			}
		}
	}
	// The default range is the last 30 days, today included.
	defaultDays, err := sdk.GetLivestreamAnalyticsDaywise(ctx, appA, realtime_kit.LivestreamGetLivestreamAnalyticsDaywiseParams{AccountID: acc})
	if err != nil {
		t.Fatalf("GetLivestreamAnalyticsDaywise (default range): %v", err)
	}
	if n := len(defaultDays.Data); n != 30 || defaultDays.Data[29].Date != today.Format(time.DateOnly) || defaultDays.Data[29].Count != 1 {
		t.Errorf("default daywise range: %d days, last %+v", n, defaultDays.Data[n-1])
	}

	// filters: livegate supports none; a value is refused with 400 naming it.
	_, err = sdk.GetLivestreamAnalyticsDaywise(ctx, appA, realtime_kit.LivestreamGetLivestreamAnalyticsDaywiseParams{
		AccountID: acc, Filters: cloudflare.F("livestream_id:" + meetingStreamID),
	})
	var filterErr *cloudflare.Error
	if !errors.As(err, &filterErr) || filterErr.StatusCode != 400 || len(filterErr.Errors) != 1 || !strings.Contains(filterErr.Errors[0].Message, "filters") {
		t.Errorf("daywise with filters: got %v, want 400 naming filters", err)
	}
	_, err = sdk.GetLivestreamAnalyticsComplete(ctx, appA, realtime_kit.LivestreamGetLivestreamAnalyticsCompleteParams{
		AccountID: acc, Filters: cloudflare.F("status=LIVE"),
	})
	if !errors.As(err, &filterErr) || filterErr.StatusCode != 400 || !strings.Contains(filterErr.Errors[0].Message, "filters") {
		t.Errorf("overall with filters: got %v, want 400 naming filters", err)
	}

	// Errors come back as the SDK's error type, with the envelope it parses.
	_, err = sdk.GetMeetingActiveLivestreams(ctx, appA, "sdk-meeting", realtime_kit.LivestreamGetMeetingActiveLivestreamsParams{AccountID: acc})
	var apiErr *cloudflare.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || len(apiErr.Errors) != 1 || apiErr.Errors[0].Code != 404 {
		t.Errorf("stopped meeting: got %v, want the SDK's 404 error", err)
	}
}

// TestRealtimeKitSDKv7Webhooks drives the official Go SDK's webhooks API (cloudflare-go
// v7.9.0, realtime_kit.WebhookService) against a running livegate: NewWebhook, GetWebhooks,
// GetWebhookByID, EditWebhook, ReplaceWebhook and DeleteWebhook succeed, every response
// decodes with no field marked invalid, the values are the ones livegate stored, and a
// refused create is the SDK's 400 error naming what livegate cannot send.
func TestRealtimeKitSDKv7Webhooks(t *testing.T) {
	s := startServer(t, t.TempDir())
	creds := s.createApp(accA, appA)
	sdk := realtime_kit.NewWebhookService(
		option.WithBaseURL(s.base+"/"),
		option.WithAPIToken(creds.APIToken),
		option.WithMaxRetries(0),
	)
	ctx := context.Background()
	acc := cloudflare.F(accA)
	const hookURL = "https://93.184.215.14/hooks/sdk" // public: no development flag needed

	created, err := sdk.NewWebhook(ctx, appA, realtime_kit.WebhookNewWebhookParams{
		AccountID: acc,
		Name:      cloudflare.F("sdk-hook"),
		URL:       cloudflare.F(hookURL),
		Events: cloudflare.F([]realtime_kit.WebhookNewWebhookParamsEvent{
			realtime_kit.WebhookNewWebhookParamsEventLivestreamingStatusUpdate,
			realtime_kit.WebhookNewWebhookParamsEventMeetingParticipantJoined,
		}),
	})
	if err != nil {
		t.Fatalf("NewWebhook: %v", err)
	}
	assertDecoded(t, "NewWebhook", created)
	c := created.Data
	if !created.Success || c.ID == "" || c.Name != "sdk-hook" || c.URL != hookURL || !c.Enabled || c.CreatedAt.IsZero() || !c.UpdatedAt.Equal(c.CreatedAt) ||
		len(c.Events) != 2 || c.Events[0] != "livestreaming.statusUpdate" || c.Events[1] != "meeting.participantJoined" {
		t.Errorf("NewWebhook: %s", created.JSON.RawJSON())
	}
	if secret := c.JSON.ExtraFields["secret"].Raw(); !strings.HasPrefix(secret, `"whsec_`) {
		t.Errorf("NewWebhook: secret %s, want a whsec_ one among the extra fields", secret)
	}
	id := c.ID

	all, err := sdk.GetWebhooks(ctx, appA, realtime_kit.WebhookGetWebhooksParams{AccountID: acc})
	if err != nil {
		t.Fatalf("GetWebhooks: %v", err)
	}
	assertDecoded(t, "GetWebhooks", all)
	if len(all.Data) != 1 || all.Data[0].ID != id || all.Data[0].Name != "sdk-hook" {
		t.Errorf("GetWebhooks: %s", all.JSON.RawJSON())
	}

	one, err := sdk.GetWebhookByID(ctx, appA, id, realtime_kit.WebhookGetWebhookByIDParams{AccountID: acc})
	if err != nil {
		t.Fatalf("GetWebhookByID: %v", err)
	}
	assertDecoded(t, "GetWebhookByID", one)
	if one.Data.ID != id || one.Data.URL != hookURL || !one.Data.CreatedAt.Equal(c.CreatedAt) {
		t.Errorf("GetWebhookByID: %s", one.JSON.RawJSON())
	}
	if _, ok := one.Data.JSON.ExtraFields["secret"]; ok {
		t.Errorf("GetWebhookByID shows the secret: %s", one.JSON.RawJSON())
	}

	edited, err := sdk.EditWebhook(ctx, appA, id, realtime_kit.WebhookEditWebhookParams{AccountID: acc, Enabled: cloudflare.F(false)})
	if err != nil {
		t.Fatalf("EditWebhook: %v", err)
	}
	assertDecoded(t, "EditWebhook", edited)
	if e := edited.Data; e.Enabled || e.Name != "sdk-hook" || e.URL != hookURL || len(e.Events) != 2 {
		t.Errorf("EditWebhook enabled=false: %s", edited.JSON.RawJSON())
	}

	replaced, err := sdk.ReplaceWebhook(ctx, appA, id, realtime_kit.WebhookReplaceWebhookParams{
		AccountID: acc,
		Name:      cloudflare.F("sdk-replaced"),
		URL:       cloudflare.F(hookURL + "/v2"),
		Events:    cloudflare.F([]realtime_kit.WebhookReplaceWebhookParamsEvent{realtime_kit.WebhookReplaceWebhookParamsEventMeetingEnded}),
		Enabled:   cloudflare.F(true),
	})
	if err != nil {
		t.Fatalf("ReplaceWebhook: %v", err)
	}
	assertDecoded(t, "ReplaceWebhook", replaced)
	if r := replaced.Data; r.ID != id || r.Name != "sdk-replaced" || r.URL != hookURL+"/v2" || !r.Enabled || len(r.Events) != 1 || r.Events[0] != "meeting.ended" ||
		!r.CreatedAt.Equal(c.CreatedAt) || r.UpdatedAt.Before(c.UpdatedAt) {
		t.Errorf("ReplaceWebhook: %s", replaced.JSON.RawJSON())
	}

	deleted, err := sdk.DeleteWebhook(ctx, appA, id, realtime_kit.WebhookDeleteWebhookParams{AccountID: acc})
	if err != nil {
		t.Fatalf("DeleteWebhook: %v", err)
	}
	assertDecoded(t, "DeleteWebhook", deleted)
	if deleted.Data.ID != id || deleted.Data.Name != "sdk-replaced" {
		t.Errorf("DeleteWebhook: %s", deleted.JSON.RawJSON())
	}
	_, err = sdk.GetWebhookByID(ctx, appA, id, realtime_kit.WebhookGetWebhookByIDParams{AccountID: acc})
	var apiErr *cloudflare.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 {
		t.Errorf("GetWebhookByID after DeleteWebhook: %v, want the SDK's 404 error", err)
	}

	_, err = sdk.NewWebhook(ctx, appA, realtime_kit.WebhookNewWebhookParams{
		AccountID: acc, Name: cloudflare.F("chat"), URL: cloudflare.F(hookURL),
		Events: cloudflare.F([]realtime_kit.WebhookNewWebhookParamsEvent{realtime_kit.WebhookNewWebhookParamsEventMeetingChatSynced}),
	})
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || len(apiErr.Errors) != 1 || !strings.Contains(apiErr.Errors[0].Message, "meeting.chatSynced") {
		t.Errorf("NewWebhook with meeting.chatSynced: %v, want the SDK's 400 error naming it", err)
	}
}

// countingTransport counts the requests an SDK sends.
type countingTransport struct{ n atomic.Int32 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(r)
}

// TestSDKDoesNotRetryConflicts: the SDK, with its default retries, starting a meeting's
// livestream that is already active gets the 409 ALREADY_ACTIVE at once, from one request:
// livegate answers `x-should-retry: false`. Until 2026-11-29 it retried twice (409 is one of
// the statuses the SDK retries by default), taking about 1.3 s to report the conflict.
func TestSDKDoesNotRetryConflicts(t *testing.T) {
	s := startServer(t, t.TempDir())
	creds := s.createApp(accA, appA)
	ct := &countingTransport{}
	sdk := realtime_kit.NewLivestreamService(
		option.WithBaseURL(s.base+"/"),
		option.WithAPIToken(creds.APIToken),
		option.WithHTTPClient(&http.Client{Transport: ct}),
	)
	ctx := context.Background()
	params := realtime_kit.LivestreamStartLivestreamingAMeetingParams{AccountID: cloudflare.F(accA), Name: cloudflare.F("conflict")}
	if _, err := sdk.StartLivestreamingAMeeting(ctx, appA, "conflict-meeting", params); err != nil {
		t.Fatal(err)
	}
	ct.n.Store(0)
	_, err := sdk.StartLivestreamingAMeeting(ctx, appA, "conflict-meeting", params)
	var apiErr *cloudflare.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusConflict {
		t.Fatalf("second start: %v, want a 409", err)
	}
	if n := ct.n.Load(); n != 1 {
		t.Errorf("the SDK sent %d requests for the conflicting start, want 1 (no retries)", n)
	}
}
