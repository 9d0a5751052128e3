package projection_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	amityv1 "github.com/livegate/livegate/gen/go/livegate/amity/v1"
	hmsv1 "github.com/livegate/livegate/gen/go/livegate/hms/v1"
	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/eventlog"
	"github.com/livegate/livegate/internal/payload"
	"github.com/livegate/livegate/internal/projection"
	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/store/sqlite"
)

// statusRig is a real store with one livestream (a meeting's, of 100ms) in a given state.
type statusRig struct {
	t  *testing.T
	st store.Store
	l  store.Livestream
}

// newStatusRig stores the livestream with status (none: not stored) and, if active, an
// active session.
func newStatusRig(t *testing.T, status store.Status, disabled bool) *statusRig {
	t.Helper()
	st, err := sqlite.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	r := &statusRig{t: t, st: st, l: store.Livestream{Tenant: tenant, ID: "ls-1", Name: "n", MeetingID: "room-1", StreamKey: "k",
		Status: status, Disabled: disabled, Provider: payload.SourceHMS, CreatedAt: t0, UpdatedAt: t0}}
	if status == "" {
		return r
	}
	err = st.Update(context.Background(), func(w store.Writer) error {
		if err := w.CreateLivestream(context.Background(), r.l); err != nil {
			return err
		}
		if !status.Active() {
			return nil
		}
		return w.CreateSession(context.Background(), store.Session{Tenant: tenant, ID: "sess-1", LivestreamID: r.l.ID, InvokedAt: t0, StartedAt: t0, CreatedAt: t0, UpdatedAt: t0})
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// feed returns the livegate events stored after sequence `after`.
func (r *statusRig) feed(after uint64) []*livegatev1.Event {
	r.t.Helper()
	var recs []store.Event
	err := r.st.View(context.Background(), func(rd store.Reader) error {
		var err error
		recs, err = rd.EventsAfter(context.Background(), tenant, after, store.EventFilter{}, 100)
		return err
	})
	if err != nil {
		r.t.Fatal(err)
	}
	evs, err := eventlog.DecodeAll(recs)
	if err != nil {
		r.t.Fatal(err)
	}
	return evs
}

// run is a session as the out-of-order tests read it: minutes after t0 (-1: not set), its
// ingest seconds and error message.
type run struct {
	started, stopped float64
	seconds          float64
	err              string
}

// checkRuns checks the rig's livestream: its status, and its sessions, newest first.
func (r *statusRig) checkRuns(status store.Status, want []run) {
	t := r.t
	t.Helper()
	ctx := context.Background()
	err := r.st.View(ctx, func(rd store.Reader) error {
		l, err := rd.Livestream(ctx, tenant, r.l.ID)
		if err != nil {
			return err
		}
		if l.Status != status {
			t.Errorf("status %s, want %s", l.Status, status)
		}
		got, _, err := rd.ListSessions(ctx, tenant, r.l.ID, 0, 10)
		if err != nil {
			return err
		}
		if len(got) != len(want) {
			t.Fatalf("%d sessions %+v, want %d", len(got), got, len(want))
		}
		minute := func(t time.Time) float64 {
			if t.IsZero() {
				return -1
			}
			return t.Sub(t0).Minutes()
		}
		for i, s := range got {
			if g := (run{minute(s.StartedAt), minute(s.StoppedAt), s.IngestSeconds, s.ErrMessage}); g != want[i] {
				t.Errorf("session %d: %+v, want %+v", i, g, want[i])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestEveryTransitionRecordsStatusChanged: each rule that changes a livestream's status
// appends exactly one livestream.status_changed event, in the same transaction, naming the
// change, its cause and its reason; a rule that changes nothing appends nothing.
func TestEveryTransitionRecordsStatusChanged(t *testing.T) {
	now := t0.Add(time.Minute)
	hlsStarted := projection.Cause{Sequence: 41, Type: "hls.started.success"}
	ingest := projection.Ingest{StaleAfter: 90 * time.Second}
	publish := func(ctx context.Context, w store.Writer, l *store.Livestream) (*projection.Change, error) {
		return ingest.Publish(ctx, w, l, 7, projection.Cause{Sequence: 3, Type: "rtmp.publish"}, t0)
	}
	hmsEvent := func(typ string, p proto.Message) projection.Event {
		return projection.Event{Tenant: tenant, Source: payload.SourceHMS, Type: typ, At: now, Payload: p}
	}
	tests := []struct {
		name     string
		status   store.Status // of the stored livestream before; "" not stored
		disabled bool
		before   func(ctx context.Context, w store.Writer, l *store.Livestream) (*projection.Change, error)
		rule     func(ctx context.Context, w store.Writer, l *store.Livestream) (*projection.Change, error)
		wantErr  error
		want     *projection.Change // nil: no change, no event
		cause    projection.Cause
		session  bool      // the change names a session
		at       time.Time // when the rule ran (zero: now)
	}{
		{name: "invoke a new livestream", status: "",
			rule: func(ctx context.Context, w store.Writer, l *store.Livestream) (*projection.Change, error) {
				return projection.Invoke(ctx, w, l, projection.APICall("api.StartMeetingLivestream"), now)
			},
			want: &projection.Change{Old: "", New: store.StatusInvoked}, cause: projection.Cause{Type: "api.StartMeetingLivestream"}, session: true},
		{name: "invoke an idle livestream", status: store.StatusIdle,
			rule: func(ctx context.Context, w store.Writer, l *store.Livestream) (*projection.Change, error) {
				return projection.Invoke(ctx, w, l, projection.APICall("api.StartMeetingLivestream"), now)
			},
			want: &projection.Change{Old: store.StatusIdle, New: store.StatusInvoked}, cause: projection.Cause{Type: "api.StartMeetingLivestream"}, session: true},
		{name: "invoke a live livestream", status: store.StatusLive,
			rule: func(ctx context.Context, w store.Writer, l *store.Livestream) (*projection.Change, error) {
				return projection.Invoke(ctx, w, l, projection.APICall("api.StartMeetingLivestream"), now)
			},
			wantErr: projection.ErrActive},
		{name: "invoke a disabled livestream", status: store.StatusIdle, disabled: true,
			rule: func(ctx context.Context, w store.Writer, l *store.Livestream) (*projection.Change, error) {
				return projection.Invoke(ctx, w, l, projection.APICall("api.StartMeetingLivestream"), now)
			},
			wantErr: projection.ErrDisabled},
		{name: "start an invoked livestream", status: store.StatusIdle,
			before: func(ctx context.Context, w store.Writer, l *store.Livestream) (*projection.Change, error) {
				return projection.Invoke(ctx, w, l, projection.APICall("api.StartMeetingLivestream"), t0)
			},
			rule: func(ctx context.Context, w store.Writer, l *store.Livestream) (*projection.Change, error) {
				return projection.Start(ctx, w, l, now, hlsStarted, now)
			},
			want: &projection.Change{Old: store.StatusInvoked, New: store.StatusLive}, cause: hlsStarted, session: true},
		{name: "start a live livestream", status: store.StatusLive,
			rule: func(ctx context.Context, w store.Writer, l *store.Livestream) (*projection.Change, error) {
				return projection.Start(ctx, w, l, now, hlsStarted, now)
			}},
		{name: "stop", status: store.StatusLive,
			rule: func(ctx context.Context, w store.Writer, l *store.Livestream) (*projection.Change, error) {
				return projection.Stop(ctx, w, l, now, -1, "bye", projection.APICall("api.StopMeetingLivestream"), now)
			},
			want: &projection.Change{Old: store.StatusLive, New: store.StatusIdle, Reason: "bye"}, cause: projection.Cause{Type: "api.StopMeetingLivestream"}, session: true},
		{name: "stop an active livestream without a session", status: store.StatusLive,
			rule: func(ctx context.Context, w store.Writer, l *store.Livestream) (*projection.Change, error) {
				// Its run's session stopped already (a lost provider event): it goes IDLE all the same.
				sess, err := w.ActiveSession(ctx, tenant, l.ID)
				if err != nil {
					return nil, err
				}
				sess.StoppedAt = t0
				if err := w.UpdateSession(ctx, sess); err != nil {
					return nil, err
				}
				return projection.Stop(ctx, w, l, now, -1, "", projection.Cause{Sequence: 9, Type: "hls.stopped.success"}, now)
			},
			want: &projection.Change{Old: store.StatusLive, New: store.StatusIdle}, cause: projection.Cause{Sequence: 9, Type: "hls.stopped.success"}},
		{name: "a repeated stop", status: store.StatusIdle,
			rule: func(ctx context.Context, w store.Writer, l *store.Livestream) (*projection.Change, error) {
				return projection.Stop(ctx, w, l, now, -1, "", projection.Cause{Sequence: 9, Type: "hls.stopped.success"}, now)
			}},
		{name: "fail", status: store.StatusLive,
			rule: func(ctx context.Context, w store.Writer, l *store.Livestream) (*projection.Change, error) {
				return projection.Fail(ctx, w, l, now, "boom", projection.Cause{Sequence: 12, Type: "hls.failure"}, now)
			},
			want: &projection.Change{Old: store.StatusLive, New: store.StatusErrored, Reason: "boom"}, cause: projection.Cause{Sequence: 12, Type: "hls.failure"}, session: true},
		{name: "fail a run not seen to start", status: store.StatusIdle,
			rule: func(ctx context.Context, w store.Writer, l *store.Livestream) (*projection.Change, error) {
				return projection.Fail(ctx, w, l, now, "boom", projection.Cause{Sequence: 12, Type: "hls.failure"}, now)
			},
			want: &projection.Change{Old: store.StatusIdle, New: store.StatusErrored, Reason: "boom"}, cause: projection.Cause{Sequence: 12, Type: "hls.failure"}, session: true},
		{name: "a repeated failure", status: store.StatusErrored,
			rule: func(ctx context.Context, w store.Writer, l *store.Livestream) (*projection.Change, error) {
				return projection.Fail(ctx, w, l, now, "boom", projection.Cause{Sequence: 12, Type: "hls.failure"}, now)
			}},
		{name: "apply a 100ms stop", status: store.StatusLive,
			rule: func(ctx context.Context, w store.Writer, l *store.Livestream) (*projection.Change, error) {
				ev := hmsEvent("hls.stopped.success", &hmsv1.HlsStoppedSuccess{RoomId: proto.String("room-1"), Reason: proto.String("the host ended it"), Duration: proto.Int64(60)})
				return projection.Apply(ctx, w, ev, l, projection.Cause{Sequence: 20, Type: "hls.stopped.success"}, now)
			},
			want: &projection.Change{Old: store.StatusLive, New: store.StatusIdle, Reason: "the host ended it"}, cause: projection.Cause{Sequence: 20, Type: "hls.stopped.success"}, session: true},
		{name: "apply a 100ms failure", status: store.StatusLive,
			rule: func(ctx context.Context, w store.Writer, l *store.Livestream) (*projection.Change, error) {
				ev := hmsEvent("beam.failure", &hmsv1.BeamFailure{RoomId: proto.String("room-1"), ErrorMessage: proto.String("encoder gone")})
				return projection.Apply(ctx, w, ev, l, projection.Cause{Sequence: 21, Type: "beam.failure"}, now)
			},
			want: &projection.Change{Old: store.StatusLive, New: store.StatusErrored, Reason: "encoder gone"}, cause: projection.Cause{Sequence: 21, Type: "beam.failure"}, session: true},
		{name: "apply a 100ms recording", status: store.StatusLive,
			rule: func(ctx context.Context, w store.Writer, l *store.Livestream) (*projection.Change, error) {
				ev := hmsEvent("recording.success", &hmsv1.RecordingSuccess{RoomId: proto.String("room-1"), Duration: proto.Int64(30), SessionStartedAt: timestamppb.New(t0)})
				return projection.Apply(ctx, w, ev, l, projection.Cause{Sequence: 22, Type: "recording.success"}, now)
			}},
		{name: "RTMP publish", status: store.StatusIdle,
			rule: publish,
			want: &projection.Change{Old: store.StatusIdle, New: store.StatusLive}, cause: projection.Cause{Sequence: 3, Type: "rtmp.publish"}, session: true, at: t0},
		{name: "RTMP publisher done", status: store.StatusIdle, before: publish,
			rule: func(ctx context.Context, w store.Writer, l *store.Livestream) (*projection.Change, error) {
				c, err := w.RtmpClient(ctx, 7)
				if err != nil {
					return nil, err
				}
				return ingest.Done(ctx, w, c, l, now, projection.Cause{Sequence: 4, Type: "rtmp.publish_done"}, now)
			},
			want: &projection.Change{Old: store.StatusLive, New: store.StatusIdle, Reason: "the publisher disconnected"}, cause: projection.Cause{Sequence: 4, Type: "rtmp.publish_done"}, session: true},
		{name: "RTMP publisher reaped", status: store.StatusIdle, before: publish,
			rule: func(ctx context.Context, w store.Writer, l *store.Livestream) (*projection.Change, error) {
				reaped, err := ingest.Reap(ctx, w, t0.Add(91*time.Second), 10) // 91 s after it was last seen
				if err != nil || len(reaped) != 1 {
					return nil, errors.Join(err, errors.New("want one client reaped"))
				}
				return reaped[0].Change, nil
			},
			want: &projection.Change{Old: store.StatusLive, New: store.StatusIdle, Reason: "nginx-rtmp has not reported the publisher since 2026-11-23T12:00:00Z"}, session: true,
			at: t0.Add(91 * time.Second)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			r := newStatusRig(t, tc.status, tc.disabled)
			if tc.before != nil {
				err := r.st.Update(ctx, func(w store.Writer) error {
					_, err := tc.before(ctx, w, &r.l)
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			head := uint64(0)
			if before := r.feed(0); len(before) > 0 {
				head = before[len(before)-1].GetSequence()
			}
			var change *projection.Change
			err := r.st.Update(ctx, func(w store.Writer) error {
				l := r.l
				if tc.status != "" {
					var err error
					if l, err = w.Livestream(ctx, tenant, r.l.ID); err != nil {
						return err
					}
				}
				var err error
				change, err = tc.rule(ctx, w, &l)
				return err
			})
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			evs := r.feed(head)
			if tc.want == nil {
				if change != nil || len(evs) != 0 {
					t.Fatalf("change %+v and %d events, want none", change, len(evs))
				}
				return
			}
			if change == nil {
				t.Fatal("no change")
			}
			if len(evs) != 1 {
				t.Fatalf("%d events stored with the change, want one livestream.status_changed", len(evs))
			}
			ev := evs[0]
			at := tc.at
			if at.IsZero() {
				at = now
			}
			sc := ev.GetLivestreamStatusChanged()
			if ev.GetType() != payload.TypeStatusChanged || ev.GetSource() != payload.SourceLivegate || sc == nil {
				t.Fatalf("stored %s/%s %v, want a livegate livestream.status_changed", ev.GetSource(), ev.GetType(), ev.GetPayload())
			}
			if ev.GetAccountId() != tenant.AccountID || ev.GetAppId() != tenant.AppID || ev.GetLivestreamId() != r.l.ID ||
				ev.GetRoomId() != "room-1" || !ev.GetOccurredAt().AsTime().Equal(at) || !ev.GetReceivedAt().AsTime().Equal(at) {
				t.Errorf("envelope %v", ev)
			}
			if sc.GetLivestreamId() != r.l.ID || sc.GetOldStatus() != projection.StatusToProto(tc.want.Old) || sc.GetNewStatus() != projection.StatusToProto(tc.want.New) ||
				sc.GetReason() != tc.want.Reason || sc.GetCauseSequence() != tc.cause.Sequence || sc.GetCause() != tc.cause.Type {
				t.Errorf("recorded %v, want %+v caused by %+v", sc, tc.want, tc.cause)
			}
			if (sc.GetSessionId() != "") != tc.session || sc.GetSessionId() != change.SessionID {
				t.Errorf("recorded session %q, change's %q (want one: %v)", sc.GetSessionId(), change.SessionID, tc.session)
			}
			if change.Old != tc.want.Old || change.New != tc.want.New || change.Reason != tc.want.Reason || change.LivestreamID != r.l.ID {
				t.Errorf("change %+v, want %+v", change, tc.want)
			}
			// The stored livestream is where the change says.
			var l store.Livestream
			_ = r.st.View(ctx, func(rd store.Reader) error {
				l, err = rd.Livestream(ctx, tenant, r.l.ID)
				return err
			})
			if err != nil || l.Status != tc.want.New {
				t.Errorf("stored livestream %s (%v), want %s", l.Status, err, tc.want.New)
			}
		})
	}
}

// TestStatusToProto: every stored status has its API enum; none is UNSPECIFIED.
func TestStatusToProto(t *testing.T) {
	for _, s := range []store.Status{store.StatusIdle, store.StatusInvoked, store.StatusLive, store.StatusErrored} {
		if got := projection.StatusToProto(s); got == livegatev1.LivestreamStatus_LIVESTREAM_STATUS_UNSPECIFIED || got.String() != string(s) {
			t.Errorf("StatusToProto(%s) = %v", s, got)
		}
	}
	if got := projection.StatusToProto(""); got != livegatev1.LivestreamStatus_LIVESTREAM_STATUS_UNSPECIFIED {
		t.Errorf("StatusToProto(none) = %v, want UNSPECIFIED", got)
	}
}

// TestStopNeverNegative: a run whose provider start time is ahead of the server's clock (a
// wrong clock, or a forged "2100-01-01"), stopped without a time of its own, ends with 0
// ingest seconds, and not before it started. Until 2026-11-29 it was stopped at the server's
// now, before its start: ingest_seconds -2,306,467,293, and analytics' totals negative.
func TestStopNeverNegative(t *testing.T) {
	r := newStatusRig(t, store.StatusLive, false) // its session started at t0
	serverNow := t0.Add(-time.Hour)
	err := r.st.Update(context.Background(), func(w store.Writer) error {
		_, err := projection.Stop(context.Background(), w, &r.l, time.Time{}, -1, "", projection.APICall("test"), serverNow)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	err = r.st.View(context.Background(), func(rd store.Reader) error {
		sess, err := rd.Session(context.Background(), tenant, "sess-1")
		if err != nil {
			return err
		}
		if sess.IngestSeconds < 0 || sess.StoppedAt.Before(sess.StartedAt) {
			t.Errorf("session started %v, stopped %v with %v ingest seconds; want 0, not before its start", sess.StartedAt, sess.StoppedAt, sess.IngestSeconds)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestStopBeforeStart: providers do not promise order. A stop or failure that comes before
// its run's start is stored as the run, stopped, and the start that comes after it is stale:
// the livestream does not go LIVE for a run that is over. Until 2026-11-29 such a stop found
// no session and recorded nothing, and the late start left the livestream LIVE for good.
func TestStopBeforeStart(t *testing.T) {
	at := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }
	ts := func(min int) *timestamppb.Timestamp { return timestamppb.New(at(min)) }
	hms := func(typ string, min int, p proto.Message) projection.Event {
		return projection.Event{Tenant: tenant, Source: payload.SourceHMS, Type: typ, At: at(min), Payload: p}
	}
	amity := func(typ string, started, ended int) projection.Event {
		vs := &amityv1.VideoStreaming{StreamId: proto.String("stream-1"), StartedAt: ts(started)}
		if ended > 0 {
			vs.EndedAt = ts(ended)
		}
		return projection.Event{Tenant: tenant, Source: payload.SourceAmity, Type: typ, At: at(max(started, ended)),
			Payload: &amityv1.VideoStreamingEvent{VideoStreaming: vs}}
	}
	room := proto.String("room-1")
	hlsStart := func(min int) projection.Event {
		return hms("hls.started.success", min, &hmsv1.HlsStartedSuccess{RoomId: room, StartedAt: ts(min)})
	}
	hlsStop := func(started, stopped int) projection.Event {
		return hms("hls.stopped.success", stopped, &hmsv1.HlsStoppedSuccess{RoomId: room, StartedAt: ts(started), StoppedAt: ts(stopped)})
	}

	tests := []struct {
		name     string
		events   []projection.Event
		status   store.Status
		sessions []run // newest first
	}{
		{name: "100ms: stop, then its start",
			events:   []projection.Event{hlsStop(0, 5), hlsStart(0)},
			status:   store.StatusIdle,
			sessions: []run{{0, 5, 300, ""}}},
		{name: "100ms: stop with its duration and no start time, then its start",
			events: []projection.Event{
				hms("beam.stopped.success", 5, &hmsv1.BeamStoppedSuccess{RoomId: room, Duration: proto.Int64(240)}),
				hms("beam.started.success", 1, &hmsv1.BeamStartedSuccess{RoomId: room})},
			status:   store.StatusIdle,
			sessions: []run{{1, 5, 240, ""}}},
		{name: "100ms: stop that says nothing of its start; the start fills it in",
			events: []projection.Event{
				hms("beam.stopped.success", 5, &hmsv1.BeamStoppedSuccess{RoomId: room}),
				hms("beam.started.success", 2, &hmsv1.BeamStartedSuccess{RoomId: room})},
			status:   store.StatusIdle,
			sessions: []run{{2, 5, 180, ""}}},
		{name: "100ms: stop, its start, the stop again, the next run's start",
			events:   []projection.Event{hlsStop(0, 5), hlsStart(0), hlsStop(0, 5), hlsStart(10)},
			status:   store.StatusLive,
			sessions: []run{{10, -1, 0, ""}, {0, 5, 300, ""}}},
		{name: "100ms: in order, with a second stop a little later",
			events:   []projection.Event{hlsStart(0), hlsStop(0, 5), hlsStop(0, 6)},
			status:   store.StatusIdle,
			sessions: []run{{0, 5, 300, ""}}},
		{name: "100ms: failure, then the failed run's start",
			events: []projection.Event{
				hms("hls.failure", 5, &hmsv1.HlsFailure{RoomId: room, ErrorMessage: proto.String("encoder crashed")}),
				hlsStart(0)},
			status:   store.StatusErrored,
			sessions: []run{{0, 5, 300, "encoder crashed"}}},
		{name: "Amity: didStop, then its didStart",
			events:   []projection.Event{amity("video-streaming.didStop", 0, 10), amity("video-streaming.didStart", 0, 0)},
			status:   store.StatusIdle,
			sessions: []run{{0, 10, 600, ""}}},
		{name: "Amity: didStop twice, with different end times",
			events:   []projection.Event{amity("video-streaming.didStop", 0, 10), amity("video-streaming.didStop", 0, 11)},
			status:   store.StatusIdle,
			sessions: []run{{0, 10, 600, ""}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			r := newStatusRig(t, store.StatusIdle, false)
			for i, ev := range tc.events {
				err := r.st.Update(ctx, func(w store.Writer) error {
					l, err := w.Livestream(ctx, tenant, r.l.ID)
					if err != nil {
						return err
					}
					_, err = projection.Apply(ctx, w, ev, &l, projection.Cause{Sequence: uint64(i + 1), Type: ev.Type}, at(30+i))
					return err
				})
				if err != nil {
					t.Fatalf("event %d (%s): %v", i, ev.Type, err)
				}
			}
			r.checkRuns(tc.status, tc.sessions)
		})
	}
}

// TestEarlierRunsEventsChangeNothing: a provider's event about an earlier run, arriving
// late, neither ends nor joins the run of now, and the provider's confirmation of a stop made
// through the API is that run's, not a new one. Found by this stop's audit of the API, each
// on a running server: (1) a late stop or failure of run 1 ended run 2, live, with run 1's
// seconds; (2) a late start of run 1 gave run 2, just invoked, a start an hour before it was
// invoked; (3) hls.stopped.success after an API stop, shaped like 100ms's own sample
// (started_at equal to stopped_at), was taken for a new run: two sessions, the seconds twice.
func TestEarlierRunsEventsChangeNothing(t *testing.T) {
	at := func(min float64) time.Time { return t0.Add(time.Duration(min * float64(time.Minute))) }
	ts := func(min float64) *timestamppb.Timestamp { return timestamppb.New(at(min)) }
	room := proto.String("room-1")
	api := projection.APICall("test")
	type step func(ctx context.Context, w store.Writer, l *store.Livestream) error
	invoke := func(min float64) step {
		return func(ctx context.Context, w store.Writer, l *store.Livestream) error {
			_, err := projection.Invoke(ctx, w, l, api, at(min))
			return err
		}
	}
	apiStop := func(min float64) step {
		return func(ctx context.Context, w store.Writer, l *store.Livestream) error {
			_, err := projection.Stop(ctx, w, l, at(min), -1, "", api, at(min))
			return err
		}
	}
	apply := func(received float64, typ string, p proto.Message) step {
		return func(ctx context.Context, w store.Writer, l *store.Livestream) error {
			ev := projection.Event{Tenant: tenant, Source: payload.SourceHMS, Type: typ, At: at(received), Payload: p}
			_, err := projection.Apply(ctx, w, ev, l, projection.Cause{Sequence: 1, Type: typ}, at(received))
			return err
		}
	}
	started := func(received, startedAt float64) step {
		return apply(received, "hls.started.success", &hmsv1.HlsStartedSuccess{RoomId: room, StartedAt: ts(startedAt)})
	}
	stopped := func(received, stoppedAt float64, seconds int64) step {
		return apply(received, "hls.stopped.success", &hmsv1.HlsStoppedSuccess{RoomId: room, StartedAt: ts(stoppedAt), StoppedAt: ts(stoppedAt), Duration: proto.Int64(seconds)})
	}
	failed := func(received float64) step {
		return apply(received, "hls.failure", &hmsv1.HlsFailure{RoomId: room, ErrorMessage: proto.String("encoder crashed")})
	}
	run1 := []step{invoke(0), started(1, 1), apiStop(10)}
	// Events received at minute r, dated a day later (a wrong clock, a forged time).
	future := 24 * 60.0
	tests := []struct {
		name     string
		steps    []step
		status   store.Status
		sessions []run // newest first
	}{
		{"100ms confirms an API stop", []step{invoke(0), started(1, 1), apiStop(2), stopped(2.1, 2.05, 63)},
			store.StatusIdle, []run{{1, 2, 60, ""}}},
		{"a late stop of run 1 while run 2 is live", append(run1[:3:3], invoke(20), started(21, 21), stopped(30, 10, 540)),
			store.StatusLive, []run{{21, -1, 0, ""}, {1, 10, 540, ""}}},
		{"a late failure of run 1 while run 2 is live", append(run1[:3:3], invoke(20), started(21, 21), failed(10)),
			store.StatusLive, []run{{21, -1, 0, ""}, {1, 10, 540, ""}}},
		{"a late failure of run 1 while run 2 is invoked", append(run1[:3:3], invoke(20), failed(10)),
			store.StatusInvoked, []run{{-1, -1, 0, ""}, {1, 10, 540, ""}}},
		{"a late start of run 1 while run 2 is invoked", []step{invoke(0), apiStop(5), invoke(20), started(21, 1)},
			store.StatusInvoked, []run{{-1, -1, 0, ""}, {1, 5, 240, ""}}},
		{"a start dated in the future is now; the next run is not stale", []step{invoke(0), started(1, future), apiStop(2), invoke(3), started(4, 4)},
			store.StatusLive, []run{{4, -1, 0, ""}, {1, 2, 60, ""}}},
		{"a stop dated in the future is now", []step{invoke(0), started(1, 1), stopped(2, future, 60)},
			store.StatusIdle, []run{{1, 2, 60, ""}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			r := newStatusRig(t, store.StatusIdle, false)
			for i, s := range tc.steps {
				err := r.st.Update(ctx, func(w store.Writer) error {
					l, err := w.Livestream(ctx, tenant, r.l.ID)
					if err != nil {
						return err
					}
					return s(ctx, w, &l)
				})
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
			}
			r.checkRuns(tc.status, tc.sessions)
		})
	}
}

// TestProviderPlaybackURL: a provider's start that names where its run plays (100ms's
// hls.started.success url, Amity's HLS watcher URL) gives the livestream that playback URL:
// a run that goes LIVE plays where its start says, nowhere if it names no place (a URL that
// is not an absolute http(s) one of at most MaxPlaybackURLBytes names none); a start of the
// run already live that names a place gives it (beam.started.success made it LIVE, then
// hls.started.success says where: the review of this stop's change found that URL dropped);
// a stale start of a run already stopped changes nothing.
func TestProviderPlaybackURL(t *testing.T) {
	ctx := context.Background()
	at := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }
	ts := func(min int) *timestamppb.Timestamp { return timestamppb.New(at(min)) }
	room := proto.String("room-1")
	hlsStart := func(min int, url string) projection.Event {
		return projection.Event{Tenant: tenant, Source: payload.SourceHMS, Type: "hls.started.success", At: at(min),
			Payload: &hmsv1.HlsStartedSuccess{RoomId: room, StartedAt: ts(min), Url: proto.String(url)}}
	}
	hlsStop := func(started, stopped int) projection.Event {
		return projection.Event{Tenant: tenant, Source: payload.SourceHMS, Type: "hls.stopped.success", At: at(stopped),
			Payload: &hmsv1.HlsStoppedSuccess{RoomId: room, StartedAt: ts(started), StoppedAt: ts(stopped)}}
	}
	beamStart := func(min int) projection.Event {
		return projection.Event{Tenant: tenant, Source: payload.SourceHMS, Type: "beam.started.success", At: at(min),
			Payload: &hmsv1.BeamStartedSuccess{RoomId: room}}
	}
	amityStart := func(min int, url string) projection.Event {
		vs := &amityv1.VideoStreaming{StreamId: proto.String("stream-1"), StartedAt: ts(min),
			WatcherUrl: &amityv1.WatcherUrl{Hls: &amityv1.StreamEndpoint{Url: proto.String(url)}}}
		return projection.Event{Tenant: tenant, Source: payload.SourceAmity, Type: "video-streaming.didStart", At: at(min),
			Payload: &amityv1.VideoStreamingEvent{VideoStreaming: vs}}
	}
	const (
		run1  = "https://cdn.100ms.example/beam/run-1/master.m3u8"
		run2  = "https://cdn.100ms.example/beam/run-2/master.m3u8"
		amity = "https://hls.amity.example/live/s1.m3u8?token=t"
	)
	r := newStatusRig(t, store.StatusIdle, false)
	steps := []struct {
		ev   projection.Event
		want string // the stored playback URL after it
	}{
		{hlsStart(0, run1), run1},
		{hlsStop(0, 5), run1}, // a stopped run keeps its place
		{hlsStart(0, "https://cdn.100ms.example/stale.m3u8"), run1}, // run 1's start again: stale
		{beamStart(10), ""},                         // run 2 goes LIVE naming no place
		{hlsStart(10, run2), run2},                  // run 2, already live, says where it plays
		{hlsStart(10, "javascript:alert(1)"), run2}, // again, naming no http(s) URL
		{hlsStop(10, 15), run2},
		{hlsStart(20, "/relative/index.m3u8"), ""}, // run 3: a relative URL names no place
		{hlsStop(20, 25), ""},
		{hlsStart(30, run1), run1},
		{hlsStop(30, 35), run1},
		{hlsStart(40, "https://x.example/"+strings.Repeat("a", projection.MaxPlaybackURLBytes)), ""}, // too long
		{hlsStop(40, 45), ""},
		{amityStart(50, amity), amity},
	}
	for i, s := range steps {
		err := r.st.Update(ctx, func(w store.Writer) error {
			l, err := w.Livestream(ctx, tenant, r.l.ID)
			if err != nil {
				return err
			}
			_, err = projection.Apply(ctx, w, s.ev, &l, projection.Cause{Sequence: uint64(i + 1), Type: s.ev.Type}, at(60+i))
			return err
		})
		if err != nil {
			t.Fatalf("step %d (%s): %v", i, s.ev.Type, err)
		}
		err = r.st.View(ctx, func(rd store.Reader) error {
			l, err := rd.Livestream(ctx, tenant, r.l.ID)
			if err == nil && l.PlaybackURL != s.want {
				t.Errorf("step %d (%s): playback URL %.80q, want %q", i, s.ev.Type, l.PlaybackURL, s.want)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
