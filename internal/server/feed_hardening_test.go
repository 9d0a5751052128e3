package server_test

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
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
	"github.com/livegate/livegate/internal/eventlog"
	"github.com/livegate/livegate/internal/server"
	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/testenv"
	"github.com/livegate/livegate/services/event"
)

// The feed's hardening (issue 10): an event that cannot be decoded, subscribers that stop
// reading, subscription limits, cursors beyond the head, and pages of large events.

// feedItem is one event of a commit: a peer join of the tenant padded to about pad bytes,
// or (poison) a stored record whose body does not decode.
type feedItem struct {
	ft     feedTenant
	pad    int
	poison bool
}

// appendItems appends the items in one store Update (so one commit: the same batch the
// commit hook sees) and returns their sequences.
func appendItems(t testing.TB, st store.Store, items ...feedItem) []uint64 {
	t.Helper()
	ctx := context.Background()
	seqs := make([]uint64, len(items))
	err := st.Update(ctx, func(w store.Writer) error {
		for i, it := range items {
			id := uuid.NewString()
			if it.poison {
				rec := &store.Event{Tenant: store.Tenant{AccountID: it.ft.acc, AppID: it.ft.app}, Source: "hms", Type: "poison.unknown",
					DeliveryID: id, DedupeKey: id, ReceivedAt: time.Now(), Body: []byte{0xff, 0xff, 0xff}}
				if err := w.AppendEvent(ctx, rec); err != nil {
					return err
				}
				seqs[i] = rec.Sequence
				continue
			}
			now := timestamppb.Now()
			ev := &livegatev1.Event{
				Id: id, Type: "peer.join.success", Source: "hms", AccountId: it.ft.acc, AppId: it.ft.app,
				ProviderEventId: id, OccurredAt: now, ReceivedAt: now, RoomId: "room-1",
				Payload: &livegatev1.Event_HmsPeerJoinSuccess{HmsPeerJoinSuccess: &hmsv1.PeerJoinSuccess{
					RoomId: proto.String("room-1"), Role: proto.String(strings.Repeat("r", it.pad)),
				}},
			}
			if err := eventlog.Append(ctx, w, ev, id, id); err != nil {
				return err
			}
			seqs[i] = ev.GetSequence()
		}
		return nil
	})
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	return seqs
}

// wantStatus fails unless err is a status with code and ErrorInfo reason, and returns the
// ErrorInfo metadata.
func wantStatus(t testing.TB, what string, err error, code codes.Code, reason apierror.Reason) map[string]string {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok || st.Code() != code {
		t.Fatalf("%s: %v, want %v", what, err, code)
	}
	info := apierror.Info(st)
	if info == nil || info.GetReason() != string(reason) {
		t.Fatalf("%s: ErrorInfo %v, want reason %s (%v)", what, info, reason, err)
	}
	return info.GetMetadata()
}

