package livestream_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"time"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/apierror"
	"github.com/livegate/livegate/internal/auth"
	"github.com/livegate/livegate/internal/eventlog"
	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/store/sqlite"
	"github.com/livegate/livegate/internal/testenv"
	"github.com/livegate/livegate/services/livestream"
)

const acc, app = "acc", "app"

var tenant = store.Tenant{AccountID: acc, AppID: app}

// rig is a LivestreamService on a real SQLite store with one app, served on an in-memory
// gRPC connection behind livegate's interceptor chain (testenv.ServeGRPC); its client calls
// with the app's token.
type rig struct {
	st     store.Store
	client livegatev1.LivestreamServiceClient
}

func newRig(t *testing.T) *rig {
	t.Helper()
	st, err := sqlite.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	creds, err := auth.CreateApp(t.Context(), st, tenant, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	conn := testenv.ServeGRPC(t, st, func(s *grpc.Server) {
		livegatev1.RegisterLivestreamServiceServer(s, livestream.NewServer(st, livestream.URLs{IngestBase: "rtmp://localhost/live", PlaybackBase: "http://localhost/hls"}))
	}, testenv.Token(creds.APIToken))
	return &rig{st: st, client: livegatev1.NewLivestreamServiceClient(conn)}
}

func (r *rig) start(t *testing.T, meeting, name string) *livegatev1.Livestream {
	t.Helper()
	resp, err := r.client.StartMeetingLivestream(t.Context(), &livegatev1.StartMeetingLivestreamRequest{AccountId: acc, AppId: app, MeetingId: meeting, Name: name})
	if err != nil {
		t.Fatalf("start %s: %v", meeting, err)
	}
	return resp.GetData()
}

// feed returns the tenant's stored events.
func (r *rig) feed(t *testing.T) []*livegatev1.Event {
	t.Helper()
	var recs []store.Event
	err := r.st.View(t.Context(), func(rd store.Reader) error {
		var err error
		recs, err = rd.EventsAfter(t.Context(), tenant, 0, store.EventFilter{}, 100)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	evs, err := eventlog.DecodeAll(recs)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// wantError checks err's code, ErrorInfo reason and metadata.
func wantError(t *testing.T, err error, code codes.Code, reason apierror.Reason, metadata map[string]string) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != code {
		t.Fatalf("got %v %q, want %v", st.Code(), st.Message(), code)
	}
	info := apierror.Info(st)
	if info.GetReason() != string(reason) || info.GetDomain() != apierror.Domain {
		t.Fatalf("ErrorInfo %v, want reason %s", info, reason)
	}
	for k, v := range metadata {
		if info.GetMetadata()[k] != v {
			t.Errorf("metadata %s = %q, want %q (%v)", k, info.GetMetadata()[k], v, info.GetMetadata())
		}
	}
}

// TestLivestreamErrors: each refusal's gRPC code, ErrorInfo reason and metadata.
func TestLivestreamErrors(t *testing.T) {
	r := newRig(t)
	live := r.start(t, "room-live", "")
	idle := r.start(t, "room-idle", "")
	if _, err := r.client.StopMeetingLivestream(t.Context(), &livegatev1.StopMeetingLivestreamRequest{AccountId: acc, AppId: app, MeetingId: "room-idle"}); err != nil {
		t.Fatal(err)
	}
	disabled := r.start(t, "room-disabled", "")
	if _, err := r.client.StopMeetingLivestream(t.Context(), &livegatev1.StopMeetingLivestreamRequest{AccountId: acc, AppId: app, MeetingId: "room-disabled"}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.client.DisableLivestream(t.Context(), &livegatev1.DisableLivestreamRequest{AccountId: acc, AppId: app, LivestreamId: disabled.GetId()}); err != nil {
		t.Fatal(err)
	}
	unknown := uuid.NewString()
	ctx := t.Context()
	tests := []struct {
		name     string
		call     func() error
		code     codes.Code
		reason   apierror.Reason
		metadata map[string]string
	}{
		{"get an unknown livestream", func() error {
			_, err := r.client.GetLivestream(ctx, &livegatev1.GetLivestreamRequest{AccountId: acc, AppId: app, LivestreamId: unknown})
			return err
		}, codes.NotFound, apierror.ReasonNotFound, map[string]string{"resource": "livestream", "id": unknown}},
		{"get another tenant's livestream", func() error {
			// Another app, with its own token, names this app's livestream on its own path.
			other, err := auth.CreateApp(ctx, r.st, store.Tenant{AccountID: acc, AppID: "other"}, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			_, err = r.client.GetLivestream(testenv.WithToken(ctx, other.APIToken), &livegatev1.GetLivestreamRequest{AccountId: acc, AppId: "other", LivestreamId: live.GetId()})
			return err
		}, codes.NotFound, apierror.ReasonNotFound, map[string]string{"resource": "livestream"}},
		{"this app's token on another app's path", func() error {
			_, err := r.client.GetLivestream(ctx, &livegatev1.GetLivestreamRequest{AccountId: acc, AppId: "elsewhere", LivestreamId: live.GetId()})
			return err
		}, codes.PermissionDenied, apierror.ReasonPermissionDenied, nil},
		{"start a meeting's active livestream again", func() error {
			_, err := r.client.StartMeetingLivestream(ctx, &livegatev1.StartMeetingLivestreamRequest{AccountId: acc, AppId: app, MeetingId: "room-live"})
			return err
		}, codes.AlreadyExists, apierror.ReasonAlreadyActive, map[string]string{"livestream_id": live.GetId()}},
		{"start a disabled livestream", func() error {
			_, err := r.client.StartMeetingLivestream(ctx, &livegatev1.StartMeetingLivestreamRequest{AccountId: acc, AppId: app, MeetingId: "room-disabled"})
			return err
		}, codes.FailedPrecondition, apierror.ReasonLivestreamDisabled, map[string]string{"livestream_id": disabled.GetId()}},
		{"stop a meeting with no livestream", func() error {
			_, err := r.client.StopMeetingLivestream(ctx, &livegatev1.StopMeetingLivestreamRequest{AccountId: acc, AppId: app, MeetingId: "room-none"})
			return err
		}, codes.NotFound, apierror.ReasonNotFound, map[string]string{"resource": "active-livestream", "id": "room-none"}},
		{"stop a meeting whose livestream is idle", func() error {
			_, err := r.client.StopMeetingLivestream(ctx, &livegatev1.StopMeetingLivestreamRequest{AccountId: acc, AppId: app, MeetingId: "room-idle"})
			return err
		}, codes.NotFound, apierror.ReasonNotFound, map[string]string{"resource": "active-livestream", "id": "room-idle"}},
		{"the active livestream of an idle meeting", func() error {
			_, err := r.client.GetMeetingActiveLivestream(ctx, &livegatev1.GetMeetingActiveLivestreamRequest{AccountId: acc, AppId: app, MeetingId: "room-idle"})
			return err
		}, codes.NotFound, apierror.ReasonNotFound, map[string]string{"resource": "active-livestream"}},
		{"the active session of an idle livestream", func() error {
			_, err := r.client.GetActiveLivestreamSession(ctx, &livegatev1.GetActiveLivestreamSessionRequest{AccountId: acc, AppId: app, LivestreamId: idle.GetId()})
			return err
		}, codes.NotFound, apierror.ReasonNotFound, map[string]string{"resource": "active-livestream-session", "id": idle.GetId()}},
		{"an unknown session", func() error {
			_, err := r.client.GetLivestreamSession(ctx, &livegatev1.GetLivestreamSessionRequest{AccountId: acc, AppId: app, LivestreamSessionId: unknown})
			return err
		}, codes.NotFound, apierror.ReasonNotFound, map[string]string{"resource": "livestream session"}},
		{"delete an active livestream", func() error {
			_, err := r.client.DeleteLivestream(ctx, &livegatev1.DeleteLivestreamRequest{AccountId: acc, AppId: app, LivestreamId: live.GetId()})
			return err
		}, codes.FailedPrecondition, apierror.ReasonLivestreamActive, map[string]string{"livestream_id": live.GetId()}},
		{"disable an unknown livestream", func() error {
			_, err := r.client.DisableLivestream(ctx, &livegatev1.DisableLivestreamRequest{AccountId: acc, AppId: app, LivestreamId: unknown})
			return err
		}, codes.NotFound, apierror.ReasonNotFound, map[string]string{"resource": "livestream"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, tc.call(), tc.code, tc.reason, tc.metadata)
		})
	}
	// The refusals changed nothing: no livestream was renamed, started or deleted, and the
	// feed holds only the changes of the setup (3 starts, 2 stops).
	if n := len(r.feed(t)); n != 5 {
		t.Errorf("%d events stored, want the setup's 5", n)
	}
}

// TestLivestreamInvalidArgument: malformed requests are refused by validation with
// INVALID_ARGUMENT naming the field, before the service runs.
func TestLivestreamInvalidArgument(t *testing.T) {
	r := newRig(t)
	ctx := t.Context()
	for _, tc := range []struct {
		name  string
		call  func() error
		field string
	}{
		{"livestream id not a UUID", func() error {
			_, err := r.client.GetLivestream(ctx, &livegatev1.GetLivestreamRequest{AccountId: acc, AppId: app, LivestreamId: "nope"})
			return err
		}, "livestream_id"},
		{"meeting id with a slash", func() error {
			_, err := r.client.StartMeetingLivestream(ctx, &livegatev1.StartMeetingLivestreamRequest{AccountId: acc, AppId: app, MeetingId: "a/b"})
			return err
		}, "meeting_id"},
		{"name with a space", func() error {
			_, err := r.client.CreateLivestream(ctx, &livegatev1.CreateLivestreamRequest{AccountId: acc, AppId: app, Name: "a b"})
			return err
		}, "name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := status.Convert(tc.call())
			if st.Code() != codes.InvalidArgument {
				t.Fatalf("got %v %q, want InvalidArgument", st.Code(), st.Message())
			}
			named := strings.Contains(st.Message(), tc.field+":")
			if !named {
				t.Errorf("%q names no %s", st.Message(), tc.field)
			}
		})
	}
	if n := len(r.feed(t)); n != 0 {
		t.Errorf("%d events stored by refused requests", n)
	}
}

// TestStartStopRecordStatusChanged: starting and stopping a meeting's livestream through
// the API each store one livestream.status_changed naming the call as its cause; a start
// that is refused stores none and renames nothing.
func TestStartStopRecordStatusChanged(t *testing.T) {
	r := newRig(t)
	ctx := t.Context()
	l := r.start(t, "room-1", "first")
	if l.GetStatus() != livegatev1.LivestreamStatus_INVOKED || l.GetName() != "first" || l.GetMeetingId() != "room-1" {
		t.Fatalf("started %v, want INVOKED, named first, of room-1", l)
	}
	sess, err := r.client.GetActiveLivestreamSession(ctx, &livegatev1.GetActiveLivestreamSessionRequest{AccountId: acc, AppId: app, LivestreamId: l.GetId()})
	if err != nil || sess.GetData().GetSession().GetInvokedTime() == nil {
		t.Fatalf("active session %v %v, want an invoked one", sess, err)
	}
	_, err = r.client.StartMeetingLivestream(ctx, &livegatev1.StartMeetingLivestreamRequest{AccountId: acc, AppId: app, MeetingId: "room-1", Name: "renamed"})
	wantError(t, err, codes.AlreadyExists, apierror.ReasonAlreadyActive, nil)
	if _, err := r.client.StopMeetingLivestream(ctx, &livegatev1.StopMeetingLivestreamRequest{AccountId: acc, AppId: app, MeetingId: "room-1"}); err != nil {
		t.Fatal(err)
	}
	again := r.start(t, "room-1", "second")
	if again.GetId() != l.GetId() || again.GetName() != "second" || again.GetStatus() != livegatev1.LivestreamStatus_INVOKED {
		t.Fatalf("restarted %v, want the same livestream INVOKED, renamed second", again)
	}

	type change struct {
		old, new livegatev1.LivestreamStatus
		cause    string
	}
	want := []change{
		{livegatev1.LivestreamStatus_LIVESTREAM_STATUS_UNSPECIFIED, livegatev1.LivestreamStatus_INVOKED, "api.StartMeetingLivestream"},
		{livegatev1.LivestreamStatus_INVOKED, livegatev1.LivestreamStatus_IDLE, "api.StopMeetingLivestream"},
		{livegatev1.LivestreamStatus_IDLE, livegatev1.LivestreamStatus_INVOKED, "api.StartMeetingLivestream"},
	}
	evs := r.feed(t)
	if len(evs) != len(want) {
		t.Fatalf("%d events stored, want %d status changes", len(evs), len(want))
	}
	for i, ev := range evs {
		sc := ev.GetLivestreamStatusChanged()
		got := change{sc.GetOldStatus(), sc.GetNewStatus(), sc.GetCause()}
		if ev.GetType() != "livestream.status_changed" || got != want[i] || sc.GetCauseSequence() != 0 ||
			sc.GetLivestreamId() != l.GetId() || ev.GetLivestreamId() != l.GetId() || ev.GetRoomId() != "room-1" || sc.GetSessionId() == "" {
			t.Errorf("event %d: %v, want %+v of %s with a session, no cause event", i, ev, want[i], l.GetId())
		}
	}
	if evs[0].GetLivestreamStatusChanged().GetSessionId() != sess.GetData().GetSession().GetId() {
		t.Errorf("the start names session %s, the active one is %s", evs[0].GetLivestreamStatusChanged().GetSessionId(), sess.GetData().GetSession().GetId())
	}
}
