package server_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	hmsv1 "github.com/livegate/livegate/gen/go/livegate/hms/v1"
	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/apierror"
	"github.com/livegate/livegate/internal/eventlog"
	"github.com/livegate/livegate/internal/feedcheck"
	"github.com/livegate/livegate/internal/server"
	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/testenv"
	"github.com/livegate/livegate/services/event"
)

// The event feed over gRPC (EventService.Subscribe) against a real server: several
// subscribers with filters and cursors under concurrent ingest, restarts, a stalled
// subscriber, progress, retention and tenants. Every test checks what subscribers received
// against what the store kept; nothing is timed: waits poll with a deadline.

// subscribeDeadline bounds every wait of these tests: anything expected arrives long before.
const subscribeDeadline = testenv.Deadline

// dialFeed opens a client connection of its own (testServer.stop closes the server's conn
// before the server has ended its streams; subscribers must see how the server ends them).
func dialFeed(t testing.TB, addr string, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)...)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// feedTenant is an app the tests post to and subscribe to.
type feedTenant struct {
	acc, app, token, secret string
}

func newFeedTenant(s *testServer, acc, app string) feedTenant {
	creds := s.createApp(acc, app)
	return feedTenant{acc: acc, app: app, token: creds.APIToken, secret: creds.WebhookSecret}
}

// feedHTTP is the client of the webhook senders: enough idle connections for all of them.
var feedHTTP = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32}}

// hmsBody is a 100ms delivery of typ about room, with a new envelope id.
func hmsBody(typ, room string, n int) []byte {
	now := time.Now().UTC()
	data := fmt.Sprintf(`{"room_id":%q,"session_id":"sess-%s","peer_id":"peer-%d","beam_id":"beam-1","started_at":%q,"stopped_at":%q,"duration":1}`,
		room, room, n, now.Format(time.RFC3339), now.Format(time.RFC3339))
	return hmsDelivery(typ, now, data)
}

// postHMS delivers a 100ms webhook and returns the sequence it was answered with. It returns
// errors rather than failing the test: senders run on goroutines of their own.
func postHMS(base string, ft feedTenant, body []byte) (uint64, error) {
	seq, _, err := testenv.PostHMS(feedHTTP, base, ft.acc, ft.app, ft.secret, body)
	return seq, err
}

