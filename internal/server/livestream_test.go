package server_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/apierror"
)

// fixture is fresh state for one case: an idle independent livestream, and a meeting whose
// livestream is active (INVOKED) with one session.
type fixture struct {
	idle          *livegatev1.Livestream
	meeting       string
	meetingStream *livegatev1.Livestream
	session       string
}

func newFixture(t *testing.T, s *testServer, token, account, app string) fixture {
	t.Helper()
	ctx := withToken(token)
	c, err := s.livestreams.CreateLivestream(ctx, &livegatev1.CreateLivestreamRequest{AccountId: account, AppId: app, Name: "fixture"})
	if err != nil {
		t.Fatalf("fixture create: %v", err)
	}
	meeting := "meeting-" + uuid.NewString()
	st, err := s.livestreams.StartMeetingLivestream(ctx, &livegatev1.StartMeetingLivestreamRequest{AccountId: account, AppId: app, MeetingId: meeting})
	if err != nil {
		t.Fatalf("fixture start: %v", err)
	}
	a, err := s.livestreams.GetActiveLivestreamSession(ctx, &livegatev1.GetActiveLivestreamSessionRequest{AccountId: account, AppId: app, LivestreamId: st.GetData().GetId()})
	if err != nil {
		t.Fatalf("fixture session: %v", err)
	}
	return fixture{idle: c.GetData(), meeting: meeting, meetingStream: st.GetData(), session: a.GetData().GetSession().GetId()}
}

// rpcCase is one call, made through both faces: the same request as a gRPC call and as REST.
type rpcCase struct {
	name string
	// token: "A" (the path's tenant), "B" (another tenant's), "none", or "bogus".
	token    string
	grpc     func(ctx context.Context, c *testServer, fx fixture) error
	method   string
	path     func(fx fixture) string // below /accounts/accA/realtime/kit/appA
	body     any
	wantCode codes.Code
	wantHTTP int
	// wantMsg must appear in the error message on both faces (names the field or resource).
	wantMsg    string
	wantReason apierror.Reason
}

const (
	accA, appA = "accA", "appA"
	accB, appB = "accB", "appB"
)

