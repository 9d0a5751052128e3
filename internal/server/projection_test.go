package server_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/amity"
	"github.com/livegate/livegate/internal/auth"
)

// hmsDelivery builds a 100ms delivery of a type at a time with data.
func hmsDelivery(typ string, at time.Time, data string) []byte {
	return fmt.Appendf(nil, `{"version":"2.0","id":%q,"account_id":"x","app_id":"y","timestamp":%q,"type":%q,"data":%s}`,
		uuid.NewString(), at.UTC().Format(time.RFC3339), typ, data)
}

// TestHMSLivestreamStory: a meeting's livestream driven by a realistic 100ms sequence, with a
// repeated stop, a stale start and a failure; status, sessions, analytics and the
// livestream.status_changed trail are checked.
func TestHMSLivestreamStory(t *testing.T) {
	st := newHMSStory(t)
	st.goLive()
	st.stopIgnoringRepeatAndStaleStart()
	st.closeSessionAndRecord()
	st.secondRunFails()
	st.checkAnalytics()
	st.checkFeedTellsTheStory()
}

// hmsStory is TestHMSLivestreamStory's server and the livestream of room-1; the methods
// are the steps of its story, called in order.
type hmsStory struct {
	t                         *testing.T
	s                         *testServer
	creds                     auth.Credentials
	ctx                       context.Context
	id                        string
	t0                        time.Time
	liveSeq, idleSeq, failSeq uint64
}

// newHMSStory starts a meeting livestream in room-1.
func newHMSStory(t *testing.T) *hmsStory {
	s := startServer(t, t.TempDir())
	st := &hmsStory{t: t, s: s, creds: s.createApp(accA, appA)}
	st.ctx = withToken(st.creds.APIToken)
	started, err := s.livestreams.StartMeetingLivestream(st.ctx, &livegatev1.StartMeetingLivestreamRequest{AccountId: accA, AppId: appA, MeetingId: "room-1"})
	if err != nil {
		t.Fatal(err)
	}
	st.id = started.GetData().GetId()
	st.t0 = time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	return st
}

func (st *hmsStory) send(body []byte) uint64 {
	st.t.Helper()
	r := st.s.post(hmsPath(accA, appA), map[string]string{"X-Webhook-Secret": st.creds.WebhookSecret}, body)
	if r.Status != 200 {
		st.t.Fatalf("HTTP %d %s", r.Status, r.Raw)
	}
	var seq uint64
	fmt.Sscan(r.Body["sequence"].(string), &seq)
	return seq
}

func (st *hmsStory) get() *livegatev1.GetLivestreamData {
	st.t.Helper()
	r, err := st.s.livestreams.GetLivestream(st.ctx, &livegatev1.GetLivestreamRequest{AccountId: accA, AppId: appA, LivestreamId: st.id})
	if err != nil {
		st.t.Fatal(err)
	}
	return r.GetData()
}

// goLive: the session opens and HLS starts: the livestream is LIVE.
func (st *hmsStory) goLive() {
	t0 := st.t0
	st.send(hmsDelivery("session.open.success", t0, `{"room_id":"room-1","session_id":"sess-1","session_started_at":"`+t0.Format(time.RFC3339)+`"}`))
	st.liveSeq = st.send(hmsDelivery("hls.started.success", t0.Add(5*time.Second),
		`{"room_id":"room-1","session_id":"sess-1","beam_id":"beam-1","started_at":"`+t0.Add(5*time.Second).Format(time.RFC3339)+`"}`))
	if d := st.get(); d.GetLivestream().GetStatus() != livegatev1.LivestreamStatus_LIVE || d.GetSession().GetStartedTime() == nil || d.GetSession().GetInvokedTime() == nil {
		st.t.Fatalf("after hls.started: %v", d)
	}
}

