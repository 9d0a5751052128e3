package event_test

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	hmsv1 "github.com/livegate/livegate/gen/go/livegate/hms/v1"
	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/apierror"
	"github.com/livegate/livegate/internal/auth"
	"github.com/livegate/livegate/internal/eventlog"
	"github.com/livegate/livegate/internal/feed"
	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/store/sqlite"
	"github.com/livegate/livegate/internal/testenv"
	"github.com/livegate/livegate/services/event"
)

// The event service over an in-memory gRPC connection, with a real SQLite store whose
// commit hook feeds the hub, as the server wires it.

const wait = 20 * time.Second

var (
	tenantA = store.Tenant{AccountID: "acc-a", AppID: "app-a"}
	tenantB = store.Tenant{AccountID: "acc-b", AppID: "app-b"}
)

type fixture struct {
	st     store.Store
	hub    *feed.Hub
	client livegatev1.EventServiceClient
	tokenA string
	tokenB string
}

func newFixture(t *testing.T, opts feed.Options) *fixture {
	t.Helper()
	st, err := sqlite.Open(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	hub := feed.NewHub(0)
	st.OnCommit(hub.PublishCommitted)
	t.Cleanup(hub.Shutdown)
	f := &fixture{st: st, hub: hub}
	for tn, tok := range map[store.Tenant]*string{tenantA: &f.tokenA, tenantB: &f.tokenB} {
		creds, err := auth.CreateApp(t.Context(), st, tn, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		*tok = creds.APIToken
	}
	conn := testenv.ServeGRPC(t, st, func(s *grpc.Server) {
		livegatev1.RegisterEventServiceServer(s, event.NewServer(st, hub, opts))
	})
	f.client = livegatev1.NewEventServiceClient(conn)
	return f
}

// append stores n events of the tenant of type typ in one commit and returns their sequences.
func (f *fixture) append(t *testing.T, tn store.Tenant, typ string, n int) []uint64 {
	t.Helper()
	var seqs []uint64
	err := f.st.Update(t.Context(), func(w store.Writer) error {
		for range n {
			id := uuid.NewString()
			now := timestamppb.Now()
			ev := &livegatev1.Event{
				Id: id, Type: typ, Source: "hms", AccountId: tn.AccountID, AppId: tn.AppID,
				ProviderEventId: id, OccurredAt: now, ReceivedAt: now, RoomId: "room-1",
				Payload: &livegatev1.Event_HmsPeerJoinSuccess{HmsPeerJoinSuccess: &hmsv1.PeerJoinSuccess{RoomId: proto.String("room-1")}},
			}
			if err := eventlog.Append(t.Context(), w, ev, id, id); err != nil {
				return err
			}
			seqs = append(seqs, ev.GetSequence())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return seqs
}

// appendUnreadable stores a record whose body is not an event, and returns its sequence.
func (f *fixture) appendUnreadable(t *testing.T, tn store.Tenant) uint64 {
	t.Helper()
	id := uuid.NewString()
	rec := &store.Event{Tenant: tn, Source: "hms", Type: "poison.unknown", DeliveryID: id, DedupeKey: id,
		ReceivedAt: time.Now(), Body: []byte{0xff, 0xff, 0xff}}
	if err := f.st.Update(t.Context(), func(w store.Writer) error { return w.AppendEvent(t.Context(), rec) }); err != nil {
		t.Fatal(err)
	}
	return rec.Sequence
}

func ctxOf(t *testing.T, token string) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	t.Cleanup(cancel)
	return testenv.WithToken(ctx, token)
}

// wantStatus checks err is a status of code with an ErrorInfo of reason, whose message has
// each of msgs, and returns the ErrorInfo's metadata.
func wantStatus(t *testing.T, what string, err error, code codes.Code, reason apierror.Reason, msgs ...string) map[string]string {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok || st.Code() != code {
		t.Fatalf("%s: %v, want %v", what, err, code)
	}
	info := apierror.Info(st)
	if reason != "" && (info == nil || info.GetReason() != string(reason) || info.GetDomain() != apierror.Domain) {
		t.Fatalf("%s: ErrorInfo %v, want reason %s", what, info, reason)
	}
	for _, m := range msgs {
		if !strings.Contains(st.Message(), m) {
			t.Errorf("%s: message %q does not say %q", what, st.Message(), m)
		}
	}
	return info.GetMetadata()
}

func listReq(tn store.Tenant) *livegatev1.ListEventsRequest {
	return &livegatev1.ListEventsRequest{AccountId: tn.AccountID, AppId: tn.AppID}
}

func subReq(tn store.Tenant) *livegatev1.SubscribeRequest {
	return &livegatev1.SubscribeRequest{AccountId: tn.AccountID, AppId: tn.AppID}
}

// TestListEventsErrors: what a caller gets for each wrong ListEvents or GetEvent.
func TestListEventsErrors(t *testing.T) {
	f := newFixture(t, feed.Options{})
	seqs := f.append(t, tenantA, "peer.join.success", 3)
	head := seqs[len(seqs)-1]
	for _, tc := range []struct {
		name   string
		token  string
		call   func(ctx context.Context) error
		code   codes.Code
		reason apierror.Reason
		meta   map[string]string
		msgs   []string
	}{
		{"no token", "", func(ctx context.Context) error { _, err := f.client.ListEvents(ctx, listReq(tenantA)); return err },
			codes.Unauthenticated, apierror.ReasonUnauthenticated, nil, []string{"Authorization: Bearer"}},
		{"unknown token", "lgt_0123456789abcdef_XXXX", func(ctx context.Context) error { _, err := f.client.ListEvents(ctx, listReq(tenantA)); return err },
			codes.Unauthenticated, apierror.ReasonUnauthenticated, nil, nil},
		{"another tenant's token", f.tokenB, func(ctx context.Context) error { _, err := f.client.ListEvents(ctx, listReq(tenantA)); return err },
			codes.PermissionDenied, apierror.ReasonPermissionDenied, nil, []string{`"acc-a"`}},
		{"page token not a number", f.tokenA, func(ctx context.Context) error {
			r := listReq(tenantA)
			r.PageToken = "abc"
			_, err := f.client.ListEvents(ctx, r)
			return err
		}, codes.InvalidArgument, apierror.ReasonInvalidArgument, map[string]string{"field": "page_token"}, []string{"page_token"}},
		{"page token ahead", f.tokenA, func(ctx context.Context) error {
			r := listReq(tenantA)
			r.PageToken = "99"
			_, err := f.client.ListEvents(ctx, r)
			return err
		}, codes.OutOfRange, apierror.ReasonCursorAhead, map[string]string{"head_sequence": "3"}, []string{"page_token 99", "at most 3"}},
		{"bad source filter", f.tokenA, func(ctx context.Context) error {
			r := listReq(tenantA)
			r.Source = []string{"zoom"}
			_, err := f.client.ListEvents(ctx, r)
			return err
		}, codes.InvalidArgument, "", nil, []string{"source"}},
		{"empty type filter", f.tokenA, func(ctx context.Context) error {
			r := listReq(tenantA)
			r.Type = []string{""}
			_, err := f.client.ListEvents(ctx, r)
			return err
		}, codes.InvalidArgument, "", nil, []string{"type"}},
		{"too many sources", f.tokenA, func(ctx context.Context) error {
			r := listReq(tenantA)
			r.Source = slices.Repeat([]string{"hms"}, 33)
			_, err := f.client.ListEvents(ctx, r)
			return err
		}, codes.InvalidArgument, "", nil, []string{"source", "no more than 32"}},
		{"duplicate sources", f.tokenA, func(ctx context.Context) error {
			r := listReq(tenantA)
			r.Source = []string{"hms", "amity", "hms"}
			_, err := f.client.ListEvents(ctx, r)
			return err
		}, codes.InvalidArgument, "", nil, []string{"source", "unique"}},
		{"event not found", f.tokenA, func(ctx context.Context) error {
			_, err := f.client.GetEvent(ctx, &livegatev1.GetEventRequest{AccountId: "acc-a", AppId: "app-a", Sequence: 42})
			return err
		}, codes.NotFound, apierror.ReasonNotFound, map[string]string{"resource": "event", "id": "42"}, nil},
		{"another tenant's event is not found", f.tokenB, func(ctx context.Context) error {
			_, err := f.client.GetEvent(ctx, &livegatev1.GetEventRequest{AccountId: "acc-b", AppId: "app-b", Sequence: head})
			return err
		}, codes.NotFound, apierror.ReasonNotFound, nil, nil},
		{"sequence 0", f.tokenA, func(ctx context.Context) error {
			_, err := f.client.GetEvent(ctx, &livegatev1.GetEventRequest{AccountId: "acc-a", AppId: "app-a"})
			return err
		}, codes.InvalidArgument, "", nil, []string{"sequence"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			meta := wantStatus(t, tc.name, tc.call(ctxOf(t, tc.token)), tc.code, tc.reason, tc.msgs...)
			for k, v := range tc.meta {
				if meta[k] != v {
					t.Errorf("metadata %v, want %s=%s", meta, k, v)
				}
			}
		})
	}
}

// TestListEventsPages: pages follow page tokens to the end, filtered, one tenant's only; an
// unreadable event ends the page before it, and asked for first, is EVENT_UNREADABLE naming
// its sequence, past which page_token goes on.
func TestListEventsPages(t *testing.T) {
	f := newFixture(t, feed.Options{})
	var want []uint64
	want = append(want, f.append(t, tenantA, "peer.join.success", 3)...)
	f.append(t, tenantB, "peer.join.success", 2)
	f.append(t, tenantA, "room.end.success", 1)
	want = append(want, f.append(t, tenantA, "peer.leave.success", 2)...)
	bad := f.appendUnreadable(t, tenantA)
	after := f.append(t, tenantA, "peer.join.success", 1)
	ctx := ctxOf(t, f.tokenA)
	var got []uint64
	req := listReq(tenantA)
	req.Type, req.PageSize = []string{"peer."}, 2
	for {
		resp, err := f.client.ListEvents(ctx, req)
		if err != nil {
			meta := wantStatus(t, "page at the unreadable event", err, codes.DataLoss, apierror.ReasonEventUnreadable, "resume after sequence")
			if meta["sequence"] != itoa(bad) {
				t.Fatalf("unreadable: metadata %v at page token %s, want sequence %d", meta, req.PageToken, bad)
			}
			req.PageToken = meta["sequence"]
			continue
		}
		for _, ev := range resp.GetEvents() {
			got = append(got, ev.GetSequence())
		}
		if resp.GetNextPageToken() == "" {
			break
		}
		req.PageToken = resp.GetNextPageToken()
	}
	want = append(want, after...)
	if !equal(got, want) {
		t.Fatalf("listed %v, want %v", got, want)
	}
	one, err := f.client.GetEvent(ctx, &livegatev1.GetEventRequest{AccountId: "acc-a", AppId: "app-a", Sequence: want[0]})
	if err != nil || one.GetEvent().GetType() != "peer.join.success" {
		t.Fatalf("GetEvent: %v, %v", one, err)
	}
	_, err = f.client.GetEvent(ctx, &livegatev1.GetEventRequest{AccountId: "acc-a", AppId: "app-a", Sequence: bad})
	wantStatus(t, "GetEvent of the unreadable event", err, codes.DataLoss, apierror.ReasonEventUnreadable, "event "+itoa(bad))
}

// TestListEventsPagesAcrossRetention: a page token older than what retention keeps is
// CURSOR_COMPACTED naming the oldest kept, as a feed cursor is; the token at the last pruned
// sequence (nothing after it pruned) and 0 list on. Until 2026-11-30 such a page answered
// the events kept, and the pruned ones between the token and them were skipped without a
// word.
func TestListEventsPagesAcrossRetention(t *testing.T) {
	f := newFixture(t, feed.Options{})
	f.append(t, tenantA, "peer.join.success", 6)
	if err := (event.Retention{MaxEvents: 3}).PruneOnce(t.Context(), f.st, time.Now(), nil); err != nil {
		t.Fatal(err)
	}
	ctx := ctxOf(t, f.tokenA)
	req := listReq(tenantA)
	req.PageToken = "1"
	_, err := f.client.ListEvents(ctx, req)
	meta := wantStatus(t, "a page after a pruned token", err, codes.OutOfRange, apierror.ReasonCursorCompacted,
		"page_token 1 is older than the events kept", "list from page_token=3 or 0")
	if meta["oldest_sequence"] != "4" {
		t.Errorf("metadata %v, want oldest_sequence=4", meta)
	}
	for _, tok := range []string{"3", "0", ""} {
		req.PageToken = tok
		resp, err := f.client.ListEvents(ctx, req)
		if err != nil {
			t.Fatalf("page token %q: %v", tok, err)
		}
		var got []uint64
		for _, ev := range resp.GetEvents() {
			got = append(got, ev.GetSequence())
		}
		if !equal(got, []uint64{4, 5, 6}) {
			t.Errorf("page token %q: listed %v, want [4 5 6]", tok, got)
		}
	}
}

// TestSubscribeErrors: a subscription refused before any event, with its code and reason.
func TestSubscribeErrors(t *testing.T) {
	f := newFixture(t, feed.Options{})
	f.append(t, tenantA, "peer.join.success", 6)
	if err := (event.Retention{MaxEvents: 3}).PruneOnce(t.Context(), f.st, time.Now(), nil); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		token  string
		req    func() *livegatev1.SubscribeRequest
		code   codes.Code
		reason apierror.Reason
		meta   map[string]string
		msgs   []string
	}{
		{"no token", "", func() *livegatev1.SubscribeRequest { return subReq(tenantA) }, codes.Unauthenticated, apierror.ReasonUnauthenticated, nil, nil},
		{"another tenant", f.tokenB, func() *livegatev1.SubscribeRequest { return subReq(tenantA) }, codes.PermissionDenied, apierror.ReasonPermissionDenied, nil, nil},
		{"cursor ahead", f.tokenA, func() *livegatev1.SubscribeRequest {
			r := subReq(tenantA)
			r.AfterSequence = 7
			return r
		}, codes.OutOfRange, apierror.ReasonCursorAhead, map[string]string{"head_sequence": "6"}, nil},
		{"cursor compacted", f.tokenA, func() *livegatev1.SubscribeRequest {
			r := subReq(tenantA)
			r.AfterSequence = 1
			return r
		}, codes.OutOfRange, apierror.ReasonCursorCompacted, map[string]string{"oldest_sequence": "4"}, nil},
		{"bad source filter", f.tokenA, func() *livegatev1.SubscribeRequest {
			r := subReq(tenantA)
			r.Source = []string{"zoom"}
			return r
		}, codes.InvalidArgument, "", nil, nil},
		{"too many types", f.tokenA, func() *livegatev1.SubscribeRequest {
			r := subReq(tenantA)
			for range 33 {
				r.Type = append(r.Type, "peer.")
			}
			return r
		}, codes.InvalidArgument, "", nil, nil},
		{"too many sources", f.tokenA, func() *livegatev1.SubscribeRequest {
			r := subReq(tenantA)
			r.Source = slices.Repeat([]string{"hms"}, 33)
			return r
		}, codes.InvalidArgument, "", nil, []string{"source", "no more than 32"}},
		{"duplicate sources", f.tokenA, func() *livegatev1.SubscribeRequest {
			r := subReq(tenantA)
			r.Source = []string{"hms", "hms"}
			return r
		}, codes.InvalidArgument, "", nil, []string{"source", "unique"}},
		{"bad account id", f.tokenA, func() *livegatev1.SubscribeRequest {
			r := subReq(tenantA)
			r.AccountId = "acc a"
			return r
		}, codes.PermissionDenied, apierror.ReasonPermissionDenied, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stream, err := f.client.Subscribe(ctxOf(t, tc.token), tc.req())
			if err == nil {
				_, err = stream.Recv()
			}
			meta := wantStatus(t, tc.name, err, tc.code, tc.reason, tc.msgs...)
			for k, v := range tc.meta {
				if meta[k] != v {
					t.Errorf("metadata %v, want %s=%s", meta, k, v)
				}
			}
		})
	}
}

// recvEvent receives the next event, skipping progress messages.
func recvEvent(t *testing.T, s grpc.ServerStreamingClient[livegatev1.SubscribeResponse]) *livegatev1.Event {
	t.Helper()
	for {
		resp, err := s.Recv()
		if err != nil {
			t.Fatalf("recv: %v", err)
		}
		if ev := resp.GetEvent(); ev != nil {
			return ev
		}
	}
}

func recvSeqs(t *testing.T, s grpc.ServerStreamingClient[livegatev1.SubscribeResponse], n int) []uint64 {
	t.Helper()
	var out []uint64
	for range n {
		out = append(out, recvEvent(t, s).GetSequence())
	}
	return out
}

// TestSubscribe: stored events after the cursor, then live ones, filtered; only_new skips
// the replay; an idle subscriber is told the head; an unreadable event ends the stream with
// EVENT_UNREADABLE after those before it; shutting down ends it with UNAVAILABLE.
func TestSubscribe(t *testing.T) {
	f := newFixture(t, feed.Options{ProgressEvery: 20 * time.Millisecond})
	stored := f.append(t, tenantA, "peer.join.success", 3)
	ctx := ctxOf(t, f.tokenA)

	r := subReq(tenantA)
	r.AfterSequence, r.Type = stored[0], []string{"peer.join."}
	all, err := f.client.Subscribe(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	onlyNewReq := subReq(tenantA)
	onlyNewReq.OnlyNew = true
	onlyNew, err := f.client.Subscribe(ctx, onlyNewReq)
	if err != nil {
		t.Fatal(err)
	}
	if got := recvSeqs(t, all, 2); !equal(got, stored[1:]) {
		t.Fatalf("replay %v, want %v", got, stored[1:])
	}
	// Progress before anything else: only_new's subscription is live once it reports.
	for {
		resp, err := onlyNew.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if p := resp.GetProgress(); p != nil {
			if p.GetHeadSequence() != stored[2] {
				t.Fatalf("only_new progress %d, want %d", p.GetHeadSequence(), stored[2])
			}
			break
		}
		t.Fatalf("only_new got %v before any new event", resp)
	}
	f.append(t, tenantB, "peer.join.success", 1)
	other := f.append(t, tenantA, "room.end.success", 1)
	live := f.append(t, tenantA, "peer.join.success", 2)
	if got := recvSeqs(t, all, 2); !equal(got, live) {
		t.Fatalf("live %v, want %v", got, live)
	}
	if got := recvSeqs(t, onlyNew, 3); !equal(got, append(other, live...)) {
		t.Fatalf("only_new %v, want %v", got, append(other, live...))
	}
	bad := f.appendUnreadable(t, tenantA)
	_, err = onlyNew.Recv()
	for err == nil {
		_, err = onlyNew.Recv()
	}
	if meta := wantStatus(t, "at an unreadable event", err, codes.DataLoss, apierror.ReasonEventUnreadable); meta["sequence"] != itoa(bad) {
		t.Errorf("unreadable metadata %v, want sequence %d", meta, bad)
	}
	f.hub.Shutdown()
	for err = nil; err == nil; _, err = all.Recv() {
	}
	wantStatus(t, "on shutdown", err, codes.Unavailable, apierror.ReasonUnavailable, "resume from the last sequence")
}

// TestSubscriptionLimits: past the app's or the server's limit of live subscriptions, a
// subscription is TOO_MANY_REQUESTS with a retry delay; closing one makes room.
func TestSubscriptionLimits(t *testing.T) {
	for _, tc := range []struct {
		name          string
		perApp, total int
		scope         string
		limit         string
	}{
		{"per app", 1, -1, "app", "1"},
		{"server", -1, 2, "server", "2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, feed.Options{MaxPerApp: tc.perApp, MaxSubscriptions: tc.total})
			open := func(tn store.Tenant, token string) (grpc.ServerStreamingClient[livegatev1.SubscribeResponse], context.CancelFunc, error) {
				ctx, cancel := context.WithCancel(ctxOf(t, token))
				s, err := f.client.Subscribe(ctx, subReq(tn))
				if err == nil {
					_, err = s.Header() // sent once the subscription is accepted
				}
				return s, cancel, err
			}
			held := []context.CancelFunc{}
			// Fill the limit: one of A's for the app's, one of A's and one of B's for the server's.
			for i := range map[string]int{"app": 1, "server": 2}[tc.scope] {
				tn, tok := tenantA, f.tokenA
				if i == 1 {
					tn, tok = tenantB, f.tokenB
				}
				_, cancel, err := open(tn, tok)
				if err != nil {
					t.Fatalf("subscription %d: %v", i, err)
				}
				held = append(held, cancel)
			}
			s, cancel, err := open(tenantA, f.tokenA)
			defer cancel()
			if err == nil {
				_, err = s.Recv()
			}
			meta := wantStatus(t, "one too many", err, codes.ResourceExhausted, apierror.ReasonTooManyRequests, "retry in 5 seconds")
			if meta[apierror.RetryAfterKey] != "5" || meta["scope"] != tc.scope || meta["limit"] != tc.limit {
				t.Errorf("metadata %v, want retry 5, scope %s, limit %s", meta, tc.scope, tc.limit)
			}
			held[0]()
			deadline := time.Now().Add(wait)
			for {
				_, cancel, err := open(tenantA, f.tokenA)
				if err == nil {
					cancel()
					break
				}
				cancel()
				if time.Now().After(deadline) {
					t.Fatalf("no room after a subscription closed: %v", err)
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

func equal(a, b []uint64) bool { return slices.Equal(a, b) }