// TestSubscribePoisonBatch: one commit holds tenant B's events and an event of tenant A that
// cannot be decoded. B's live subscriber receives every one of its events; A's receives
// exactly those before the bad one, then EVENT_UNREADABLE naming it, and no progress head
// past it. ListEvents and GetEvent name it too, and page_token goes past it.
func TestSubscribePoisonBatch(t *testing.T) {
	s := startServer(t, t.TempDir(), func(c *server.Config) { c.Feed.ProgressEvery = 20 * time.Millisecond })
	a, b := newFeedTenant(s, accA, appA), newFeedTenant(s, accB, appB)
	conn := dialFeed(t, s.srv.GRPCAddr())
	subA, subB := newSubscriber(t, "A", a, nil, nil), newSubscriber(t, "B", b, nil, nil)
	subA.start(conn, 0, false)
	subB.start(conn, 0, false)
	st := server.StoreOf(s.srv)
	warm := appendItems(t, st, feedItem{ft: a}, feedItem{ft: b})
	subA.waitCaughtUp(warm[:1])
	subB.waitCaughtUp(warm[1:])

	seqs := appendItems(t, st,
		feedItem{ft: b}, feedItem{ft: a}, feedItem{ft: b},
		feedItem{ft: a, poison: true},
		feedItem{ft: b}, feedItem{ft: a}, feedItem{ft: b})
	bad := seqs[3]
	later := appendItems(t, st, feedItem{ft: b}, feedItem{ft: a})

	wantB := storedSeqs(t, s.conn, b, nil, 0)
	if len(wantB) != 6 {
		t.Fatalf("tenant B stored %v, want 6 events", wantB)
	}
	subB.waitCaughtUp(wantB)
	checkExactly(t, "B", subB.received(), wantB)

	err := subA.waitEnd()
	md := wantStatus(t, "A's stream", err, codes.DataLoss, apierror.ReasonEventUnreadable)
	if md["sequence"] != strconv.FormatUint(bad, 10) || !strings.Contains(status.Convert(err).Message(), strconv.FormatUint(bad, 10)) {
		t.Errorf("A's stream ended with %v %v: want it to name sequence %d", err, md, bad)
	}
	checkExactly(t, "A", subA.received(), []uint64{warm[0], seqs[1]})
	subA.mu.Lock()
	for _, h := range subA.progress {
		if h >= bad {
			t.Errorf("A was told progress head %d, past the unreadable event %d it was never sent", h, bad)
		}
	}
	subA.mu.Unlock()

	// Resuming from its cursor meets the same event; resuming after it goes on.
	subA.start(conn, subA.last(), false)
	wantStatus(t, "A resumed at its cursor", subA.waitEnd(), codes.DataLoss, apierror.ReasonEventUnreadable)
	subA.start(conn, bad, false)
	subA.waitCaughtUp([]uint64{later[1]})
	checkExactly(t, "A after skipping", subA.received(), []uint64{warm[0], seqs[1], seqs[5], later[1]})

	client := livegatev1.NewEventServiceClient(s.conn)
	page, err := client.ListEvents(withToken(a.token), &livegatev1.ListEventsRequest{AccountId: a.acc, AppId: a.app})
	if err != nil {
		t.Fatalf("ListEvents: %v", err)
	}
	if got := seqsOf(page.GetEvents()); !slices.Equal(got, []uint64{warm[0], seqs[1]}) || page.GetNextPageToken() != strconv.FormatUint(seqs[1], 10) {
		t.Errorf("first page %v, next %q: want the events before %d and a token", got, page.GetNextPageToken(), bad)
	}
	_, err = client.ListEvents(withToken(a.token), &livegatev1.ListEventsRequest{AccountId: a.acc, AppId: a.app, PageToken: page.GetNextPageToken()})
	if md := wantStatus(t, "ListEvents at the bad event", err, codes.DataLoss, apierror.ReasonEventUnreadable); md["sequence"] != strconv.FormatUint(bad, 10) {
		t.Errorf("ListEvents names %v, want sequence %d", md, bad)
	}
	page, err = client.ListEvents(withToken(a.token), &livegatev1.ListEventsRequest{AccountId: a.acc, AppId: a.app, PageToken: strconv.FormatUint(bad, 10)})
	if err != nil || !slices.Equal(seqsOf(page.GetEvents()), []uint64{seqs[5], later[1]}) {
		t.Errorf("page after the bad event: %v, %v", seqsOf(page.GetEvents()), err)
	}
	_, err = client.GetEvent(withToken(a.token), &livegatev1.GetEventRequest{AccountId: a.acc, AppId: a.app, Sequence: bad})
	if md := wantStatus(t, "GetEvent of the bad event", err, codes.DataLoss, apierror.ReasonEventUnreadable); md["sequence"] != strconv.FormatUint(bad, 10) {
		t.Errorf("GetEvent names %v, want sequence %d", md, bad)
	}
}

func seqsOf(evs []*livegatev1.Event) []uint64 {
	out := make([]uint64, len(evs))
	for i, ev := range evs {
		out[i] = ev.GetSequence()
	}
	return out
}

// subscribeHandlers counts the server's Subscribe handlers and their send goroutines.
func subscribeHandlers() int {
	buf := make([]byte, 8<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "services/event.(*Server).Subscribe") || strings.Contains(g, "services/event.(*sender).run") {
			n++
		}
	}
	return n
}