// stopIgnoringRepeatAndStaleStart: HLS stops; the same stop again (a provider replay with a
// new id) and a stale start change nothing.
func (st *hmsStory) stopIgnoringRepeatAndStaleStart() {
	t0 := st.t0
	stopBody := `{"room_id":"room-1","session_id":"sess-1","beam_id":"beam-1","duration":120,"stopped_at":"` + t0.Add(125*time.Second).Format(time.RFC3339) + `"}`
	st.idleSeq = st.send(hmsDelivery("hls.stopped.success", t0.Add(125*time.Second), stopBody))
	st.send(hmsDelivery("hls.stopped.success", t0.Add(125*time.Second), stopBody))
	st.send(hmsDelivery("hls.started.success", t0.Add(6*time.Second), `{"room_id":"room-1","beam_id":"beam-1"}`))
	d := st.get()
	if d.GetLivestream().GetStatus() != livegatev1.LivestreamStatus_IDLE || d.GetPaging().GetTotalCount() != 1 {
		st.t.Fatalf("after stop, repeat and stale start: status %v, %d sessions", d.GetLivestream().GetStatus(), d.GetPaging().GetTotalCount())
	}
	if got := d.GetSession().GetIngestSeconds(); got != 120 {
		st.t.Errorf("ingest_seconds %v, want 120 (from the event's duration, counted once)", got)
	}
}

// closeSessionAndRecord: the meeting session closes and its recording is reported.
func (st *hmsStory) closeSessionAndRecord() {
	t0 := st.t0
	st.send(hmsDelivery("session.close.success", t0.Add(10*time.Minute), `{"room_id":"room-1","session_id":"sess-1","session_duration":600,"session_started_at":"`+t0.Format(time.RFC3339)+`"}`))
	st.send(hmsDelivery("hls.recording.success", t0.Add(11*time.Minute), `{"room_id":"room-1","session_id":"sess-1","duration":90}`))
}

// secondRunFails: a second run, then hls.failure: ERRORED with the provider's message. The
// failure is dated after the run was invoked (now): one dated before it would be about an
// earlier run.
func (st *hmsStory) secondRunFails() {
	if _, err := st.s.livestreams.StartMeetingLivestream(st.ctx, &livegatev1.StartMeetingLivestreamRequest{AccountId: accA, AppId: appA, MeetingId: "room-1"}); err != nil {
		st.t.Fatal(err)
	}
	st.failSeq = st.send(hmsDelivery("hls.failure", time.Now().UTC(), `{"room_id":"room-1","error_message":"encoder crashed","error_code":500}`))
	if d := st.get(); d.GetLivestream().GetStatus() != livegatev1.LivestreamStatus_ERRORED || d.GetSession().GetErrMessage() != "encoder crashed" || d.GetSession().GetStoppedTime() == nil {
		st.t.Fatalf("after hls.failure: %v", d)
	}
}

// checkAnalytics: the overall and daywise analytics count the story.
func (st *hmsStory) checkAnalytics() {
	t, s := st.t, st.s
	overall, err := s.analytics.GetLivestreamAnalytics(st.ctx, &livegatev1.GetLivestreamAnalyticsRequest{AccountId: accA, AppId: appA})
	if err != nil {
		t.Fatal(err)
	}
	if overall.GetData().GetCount() != 1 || overall.GetData().GetTotalIngestSeconds() != 120 {
		t.Errorf("overall analytics %v, want 1 livestream and 120 s", overall.GetData())
	}
	day := st.t0.Format(time.DateOnly)
	daywise, err := s.analytics.GetDaywiseAnalytics(st.ctx, &livegatev1.GetDaywiseAnalyticsRequest{AccountId: accA, AppId: appA, StartDate: day, EndDate: time.Now().UTC().Format(time.DateOnly)})
	if err != nil {
		t.Fatal(err)
	}
	if rs := daywise.GetData().GetRecordingStats(); rs.GetRecordingCount() != 1 || rs.GetRecordingMinutesConsumed() != 1.5 {
		t.Errorf("recording stats %v, want 1 recording of 1.5 minutes", rs)
	}
	// Two livestream sessions plus the meeting session (10 minutes) and the livestream's 2.
	if ss := daywise.GetData().GetSessionStats(); ss.GetSessionsCount() != 3 || ss.GetSessionsMinutesConsumed() != 12 {
		t.Errorf("session stats %v, want 3 sessions of 12 minutes in all", ss)
	}
}