// appendPeerJoins appends n peer.join.success events of the tenant in one Update: the
// commit path a webhook takes (commit hook, hub), without HTTP and decoding. It returns
// their sequences.
func appendPeerJoins(ctx context.Context, st store.Store, ft feedTenant, room string, n int) ([]uint64, error) {
	evs := make([]*livegatev1.Event, n)
	now := timestamppb.Now()
	for i := range evs {
		id := uuid.NewString()
		evs[i] = &livegatev1.Event{
			Id: id, Type: "peer.join.success", Source: "hms", AccountId: ft.acc, AppId: ft.app,
			ProviderEventId: id, OccurredAt: now, ReceivedAt: now, RoomId: room, PeerId: "peer-" + id[:8],
			Payload: &livegatev1.Event_HmsPeerJoinSuccess{HmsPeerJoinSuccess: &hmsv1.PeerJoinSuccess{
				RoomId: proto.String(room), PeerId: proto.String("peer-" + id[:8]), Role: proto.String("viewer"),
			}},
		}
	}
	err := st.Update(ctx, func(w store.Writer) error {
		for _, ev := range evs {
			if err := eventlog.Append(ctx, w, ev, ev.GetId(), ev.GetId()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	seqs := make([]uint64, n)
	for i, ev := range evs {
		seqs[i] = ev.GetSequence()
	}
	return seqs, nil
}

// storedSeqs lists the sequences of the tenant's stored events that match the request's
// filter and come after `after`, through ListEvents (the reference subscribers are held to).
func storedSeqs(t testing.TB, conn *grpc.ClientConn, ft feedTenant, filter *livegatev1.SubscribeRequest, after uint64) []uint64 {
	t.Helper()
	client := livegatev1.NewEventServiceClient(conn)
	req := &livegatev1.ListEventsRequest{
		AccountId: ft.acc, AppId: ft.app, PageSize: 1000,
		Type: filter.GetType(), Source: filter.GetSource(), LivestreamId: filter.GetLivestreamId(), RoomId: filter.GetRoomId(),
	}
	if after > 0 {
		req.PageToken = strconv.FormatUint(after, 10)
	}
	var out []uint64
	for {
		resp, err := client.ListEvents(withToken(ft.token), req)
		if err != nil {
			t.Fatalf("ListEvents: %v", err)
		}
		for _, ev := range resp.GetEvents() {
			out = append(out, ev.GetSequence())
		}
		if resp.GetNextPageToken() == "" {
			return out
		}
		req.PageToken = resp.GetNextPageToken()
	}
}

// lastStored is the tenant's greatest stored sequence (0: none).
func lastStored(t testing.TB, conn *grpc.ClientConn, ft feedTenant) uint64 {
	t.Helper()
	all := storedSeqs(t, conn, ft, nil, 0)
	if len(all) == 0 {
		return 0
	}
	return all[len(all)-1]
}

// subscriber is one client of the feed across its successive streams: what it received,
// checked as it arrives (each event after the cursor, each progress head at or past it).
type subscriber struct {
	t     testing.TB
	name  string
	ft    feedTenant
	req   *livegatev1.SubscribeRequest // tenant and filter; the cursor is set per stream
	match func(*livegatev1.Event) bool // what the filter lets through, checked per event

	mu        sync.Mutex
	seqs      []uint64
	at        []time.Time // when each event arrived
	cursor    uint64      // greatest of the last event and the last progress head
	progress  []uint64
	streamErr error // how the current stream ended (nil: still open)

	cancel context.CancelFunc
	ended  chan struct{}
}

func newSubscriber(t testing.TB, name string, ft feedTenant, filter *livegatev1.SubscribeRequest, match func(*livegatev1.Event) bool) *subscriber {
	req := &livegatev1.SubscribeRequest{}
	if filter != nil {
		req = proto.Clone(filter).(*livegatev1.SubscribeRequest)
	}
	req.AccountId, req.AppId = ft.acc, ft.app
	if match == nil {
		match = func(*livegatev1.Event) bool { return true }
	}
	sub := &subscriber{t: t, name: name, ft: ft, req: req, match: match}
	t.Cleanup(sub.close)
	return sub
}

// start opens a stream on conn after `after` (or only new events) and receives on a
// goroutine until the stream ends.
func (sub *subscriber) start(conn *grpc.ClientConn, after uint64, onlyNew bool) {
	sub.t.Helper()
	sub.mu.Lock()
	if sub.ended != nil && sub.streamErr == nil {
		sub.mu.Unlock()
		sub.t.Fatalf("%s: start while a stream is open", sub.name)
	}
	sub.cursor = max(sub.cursor, after)
	sub.streamErr = nil
	sub.mu.Unlock()

	req := proto.Clone(sub.req).(*livegatev1.SubscribeRequest)
	req.AfterSequence, req.OnlyNew = after, onlyNew
	ctx, cancel := context.WithCancel(withToken(sub.ft.token))
	stream, err := livegatev1.NewEventServiceClient(conn).Subscribe(ctx, req)
	if err != nil {
		cancel()
		sub.t.Fatalf("%s: Subscribe: %v", sub.name, err)
	}
	ended := make(chan struct{})
	sub.cancel, sub.ended = cancel, ended
	go func() {
		defer close(ended)
		for {
			resp, err := stream.Recv()
			if err != nil {
				sub.mu.Lock()
				sub.streamErr = err
				sub.mu.Unlock()
				return
			}
			sub.receive(resp)
		}
	}()
}

func (sub *subscriber) receive(resp *livegatev1.SubscribeResponse) {
	now := time.Now()
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if ev := resp.GetEvent(); ev != nil {
		seq := ev.GetSequence()
		if seq <= sub.cursor {
			sub.t.Errorf("%s: event %d after cursor %d (duplicate, out of order, or a progress head that lied)", sub.name, seq, sub.cursor)
		}
		if ev.GetAccountId() != sub.ft.acc || ev.GetAppId() != sub.ft.app {
			sub.t.Errorf("%s: event %d of another tenant %s/%s", sub.name, seq, ev.GetAccountId(), ev.GetAppId())
		}
		if !sub.match(ev) {
			sub.t.Errorf("%s: event %d (%s, %s, room %q) does not match the filter", sub.name, seq, ev.GetType(), ev.GetSource(), ev.GetRoomId())
		}
		sub.seqs = append(sub.seqs, seq)
		sub.at = append(sub.at, now)
		sub.cursor = max(sub.cursor, seq)
		return
	}
	head := resp.GetProgress().GetHeadSequence()
	if head < sub.cursor {
		sub.t.Errorf("%s: progress head %d below what was already delivered (%d)", sub.name, head, sub.cursor)
	}
	sub.progress = append(sub.progress, head)
	sub.cursor = max(sub.cursor, head)
}

// received returns a copy of the sequences received so far.
func (sub *subscriber) received() []uint64 {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	return slices.Clone(sub.seqs)
}

// last is the last event sequence received (0: none).
func (sub *subscriber) last() uint64 {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if len(sub.seqs) == 0 {
		return 0
	}
	return sub.seqs[len(sub.seqs)-1]
}

// stop cancels the current stream and waits for it to end.
func (sub *subscriber) stop() {
	sub.t.Helper()
	if sub.cancel == nil {
		return
	}
	sub.cancel()
	sub.waitEnd()
}

// waitEnd waits for the current stream to end and returns how it ended.
func (sub *subscriber) waitEnd() error {
	sub.t.Helper()
	select {
	case <-sub.ended:
	case <-time.After(subscribeDeadline):
		sub.t.Fatalf("%s: stream did not end within %v", sub.name, subscribeDeadline)
	}
	sub.mu.Lock()
	defer sub.mu.Unlock()
	return sub.streamErr
}

func (sub *subscriber) close() {
	if sub.cancel != nil {
		sub.cancel()
		<-sub.ended
	}
}

// waitCaughtUp waits until sub has received want's last sequence (if any).
func (sub *subscriber) waitCaughtUp(want []uint64) {
	sub.t.Helper()
	if len(want) == 0 {
		return
	}
	target := want[len(want)-1]
	testenv.WaitFor(sub.t, fmt.Sprintf("%s: receive through %d", sub.name, target), func() bool { return sub.last() >= target })
}

// checkExactly fails unless got is want: the same sequences, once each, in order.
func checkExactly(t testing.TB, name string, got, want []uint64) {
	t.Helper()
	if r := feedcheck.Received(got, want); !r.OK() {
		t.Errorf("%s: received %d events, stored %d: %s", name, len(got), len(want), r)
	}
}

// ---- 1. several subscribers, concurrent senders, disconnect and resume ----

// TestSubscribeConcurrentFiltersCursorsResume: five subscribers with different filters and
// cursors while four senders post 300 deliveries; one disconnects mid-way and resumes from
// the last sequence it received. Each ends with exactly the stored events its filter
// selects after its cursor, in order.
func TestSubscribeConcurrentFiltersCursorsResume(t *testing.T) {
	f := newConcurrentFeed(t)
	f.startSenders()
	f.joinMidway()
	f.allDisconnectsAndResumes()
	f.finishSending()
	f.checkEverySubscriber()
}

// The deliveries of TestSubscribeConcurrentFiltersCursorsResume: senders pause at pauseAt
// until the disconnect and resume are done.
const cfSenders, cfPerSender, cfPauseAt = 4, 75, 50

// concurrentFeed is TestSubscribeConcurrentFiltersCursorsResume's server, its five
// subscribers and senders; the methods are the steps, called in order.
type concurrentFeed struct {
	t     *testing.T
	s     *testServer
	ft    feedTenant
	conn  *grpc.ClientConn
	rooms []string

	all, hls, joins, own, room1 *subscriber

	acked          atomic.Int64
	release        chan struct{}
	releaseSenders func()
	wg             sync.WaitGroup

	middle, headBeforeOnlyNew, resumeFrom uint64
}

func newConcurrentFeed(t *testing.T) *concurrentFeed {
	// A small queue: fast readers still overflow now and then and fall back to the store.
	s := startServer(t, t.TempDir(), func(c *server.Config) {
		c.Feed.Queue = 8
		c.Feed.ProgressEvery = 50 * time.Millisecond
	})
	ft := newFeedTenant(s, accA, appA)
	f := &concurrentFeed{t: t, s: s, ft: ft, conn: dialFeed(t, s.srv.GRPCAddr()), rooms: []string{"room-0", "room-1", "room-2", "room-3"}}
	// Meeting livestreams in two rooms: their hls events cause livegate status changes.
	for _, room := range f.rooms[:2] {
		if _, err := s.livestreams.StartMeetingLivestream(withToken(ft.token), &livegatev1.StartMeetingLivestreamRequest{AccountId: ft.acc, AppId: ft.app, MeetingId: room}); err != nil {
			t.Fatal(err)
		}
	}
	f.all = newSubscriber(t, "all", ft, nil, nil)
	f.hls = newSubscriber(t, "type hls.", ft, &livegatev1.SubscribeRequest{Type: []string{"hls."}},
		func(ev *livegatev1.Event) bool { return strings.HasPrefix(ev.GetType(), "hls.") })
	f.joins = newSubscriber(t, "type peer.join.success", ft, &livegatev1.SubscribeRequest{Type: []string{"peer.join.success"}},
		func(ev *livegatev1.Event) bool { return ev.GetType() == "peer.join.success" })
	f.own = newSubscriber(t, "source livegate", ft, &livegatev1.SubscribeRequest{Source: []string{"livegate"}},
		func(ev *livegatev1.Event) bool { return ev.GetSource() == "livegate" })
	f.room1 = newSubscriber(t, "room room-1", ft, &livegatev1.SubscribeRequest{RoomId: "room-1"},
		func(ev *livegatev1.Event) bool { return ev.GetRoomId() == "room-1" })
	f.all.start(f.conn, 0, false)
	f.hls.start(f.conn, 0, false)
	f.own.start(f.conn, 0, false)
	return f
}

// startSenders starts the senders; each pauses before its last quarter until releaseSenders.
func (f *concurrentFeed) startSenders() {
	types := []string{"peer.join.success", "hls.started.success", "peer.leave.success", "hls.stopped.success", "session.open.success"}
	f.release = make(chan struct{})
	var releaseOnce sync.Once
	f.releaseSenders = func() { releaseOnce.Do(func() { close(f.release) }) }
	f.t.Cleanup(f.releaseSenders)
	for g := range cfSenders {
		f.wg.Go(func() {
			for i := range cfPerSender {
				if i == cfPauseAt {
					<-f.release // the disconnect and resume below happen before the last quarter
				}
				body := hmsBody(types[(g+i)%len(types)], f.rooms[(g*7+i)%len(f.rooms)], g*1000+i)
				if _, err := postHMS(f.s.base, f.ft, body); err != nil {
					f.t.Errorf("sender %d, delivery %d: %v", g, i, err)
					return
				}
				f.acked.Add(1)
			}
		})
	}
}

// joinMidway: one subscriber from a sequence in the middle of what is stored, one from now on.
func (f *concurrentFeed) joinMidway() {
	testenv.WaitFor(f.t, "60 deliveries acknowledged", func() bool { return f.acked.Load() >= 60 })
	sofar := storedSeqs(f.t, f.s.conn, f.ft, nil, 0)
	f.middle = sofar[len(sofar)/2]
	f.joins.start(f.conn, f.middle, false)
	f.headBeforeOnlyNew = sofar[len(sofar)-1]
	f.room1.start(f.conn, 0, true)
}

// allDisconnectsAndResumes: "all" goes away and comes back from its last sequence while
// senders go on.
func (f *concurrentFeed) allDisconnectsAndResumes() {
	t := f.t
	testenv.WaitFor(t, "all: 100 events received", func() bool { return len(f.all.received()) >= 100 })
	f.all.stop()
	if err := f.all.waitEnd(); status.Code(err) != codes.Canceled {
		t.Errorf("all: stream ended with %v, want Canceled", err)
	}
	f.resumeFrom = f.all.last()
	disconnectedAt := f.acked.Load()
	testenv.WaitFor(t, "20 more deliveries while disconnected", func() bool { return f.acked.Load() >= disconnectedAt+20 })
	f.all.start(f.conn, f.resumeFrom, false)
}

// finishSending releases the senders and waits until every delivery is acknowledged.
func (f *concurrentFeed) finishSending() {
	f.releaseSenders()
	f.wg.Wait()
	if f.t.Failed() {
		f.t.FailNow()
	}
	if got := f.acked.Load(); got != cfSenders*cfPerSender {
		f.t.Fatalf("%d deliveries acknowledged, want %d", got, cfSenders*cfPerSender)
	}
}

// checkEverySubscriber: each subscriber received exactly the stored events of its filter
// after its cursor; the only_new one everything from its first event on.
func (f *concurrentFeed) checkEverySubscriber() {
	t := f.t
	fromCursor := []struct {
		sub   *subscriber
		after uint64
		want  []uint64
	}{{sub: f.all}, {sub: f.hls}, {sub: f.joins, after: f.middle}, {sub: f.own}}
	for i, c := range fromCursor {
		want := storedSeqs(t, f.s.conn, f.ft, c.sub.req, c.after)
		if len(want) == 0 {
			t.Fatalf("%s: nothing stored matches: the test exercises nothing", c.sub.name)
		}
		c.sub.waitCaughtUp(want)
		fromCursor[i].want = want
	}
	wantRoom := storedSeqs(t, f.s.conn, f.ft, f.room1.req, f.headBeforeOnlyNew)
	f.room1.waitCaughtUp(wantRoom)
	// Stop every stream before comparing: anything extra would have arrived by then.
	for _, sub := range []*subscriber{f.all, f.hls, f.joins, f.own, f.room1} {
		sub.stop()
	}
	for _, c := range fromCursor {
		checkExactly(t, c.sub.name, c.sub.received(), c.want)
	}

	// only_new: the stream starts at the head when the server took the call, somewhere after
	// headBeforeOnlyNew; from its first event on it has everything.
	got := f.room1.received()
	if len(got) == 0 {
		t.Fatalf("%s: received nothing", f.room1.name)
	}
	i := slices.Index(wantRoom, got[0])
	if i < 0 {
		t.Fatalf("%s: first event %d is not a stored room-1 event after %d", f.room1.name, got[0], f.headBeforeOnlyNew)
	}
	checkExactly(t, f.room1.name+" (from its first event)", got, wantRoom[i:])
	t.Logf("stored %d events (%d hls., %d peer.join after %d, %d livegate); room-1 only_new skipped %d of its events; all resumed after %d",
		len(fromCursor[0].want), len(fromCursor[1].want), len(fromCursor[2].want), f.middle, len(fromCursor[3].want), i, f.resumeFrom)
}

// ---- 2. restart ----

// TestSubscribeAcrossRestart: subscribers are ended with UNAVAILABLE when the server stops;
// a new server on the same data dir (new ports) takes more deliveries; the subscribers
// resume from their cursors and have, across both servers, exactly what is stored.
func TestSubscribeAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	tune := func(c *server.Config) { c.Feed.ProgressEvery = 50 * time.Millisecond }
	s1 := startServer(t, dir, tune)
	ft := newFeedTenant(s1, accA, appA)
	if _, err := s1.livestreams.StartMeetingLivestream(withToken(ft.token), &livegatev1.StartMeetingLivestreamRequest{AccountId: ft.acc, AppId: ft.app, MeetingId: "room-1"}); err != nil {
		t.Fatal(err)
	}
	types := []string{"peer.join.success", "hls.started.success", "peer.leave.success", "hls.stopped.success"}
	post := func(s *testServer, n, senders int) {
		t.Helper()
		var wg sync.WaitGroup
		for g := range senders {
			wg.Go(func() {
				for i := g; i < n; i += senders {
					if _, err := postHMS(s.base, ft, hmsBody(types[i%len(types)], []string{"room-1", "room-2"}[i/len(types)%2], i)); err != nil {
						t.Errorf("post %d: %v", i, err)
						return
					}
				}
			})
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
	}
	post(s1, 20, 2)

	subs := []*subscriber{
		newSubscriber(t, "all", ft, nil, nil),
		newSubscriber(t, "type hls.", ft, &livegatev1.SubscribeRequest{Type: []string{"hls."}},
			func(ev *livegatev1.Event) bool { return strings.HasPrefix(ev.GetType(), "hls.") }),
		newSubscriber(t, "room room-1", ft, &livegatev1.SubscribeRequest{RoomId: "room-1"},
			func(ev *livegatev1.Event) bool { return ev.GetRoomId() == "room-1" }),
		newSubscriber(t, "source livegate", ft, &livegatev1.SubscribeRequest{Source: []string{"livegate"}},
			func(ev *livegatev1.Event) bool { return ev.GetSource() == "livegate" }),
	}
	conn1 := dialFeed(t, s1.srv.GRPCAddr())
	for _, sub := range subs {
		sub.start(conn1, 0, false)
	}
	post(s1, 20, 2) // live
	for _, sub := range subs {
		sub.waitCaughtUp(storedSeqs(t, s1.conn, ft, sub.req, 0))
	}
	// Deliveries racing the shutdown: whether the streams got them or not, the resume must.
	post(s1, 12, 4)
	s1.stop()
	for _, sub := range subs {
		err := sub.waitEnd()
		if st := status.Convert(err); st.Code() != codes.Unavailable {
			t.Errorf("%s: stream ended with %v, want UNAVAILABLE", sub.name, err)
		}
	}

	s2 := startServer(t, dir, tune)
	post(s2, 16, 2) // while nobody is subscribed
	conn2 := dialFeed(t, s2.srv.GRPCAddr())
	for _, sub := range subs {
		sub.start(conn2, sub.last(), false)
	}
	post(s2, 24, 4) // live again
	for _, sub := range subs {
		want := storedSeqs(t, s2.conn, ft, sub.req, 0)
		sub.waitCaughtUp(want)
		sub.stop()
		checkExactly(t, sub.name, sub.received(), want)
	}
}

// ---- 3. slow subscriber ----

// TestSubscribeSlowSubscriberCostsNothing: with a live queue of 16, one subscriber opens its
// stream and then reads nothing (gRPC flow control soon blocks the server's Send to it)
// while thousands of events are ingested by concurrent senders; another reads everything.
// Ingest goes on; the fast one gets everything in order; when the slow one reads at last it
// gets everything, in order, exactly once: it overflowed and caught up from the store.
// Ingest rates and the fast subscriber's latency are logged, not asserted.
func TestSubscribeSlowSubscriberCostsNothing(t *testing.T) {
	f := newSlowFixture(t)
	// Baseline: nobody stalled.
	f.ingest("baseline", 25, 35, 10)
	want := storedSeqs(t, f.s.conn, f.ft, nil, 0)
	f.fast.waitCaughtUp(want)
	f.latency("baseline", 0)
	baseline := len(f.fast.received())

	slowGot := f.openStalledSubscriber()
	f.ingest("slow subscriber stalled", 25, 35, 10)
	want = storedSeqs(t, f.s.conn, f.ft, nil, 0)
	f.fast.waitCaughtUp(want)
	f.latency("slow subscriber stalled", baseline)
	f.fast.stop()
	checkExactly(t, "fast", f.fast.received(), want)

	f.slowReadsEverything(slowGot, want)
}

// slowFixture is TestSubscribeSlowSubscriberCostsNothing's server with a fast subscriber,
// the slow one's connection, and when each event was acknowledged to its sender.
type slowFixture struct {
	t        *testing.T
	s        *testServer
	ft       feedTenant
	slowConn *grpc.ClientConn
	fast     *subscriber
	slow     grpc.ServerStreamingClient[livegatev1.SubscribeResponse]

	ackMu sync.Mutex
	acked map[uint64]time.Time
}

func newSlowFixture(t *testing.T) *slowFixture {
	const queue = 16
	s := startServer(t, t.TempDir(), func(c *server.Config) {
		c.Feed.Queue = queue
		c.Feed.StallTimeout = 10 * time.Minute // the slow one stalls on purpose, for as long as ingest takes
	})
	f := &slowFixture{t: t, s: s, ft: newFeedTenant(s, accA, appA), acked: map[uint64]time.Time{}}
	fastConn := dialFeed(t, s.srv.GRPCAddr())
	// Fixed 64 KiB windows (no BDP-driven growth): the stall reaches the server soon.
	f.slowConn = dialFeed(t, s.srv.GRPCAddr(), grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
	f.fast = newSubscriber(t, "fast", f.ft, nil, nil)
	f.fast.start(fastConn, 0, false)
	return f
}

func (f *slowFixture) record(seqs ...uint64) {
	now := time.Now()
	f.ackMu.Lock()
	for _, seq := range seqs {
		f.acked[seq] = now
	}
	f.ackMu.Unlock()
}

// ingest runs webhook senders over HTTP and appenders through the store side by side (the
// appenders take the same commit path, hook and hub, minus HTTP and decoding: thousands of
// webhooks would take too long under -race on 2 cores); each event counts when its sender
// is answered (HTTP 200, or Update returned: committed).
func (f *slowFixture) ingest(phase string, httpEach, updatesEach, perUpdate int) {
	t, s, ft := f.t, f.s, f.ft
	t.Helper()
	const httpSenders, appenders = 4, 4
	var httpN, directN atomic.Int64
	var httpDur, directDur time.Duration
	var durMu sync.Mutex
	var wg sync.WaitGroup
	for g := range httpSenders {
		wg.Go(func() {
			start := time.Now()
			for i := range httpEach {
				seq, err := postHMS(s.base, ft, hmsBody("peer.join.success", "room-http", g*100000+i))
				if err != nil {
					t.Errorf("%s: sender %d: %v", phase, g, err)
					return
				}
				f.record(seq)
				httpN.Add(1)
			}
			durMu.Lock()
			httpDur = max(httpDur, time.Since(start))
			durMu.Unlock()
		})
	}
	for g := range appenders {
		wg.Go(func() {
			start := time.Now()
			for range updatesEach {
				seqs, err := appendPeerJoins(context.Background(), server.StoreOf(s.srv), ft, "room-direct", perUpdate)
				if err != nil {
					t.Errorf("%s: appender %d: %v", phase, g, err)
					return
				}
				f.record(seqs...)
				directN.Add(int64(len(seqs)))
			}
			durMu.Lock()
			directDur = max(directDur, time.Since(start))
			durMu.Unlock()
		})
	}
	// Ingest must finish although one subscriber reads nothing: a Publish that waited for
	// it would never return.
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(subscribeDeadline):
		t.Fatalf("%s: ingest stalled: %d of %d webhook deliveries and %d of %d appends acknowledged within %v",
			phase, httpN.Load(), httpSenders*httpEach, directN.Load(), appenders*updatesEach*perUpdate, subscribeDeadline)
	}
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("%s: ingest %d webhook deliveries over HTTP at %.0f/s (%d senders) and %d events appended through the store, %d per Update, at %.0f/s (%d appenders), side by side",
		phase, httpN.Load(), float64(httpN.Load())/httpDur.Seconds(), httpSenders, directN.Load(), perUpdate, float64(directN.Load())/directDur.Seconds(), appenders)
}

// latency logs the fast subscriber's latency, acknowledged → received, from its event from on.
func (f *slowFixture) latency(phase string, from int) {
	f.fast.mu.Lock()
	seqs, at := f.fast.seqs[from:], f.fast.at[from:]
	f.ackMu.Lock()
	var lat []time.Duration
	for i, seq := range seqs {
		if a, ok := f.acked[seq]; ok {
			lat = append(lat, max(0, at[i].Sub(a))) // may arrive before its sender is answered
		}
	}
	f.ackMu.Unlock()
	f.fast.mu.Unlock()
	slices.Sort(lat)
	if len(lat) > 0 {
		f.t.Logf("%s: fast subscriber latency, acknowledged → received, over %d events: p50 %v, p99 %v, max %v",
			phase, len(lat), lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1])
	}
}

// openStalledSubscriber opens the slow subscriber: its stream is open (it has its first
// event: the server is replaying to it, registered for live events) and it reads nothing
// more. It returns what it received.
func (f *slowFixture) openStalledSubscriber() []uint64 {
	slowCtx, slowCancel := context.WithCancel(withToken(f.ft.token))
	f.t.Cleanup(slowCancel)
	slow, err := livegatev1.NewEventServiceClient(f.slowConn).Subscribe(slowCtx, &livegatev1.SubscribeRequest{AccountId: f.ft.acc, AppId: f.ft.app})
	if err != nil {
		f.t.Fatal(err)
	}
	first, err := slow.Recv()
	if err != nil {
		f.t.Fatal(err)
	}
	f.slow = slow
	return []uint64{first.GetEvent().GetSequence()}
}

// slowReadsEverything: now the slow one reads: everything, in order, once.
func (f *slowFixture) slowReadsEverything(slowGot, want []uint64) {
	var size int
	for len(slowGot) < len(want) {
		resp, err := f.slow.Recv()
		if err != nil {
			f.t.Fatalf("slow: after %d events: %v", len(slowGot), err)
		}
		if ev := resp.GetEvent(); ev != nil {
			slowGot = append(slowGot, ev.GetSequence())
			size += proto.Size(resp)
		}
	}
	checkExactly(f.t, "slow", slowGot, want)
	f.t.Logf("slow: %d events (%d KiB) read after the stall; at most 16 fit its live queue and ~128 KiB its flow-control window and the server's write quota, so it was replayed from the store",
		len(slowGot), size>>10)
}

// ---- 4. progress ----

// TestSubscribeProgressAdvancesCursor: a filter that matches nothing gets progress messages
// whose head reaches the sequences posted; resuming from that head delivers nothing old.
func TestSubscribeProgressAdvancesCursor(t *testing.T) {
	s := startServer(t, t.TempDir(), func(c *server.Config) { c.Feed.ProgressEvery = 200 * time.Millisecond })
	ft := newFeedTenant(s, accA, appA)
	conn := dialFeed(t, s.srv.GRPCAddr())
	nothing := newSubscriber(t, "no match", ft, &livegatev1.SubscribeRequest{RoomId: "no-such-room"},
		func(*livegatev1.Event) bool { return false })
	nothing.start(conn, 0, false)

	var posted uint64
	for i := range 5 {
		seq, err := postHMS(s.base, ft, hmsBody("peer.join.success", "room-1", i))
		if err != nil {
			t.Fatal(err)
		}
		posted = max(posted, seq)
	}
	var head uint64
	testenv.WaitFor(t, fmt.Sprintf("a progress head at or past %d", posted), func() bool {
		nothing.mu.Lock()
		defer nothing.mu.Unlock()
		if n := len(nothing.progress); n > 0 {
			head = nothing.progress[n-1]
		}
		return head >= posted
	})
	nothing.stop()
	if got := nothing.received(); len(got) > 0 {
		t.Errorf("no-match subscriber received events %v", got)
	}

	// Resume, unfiltered, from the head: the next event is the next one posted.
	resumed := newSubscriber(t, "resumed from progress head", ft, nil, nil)
	resumed.start(conn, head, false)
	next, err := postHMS(s.base, ft, hmsBody("peer.leave.success", "room-1", 9))
	if err != nil {
		t.Fatal(err)
	}
	resumed.waitCaughtUp([]uint64{next})
	resumed.stop()
	checkExactly(t, resumed.name, resumed.received(), []uint64{next})
}

// ---- 5. retention ----

// TestSubscribeRetention: after pruning, a cursor older than what is kept fails with
// OUT_OF_RANGE naming the oldest sequence kept (message and ErrorInfo); 0 replays from the
// oldest kept; a cursor at the watermark works.
func TestSubscribeRetention(t *testing.T) {
	s := startServer(t, t.TempDir())
	ft := newFeedTenant(s, accA, appA)
	conn := dialFeed(t, s.srv.GRPCAddr())
	if _, err := appendPeerJoins(context.Background(), server.StoreOf(s.srv), ft, "room-1", 10); err != nil {
		t.Fatal(err)
	}
	if err := (event.Retention{MaxEvents: 4}).PruneOnce(context.Background(), s.db(), time.Now(), nil); err != nil {
		t.Fatal(err)
	}
	kept := storedSeqs(t, s.conn, ft, nil, 0)
	if len(kept) != 4 {
		t.Fatalf("kept %v, want 4 events", kept)
	}
	oldest := kept[0]

	for _, after := range []uint64{1, oldest - 2} {
		stream, err := livegatev1.NewEventServiceClient(conn).Subscribe(withToken(ft.token), &livegatev1.SubscribeRequest{AccountId: ft.acc, AppId: ft.app, AfterSequence: after})
		if err != nil {
			t.Fatal(err)
		}
		_, err = stream.Recv()
		st := status.Convert(err)
		info := apierror.Info(st)
		if st.Code() != codes.OutOfRange || !strings.Contains(st.Message(), strconv.FormatUint(oldest, 10)) ||
			info == nil || info.GetReason() != string(apierror.ReasonCursorCompacted) || info.GetMetadata()["oldest_sequence"] != strconv.FormatUint(oldest, 10) {
			t.Errorf("after_sequence %d: got %v (info %v), want OUT_OF_RANGE naming oldest_sequence %d", after, err, info, oldest)
		}
	}

	for _, c := range []struct {
		after uint64
		want  []uint64
	}{
		{0, kept},          // from the oldest kept
		{oldest - 1, kept}, // the watermark: everything after it is kept
		{oldest, kept[1:]},
	} {
		sub := newSubscriber(t, fmt.Sprintf("after %d", c.after), ft, nil, nil)
		sub.start(conn, c.after, false)
		sub.waitCaughtUp(c.want)
		sub.stop()
		checkExactly(t, sub.name, sub.received(), c.want)
	}
}

// TestSubscribePruneDuringReplay: a subscriber still replaying when retention prunes events
// it has not read yet is told (OUT_OF_RANGE naming the oldest kept) rather than skipped over
// the pruned events without a word.
func TestSubscribePruneDuringReplay(t *testing.T) {
	s := startServer(t, t.TempDir(), func(c *server.Config) { c.Feed.ReplayBatch = 50 })
	ft := newFeedTenant(s, accA, appA)
	for range 4 {
		if _, err := appendPeerJoins(context.Background(), server.StoreOf(s.srv), ft, "room-1", 500); err != nil {
			t.Fatal(err)
		}
	}
	before := storedSeqs(t, s.conn, ft, nil, 0)
	// Fixed 64 KiB windows: the server's replay blocks in Send a few hundred events in.
	conn := dialFeed(t, s.srv.GRPCAddr(), grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
	stream, err := livegatev1.NewEventServiceClient(conn).Subscribe(withToken(ft.token), &livegatev1.SubscribeRequest{AccountId: ft.acc, AppId: ft.app})
	if err != nil {
		t.Fatal(err)
	}
	first, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if err := (event.Retention{MaxEvents: 100}).PruneOnce(context.Background(), s.db(), time.Now(), nil); err != nil {
		t.Fatal(err)
	}
	kept := storedSeqs(t, s.conn, ft, nil, 0)
	got := []uint64{first.GetEvent().GetSequence()}
	for got[len(got)-1] < before[len(before)-1] {
		resp, err := stream.Recv()
		if err != nil {
			st := status.Convert(err)
			if st.Code() != codes.OutOfRange || apierror.Info(st).GetMetadata()["oldest_sequence"] != strconv.FormatUint(kept[0], 10) {
				t.Fatalf("after %d events: %v, want OUT_OF_RANGE naming oldest_sequence %d", len(got), err, kept[0])
			}
			break
		}
		if ev := resp.GetEvent(); ev != nil {
			got = append(got, ev.GetSequence())
		}
	}
	// Whatever was sent is a gapless prefix of the feed as it was before the prune.
	checkExactly(t, "replay across a prune", got, before[:min(len(got), len(before))])
	t.Logf("replayed %d of %d events before the prune caught up with it", len(got), len(before))
}

// ---- 6. tenants ----

// TestSubscribeTenantIsolation: app A's token on app B's feed is PERMISSION_DENIED; A's
// subscriber gets exactly A's events while both apps take deliveries.
func TestSubscribeTenantIsolation(t *testing.T) {
	s := startServer(t, t.TempDir())
	a := newFeedTenant(s, accA, appA)
	b := newFeedTenant(s, accB, appB)
	conn := dialFeed(t, s.srv.GRPCAddr())

	stream, err := livegatev1.NewEventServiceClient(conn).Subscribe(withToken(a.token), &livegatev1.SubscribeRequest{AccountId: b.acc, AppId: b.app})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); status.Code(err) != codes.PermissionDenied {
		t.Errorf("A's token on B's feed: %v, want PERMISSION_DENIED", err)
	}

	subA := newSubscriber(t, "A", a, nil, nil) // checks every event's tenant as it arrives
	subB := newSubscriber(t, "B", b, nil, nil)
	subA.start(conn, 0, false)
	subB.start(conn, 0, false)
	var wg sync.WaitGroup
	for _, ft := range []feedTenant{a, b, b} {
		wg.Go(func() {
			for i := range 20 {
				if _, err := postHMS(s.base, ft, hmsBody("peer.join.success", "room-1", i)); err != nil {
					t.Errorf("post to %s: %v", ft.app, err)
					return
				}
			}
		})
	}
	wg.Wait()
	for _, c := range []struct {
		sub *subscriber
		ft  feedTenant
	}{{subA, a}, {subB, b}} {
		want := storedSeqs(t, s.conn, c.ft, nil, 0)
		c.sub.waitCaughtUp(want)
		c.sub.stop()
		checkExactly(t, c.sub.name, c.sub.received(), want)
	}
}

// TestValidationErrorsCarryErrorInfo: a request that fails validation, a stream's
// (Subscribe) or a unary call's, is INVALID_ARGUMENT with livegate's ErrorInfo naming the
// field, as the README says of every gRPC error. (The feed audit: Subscribe's had none, only
// buf.validate.Violations.)
func TestValidationErrorsCarryErrorInfo(t *testing.T) {
	s := startServer(t, t.TempDir())
	ft := newFeedTenant(s, accA, appA)
	ctx := withToken(ft.token)
	check := func(what string, err error, field string) {
		t.Helper()
		st := status.Convert(err)
		info := apierror.Info(st)
		if st.Code() != codes.InvalidArgument || info.GetReason() != string(apierror.ReasonInvalidArgument) ||
			info.GetDomain() != apierror.Domain || info.GetMetadata()["field"] != field {
			t.Errorf("%s: %v (info %v), want INVALID_ARGUMENT with ErrorInfo naming field %q", what, err, info, field)
		}
	}
	stream, err := livegatev1.NewEventServiceClient(s.conn).Subscribe(ctx, &livegatev1.SubscribeRequest{AccountId: ft.acc, AppId: ft.app, OnlyNew: true, Type: []string{""}})
	if err == nil {
		_, err = stream.Recv()
	}
	check("Subscribe with an empty type", err, "type[0]")
	_, err = s.livestreams.GetLivestream(ctx, &livegatev1.GetLivestreamRequest{AccountId: ft.acc, AppId: ft.app, LivestreamId: "not-a-uuid"})
	check("GetLivestream with a malformed id", err, "livestream_id")
}
