package analytics_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/apierror"
	"github.com/livegate/livegate/internal/auth"
	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/store/sqlite"
	"github.com/livegate/livegate/internal/testenv"
	"github.com/livegate/livegate/services/analytics"
)

// The analytics service over an in-memory gRPC connection, with a real SQLite store.

var (
	tenantA = store.Tenant{AccountID: "acc-a", AppID: "app-a"}
	tenantB = store.Tenant{AccountID: "acc-b", AppID: "app-b"}
)

type fixture struct {
	st     store.Store
	client livegatev1.AnalyticsServiceClient
	tokenA string
	tokenB string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st, err := sqlite.Open(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	f := &fixture{st: st}
	for tn, tok := range map[store.Tenant]*string{tenantA: &f.tokenA, tenantB: &f.tokenB} {
		creds, err := auth.CreateApp(t.Context(), st, tn, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		*tok = creds.APIToken
	}
	conn := testenv.ServeGRPC(t, st, func(s *grpc.Server) {
		livegatev1.RegisterAnalyticsServiceServer(s, analytics.NewServer(st))
	})
	f.client = livegatev1.NewAnalyticsServiceClient(conn)
	return f
}

func day(s string) time.Time {
	d, err := time.Parse(time.DateTime, s)
	if err != nil {
		panic(err)
	}
	return d
}

// seed stores, for A: livestream ls-1 with sessions on Nov 2 (60 s ingest, 600 s viewing)
// and Nov 4 (120 s, 0 s), livestream ls-2 with one on Nov 4 (30 s, 30 s); a meeting session
// on Nov 3 (300 s); recordings on Nov 2 (90 s) and Nov 4 (30 s, 30 s). For B: a livestream
// with a session and a recording on Nov 3, which A must never see.
func (f *fixture) seed(t *testing.T) {
	t.Helper()
	err := f.st.Update(t.Context(), func(w store.Writer) error {
		ctx := t.Context()
		for _, l := range []store.Livestream{
			{Tenant: tenantA, ID: "ls-1", Name: "one", StreamKey: "k1", Status: store.StatusIdle, Provider: "rtmp", CreatedAt: day("2026-11-01 00:00:00")},
			{Tenant: tenantA, ID: "ls-2", Name: "two", StreamKey: "k2", Status: store.StatusIdle, Provider: "rtmp", CreatedAt: day("2026-11-01 00:00:00")},
			{Tenant: tenantB, ID: "ls-b", Name: "b", StreamKey: "kb", Status: store.StatusIdle, Provider: "rtmp", CreatedAt: day("2026-11-01 00:00:00")},
		} {
			l.UpdatedAt = l.CreatedAt
			if err := w.CreateLivestream(ctx, l); err != nil {
				return err
			}
		}
		for _, s := range []store.Session{
			{Tenant: tenantA, ID: "s-1", LivestreamID: "ls-1", CreatedAt: day("2026-11-02 10:00:00"), IngestSeconds: 60, ViewerSeconds: 600},
			{Tenant: tenantA, ID: "s-2", LivestreamID: "ls-1", CreatedAt: day("2026-11-04 23:59:59"), IngestSeconds: 120},
			{Tenant: tenantA, ID: "s-3", LivestreamID: "ls-2", CreatedAt: day("2026-11-04 00:00:00"), IngestSeconds: 30, ViewerSeconds: 30},
			{Tenant: tenantB, ID: "s-b", LivestreamID: "ls-b", CreatedAt: day("2026-11-03 12:00:00"), IngestSeconds: 999, ViewerSeconds: 999},
		} {
			s.UpdatedAt = s.CreatedAt
			if err := w.CreateSession(ctx, s); err != nil {
				return err
			}
		}
		if err := w.RecordMeetingSession(ctx, store.MeetingSession{Tenant: tenantA, ID: "m-1", RoomID: "room-1",
			StartedAt: day("2026-11-03 08:00:00"), StoppedAt: day("2026-11-03 08:05:00"), DurationSeconds: 300}); err != nil {
			return err
		}
		for _, r := range []store.Recording{
			{Tenant: tenantA, ID: "r-1", Source: "hms", RecordedAt: day("2026-11-02 11:00:00"), DurationSeconds: 90},
			{Tenant: tenantA, ID: "r-2", Source: "rtmp", RecordedAt: day("2026-11-04 11:00:00"), DurationSeconds: 30},
			{Tenant: tenantA, ID: "r-3", Source: "amity", RecordedAt: day("2026-11-04 12:00:00"), DurationSeconds: 30},
			{Tenant: tenantB, ID: "r-b", Source: "hms", RecordedAt: day("2026-11-03 11:00:00"), DurationSeconds: 999},
		} {
			if err := w.CreateRecording(ctx, r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func ctxOf(t *testing.T, token string) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return testenv.WithToken(ctx, token)
}

// TestDaywise: one entry per day of the range, zeros included, oldest first; livestream and
// meeting sessions both count; totals are the sums; another tenant's never count.
func TestDaywise(t *testing.T) {
	f := newFixture(t)
	f.seed(t)
	resp, err := f.client.GetDaywiseAnalytics(ctxOf(t, f.tokenA), &livegatev1.GetDaywiseAnalyticsRequest{
		AccountId: "acc-a", AppId: "app-a", StartDate: "2026-11-01", EndDate: "2026-11-05"})
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		day          string
		sessions     int32
		sessionMin   float64
		recordings   int32
		recordingMin float64
	}
	want := []row{
		{"2026-11-01", 0, 0, 0, 0},
		{"2026-11-02", 1, 1, 1, 1.5},
		{"2026-11-03", 1, 5, 0, 0},
		{"2026-11-04", 2, 2.5, 2, 1},
		{"2026-11-05", 0, 0, 0, 0},
	}
	ss, rs := resp.GetData().GetSessionStats(), resp.GetData().GetRecordingStats()
	if !resp.GetSuccess() || len(ss.GetDayStats()) != len(want) || len(rs.GetDayStats()) != len(want) {
		t.Fatalf("response %v", resp)
	}
	for i, w := range want {
		s, r := ss.GetDayStats()[i], rs.GetDayStats()[i]
		got := row{s.GetDay(), s.GetTotalSessions(), s.GetTotalSessionMinutes(), r.GetTotalRecordings(), r.GetTotalRecordingMinutes()}
		if got != w || r.GetDay() != w.day {
			t.Errorf("day %d: %+v (recordings' day %s), want %+v", i, got, r.GetDay(), w)
		}
	}
	if ss.GetSessionsCount() != 4 || ss.GetSessionsMinutesConsumed() != 8.5 || rs.GetRecordingCount() != 3 || rs.GetRecordingMinutesConsumed() != 2.5 {
		t.Errorf("totals: sessions %d, %v min; recordings %d, %v min; want 4, 8.5; 3, 2.5",
			ss.GetSessionsCount(), ss.GetSessionsMinutesConsumed(), rs.GetRecordingCount(), rs.GetRecordingMinutesConsumed())
	}
}

// TestDaywiseDefaults: with no dates, the range is the 30 days ending today (UTC); with only
// end_date, the 30 days ending then.
func TestDaywiseDefaults(t *testing.T) {
	f := newFixture(t)
	before := time.Now().UTC().Format(time.DateOnly)
	resp, err := f.client.GetDaywiseAnalytics(ctxOf(t, f.tokenA), &livegatev1.GetDaywiseAnalyticsRequest{AccountId: "acc-a", AppId: "app-a"})
	after := time.Now().UTC().Format(time.DateOnly)
	if err != nil {
		t.Fatal(err)
	}
	days := resp.GetData().GetSessionStats().GetDayStats()
	if len(days) != analytics.DefaultDays {
		t.Fatalf("%d days, want %d", len(days), analytics.DefaultDays)
	}
	if last := days[len(days)-1].GetDay(); last != before && last != after {
		t.Errorf("last day %s, want today %s", last, after)
	}
	resp, err = f.client.GetDaywiseAnalytics(ctxOf(t, f.tokenA), &livegatev1.GetDaywiseAnalyticsRequest{AccountId: "acc-a", AppId: "app-a", EndDate: "2026-03-01"})
	if err != nil {
		t.Fatal(err)
	}
	rdays := resp.GetData().GetRecordingStats().GetDayStats()
	if len(rdays) != 30 || rdays[0].GetDay() != "2026-01-31" || rdays[29].GetDay() != "2026-03-01" {
		t.Fatalf("30 days to 2026-03-01: %d days, %s to %s", len(rdays), rdays[0].GetDay(), rdays[len(rdays)-1].GetDay())
	}
	// The default start is not before the first day a date names (it was labelled 0000-12-03).
	resp, err = f.client.GetDaywiseAnalytics(ctxOf(t, f.tokenA), &livegatev1.GetDaywiseAnalyticsRequest{AccountId: "acc-a", AppId: "app-a", EndDate: "0001-01-01"})
	if err != nil {
		t.Fatal(err)
	}
	if d := resp.GetData().GetSessionStats().GetDayStats(); len(d) != 1 || d[0].GetDay() != "0001-01-01" {
		t.Errorf("days ending 0001-01-01: %v, want that day alone", d)
	}
	ls, err := f.client.GetLivestreamDaywiseAnalytics(ctxOf(t, f.tokenA), &livegatev1.GetLivestreamDaywiseAnalyticsRequest{AccountId: "acc-a", AppId: "app-a",
		EndTime: timestamppb.New(time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC))})
	if err != nil {
		t.Fatal(err)
	}
	if d := ls.GetData(); len(d) != 1 || d[0].GetDate() != "0001-01-01" {
		t.Errorf("livestream days ending 0001-01-01T00:00:01Z: %v, want that day alone", d)
	}
}

// TestLivestreamAnalytics: totals of the sessions that began in [start_time, end_time), over
// all time when unset; the count is of livestreams, not sessions.
func TestLivestreamAnalytics(t *testing.T) {
	f := newFixture(t)
	f.seed(t)
	for _, tc := range []struct {
		name            string
		from, to        string // "": unset
		count           int32
		ingest, viewers float64
	}{
		{"all time", "", "", 2, 210, 630},
		{"from Nov 3", "2026-11-03 00:00:00", "", 2, 150, 30},
		{"until Nov 4, exclusive", "", "2026-11-04 00:00:00", 1, 60, 600},
		{"Nov 4 only", "2026-11-04 00:00:00", "2026-11-05 00:00:00", 2, 150, 30},
		{"nothing", "2026-12-01 00:00:00", "2026-12-02 00:00:00", 0, 0, 0},
		// Until 2026-11-29 the zero time read as "no end": everything.
		{"until the year 1", "", "0001-01-01 00:00:00", 0, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := &livegatev1.GetLivestreamAnalyticsRequest{AccountId: "acc-a", AppId: "app-a"}
			if tc.from != "" {
				req.StartTime = timestamppb.New(day(tc.from))
			}
			if tc.to != "" {
				req.EndTime = timestamppb.New(day(tc.to))
			}
			resp, err := f.client.GetLivestreamAnalytics(ctxOf(t, f.tokenA), req)
			if err != nil {
				t.Fatal(err)
			}
			d := resp.GetData()
			if !resp.GetSuccess() || d.GetCount() != tc.count || d.GetTotalIngestSeconds() != tc.ingest || d.GetTotalViewerSeconds() != tc.viewers {
				t.Errorf("got %v, want count %d, ingest %v, viewers %v", d, tc.count, tc.ingest, tc.viewers)
			}
		})
	}
}

// TestLivestreamAnalyticsWholeSeconds: the totals are whole seconds (the sum, rounded), as
// RealtimeKit's SDKs model them (int64 in cloudflare-go: a fractional number there would
// not decode).
func TestLivestreamAnalyticsWholeSeconds(t *testing.T) {
	f := newFixture(t)
	err := f.st.Update(t.Context(), func(w store.Writer) error {
		ctx := t.Context()
		l := store.Livestream{Tenant: tenantA, ID: "ls-f", Name: "f", StreamKey: "kf", Status: store.StatusIdle, Provider: "rtmp",
			CreatedAt: day("2026-11-01 00:00:00"), UpdatedAt: day("2026-11-01 00:00:00")}
		if err := w.CreateLivestream(ctx, l); err != nil {
			return err
		}
		for i, at := range []string{"2026-11-02 10:00:00", "2026-11-03 10:00:00"} {
			s := store.Session{Tenant: tenantA, ID: fmt.Sprintf("s-f%d", i), LivestreamID: "ls-f", CreatedAt: day(at), UpdatedAt: day(at),
				IngestSeconds: 10.4, ViewerSeconds: 0.2}
			if err := w.CreateSession(ctx, s); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := f.client.GetLivestreamAnalytics(ctxOf(t, f.tokenA), &livegatev1.GetLivestreamAnalyticsRequest{AccountId: "acc-a", AppId: "app-a"})
	if err != nil {
		t.Fatal(err)
	}
	if d := resp.GetData(); d.GetTotalIngestSeconds() != 21 || d.GetTotalViewerSeconds() != 0 {
		t.Errorf("totals %v, want ingest 21 (10.4 + 10.4, rounded) and viewers 0 (0.2 + 0.2, rounded)", d)
	}
}

// TestLivestreamDaywise: livestream sessions per UTC day of [start_time, end_time), one
// entry per day (zeros included), oldest first, seconds whole; meeting sessions and another
// tenant's sessions never count.
func TestLivestreamDaywise(t *testing.T) {
	f := newFixture(t)
	f.seed(t)
	type dayWant struct {
		date            string
		count           int32
		ingest, viewers float64
	}
	for _, tc := range []struct {
		name     string
		from, to string
		want     []dayWant
	}{
		{"Nov 1 to Nov 5", "2026-11-01 00:00:00", "2026-11-05 00:00:00", []dayWant{
			{"2026-11-01", 0, 0, 0}, {"2026-11-02", 1, 60, 600}, {"2026-11-03", 0, 0, 0}, {"2026-11-04", 2, 150, 30}}},
		// The first day is start_time's even when a session of it falls before start_time;
		// end_time is exclusive, and a range ending at midnight ends with the day before.
		{"mid-day start, midnight end", "2026-11-02 10:00:01", "2026-11-04 00:00:00", []dayWant{
			{"2026-11-02", 0, 0, 0}, {"2026-11-03", 0, 0, 0}}},
		{"one second", "2026-11-04 23:59:59", "2026-11-05 00:00:00", []dayWant{{"2026-11-04", 1, 120, 0}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := f.client.GetLivestreamDaywiseAnalytics(ctxOf(t, f.tokenA), &livegatev1.GetLivestreamDaywiseAnalyticsRequest{
				AccountId: "acc-a", AppId: "app-a", StartTime: timestamppb.New(day(tc.from)), EndTime: timestamppb.New(day(tc.to))})
			if err != nil {
				t.Fatal(err)
			}
			var got []dayWant
			for _, d := range resp.GetData() {
				got = append(got, dayWant{d.GetDate(), d.GetCount(), d.GetTotalIngestSeconds(), d.GetTotalViewerSeconds()})
			}
			if !resp.GetSuccess() || !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}

	// Without a range: the 30 days ending today (now), nothing seeded in them.
	resp, err := f.client.GetLivestreamDaywiseAnalytics(ctxOf(t, f.tokenA), &livegatev1.GetLivestreamDaywiseAnalyticsRequest{AccountId: "acc-a", AppId: "app-a"})
	if err != nil {
		t.Fatal(err)
	}
	if days := resp.GetData(); len(days) != analytics.DefaultDays || days[len(days)-1].GetDate() != time.Now().UTC().Format(time.DateOnly) {
		t.Errorf("default range: %d days, last %v", len(days), days[len(days)-1])
	}
	// Only end_time: the 30 days ending with the day of its last instant (midnight is the
	// day before's end).
	resp, err = f.client.GetLivestreamDaywiseAnalytics(ctxOf(t, f.tokenA), &livegatev1.GetLivestreamDaywiseAnalyticsRequest{
		AccountId: "acc-a", AppId: "app-a", EndTime: timestamppb.New(day("2026-11-05 00:00:00"))})
	if err != nil {
		t.Fatal(err)
	}
	if days := resp.GetData(); len(days) != analytics.DefaultDays || days[0].GetDate() != "2026-10-06" || days[29].GetDate() != "2026-11-04" || days[29].GetCount() != 2 {
		t.Errorf("end_time only: %d days, %v .. %v", len(days), days[0], days[len(days)-1])
	}
	// Fractions of a second are rounded to whole seconds (the SDKs model integers).
	err = f.st.Update(t.Context(), func(w store.Writer) error {
		return w.CreateSession(t.Context(), store.Session{Tenant: tenantA, ID: "s-frac", LivestreamID: "ls-2",
			CreatedAt: day("2026-11-06 01:00:00"), UpdatedAt: day("2026-11-06 01:00:00"), IngestSeconds: 10.4, ViewerSeconds: 10.6})
	})
	if err != nil {
		t.Fatal(err)
	}
	resp, err = f.client.GetLivestreamDaywiseAnalytics(ctxOf(t, f.tokenA), &livegatev1.GetLivestreamDaywiseAnalyticsRequest{
		AccountId: "acc-a", AppId: "app-a", StartTime: timestamppb.New(day("2026-11-06 00:00:00")), EndTime: timestamppb.New(day("2026-11-07 00:00:00"))})
	if err != nil || len(resp.GetData()) != 1 || resp.GetData()[0].GetTotalIngestSeconds() != 10 || resp.GetData()[0].GetTotalViewerSeconds() != 11 {
		t.Errorf("fractional seconds: %v, %v", resp.GetData(), err)
	}
}

// TestAnalyticsErrors: what a caller gets for each wrong request.
func TestAnalyticsErrors(t *testing.T) {
	f := newFixture(t)
	daywise := func(start, end string) func(context.Context) error {
		return func(ctx context.Context) error {
			_, err := f.client.GetDaywiseAnalytics(ctx, &livegatev1.GetDaywiseAnalyticsRequest{AccountId: "acc-a", AppId: "app-a", StartDate: start, EndDate: end})
			return err
		}
	}
	for _, tc := range []struct {
		name   string
		token  string
		call   func(context.Context) error
		code   codes.Code
		reason apierror.Reason
		field  string // ErrorInfo metadata "field", if any
		msg    string
	}{
		{"no token", "", daywise("", ""), codes.Unauthenticated, apierror.ReasonUnauthenticated, "", "Bearer"},
		{"another tenant", f.tokenB, daywise("", ""), codes.PermissionDenied, apierror.ReasonPermissionDenied, "", `"acc-a"`},
		{"end date not a date", f.tokenA, daywise("", "2026-13-45"), codes.InvalidArgument, apierror.ReasonInvalidArgument, "end_date", "YYYY-MM-DD"},
		{"start date not a date", f.tokenA, daywise("2026-02-30", "2026-03-01"), codes.InvalidArgument, apierror.ReasonInvalidArgument, "start_date", "YYYY-MM-DD"},
		{"start after end", f.tokenA, daywise("2026-03-02", "2026-03-01"), codes.InvalidArgument, apierror.ReasonInvalidArgument, "start_date", "after end_date"},
		{"end date before the year 1", f.tokenA, daywise("", "0000-06-01"), codes.InvalidArgument, apierror.ReasonInvalidArgument, "end_date", "from 0001-01-01"},
		{"start date before the year 1", f.tokenA, daywise("0000-12-31", "0001-01-01"), codes.InvalidArgument, apierror.ReasonInvalidArgument, "start_date", "from 0001-01-01"},
		{"start after today, no end", f.tokenA, daywise(time.Now().UTC().AddDate(0, 0, 2).Format(time.DateOnly), ""), codes.InvalidArgument, apierror.ReasonInvalidArgument, "start_date", "after end_date, which defaults to today"},
		{"range too long", f.tokenA, daywise("2024-01-01", "2025-01-01"), codes.InvalidArgument, apierror.ReasonInvalidArgument, "start_date", "at most 366 days"},
		{"date in another format", f.tokenA, daywise("01/02/2026", ""), codes.InvalidArgument, "", "", "start_date"},
		{"livestream daywise: filters", f.tokenA, livestreamDaywise(f, "livestream_id:ls-1", "", ""), codes.InvalidArgument, apierror.ReasonInvalidArgument, "filters", "supports no analytics filters"},
		{"overall: filters", f.tokenA, func(ctx context.Context) error {
			_, err := f.client.GetLivestreamAnalytics(ctx, &livegatev1.GetLivestreamAnalyticsRequest{AccountId: "acc-a", AppId: "app-a", Filters: "status=LIVE"})
			return err
		}, codes.InvalidArgument, apierror.ReasonInvalidArgument, "filters", `"status=LIVE"`},
		{"livestream daywise: range too long", f.tokenA, livestreamDaywise(f, "", "2024-01-01 00:00:00", "2025-01-01 00:00:01"), codes.InvalidArgument, apierror.ReasonInvalidArgument, "start_time", "at most 366 days"},
		{"livestream daywise: end before start", f.tokenA, livestreamDaywise(f, "", "2026-11-02 00:00:00", "2026-11-02 00:00:00"), codes.InvalidArgument, "", "", "end_time must be after start_time"},
		{"livestream daywise: start in the future", f.tokenA, livestreamDaywise(f, "", time.Now().UTC().Add(time.Hour).Format(time.DateTime), ""), codes.InvalidArgument, apierror.ReasonInvalidArgument, "start_time", "before end_time, which defaults to now"},
		{"livestream daywise: another tenant", f.tokenB, livestreamDaywise(f, "", "", ""), codes.PermissionDenied, apierror.ReasonPermissionDenied, "", `"acc-a"`},
		{"end time before start time", f.tokenA, func(ctx context.Context) error {
			_, err := f.client.GetLivestreamAnalytics(ctx, &livegatev1.GetLivestreamAnalyticsRequest{AccountId: "acc-a", AppId: "app-a",
				StartTime: timestamppb.New(day("2026-11-02 00:00:00")), EndTime: timestamppb.New(day("2026-11-01 00:00:00"))})
			return err
		}, codes.InvalidArgument, "", "", "end_time must be after start_time"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, ok := status.FromError(tc.call(ctxOf(t, tc.token)))
			if !ok || st.Code() != tc.code || !strings.Contains(st.Message(), tc.msg) {
				t.Fatalf("%v %q, want %v saying %q", st.Code(), st.Message(), tc.code, tc.msg)
			}
			if tc.reason == "" {
				return
			}
			info := apierror.Info(st)
			if info.GetReason() != string(tc.reason) || info.GetMetadata()["field"] != tc.field {
				t.Errorf("ErrorInfo %v, want reason %s field %q", info, tc.reason, tc.field)
			}
		})
	}
	// A range of exactly MaxDays days is accepted, for both daywise analytics.
	days, err := f.client.GetLivestreamDaywiseAnalytics(ctxOf(t, f.tokenA), &livegatev1.GetLivestreamDaywiseAnalyticsRequest{
		AccountId: "acc-a", AppId: "app-a", StartTime: timestamppb.New(day("2024-01-01 12:00:00")), EndTime: timestamppb.New(day("2025-01-01 00:00:00"))})
	if err != nil || len(days.GetData()) != analytics.MaxDays {
		t.Fatalf("366 days of livestream analytics: %d days, %v", len(days.GetData()), err)
	}
	resp, err := f.client.GetDaywiseAnalytics(ctxOf(t, f.tokenA), &livegatev1.GetDaywiseAnalyticsRequest{
		AccountId: "acc-a", AppId: "app-a", StartDate: "2024-01-01", EndDate: "2024-12-31"})
	if err != nil || len(resp.GetData().GetSessionStats().GetDayStats()) != analytics.MaxDays {
		t.Fatalf("366 days: %d days, %v", len(resp.GetData().GetSessionStats().GetDayStats()), err)
	}
}

func livestreamDaywise(f *fixture, filters, start, end string) func(context.Context) error {
	return func(ctx context.Context) error {
		req := &livegatev1.GetLivestreamDaywiseAnalyticsRequest{AccountId: "acc-a", AppId: "app-a", Filters: filters}
		if start != "" {
			req.StartTime = timestamppb.New(day(start))
		}
		if end != "" {
			req.EndTime = timestamppb.New(day(end))
		}
		_, err := f.client.GetLivestreamDaywiseAnalytics(ctx, req)
		return err
	}
}