func TestLivestreamRPCsBothFaces(t *testing.T) {
	s := startServer(t, t.TempDir())
	credsA := s.createApp(accA, appA)
	credsB := s.createApp(accB, appB)
	unknown := uuid.NewString()

	cases := []rpcCase{
		// CreateLivestream
		{name: "create ok", token: "A", wantCode: codes.OK, wantHTTP: http.StatusCreated,
			grpc: func(ctx context.Context, c *testServer, fx fixture) error {
				_, err := c.livestreams.CreateLivestream(ctx, &livegatev1.CreateLivestreamRequest{AccountId: accA, AppId: appA, Name: "ok_name-1"})
				return err
			},
			method: "POST", path: func(fixture) string { return "/livestreams" }, body: map[string]any{"name": "ok_name-1"}},
		{name: "create bad name", token: "A", wantCode: codes.InvalidArgument, wantHTTP: 400, wantMsg: "name",
			grpc: func(ctx context.Context, c *testServer, fx fixture) error {
				_, err := c.livestreams.CreateLivestream(ctx, &livegatev1.CreateLivestreamRequest{AccountId: accA, AppId: appA, Name: "no spaces!"})
				return err
			},
			method: "POST", path: func(fixture) string { return "/livestreams" }, body: map[string]any{"name": "no spaces!"}},
		{name: "create without token", token: "none", wantCode: codes.Unauthenticated, wantHTTP: 401, wantMsg: "API token", wantReason: apierror.ReasonUnauthenticated,
			grpc: func(ctx context.Context, c *testServer, fx fixture) error {
				_, err := c.livestreams.CreateLivestream(ctx, &livegatev1.CreateLivestreamRequest{AccountId: accA, AppId: appA})
				return err
			},
			method: "POST", path: func(fixture) string { return "/livestreams" }, body: map[string]any{}},
		{name: "create with unknown token", token: "bogus", wantCode: codes.Unauthenticated, wantHTTP: 401, wantMsg: "API token",
			grpc: func(ctx context.Context, c *testServer, fx fixture) error {
				_, err := c.livestreams.CreateLivestream(ctx, &livegatev1.CreateLivestreamRequest{AccountId: accA, AppId: appA})
				return err
			},
			method: "POST", path: func(fixture) string { return "/livestreams" }, body: map[string]any{}},
		{name: "create with another tenant's token", token: "B", wantCode: codes.PermissionDenied, wantHTTP: 403, wantMsg: "does not grant access", wantReason: apierror.ReasonPermissionDenied,
			grpc: func(ctx context.Context, c *testServer, fx fixture) error {
				_, err := c.livestreams.CreateLivestream(ctx, &livegatev1.CreateLivestreamRequest{AccountId: accA, AppId: appA})
				return err
			},
			method: "POST", path: func(fixture) string { return "/livestreams" }, body: map[string]any{}},

		// ListLivestreams
		{name: "list ok", token: "A", wantCode: codes.OK, wantHTTP: 200,
			grpc: func(ctx context.Context, c *testServer, fx fixture) error {
				_, err := c.livestreams.ListLivestreams(ctx, &livegatev1.ListLivestreamsRequest{AccountId: accA, AppId: appA, PerPage: 5, SortOrder: livegatev1.SortOrder_ASC})
				return err
			},
			method: "GET", path: func(fixture) string { return "/livestreams?per_page=5&sort_order=ASC" }},
		{name: "list per_page too big", token: "A", wantCode: codes.InvalidArgument, wantHTTP: 400, wantMsg: "per_page",
			grpc: func(ctx context.Context, c *testServer, fx fixture) error {
				_, err := c.livestreams.ListLivestreams(ctx, &livegatev1.ListLivestreamsRequest{AccountId: accA, AppId: appA, PerPage: 1000})
				return err
			},
			method: "GET", path: func(fixture) string { return "/livestreams?per_page=1000" }},
		{name: "list end before start", token: "A", wantCode: codes.InvalidArgument, wantHTTP: 400, wantMsg: "end_time",
			grpc: func(ctx context.Context, c *testServer, fx fixture) error {
				_, err := c.livestreams.ListLivestreams(ctx, &livegatev1.ListLivestreamsRequest{AccountId: accA, AppId: appA,
					StartTime: timestamppb.New(mustTime("2025-02-01T00:00:00Z")), EndTime: timestamppb.New(mustTime("2025-01-01T00:00:00Z"))})
				return err
			},
			method: "GET", path: func(fixture) string {
				return "/livestreams?start_time=2025-02-01T00:00:00Z&end_time=2025-01-01T00:00:00Z"
			}},
		{name: "list undefined status", token: "A", wantCode: codes.InvalidArgument, wantHTTP: 400, wantMsg: "status",
			grpc: func(ctx context.Context, c *testServer, fx fixture) error {
				_, err := c.livestreams.ListLivestreams(ctx, &livegatev1.ListLivestreamsRequest{AccountId: accA, AppId: appA, Status: 42})
				return err
			},
			method: "GET", path: func(fixture) string { return "/livestreams?status=SLEEPING" }},
		{name: "list with another tenant's token", token: "B", wantCode: codes.PermissionDenied, wantHTTP: 403,
			grpc: func(ctx context.Context, c *testServer, fx fixture) error {
				_, err := c.livestreams.ListLivestreams(ctx, &livegatev1.ListLivestreamsRequest{AccountId: accA, AppId: appA})
				return err
			},
			method: "GET", path: func(fixture) string { return "/livestreams" }},

		// StartMeetingLivestream
		{name: "start ok", token: "A", wantCode: codes.OK, wantHTTP: 200,
			grpc: func(ctx context.Context, c *testServer, fx fixture) error {
				_, err := c.livestreams.StartMeetingLivestream(ctx, &livegatev1.StartMeetingLivestreamRequest{AccountId: accA, AppId: appA, MeetingId: "m-" + uuid.NewString(), VideoConfig: &livegatev1.VideoConfig{Height: 720, Width: 1280}})
				return err
			},
			method: "POST", path: func(fixture) string { return "/meetings/m-" + uuid.NewString() + "/livestreams" }, body: map[string]any{"name": "x", "video_config": map[string]any{"height": 720, "width": 1280}}},
		{name: "start active meeting", token: "A", wantCode: codes.AlreadyExists, wantHTTP: 409, wantMsg: "already has an active livestream", wantReason: apierror.ReasonAlreadyActive,
			grpc: func(ctx context.Context, c *testServer, fx fixture) error {
				_, err := c.livestreams.StartMeetingLivestream(ctx, &livegatev1.StartMeetingLivestreamRequest{AccountId: accA, AppId: appA, MeetingId: fx.meeting})
				return err
			},
			method: "POST", path: func(fx fixture) string { return "/meetings/" + fx.meeting + "/livestreams" }, body: map[string]any{}},
		{name: "start bad video_config", token: "A", wantCode: codes.InvalidArgument, wantHTTP: 400, wantMsg: "video_config.height",
			grpc: func(ctx context.Context, c *testServer, fx fixture) error {
				_, err := c.livestreams.StartMeetingLivestream(ctx, &livegatev1.StartMeetingLivestreamRequest{AccountId: accA, AppId: appA, MeetingId: "m1", VideoConfig: &livegatev1.VideoConfig{Height: -1}})
				return err
			},
			method: "POST", path: func(fixture) string { return "/meetings/m1/livestreams" }, body: map[string]any{"video_config": map[string]any{"height": -1}}},

		// StopMeetingLivestream
		{name: "stop ok", token: "A", wantCode: codes.OK, wantHTTP: 200,
			grpc: func(ctx context.Context, c *testServer, fx fixture) error {
				_, err := c.livestreams.StopMeetingLivestream(ctx, &livegatev1.StopMeetingLivestreamRequest{AccountId: accA, AppId: appA, MeetingId: fx.meeting})
				return err
			},
			method: "POST", path: func(fx fixture) string { return "/meetings/" + fx.meeting + "/active-livestream/stop" }},
		{name: "stop meeting without livestream", token: "A", wantCode: codes.NotFound, wantHTTP: 404, wantMsg: "has no active livestream", wantReason: apierror.ReasonNotFound,
			grpc: func(ctx context.Context, c *testServer, fx fixture) error {
				_, err := c.livestreams.StopMeetingLivestream(ctx, &livegatev1.StopMeetingLivestreamRequest{AccountId: accA, AppId: appA, MeetingId: "never-started"})
				return err
			},
			method: "POST", path: func(fixture) string { return "/meetings/never-started/active-livestream/stop" }},

		// GetMeetingActiveLivestream
		{name: "meeting active ok", token: "A", wantCode: codes.OK, wantHTTP: 200,
			grpc: func(ctx context.Context, c *testServer, fx fixture) error {
				_, err := c.livestreams.GetMeetingActiveLivestream(ctx, &livegatev1.GetMeetingActiveLivestreamRequest{AccountId: accA, AppId: appA, MeetingId: fx.meeting})
				return err
			},
			method: "GET", path: func(fx fixture) string { return "/meetings/" + fx.meeting + "/active-livestream" }},
		{name: "meeting active unknown", token: "A", wantCode: codes.NotFound, wantHTTP: 404, wantMsg: "no-such-meeting",
			grpc: func(ctx context.Context, c *testServer, fx fixture) error {
				_, err := c.livestreams.GetMeetingActiveLivestream(ctx, &livegatev1.GetMeetingActiveLivestreamRequest{AccountId: accA, AppId: appA, MeetingId: "no-such-meeting"})
				return err
			},
			method: "GET", path: func(fixture) string { return "/meetings/no-such-meeting/active-livestream" }},

		// GetLivestreamSession
		{name: "session ok", token: "A", wantCode: codes.OK, wantHTTP: 200,
			grpc: func(ctx context.Context, c *testServer, fx fixture) error {
				_, err := c.livestreams.GetLivestreamSession(ctx, &livegatev1.GetLivestreamSessionRequest{AccountId: accA, AppId: appA, LivestreamSessionId: fx.session})
				return err
			},
			method: "GET", path: func(fx fixture) string { return "/livestreams/sessions/" + fx.session }},
		{name: "session unknown", token: "A", wantCode: codes.NotFound, wantHTTP: 404, wantMsg: unknown,
			grpc: func(ctx context.Context, c *testServer, fx fixture) error {
				_, err := c.livestreams.GetLivestreamSession(ctx, &livegatev1.GetLivestreamSessionRequest{AccountId: accA, AppId: appA, LivestreamSessionId: unknown})
				return err
			},
			method: "GET", path: func(fixture) string { return "/livestreams/sessions/" + unknown }},
		{name: "session id not a uuid", token: "A", wantCode: codes.InvalidArgument, wantHTTP: 400, wantMsg: "livestream_session_id",
			grpc: func(ctx context.Context, c *testServer, fx fixture) error {
				_, err := c.livestreams.GetLivestreamSession(ctx, &livegatev1.GetLivestreamSessionRequest{AccountId: accA, AppId: appA, LivestreamSessionId: "nope"})
				return err
			},
			method: "GET", path: func(fixture) string { return "/livestreams/sessions/nope" }},

		// GetActiveLivestreamSession
		{name: "active session ok", token: "A", wantCode: codes.OK, wantHTTP: 200,
			grpc: func(ctx context.Context, c *testServer, fx fixture) error {
				_, err := c.livestreams.GetActiveLivestreamSession(ctx, &livegatev1.GetActiveLivestreamSessionRequest{AccountId: accA, AppId: appA, LivestreamId: fx.meetingStream.GetId()})
				return err
			},
			method: "GET", path: func(fx fixture) string {
				return "/livestreams/" + fx.meetingStream.GetId() + "/active-livestream-session"
			}},
		{name: "active session of idle livestream", token: "A", wantCode: codes.NotFound, wantHTTP: 404, wantMsg: "has no active session",
			grpc: func(ctx context.Context, c *testServer, fx fixture) error {
				_, err := c.livestreams.GetActiveLivestreamSession(ctx, &livegatev1.GetActiveLivestreamSessionRequest{AccountId: accA, AppId: appA, LivestreamId: fx.idle.GetId()})
				return err
			},
			method: "GET", path: func(fx fixture) string { return "/livestreams/" + fx.idle.GetId() + "/active-livestream-session" }},

		// GetLivestream
		{name: "get ok", token: "A", wantCode: codes.OK, wantHTTP: 200,
			grpc: func(ctx context.Context, c *testServer, fx fixture) error {
				_, err := c.livestreams.GetLivestream(ctx, &livegatev1.GetLivestreamRequest{AccountId: accA, AppId: appA, LivestreamId: fx.meetingStream.GetId()})
				return err
			},
			method: "GET", path: func(fx fixture) string { return "/livestreams/" + fx.meetingStream.GetId() + "?per_page=10&page_no=1" }},
		{name: "get unknown", token: "A", wantCode: codes.NotFound, wantHTTP: 404, wantMsg: unknown,
			grpc: func(ctx context.Context, c *testServer, fx fixture) error {
				_, err := c.livestreams.GetLivestream(ctx, &livegatev1.GetLivestreamRequest{AccountId: accA, AppId: appA, LivestreamId: unknown})
				return err
			},
			method: "GET", path: func(fixture) string { return "/livestreams/" + unknown }},
		{name: "get page_no negative", token: "A", wantCode: codes.InvalidArgument, wantHTTP: 400, wantMsg: "page_no",
			grpc: func(ctx context.Context, c *testServer, fx fixture) error {
				_, err := c.livestreams.GetLivestream(ctx, &livegatev1.GetLivestreamRequest{AccountId: accA, AppId: appA, LivestreamId: fx.idle.GetId(), PageNo: -1})
				return err
			},
			method: "GET", path: func(fx fixture) string { return "/livestreams/" + fx.idle.GetId() + "?page_no=-1" }},
		{name: "get with another tenant's token", token: "B", wantCode: codes.PermissionDenied, wantHTTP: 403,
			grpc: func(ctx context.Context, c *testServer, fx fixture) error {
				_, err := c.livestreams.GetLivestream(ctx, &livegatev1.GetLivestreamRequest{AccountId: accA, AppId: appA, LivestreamId: fx.idle.GetId()})
				return err
			},
			method: "GET", path: func(fx fixture) string { return "/livestreams/" + fx.idle.GetId() }},

		// ResetStreamKey, EnableLivestream, DisableLivestream
		{name: "reset key ok", token: "A", wantCode: codes.OK, wantHTTP: 200,
			grpc: func(ctx context.Context, c *testServer, fx fixture) error {
				_, err := c.livestreams.ResetStreamKey(ctx, &livegatev1.ResetStreamKeyRequest{AccountId: accA, AppId: appA, LivestreamId: fx.idle.GetId()})
				return err
			},
			method: "POST", path: func(fx fixture) string { return "/livestreams/" + fx.idle.GetId() + "/reset-stream-key" }},
		{name: "reset key unknown", token: "A", wantCode: codes.NotFound, wantHTTP: 404, wantMsg: unknown,
			grpc: func(ctx context.Context, c *testServer, fx fixture) error {
				_, err := c.livestreams.ResetStreamKey(ctx, &livegatev1.ResetStreamKeyRequest{AccountId: accA, AppId: appA, LivestreamId: unknown})
				return err
			},
			method: "POST", path: func(fixture) string { return "/livestreams/" + unknown + "/reset-stream-key" }},
		{name: "disable ok", token: "A", wantCode: codes.OK, wantHTTP: 200,
			grpc: func(ctx context.Context, c *testServer, fx fixture) error {
				_, err := c.livestreams.DisableLivestream(ctx, &livegatev1.DisableLivestreamRequest{AccountId: accA, AppId: appA, LivestreamId: fx.idle.GetId()})
				return err
			},
			method: "PUT", path: func(fx fixture) string { return "/livestreams/" + fx.idle.GetId() + "/disable" }},
		{name: "enable unknown", token: "A", wantCode: codes.NotFound, wantHTTP: 404, wantMsg: unknown,
			grpc: func(ctx context.Context, c *testServer, fx fixture) error {
				_, err := c.livestreams.EnableLivestream(ctx, &livegatev1.EnableLivestreamRequest{AccountId: accA, AppId: appA, LivestreamId: unknown})
				return err
			},
			method: "PUT", path: func(fixture) string { return "/livestreams/" + unknown + "/enable" }},
		{name: "enable ok", token: "A", wantCode: codes.OK, wantHTTP: 200,
			grpc: func(ctx context.Context, c *testServer, fx fixture) error {
				_, err := c.livestreams.EnableLivestream(ctx, &livegatev1.EnableLivestreamRequest{AccountId: accA, AppId: appA, LivestreamId: fx.idle.GetId()})
				return err
			},
			method: "PUT", path: func(fx fixture) string { return "/livestreams/" + fx.idle.GetId() + "/enable" }},

		// DeleteLivestream
		{name: "delete ok", token: "A", wantCode: codes.OK, wantHTTP: 200,
			grpc: func(ctx context.Context, c *testServer, fx fixture) error {
				_, err := c.livestreams.DeleteLivestream(ctx, &livegatev1.DeleteLivestreamRequest{AccountId: accA, AppId: appA, LivestreamId: fx.idle.GetId()})
				return err
			},
			method: "DELETE", path: func(fx fixture) string { return "/livestreams/" + fx.idle.GetId() }},
		{name: "delete active", token: "A", wantCode: codes.FailedPrecondition, wantHTTP: 400, wantMsg: "stop it before deleting", wantReason: apierror.ReasonLivestreamActive,
			grpc: func(ctx context.Context, c *testServer, fx fixture) error {
				_, err := c.livestreams.DeleteLivestream(ctx, &livegatev1.DeleteLivestreamRequest{AccountId: accA, AppId: appA, LivestreamId: fx.meetingStream.GetId()})
				return err
			},
			method: "DELETE", path: func(fx fixture) string { return "/livestreams/" + fx.meetingStream.GetId() }},

		// Analytics
		{name: "overall analytics ok", token: "A", wantCode: codes.OK, wantHTTP: 200,
			grpc: func(ctx context.Context, c *testServer, fx fixture) error {
				_, err := c.analytics.GetLivestreamAnalytics(ctx, &livegatev1.GetLivestreamAnalyticsRequest{AccountId: accA, AppId: appA})
				return err
			},
			method: "GET", path: func(fixture) string { return "/analytics/livestreams/overall" }},
		{name: "overall analytics end before start", token: "A", wantCode: codes.InvalidArgument, wantHTTP: 400, wantMsg: "end_time",
			grpc: func(ctx context.Context, c *testServer, fx fixture) error {
				_, err := c.analytics.GetLivestreamAnalytics(ctx, &livegatev1.GetLivestreamAnalyticsRequest{AccountId: accA, AppId: appA,
					StartTime: timestamppb.New(mustTime("2025-02-01T00:00:00Z")), EndTime: timestamppb.New(mustTime("2025-01-01T00:00:00Z"))})
				return err
			},
			method: "GET", path: func(fixture) string {
				return "/analytics/livestreams/overall?start_time=2025-02-01T00:00:00Z&end_time=2025-01-01T00:00:00Z"
			}},
		{name: "daywise ok", token: "A", wantCode: codes.OK, wantHTTP: 200,
			grpc: func(ctx context.Context, c *testServer, fx fixture) error {
				_, err := c.analytics.GetDaywiseAnalytics(ctx, &livegatev1.GetDaywiseAnalyticsRequest{AccountId: accA, AppId: appA, StartDate: "2025-01-01", EndDate: "2025-01-31"})
				return err
			},
			method: "GET", path: func(fixture) string { return "/analytics/daywise?start_date=2025-01-01&end_date=2025-01-31" }},
		{name: "daywise malformed date", token: "A", wantCode: codes.InvalidArgument, wantHTTP: 400, wantMsg: "start_date",
			grpc: func(ctx context.Context, c *testServer, fx fixture) error {
				_, err := c.analytics.GetDaywiseAnalytics(ctx, &livegatev1.GetDaywiseAnalyticsRequest{AccountId: accA, AppId: appA, StartDate: "yesterday"})
				return err
			},
			method: "GET", path: func(fixture) string { return "/analytics/daywise?start_date=yesterday" }},
		{name: "daywise impossible date", token: "A", wantCode: codes.InvalidArgument, wantHTTP: 400, wantMsg: "end_date",
			grpc: func(ctx context.Context, c *testServer, fx fixture) error {
				_, err := c.analytics.GetDaywiseAnalytics(ctx, &livegatev1.GetDaywiseAnalyticsRequest{AccountId: accA, AppId: appA, EndDate: "2025-13-45"})
				return err
			},
			method: "GET", path: func(fixture) string { return "/analytics/daywise?end_date=2025-13-45" }},
		{name: "daywise without token", token: "none", wantCode: codes.Unauthenticated, wantHTTP: 401,
			grpc: func(ctx context.Context, c *testServer, fx fixture) error {
				_, err := c.analytics.GetDaywiseAnalytics(ctx, &livegatev1.GetDaywiseAnalyticsRequest{AccountId: accA, AppId: appA})
				return err
			},
			method: "GET", path: func(fixture) string { return "/analytics/daywise" }},
	}

	tokenFor := func(which string) string {
		switch which {
		case "A":
			return credsA.APIToken
		case "B":
			return credsB.APIToken
		case "bogus":
			return "lgt_0123456789abcdef_notarealsecret"
		}
		return ""
	}
	for _, tc := range cases {
		t.Run(tc.name+"/grpc", func(t *testing.T) {
			fx := newFixture(t, s, credsA.APIToken, accA, appA)
			err := tc.grpc(withToken(tokenFor(tc.token)), s, fx)
			st := status.Convert(err)
			if st.Code() != tc.wantCode {
				t.Fatalf("code %v (%q), want %v", st.Code(), st.Message(), tc.wantCode)
			}
			if !strings.Contains(st.Message(), tc.wantMsg) {
				t.Errorf("message %q does not name %q", st.Message(), tc.wantMsg)
			}
			if tc.wantReason != "" {
				info := apierror.Info(st)
				if info == nil || info.GetReason() != string(tc.wantReason) || info.GetDomain() != apierror.Domain {
					t.Errorf("ErrorInfo %v, want reason %s", info, tc.wantReason)
				}
			}
		})
		t.Run(tc.name+"/rest", func(t *testing.T) {
			fx := newFixture(t, s, credsA.APIToken, accA, appA)
			resp := s.rest(tc.method, "/accounts/"+accA+"/realtime/kit/"+appA+tc.path(fx), tokenFor(tc.token), tc.body)
			if resp.Status != tc.wantHTTP {
				t.Fatalf("HTTP %d, want %d: %s", resp.Status, tc.wantHTTP, resp.Raw)
			}
			if tc.wantCode == codes.OK {
				resp.data(t)
				return
			}
			if msg := resp.errorMessage(t); !strings.Contains(msg, tc.wantMsg) {
				t.Errorf("message %q does not name %q", msg, tc.wantMsg)
			}
		})
	}
}