// checkFeedTellsTheStory: the feed has one status change per transition, each naming its
// cause, and every 100ms event of room-1 correlated to the livestream.
func (st *hmsStory) checkFeedTellsTheStory() {
	t, id := st.t, st.id
	type step struct {
		old, new livegatev1.LivestreamStatus
		cause    uint64
	}
	want := []step{
		{livegatev1.LivestreamStatus_LIVESTREAM_STATUS_UNSPECIFIED, livegatev1.LivestreamStatus_INVOKED, 0},
		{livegatev1.LivestreamStatus_INVOKED, livegatev1.LivestreamStatus_LIVE, st.liveSeq},
		{livegatev1.LivestreamStatus_LIVE, livegatev1.LivestreamStatus_IDLE, st.idleSeq},
		{livegatev1.LivestreamStatus_IDLE, livegatev1.LivestreamStatus_INVOKED, 0},
		{livegatev1.LivestreamStatus_INVOKED, livegatev1.LivestreamStatus_ERRORED, st.failSeq},
	}
	var got []step
	for _, ev := range st.s.allEvents(st.creds.APIToken, accA, appA) {
		if c := ev.GetLivestreamStatusChanged(); c != nil {
			if ev.GetLivestreamId() != id || ev.GetSource() != "livegate" || ev.GetRoomId() != "room-1" {
				t.Errorf("status change envelope %v", ev)
			}
			if c.GetCauseSequence() != 0 && c.GetCauseSequence() >= ev.GetSequence() {
				t.Errorf("status change %d names a later cause %d", ev.GetSequence(), c.GetCauseSequence())
			}
			got = append(got, step{c.GetOldStatus(), c.GetNewStatus(), c.GetCauseSequence()})
		} else if ev.GetRoomId() == "room-1" && ev.GetSource() == "hms" && ev.GetLivestreamId() != id {
			t.Errorf("100ms event %d (%s) not correlated to livestream %s", ev.GetSequence(), ev.GetType(), id)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("status changes\n got %v\nwant %v", got, want)
	}
}

// TestAmityLivestreamStory: the first Amity event of a stream creates its livestream; didStart
// makes it LIVE, didStop IDLE with ingest seconds from startedAt/endedAt, a repeated didStop
// counts nothing twice.
func TestAmityLivestreamStory(t *testing.T) {
	s := startServer(t, t.TempDir())
	creds := s.createApp(accA, appA)
	send := func(event, streamID, startedAt, endedAt string) {
		t.Helper()
		body := fmt.Appendf(nil, `{"event":%q,"data":{"videoStreamings":[{"streamId":%q,"title":"Launch day!","status":"live","startedAt":%q,"endedAt":%q,"updatedAt":%q}],"users":[],"files":[]}}`,
			event, streamID, startedAt, endedAt, endedAt)
		r := s.post(amityPath(accA, appA), map[string]string{amity.SignatureHeader: amity.Sign([]byte(creds.WebhookSecret), body)}, body)
		if r.Status != 200 {
			t.Fatalf("%s: HTTP %d %s", event, r.Status, r.Raw)
		}
	}
	send("video-streaming.didStart", "stream-9", "2026-11-20T10:00:00Z", "2026-11-20T10:00:00Z")
	list, err := s.livestreams.ListLivestreams(withToken(creds.APIToken), &livegatev1.ListLivestreamsRequest{AccountId: accA, AppId: appA})
	if err != nil || len(list.GetData().GetLivestreams()) != 1 {
		t.Fatalf("after didStart: %v %v", list, err)
	}
	l := list.GetData().GetLivestreams()[0]
	if l.GetProvider() != "amity" || l.GetProviderId() != "stream-9" || l.GetStatus() != livegatev1.LivestreamStatus_LIVE || l.GetName() != "Launch-day-" {
		t.Fatalf("Amity livestream: %v", l)
	}
	send("video-streaming.didStop", "stream-9", "2026-11-20T10:00:00Z", "2026-11-20T10:30:00Z")
	send("video-streaming.didStop", "stream-9", "2026-11-20T10:00:00Z", "2026-11-20T10:30:01Z") // a second, different stop
	got, err := s.livestreams.GetLivestream(withToken(creds.APIToken), &livegatev1.GetLivestreamRequest{AccountId: accA, AppId: appA, LivestreamId: l.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	if got.GetData().GetLivestream().GetStatus() != livegatev1.LivestreamStatus_IDLE || got.GetData().GetSession().GetIngestSeconds() != 1800 || got.GetData().GetPaging().GetTotalCount() != 1 {
		t.Errorf("after didStop: %v", got.GetData())
	}
}

// TestHMSStopBeforeStart: the audit's delivery order, through HTTP, for a meeting whose
// livestream is IDLE (its invoked run stopped through the API). A run's HLS stops 30 s after
// it started, and its start comes after the stop: the livestream stays IDLE with the run as
// its newest session, stopped, not LIVE for good. (The run is dated just after the API stop,
// up to 40 s ahead of now: within the minute a provider's clock may be ahead of livegate's.)
func TestHMSStopBeforeStart(t *testing.T) {
	st := newHMSStory(t)
	if _, err := st.s.livestreams.StopMeetingLivestream(st.ctx, &livegatev1.StopMeetingLivestreamRequest{AccountId: accA, AppId: appA, MeetingId: "room-1"}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().UTC().Add(10 * time.Second).Truncate(time.Second)
	t1 := t0.Add(30 * time.Second)
	st.send(hmsDelivery("hls.stopped.success", t1, `{"room_id":"room-1","beam_id":"beam-1","duration":30,"started_at":"`+
		t0.Format(time.RFC3339)+`","stopped_at":"`+t1.Format(time.RFC3339)+`"}`))
	st.send(hmsDelivery("hls.started.success", t0, `{"room_id":"room-1","beam_id":"beam-1","started_at":"`+t0.Format(time.RFC3339)+`"}`))
	d := st.get()
	if d.GetLivestream().GetStatus() != livegatev1.LivestreamStatus_IDLE || d.GetPaging().GetTotalCount() != 2 {
		t.Fatalf("after the stop and its late start: status %v, %d sessions", d.GetLivestream().GetStatus(), d.GetPaging().GetTotalCount())
	}
	sess := d.GetSession()
	if sess.GetIngestSeconds() != 30 || sess.GetStoppedTime() == nil || !sess.GetStoppedTime().AsTime().Equal(t1) {
		t.Errorf("session %v, want stopped at %v with 30 ingest seconds", sess, t1)
	}
}

// TestCreateAnswersTheStoredTimes: what creating or starting a livestream answers is what
// reading it back gives, to the microsecond the store keeps. Until 2026-11-29 a create
// answered nanoseconds (…29.598275221Z) and every later read …29.598275Z.
func TestCreateAnswersTheStoredTimes(t *testing.T) {
	s := startServer(t, t.TempDir())
	creds := s.createApp(accA, appA)
	ctx := withToken(creds.APIToken)
	created, err := s.livestreams.CreateLivestream(ctx, &livegatev1.CreateLivestreamRequest{AccountId: accA, AppId: appA, Name: "times"})
	if err != nil {
		t.Fatal(err)
	}
	started, err := s.livestreams.StartMeetingLivestream(ctx, &livegatev1.StartMeetingLivestreamRequest{AccountId: accA, AppId: appA, MeetingId: "times-meeting"})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []*livegatev1.Livestream{created.GetData(), started.GetData()} {
		got, err := s.livestreams.GetLivestream(ctx, &livegatev1.GetLivestreamRequest{AccountId: accA, AppId: appA, LivestreamId: l.GetId()})
		if err != nil {
			t.Fatal(err)
		}
		read := got.GetData().GetLivestream()
		if !read.GetCreatedAt().AsTime().Equal(l.GetCreatedAt().AsTime()) || !read.GetUpdatedAt().AsTime().Equal(l.GetUpdatedAt().AsTime()) {
			t.Errorf("livestream %s answered created %v updated %v; read back %v, %v", l.GetId(),
				l.GetCreatedAt().AsTime(), l.GetUpdatedAt().AsTime(), read.GetCreatedAt().AsTime(), read.GetUpdatedAt().AsTime())
		}
	}
}

// TestEndTimeOfTheYearOne: an end_time of 0001-01-01T00:00:00Z (the zero time) is a bound,
// before which there is nothing, not "no end". Until 2026-11-29 it listed every livestream.
func TestEndTimeOfTheYearOne(t *testing.T) {
	s := startServer(t, t.TempDir())
	creds := s.createApp(accA, appA)
	ctx := withToken(creds.APIToken)
	if _, err := s.livestreams.CreateLivestream(ctx, &livegatev1.CreateLivestreamRequest{AccountId: accA, AppId: appA, Name: "any"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		end  *timestamppb.Timestamp
		want int
	}{{nil, 1}, {timestamppb.New(time.Time{}), 0}} {
		list, err := s.livestreams.ListLivestreams(ctx, &livegatev1.ListLivestreamsRequest{AccountId: accA, AppId: appA, EndTime: tc.end})
		if err != nil {
			t.Fatal(err)
		}
		if n := len(list.GetData().GetLivestreams()); n != tc.want {
			t.Errorf("end_time %v: %d livestreams, want %d", tc.end, n, tc.want)
		}
	}
}

// TestProviderTimesBounded: what a provider says a run, a meeting session or a recording
// lasted is bounded by what the clock allows, whatever the delivery claims (the audit of
// 2026-11-30 wrote decades of ingest into sessions and analytics with one delivery each):
//   - a start dated 1990 of a stopped run: at most 30 days (maxProviderSeconds);
//   - 100ms's duration 9223372036854775807 on a run of milliseconds: the run's span;
//   - Amity's endedAt in 2100: the run stops now, and ingests until now;
//   - Amity recordings of negative length: none;
//   - a meeting session in 2100 of 9e18 s: dated now, and at most its span;
//   - a stop of a run not seen to start, with a duration too long for its start to be read
//     from it: its started_at says when, and the livestream ends IDLE (not LIVE for good
//     when the start comes after: the review of 2026-11-30);
//   - a meeting session closed with a duration and no start: the duration counts.
func TestProviderTimesBounded(t *testing.T) {
	s := startServer(t, t.TempDir())
	creds := s.createApp(accA, appA)
	ctx := withToken(creds.APIToken)
	now := time.Now().UTC()
	hms := func(typ, data string) {
		t.Helper()
		if r := s.post(hmsPath(accA, appA), map[string]string{"X-Webhook-Secret": creds.WebhookSecret}, hmsDelivery(typ, now, data)); r.Status != 200 {
			t.Fatalf("%s: HTTP %d %s", typ, r.Status, r.Raw)
		}
	}
	amitySend := func(event, streamID, extra string) {
		t.Helper()
		body := fmt.Appendf(nil, `{"event":%q,"data":{"videoStreamings":[{"streamId":%q,"title":"t","status":"live"%s}],"users":[],"files":[]}}`, event, streamID, extra)
		if r := s.post(amityPath(accA, appA), map[string]string{amity.SignatureHeader: amity.Sign([]byte(creds.WebhookSecret), body)}, body); r.Status != 200 {
			t.Fatalf("%s: HTTP %d %s", event, r.Status, r.Raw)
		}
	}
	session := func(id string) *livegatev1.LivestreamSession {
		t.Helper()
		got, err := s.livestreams.GetLivestream(ctx, &livegatev1.GetLivestreamRequest{AccountId: accA, AppId: appA, LivestreamId: id})
		if err != nil {
			t.Fatal(err)
		}
		return got.GetData().GetSession()
	}
	start := func(room string) string {
		t.Helper()
		r, err := s.livestreams.StartMeetingLivestream(ctx, &livegatev1.StartMeetingLivestreamRequest{AccountId: accA, AppId: appA, MeetingId: room})
		if err != nil {
			t.Fatal(err)
		}
		return r.GetData().GetId()
	}
	const month = 30 * 24 * 3600

	// A run stopped through the API, then its start dated 1990.
	old := start("room-1990")
	if _, err := s.livestreams.StopMeetingLivestream(ctx, &livegatev1.StopMeetingLivestreamRequest{AccountId: accA, AppId: appA, MeetingId: "room-1990"}); err != nil {
		t.Fatal(err)
	}
	hms("hls.started.success", `{"room_id":"room-1990","started_at":"1990-01-01T00:00:00Z"}`)
	if got := session(old).GetIngestSeconds(); got > month {
		t.Errorf("run started 1990: %v ingest seconds, want at most 30 days (%d)", got, month)
	}

	// A run of milliseconds that says it lasted 2^63-1 seconds.
	huge := start("room-huge")
	hms("hls.started.success", `{"room_id":"room-huge"}`)
	hms("hls.stopped.success", `{"room_id":"room-huge","duration":9223372036854775807}`)
	if got := session(huge).GetIngestSeconds(); got > 60 {
		t.Errorf("run of milliseconds: %v ingest seconds, want its span (under a minute)", got)
	}

	// Amity: started a minute ago, ended in 2100; recordings of negative length.
	began := now.Add(-time.Minute).Format(time.RFC3339)
	amitySend("video-streaming.didStart", "am-future", `,"startedAt":"`+began+`"`)
	amitySend("video-streaming.didStop", "am-future", `,"startedAt":"`+began+`","endedAt":"2100-01-01T00:00:00Z"`)
	amitySend("video-streaming.didRecord", "am-future", `,"recordings":[{"mp4":{"duration":-600},"flv":{"duration":-600},"m3u8":{"duration":-600}}]`)
	list, err := s.livestreams.ListLivestreams(ctx, &livegatev1.ListLivestreamsRequest{AccountId: accA, AppId: appA})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, l := range list.GetData().GetLivestreams() {
		if l.GetProviderId() != "am-future" {
			continue
		}
		found = true
		sess := session(l.GetId())
		if got := sess.GetIngestSeconds(); got < 55 || got > 120 || sess.GetStoppedTime().AsTime().After(time.Now().Add(time.Minute)) {
			t.Errorf("Amity run ended in 2100: %v ingest seconds, stopped %v; want about 60, stopped now", got, sess.GetStoppedTime().AsTime())
		}
	}
	if !found {
		t.Errorf("no livestream for the Amity stream am-future: %v", list.GetData().GetLivestreams())
	}

	// A run stopped through the API; then a new run's stop comes before its start, saying
	// when it started and a duration of 2^63-1 s; then its start.
	late := start("room-late")
	if _, err := s.livestreams.StopMeetingLivestream(ctx, &livegatev1.StopMeetingLivestreamRequest{AccountId: accA, AppId: appA, MeetingId: "room-late"}); err != nil {
		t.Fatal(err)
	}
	t0, t1 := now.Add(5*time.Second).Format(time.RFC3339), now.Add(35*time.Second).Format(time.RFC3339)
	hms("hls.stopped.success", `{"room_id":"room-late","duration":9223372036854775807,"started_at":"`+t0+`","stopped_at":"`+t1+`"}`)
	hms("hls.started.success", `{"room_id":"room-late","started_at":"`+t0+`"}`)
	got, err := s.livestreams.GetLivestream(ctx, &livegatev1.GetLivestreamRequest{AccountId: accA, AppId: appA, LivestreamId: late})
	if err != nil {
		t.Fatal(err)
	}
	if st, sess := got.GetData().GetLivestream().GetStatus(), got.GetData().GetSession(); st != livegatev1.LivestreamStatus_IDLE || sess.GetIngestSeconds() != 30 {
		t.Errorf("run stopped before its start came: status %v, session %v; want IDLE, 30 ingest seconds", st, sess)
	}

	// A meeting session opened, then closed saying only how long it lasted (10 minutes).
	hms("session.open.success", `{"room_id":"room-m","session_id":"ms-short"}`)
	hms("session.close.success", `{"room_id":"room-m","session_id":"ms-short","session_duration":600}`)

	// A meeting session dated 2100 that says it lasted 9e18 s.
	hms("session.close.success", `{"room_id":"room-m","session_id":"ms-2100","session_duration":9000000000000000000,"session_started_at":"2100-06-01T00:00:00Z","session_stopped_at":"2100-06-01T01:00:00Z"}`)
	future, err := s.analytics.GetDaywiseAnalytics(ctx, &livegatev1.GetDaywiseAnalyticsRequest{AccountId: accA, AppId: appA, StartDate: "2100-06-01", EndDate: "2100-06-02"})
	if err != nil {
		t.Fatal(err)
	}
	if n := future.GetData().GetSessionStats().GetSessionsCount(); n != 0 {
		t.Errorf("daywise on 2100-06-01 counts %d sessions, want none (a time ahead of the clock is now)", n)
	}
	daywise, err := s.analytics.GetDaywiseAnalytics(ctx, &livegatev1.GetDaywiseAnalyticsRequest{AccountId: accA, AppId: appA,
		StartDate: now.AddDate(0, 0, -1).Format(time.DateOnly), EndDate: now.AddDate(0, 0, 1).Format(time.DateOnly)})
	if err != nil {
		t.Fatal(err)
	}
	d := daywise.GetData()
	if m := d.GetSessionStats().GetSessionsMinutesConsumed(); m < 10 || m > 10+month/60 {
		t.Errorf("session minutes %v: want the 10 of the session closed without a start, and no more than the others could have run", m)
	}
	if rs := d.GetRecordingStats(); rs.GetRecordingMinutesConsumed() != 0 || rs.GetRecordingCount() != 1 {
		t.Errorf("recording stats %v: want the one recording, of no length", rs)
	}
	overall, err := s.analytics.GetLivestreamAnalytics(ctx, &livegatev1.GetLivestreamAnalyticsRequest{AccountId: accA, AppId: appA})
	if err != nil {
		t.Fatal(err)
	}
	if got := overall.GetData().GetTotalIngestSeconds(); got > month+200 {
		t.Errorf("overall ingest %v s: want at most 30 days and a few minutes", got)
	}
}

// TestDeleteAmityLivestreamWhileLive: an Amity livestream whose didStop never came stays LIVE,
// and the API has no stop for it (no meeting, no publisher): DELETE takes it, in any status.
// A meeting's active livestream is still refused. (And a blank streamId makes none.)
func TestDeleteAmityLivestreamWhileLive(t *testing.T) {
	s := startServer(t, t.TempDir())
	creds := s.createApp(accA, appA)
	body := []byte(`{"event":"video-streaming.didStart","data":{"videoStreamings":[{"streamId":"am-stuck","title":"t","status":"live"}],"users":[],"files":[]}}`)
	if r := s.post(amityPath(accA, appA), map[string]string{amity.SignatureHeader: amity.Sign([]byte(creds.WebhookSecret), body)}, body); r.Status != 200 {
		t.Fatalf("didStart: HTTP %d %s", r.Status, r.Raw)
	}
	// A blank streamId names no stream: stored in the feed, no livestream.
	blank := []byte(`{"event":"video-streaming.didStart","data":{"videoStreamings":[{"streamId":"   ","title":"t","status":"live"}],"users":[],"files":[]}}`)
	if r := s.post(amityPath(accA, appA), map[string]string{amity.SignatureHeader: amity.Sign([]byte(creds.WebhookSecret), blank)}, blank); r.Status != 200 {
		t.Fatalf("didStart with a blank streamId: HTTP %d %s", r.Status, r.Raw)
	}
	prefix := "/accounts/" + accA + "/realtime/kit/" + appA
	list := s.rest("GET", prefix+"/livestreams", creds.APIToken, nil)
	ls, _ := list.data(t)["livestreams"].([]any)
	if len(ls) != 1 || ls[0].(map[string]any)["status"] != "LIVE" {
		t.Fatalf("after didStart: %s", list.Raw)
	}
	id := ls[0].(map[string]any)["id"].(string)
	if r := s.rest("DELETE", prefix+"/livestreams/"+id, creds.APIToken, nil); r.Status != 200 {
		t.Errorf("DELETE of a LIVE Amity livestream: HTTP %d %s, want 200", r.Status, r.Raw)
	}
	if r := s.rest("GET", prefix+"/livestreams/"+id, creds.APIToken, nil); r.Status != 404 {
		t.Errorf("GET after DELETE: HTTP %d, want 404", r.Status)
	}
	// The feed hears of its run ending: LIVE → IDLE, caused by the API's delete.
	feed := s.rest("GET", prefix+"/events?type=livestream.status_changed&livestream_id="+id, creds.APIToken, nil)
	if !strings.Contains(string(feed.Raw), `"new_status":"IDLE"`) || !strings.Contains(string(feed.Raw), "deleted through the API") {
		t.Errorf("feed after deleting a LIVE Amity livestream: %s; want its status change to IDLE, saying why", feed.Raw)
	}
	started := s.rest("POST", prefix+"/meetings/m-active/livestreams", creds.APIToken, map[string]any{"name": "m"})
	mid, _ := started.data(t)["id"].(string)
	if r := s.rest("DELETE", prefix+"/livestreams/"+mid, creds.APIToken, nil); r.Status != 400 || !strings.Contains(string(r.Raw), "LIVESTREAM_ACTIVE") {
		t.Errorf("DELETE of an active meeting livestream: HTTP %d %s, want 400 LIVESTREAM_ACTIVE", r.Status, r.Raw)
	}
}

// TestRecordingsCountedOnce: the same recording delivered again under another id (a 100ms
// delivery with a new envelope id, an Amity body spaced differently) is counted once, as
// meeting sessions and livestream runs are; a different recording is counted.
func TestRecordingsCountedOnce(t *testing.T) {
	s := startServer(t, t.TempDir())
	creds := s.createApp(accA, appA)
	now := time.Now().UTC()
	rec := `{"duration":600,"room_id":"room-r","session_id":"ms-r","recording_path":"s3://b/r.mp4"}`
	for _, data := range []string{rec, rec, `{"duration":60,"room_id":"room-r","session_id":"ms-r2","recording_path":"s3://b/r2.mp4"}`} {
		if r := s.post(hmsPath(accA, appA), map[string]string{"X-Webhook-Secret": creds.WebhookSecret}, hmsDelivery("recording.success", now, data)); r.Status != 200 {
			t.Fatalf("recording.success: HTTP %d %s", r.Status, r.Raw)
		}
	}
	for _, body := range []string{
		`{"event":"video-streaming.didRecord","data":{"videoStreamings":[{"streamId":"am-r","title":"t","status":"recorded","recordings":[{"mp4":{"duration":120}}]}],"users":[],"files":[]}}`,
		`{"event": "video-streaming.didRecord", "data": {"videoStreamings": [{"streamId": "am-r", "title": "t", "status": "recorded", "recordings": [{"mp4": {"duration": 120}}]}], "users": [], "files": []}}`,
	} {
		if r := s.post(amityPath(accA, appA), map[string]string{amity.SignatureHeader: amity.Sign([]byte(creds.WebhookSecret), []byte(body))}, []byte(body)); r.Status != 200 {
			t.Fatalf("didRecord: HTTP %d %s", r.Status, r.Raw)
		}
	}
	daywise, err := s.analytics.GetDaywiseAnalytics(withToken(creds.APIToken), &livegatev1.GetDaywiseAnalyticsRequest{AccountId: accA, AppId: appA,
		StartDate: now.AddDate(0, 0, -1).Format(time.DateOnly), EndDate: now.AddDate(0, 0, 1).Format(time.DateOnly)})
	if err != nil {
		t.Fatal(err)
	}
	if rs := daywise.GetData().GetRecordingStats(); rs.GetRecordingCount() != 3 || rs.GetRecordingMinutesConsumed() != 10+1+2 {
		t.Errorf("recording stats %v: want 3 recordings of 13 minutes (each delivered again counted once)", rs)
	}
}