// TestSubscribeStalledSubscriberDropped: a client that stops reading while large events
// commit fills flow control; the server ends its stream after the stall timeout with
// SUBSCRIBER_STALLED naming where to resume, its handler and send goroutine gone while the
// client still reads nothing; when the client reads again it gets what was sent, then the
// status; resuming from the last sequence received delivers everything after it.
func TestSubscribeStalledSubscriberDropped(t *testing.T) {
	const stall = time.Second
	s := startServer(t, t.TempDir(), func(c *server.Config) { c.Feed.StallTimeout = stall })
	ft := newFeedTenant(s, accA, appA)
	st := server.StoreOf(s.srv)
	first := appendItems(t, st, feedItem{ft: ft})
	if n := subscribeHandlers(); n != 0 {
		t.Fatalf("%d Subscribe goroutines before the test", n)
	}
	// 64 KiB windows (no BDP growth): the stall reaches the server soon.
	conn := dialFeed(t, s.srv.GRPCAddr(), grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
	ctx, cancel := context.WithCancel(withToken(ft.token))
	defer cancel()
	stream, err := livegatev1.NewEventServiceClient(conn).Subscribe(ctx, &livegatev1.SubscribeRequest{AccountId: ft.acc, AppId: ft.app})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil || resp.GetEvent().GetSequence() != first[0] {
		t.Fatalf("first message %v, %v", resp, err)
	}
	got := []uint64{first[0]}
	// The client reads nothing more while 40 events of 200 KB commit.
	stopped := time.Now()
	for range 8 {
		items := make([]feedItem, 5)
		for i := range items {
			items[i] = feedItem{ft: ft, pad: 200 << 10}
		}
		appendItems(t, st, items...)
	}
	testenv.WaitFor(t, "the stalled subscriber's handler and send goroutine to end", func() bool { return subscribeHandlers() == 0 })
	t.Logf("stalled stream ended on the server %v after the client stopped reading (stall timeout %v)", time.Since(stopped).Round(time.Millisecond), stall)

	// The client reads again: what the server sent, then the status.
	for {
		resp, err := stream.Recv()
		if err != nil {
			md := wantStatus(t, "stalled stream", err, codes.Unavailable, apierror.ReasonSubscriberStalled)
			after, perr := strconv.ParseUint(md["after_sequence"], 10, 64)
			if perr != nil || after > got[len(got)-1] || after < first[0] {
				t.Errorf("stalled: after_sequence %q; the client received through %d", md["after_sequence"], got[len(got)-1])
			}
			if !strings.Contains(status.Convert(err).Message(), md["after_sequence"]) {
				t.Errorf("message %q does not name the sequence to resume after", status.Convert(err).Message())
			}
			break
		}
		if ev := resp.GetEvent(); ev != nil {
			got = append(got, ev.GetSequence())
		}
	}
	t.Logf("the stalled client received %d events before the end", len(got))
	sub := newSubscriber(t, "resumed", ft, nil, nil)
	sub.start(conn, got[len(got)-1], false)
	want := storedSeqs(t, s.conn, ft, nil, 0)
	sub.waitCaughtUp(want)
	checkExactly(t, "stalled then resumed", append(got, sub.received()...), want)
}

// TestSubscribeLimits: subscriptions per app and per server are bounded; a refused one gets
// TOO_MANY_REQUESTS with retry_after_seconds, and an ended one frees its place.
func TestSubscribeLimits(t *testing.T) {
	s := startServer(t, t.TempDir(), func(c *server.Config) {
		c.Feed.MaxPerApp = 2
		c.Feed.MaxSubscriptions = 3
	})
	a, b := newFeedTenant(s, accA, appA), newFeedTenant(s, accB, appB)
	appendItems(t, server.StoreOf(s.srv), feedItem{ft: a}, feedItem{ft: b})
	conn := dialFeed(t, s.srv.GRPCAddr())
	// open subscribes and returns the first message's error (nil: an event: accepted).
	open := func(ft feedTenant) (context.CancelFunc, error) {
		ctx, cancel := context.WithTimeout(withToken(ft.token), subscribeDeadline)
		t.Cleanup(cancel)
		stream, err := livegatev1.NewEventServiceClient(conn).Subscribe(ctx, &livegatev1.SubscribeRequest{AccountId: ft.acc, AppId: ft.app})
		if err == nil {
			_, err = stream.Recv()
		}
		return cancel, err
	}
	mustOpen := func(name string, ft feedTenant) context.CancelFunc {
		cancel, err := open(ft)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return cancel
	}
	refused := func(name string, ft feedTenant, scope string) {
		_, err := open(ft)
		md := wantStatus(t, name, err, codes.ResourceExhausted, apierror.ReasonTooManyRequests)
		if md[apierror.RetryAfterKey] != "5" || md["scope"] != scope {
			t.Errorf("%s: metadata %v, want %s=5 and scope %s", name, md, apierror.RetryAfterKey, scope)
		}
	}
	a1 := mustOpen("A 1", a)
	mustOpen("A 2", a)
	refused("A 3", a, "app")
	mustOpen("B 1", b)
	refused("B 2", b, "server")
	a1()
	// The ended stream's place comes back once the server has seen it end.
	testenv.WaitFor(t, "a place for A after one of its streams ended", func() bool {
		cancel, err := open(a)
		if err != nil {
			cancel()
			return false
		}
		return true
	})
	refused("A 4", a, "app")
}

// TestSubscribeCursorAhead: a cursor beyond the head is refused with CURSOR_AHEAD naming the
// head; a cursor at the head is followed.
func TestSubscribeCursorAhead(t *testing.T) {
	s := startServer(t, t.TempDir())
	ft := newFeedTenant(s, accA, appA)
	seqs := appendItems(t, server.StoreOf(s.srv), feedItem{ft: ft}, feedItem{ft: ft})
	head := seqs[1]
	conn := dialFeed(t, s.srv.GRPCAddr())
	ctx, cancel := context.WithTimeout(withToken(ft.token), subscribeDeadline)
	defer cancel()
	stream, err := livegatev1.NewEventServiceClient(conn).Subscribe(ctx, &livegatev1.SubscribeRequest{AccountId: ft.acc, AppId: ft.app, AfterSequence: 1000000})
	if err == nil {
		_, err = stream.Recv()
	}
	md := wantStatus(t, "after_sequence=1000000", err, codes.OutOfRange, apierror.ReasonCursorAhead)
	if h := strconv.FormatUint(head, 10); md["head_sequence"] != h || !strings.Contains(status.Convert(err).Message(), h) {
		t.Errorf("CURSOR_AHEAD %q %v: want head %s named", status.Convert(err).Message(), md, h)
	}
	_, err = livegatev1.NewEventServiceClient(s.conn).ListEvents(withToken(ft.token), &livegatev1.ListEventsRequest{AccountId: ft.acc, AppId: ft.app, PageToken: "1000000"})
	wantStatus(t, "page_token=1000000", err, codes.OutOfRange, apierror.ReasonCursorAhead)

	sub := newSubscriber(t, "at head", ft, nil, nil)
	sub.start(conn, head, false)
	next := appendItems(t, server.StoreOf(s.srv), feedItem{ft: ft})
	sub.waitCaughtUp(next)
	checkExactly(t, "at head", sub.received(), next)
}

// TestListEventsPagesByBytes: 30 events of 400 KB list in pages within the byte budget,
// each event once, in order, over gRPC and through the REST gateway (4 MiB gRPC receive
// limit).
func TestListEventsPagesByBytes(t *testing.T) {
	s := startServer(t, t.TempDir())
	ft := newFeedTenant(s, accA, appA)
	var want []uint64
	for range 3 {
		items := make([]feedItem, 10)
		for i := range items {
			items[i] = feedItem{ft: ft, pad: 400 << 10}
		}
		want = append(want, appendItems(t, server.StoreOf(s.srv), items...)...)
	}
	client := livegatev1.NewEventServiceClient(s.conn)
	for _, size := range []int32{0, 100, 1000} {
		req := &livegatev1.ListEventsRequest{AccountId: ft.acc, AppId: ft.app, PageSize: size}
		var got []uint64
		pages := 0
		for {
			resp, err := client.ListEvents(withToken(ft.token), req)
			if err != nil {
				t.Fatalf("page_size %d, page %d: %v", size, pages, err)
			}
			pages++
			if n := proto.Size(resp); n > event.MaxPageBytes+4096 {
				t.Errorf("page_size %d, page %d: %d events, %d bytes, over the %d budget", size, pages, len(resp.GetEvents()), n, event.MaxPageBytes)
			}
			if len(resp.GetEvents()) == 0 {
				t.Fatalf("page_size %d, page %d: empty", size, pages)
			}
			got = append(got, seqsOf(resp.GetEvents())...)
			if resp.GetNextPageToken() == "" || pages > 40 {
				break
			}
			req.PageToken = resp.GetNextPageToken()
		}
		checkExactly(t, fmt.Sprintf("page_size %d", size), got, want)
	}
	r := s.rest(http.MethodGet, "/accounts/"+ft.acc+"/realtime/kit/"+ft.app+"/events", ft.token, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("REST list: HTTP %d: %.300s", r.Status, r.Raw)
	}
}