// TestRESTBadInput covers what only REST can send: malformed JSON, unknown routes, methods,
// oversized bodies.
func TestRESTBadInput(t *testing.T) {
	s := startServer(t, t.TempDir())
	creds := s.createApp(accA, appA)
	base := "/accounts/" + accA + "/realtime/kit/" + appA
	cases := []struct {
		name, method, path string
		body               any
		wantHTTP           int
		wantMsg            string
	}{
		{"malformed JSON", "POST", base + "/livestreams", `{"name": `, 400, "unexpected"},
		{"wrong JSON type", "POST", base + "/livestreams", `{"name": 42}`, 400, "name"},
		{"unknown route", "GET", base + "/nothing-here", nil, 404, "no such route"},
		{"wrong method", "PATCH", base + "/livestreams", nil, 405, "PATCH"},
		{"body over 1 MiB", "POST", base + "/livestreams", strings.Repeat(" ", 1<<20+1), 413, "limit"},
		{"bad sort_order", "GET", base + "/livestreams?sort_order=SIDEWAYS", nil, 400, "SIDEWAYS"},
		{"bad per_page", "GET", base + "/livestreams?per_page=many", nil, 400, "many"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := s.rest(tc.method, tc.path, creds.APIToken, tc.body)
			if resp.Status != tc.wantHTTP {
				t.Fatalf("HTTP %d, want %d: %s", resp.Status, tc.wantHTTP, resp.Raw)
			}
			if msg := resp.errorMessage(t); !strings.Contains(msg, tc.wantMsg) {
				t.Errorf("message %q does not name %q", msg, tc.wantMsg)
			}
		})
	}
	// None of it stored anything.
	list := s.rest("GET", base+"/livestreams", creds.APIToken, nil)
	if got := list.data(t)["paging"].(map[string]any)["total_count"]; got != float64(0) {
		t.Errorf("bad input stored livestreams: total_count %v", got)
	}
}

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(fmt.Sprintf("bad test time %q: %v", s, err))
	}
	return t
}

