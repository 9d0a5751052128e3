package server_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	cloudflare "github.com/cloudflare/cloudflare-go/v6"
	"github.com/cloudflare/cloudflare-go/v6/option"
	"github.com/cloudflare/cloudflare-go/v6/realtime_kit"
)

// TestRealtimeKitSDK drives the official RealtimeKit SDK (cloudflare-go v6) against a running
// livegate: all 10 livestream operations succeed, every response decodes with no field
// marked invalid, and the values are the ones livegate stored.
func TestRealtimeKitSDK(t *testing.T) {
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

	// 4. Fetch the meeting's active livestream.
	active, err := sdk.GetMeetingActiveLivestreams(ctx, appA, "sdk-meeting", realtime_kit.LivestreamGetMeetingActiveLivestreamsParams{AccountID: acc})
	if err != nil {
		t.Fatalf("GetMeetingActiveLivestreams: %v", err)
	}
	assertDecoded(t, "GetMeetingActiveLivestreams", active)
	if active.Data.ID != meetingStreamID || active.Data.MeetingID != "sdk-meeting" || active.Data.Disabled != "false" || active.Data.CreatedAt.IsZero() {
		t.Errorf("active livestream: %+v", active.Data)
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

	// 9. Overall analytics: the meeting's livestream had one session.
	overall, err := sdk.GetLivestreamAnalyticsComplete(ctx, appA, realtime_kit.LivestreamGetLivestreamAnalyticsCompleteParams{AccountID: acc})
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

	// Errors come back as the SDK's error type, with the envelope it parses.
	_, err = sdk.GetMeetingActiveLivestreams(ctx, appA, "sdk-meeting", realtime_kit.LivestreamGetMeetingActiveLivestreamsParams{AccountID: acc})
	var apiErr *cloudflare.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || len(apiErr.Errors) != 1 || apiErr.Errors[0].Code != 404 {
		t.Errorf("stopped meeting: got %v, want the SDK's 404 error", err)
	}
}

// assertDecoded walks an SDK response and fails on any field its decoder marked invalid
// (a JSON type it had to coerce is fine; one it could not decode is not).
func assertDecoded(t *testing.T, op string, v any) {
	t.Helper()
	var walk func(path string, rv reflect.Value)
	walk = func(path string, rv reflect.Value) {
		switch rv.Kind() {
		case reflect.Pointer:
			if !rv.IsNil() {
				walk(path, rv.Elem())
			}
		case reflect.Slice:
			for i := range rv.Len() {
				walk(path+"[]", rv.Index(i))
			}
		case reflect.Struct:
			for i := range rv.NumField() {
				f := rv.Type().Field(i)
				if !f.IsExported() {
					continue
				}
				if f.Name == "JSON" {
					meta := rv.Field(i)
					for j := range meta.NumField() {
						if !meta.Type().Field(j).IsExported() {
							continue
						}
						if m, ok := meta.Field(j).Interface().(interface{ IsInvalid() bool }); ok && m.IsInvalid() {
							t.Errorf("%s: field %s.%s did not decode", op, path, meta.Type().Field(j).Name)
						}
					}
					continue
				}
				walk(path+"."+f.Name, rv.Field(i))
			}
		}
	}
	walk("", reflect.ValueOf(v))
}