// TestUUIDsInAnyCase: a livestream, session or webhook id in uppercase finds the same
// resource as in lowercase (RFC 9562 reads UUIDs case-insensitively; livegate makes them
// lowercase), over REST and gRPC, and still only in its own tenant; so does the feed's
// livestream_id filter.
func TestUUIDsInAnyCase(t *testing.T) {
	s := startServer(t, t.TempDir())
	a := s.createApp(accA, appA)
	b := s.createApp(accB, appB)
	fx := newFixture(t, s, a.APIToken, accA, appA)
	hook := s.rest("POST", webhooksPath(accA, appA), a.APIToken, map[string]any{"name": "h", "url": publicHookURL, "events": []string{"peer."}})
	if hook.Status != http.StatusCreated {
		t.Fatalf("create webhook: HTTP %d %s", hook.Status, hook.Raw)
	}
	hookID, _ := hook.data(t)["id"].(string)
	up := strings.ToUpper
	prefix := "/accounts/" + accA + "/realtime/kit/" + appA
	for _, c := range []struct{ method, path, want string }{
		{"GET", prefix + "/livestreams/" + up(fx.idle.GetId()), fx.idle.GetId()},
		{"GET", prefix + "/livestreams/" + up(fx.meetingStream.GetId()) + "/active-livestream-session", fx.session},
		{"GET", prefix + "/livestreams/sessions/" + up(fx.session), fx.session},
		{"POST", prefix + "/livestreams/" + up(fx.idle.GetId()) + "/reset-stream-key", fx.idle.GetId()},
		{"PUT", prefix + "/livestreams/" + up(fx.idle.GetId()) + "/disable", fx.idle.GetId()},
		{"GET", webhooksPath(accA, appA) + "/" + up(hookID), hookID},
		{"PATCH", webhooksPath(accA, appA) + "/" + up(hookID), hookID},
	} {
		var body any
		if c.method == "PATCH" {
			body = map[string]any{"name": "renamed"}
		}
		r := s.rest(c.method, c.path, a.APIToken, body)
		if r.Status != 200 || !strings.Contains(string(r.Raw), `"`+c.want+`"`) || strings.Contains(string(r.Raw), up(c.want)) {
			t.Errorf("%s %s: HTTP %d %s; want 200 naming %s in lowercase", c.method, c.path, r.Status, r.Raw, c.want)
		}
		// Another tenant's token on its own path finds nothing by that id, in either case.
		other := strings.Replace(strings.Replace(c.path, accA, accB, 1), appA, appB, 1)
		if r := s.rest(c.method, other, b.APIToken, body); r.Status != 404 {
			t.Errorf("%s %s with tenant B: HTTP %d %s; want 404", c.method, other, r.Status, r.Raw)
		}
	}
	got, err := s.livestreams.GetLivestream(withToken(a.APIToken), &livegatev1.GetLivestreamRequest{AccountId: accA, AppId: appA, LivestreamId: up(fx.idle.GetId())})
	if err != nil || got.GetData().GetLivestream().GetId() != fx.idle.GetId() || !got.GetData().GetLivestream().GetDisabled() {
		t.Errorf("gRPC GetLivestream in uppercase: %v, %v; want the livestream, disabled", got, err)
	}
	// The feed's livestream_id filter reads it in either case too.
	if r := s.rest("GET", prefix+"/events?livestream_id="+up(fx.meetingStream.GetId()), a.APIToken, nil); r.Status != 200 ||
		!strings.Contains(string(r.Raw), `"livestream_id":"`+fx.meetingStream.GetId()+`"`) {
		t.Errorf("events filtered by the livestream id in uppercase: HTTP %d %s; want its events", r.Status, r.Raw)
	}
	if r := s.rest("DELETE", prefix+"/livestreams/"+up(fx.idle.GetId()), a.APIToken, nil); r.Status != 200 {
		t.Errorf("DELETE in uppercase: HTTP %d %s", r.Status, r.Raw)
	}
	if r := s.rest("GET", prefix+"/livestreams/"+fx.idle.GetId(), a.APIToken, nil); r.Status != 404 {
		t.Errorf("GET after DELETE in uppercase: HTTP %d %s; want 404", r.Status, r.Raw)
	}
}
