package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/feed"
	"github.com/livegate/livegate/internal/feedcheck"
	"github.com/livegate/livegate/internal/testenv"
)

// mnNodes is the three livegate processes of TestMultiNodeFaults; a node restarted after
// SIGKILL comes back on new ports.
type mnNodes struct {
	mu    sync.Mutex
	procs []*process
}

func (n *mnNodes) get(i int) *process {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.procs[i%len(n.procs)]
}

func (n *mnNodes) set(i int, p *process) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.procs[i] = p
}

// mnSub is one subscriber of TestMultiNodeFaults across all its streams: it follows the
// feed on one node over gRPC, NDJSON or SSE and, when its stream ends (its node died, the
// stream failed) or it is told to move, reconnects to another node from its cursor.
type mnSub struct {
	name   string
	kind   string // "grpc", "ndjson", "sse"
	filter *livegatev1.SubscribeRequest
	first  uint64 // its first cursor
	ft     feedTenant
	nodes  *mnNodes

	mu       sync.Mutex
	node     int
	cursor   uint64 // greatest event or progress head received
	seqs     []uint64
	onNodes  map[int]int // events received per node index
	moves    int         // reconnects to another node because the test said so
	failover int         // reconnects to another node because the stream failed
	lastErr  error
	bad      []string // events that do not match the filter
	cancel   context.CancelFunc
	done     chan struct{}
}

func (s *mnSub) match(typ, room string) bool {
	if len(s.filter.GetType()) > 0 {
		ok := false
		for _, f := range s.filter.GetType() {
			ok = ok || feed.TypeMatches(f, typ)
		}
		if !ok {
			return false
		}
	}
	return s.filter.GetRoomId() == "" || s.filter.GetRoomId() == room
}

func (s *mnSub) event(node int, seq uint64, typ, room string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.match(typ, room) {
		s.bad = append(s.bad, fmt.Sprintf("%d (%s, %s)", seq, typ, room))
	}
	s.seqs = append(s.seqs, seq)
	s.onNodes[node]++
	s.cursor = max(s.cursor, seq)
}

func (s *mnSub) progress(head uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cursor = max(s.cursor, head)
}

// moveTo has the subscriber leave its node mid-stream and resume on node i from its cursor.
func (s *mnSub) moveTo(i int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.node = i % 3
	s.moves++
	if s.cancel != nil {
		s.cancel()
	}
}

func (s *mnSub) has(seq uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.seqs) - 1; i >= 0; i-- {
		if s.seqs[i] == seq {
			return true
		}
	}
	return false
}

// run follows the feed until ctx ends.
func (s *mnSub) run(ctx context.Context) {
	defer close(s.done)
	for ctx.Err() == nil {
		s.mu.Lock()
		node, after := s.node, s.cursor
		sctx, cancel := context.WithCancel(ctx)
		s.cancel = cancel
		s.mu.Unlock()
		p := s.nodes.get(node)
		var err error
		switch s.kind {
		case "grpc":
			err = s.streamGRPC(sctx, node, p.grpc, after)
		case "ndjson":
			err = s.streamNDJSON(sctx, node, p.http, after)
		case "sse":
			err = s.streamSSE(sctx, node, p.http, after)
		}
		cancel()
		if ctx.Err() != nil {
			return
		}
		s.mu.Lock()
		moved := s.node != node
		if !moved {
			s.failover++
			s.lastErr = err
			s.node = (node + 1) % 3
		}
		s.mu.Unlock()
		if !moved {
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}

func (s *mnSub) streamGRPC(ctx context.Context, node int, addr string, after uint64) error {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	req := proto.Clone(s.filter).(*livegatev1.SubscribeRequest)
	req.AccountId, req.AppId, req.AfterSequence = s.ft.acc, s.ft.app, after
	stream, err := livegatev1.NewEventServiceClient(conn).Subscribe(withTokenCtx(ctx, s.ft.token), req)
	if err != nil {
		return err
	}
	for {
		resp, err := stream.Recv()
		if err != nil {
			return err
		}
		s.response(node, resp)
	}
}

func (s *mnSub) response(node int, resp *livegatev1.SubscribeResponse) {
	if ev := resp.GetEvent(); ev != nil {
		s.event(node, ev.GetSequence(), ev.GetType(), ev.GetRoomId())
	} else if p := resp.GetProgress(); p != nil {
		s.progress(p.GetHeadSequence())
	}
}

// open GETs a streaming route of the tenant on a node; the query carries the filter.
func (s *mnSub) open(ctx context.Context, addr, route string, q []string, header http.Header) (*http.Response, error) {
	if len(s.filter.GetType()) > 0 {
		for _, typ := range s.filter.GetType() {
			q = append(q, "type="+typ)
		}
	}
	if s.filter.GetRoomId() != "" {
		q = append(q, "room_id="+s.filter.GetRoomId())
	}
	url := fmt.Sprintf("http://%s/accounts/%s/realtime/kit/%s/%s?%s", addr, s.ft.acc, s.ft.app, route, strings.Join(q, "&"))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header = header
	req.Header.Set("Authorization", "Bearer "+s.ft.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return nil, fmt.Errorf("GET %s: HTTP %d: %s", url, resp.StatusCode, b)
	}
	return resp, nil
}

func (s *mnSub) streamNDJSON(ctx context.Context, node int, addr string, after uint64) error {
	resp, err := s.open(ctx, addr, "events:stream", []string{"after_sequence=" + strconv.FormatUint(after, 10)}, http.Header{})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var line struct {
			Result json.RawMessage `json:"result"`
			Error  json.RawMessage `json:"error"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			return fmt.Errorf("NDJSON line %q: %w", sc.Text(), err)
		}
		if line.Error != nil {
			return fmt.Errorf("NDJSON error %s", line.Error)
		}
		msg := &livegatev1.SubscribeResponse{}
		if err := protojson.Unmarshal(line.Result, msg); err != nil {
			return fmt.Errorf("NDJSON result %s: %w", line.Result, err)
		}
		s.response(node, msg)
	}
	if sc.Err() != nil {
		return sc.Err()
	}
	return io.ErrUnexpectedEOF
}

// streamSSE follows events/sse, resuming as EventSource does: Last-Event-ID is the last id
// line received (an event's sequence or a progress head).
func (s *mnSub) streamSSE(ctx context.Context, node int, addr string, after uint64) error {
	h := http.Header{}
	if after > 0 {
		h.Set("Last-Event-ID", strconv.FormatUint(after, 10))
	}
	resp, err := s.open(ctx, addr, "events/sse", []string{"after_sequence=0"}, h)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	for e := range sseEvents(resp.Body) {
		if e.Event == "error" {
			return fmt.Errorf("SSE error event: %v", e.Data)
		}
		if !e.HasID {
			continue
		}
		id, err := strconv.ParseUint(e.ID, 10, 64)
		if err != nil {
			return fmt.Errorf("SSE id %q: %w", e.ID, err)
		}
		if len(e.Data) == 0 {
			s.progress(id)
			continue
		}
		var ev livegatev1.Event
		if err := protojson.Unmarshal([]byte(strings.Join(e.Data, "\n")), &ev); err != nil {
			return fmt.Errorf("SSE data %v: %w", e.Data, err)
		}
		if ev.GetSequence() != id {
			return fmt.Errorf("SSE id %d for event %d", id, ev.GetSequence())
		}
		s.event(node, id, ev.GetType(), ev.GetRoomId())
	}
	return io.ErrUnexpectedEOF
}

// mnDelivery is a 100ms delivery of TestMultiNodeFaults; both: posted to two nodes at once.
type mnDelivery struct {
	id   string
	body []byte
	n    int
	both bool
}

// mnSenders deliver, retrying on another node until a 200, and count what went wrong.
type mnSenders struct {
	ft     feedTenant
	nodes  *mnNodes
	client *http.Client

	mu       sync.Mutex
	acked    map[string][]uint64
	failed   []string // deliveries never answered 200
	odd      []string // answers other than 200 and 503
	status   map[int]int
	connErrs int
	retries  int
	n503     atomic.Int64
}

func (m *mnSenders) post(ctx context.Context, node int, body []byte) (uint64, int, error) {
	p := m.nodes.get(node)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+p.http+hmsPath(m.ft.acc, m.ft.app), bytes.NewReader(body))
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Webhook-Secret", m.ft.secret)
	resp, err := m.client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return 0, resp.StatusCode, fmt.Errorf("HTTP %d: %s", resp.StatusCode, raw)
	}
	var out struct {
		Sequence string `json:"sequence"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return 0, resp.StatusCode, fmt.Errorf("answer %s: %w", raw, err)
	}
	seq, err := strconv.ParseUint(out.Sequence, 10, 64)
	return seq, resp.StatusCode, err
}

// deliver posts d to node start, and on failure (connection refused, 503, ...) again to
// the next node, until it is answered 200 or ctx ends.
func (m *mnSenders) deliver(ctx context.Context, d mnDelivery, start int) {
	node := start
	for {
		seq, code, err := m.post(ctx, node, d.body)
		m.mu.Lock()
		if code != 0 {
			m.status[code]++
		}
		if err == nil {
			m.acked[d.id] = append(m.acked[d.id], seq)
			m.mu.Unlock()
			return
		}
		switch {
		case code == 0:
			m.connErrs++
		case code == http.StatusServiceUnavailable:
			m.n503.Add(1)
		default:
			m.odd = append(m.odd, fmt.Sprintf("delivery %s on node %d: %v", d.id, node%3, err))
		}
		if ctx.Err() != nil {
			m.failed = append(m.failed, fmt.Sprintf("delivery %s: last error %v", d.id, err))
			m.mu.Unlock()
			return
		}
		m.retries++
		m.mu.Unlock()
		node++
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// listeners counts the LISTEN connections of the livegate nodes (their last statement was
// LISTEN), and terminates them if terminate.
func listeners(ctx context.Context, dsn string, terminate bool) (int, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	q := `SELECT count(*) FROM pg_stat_activity WHERE query ILIKE 'LISTEN%' AND pid <> pg_backend_pid()`
	if terminate {
		q = `SELECT count(*) FROM (SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity
			WHERE query ILIKE 'LISTEN%' AND pid <> pg_backend_pid()) t WHERE ok`
	}
	var n int
	err = conn.QueryRow(ctx, q).Scan(&n)
	return n, err
}

// TestMultiNodeFaults: one PostgreSQL cluster of the test's own, three `livegate serve
// --database-url` processes (the real binary), an app created once with `apps create
// --database-url`. Senders post 100ms deliveries round-robin across the nodes for the whole
// run, some to two nodes at once, retrying a failed one on another node. Four subscribers
// (gRPC unfiltered, gRPC filtered by type, NDJSON filtered by room, SSE filtered by a type
// prefix and resuming by Last-Event-ID) follow the feed on different nodes, each moved to
// another node mid-stream, and fail over when their node dies. While traffic flows: a node
// is SIGKILLed and restarted; PostgreSQL terminates the nodes' LISTEN connections; PostgreSQL
// is stopped and started again. At the end: every delivery answered 200 is stored once under
// its answered sequence, every subscriber received exactly the stored events matching its
// filter after its first cursor, and the nodes list the same events and livestreams.
func TestMultiNodeFaults(t *testing.T) {
	f := newMNFaults(t)
	f.warmUp()
	f.startSubscribers()
	f.startTraffic()
	// Each phase's fault happens while its deliveries are posted and retried.
	f.phase(0, "every subscriber moves to another node mid-stream", f.moveSubscribers)
	f.phase(1, "SIGKILL node 1 and start it again", f.killAndRestartNode1)
	f.phase(2, "PostgreSQL terminates the nodes' LISTEN connections", f.terminateListeners)
	f.phase(3, "stop PostgreSQL and start it again", f.restartPostgres)
	f.phase(4, "the subscribers move once more", f.moveSubscribers)
	f.checkAcknowledged()
	f.checkStore()
	f.checkSubscribers()
	f.checkLivestreams()
	f.logSummary()
}

// mnFaults is the scenario of TestMultiNodeFaults: its methods are the steps, called in
// order, sharing one cluster, three nodes, the senders and the subscribers.
type mnFaults struct {
	t        *testing.T
	bin, dsn string
	cluster  *testenv.Cluster
	ft       feedTenant
	dataDirs []string
	nodes    *mnNodes
	// Every wait is bounded by ctx: a hang is a failure, not a stuck test.
	ctx      context.Context
	rooms    []string
	senders  *mnSenders
	warm     []uint64
	subs     []*mnSub
	stopSubs context.CancelFunc

	// The traffic: phases of deliveries released at a steady pace to six senders; the next
	// phase starts once the fault of this one is done.
	released  []atomic.Int64
	faultDone []chan struct{}
	wg        sync.WaitGroup
	total     atomic.Int64
	phase503  []int64
	mark      int64

	terminated int
	pgDown     time.Duration

	// What the store kept, as every node lists it.
	events           []mnStored
	seqs             []uint64
	byID             map[string][]uint64
	livestreamEvents int
}

// mnStored is one stored event as ListEvents returns it.
type mnStored struct {
	seq        uint64
	typ, room  string
	providerID string
	// livegate's status trail (livestream.status_changed): the livestream and its change.
	livestream       string
	oldSt, newStatus livegatev1.LivestreamStatus
}

const (
	mnAcc, mnApp         = "acc-faults", "app-faults"
	mnPhases, mnPerPhase = 5, 60
)

var mnTypes = []string{"peer.join.success", "hls.started.success", "peer.leave.success", "peer.join.success", "hls.stopped.success"}

// newMNFaults starts the cluster, the three nodes, and the livestreams of the four rooms
// (driven by hls.* deliveries among the traffic).
func newMNFaults(t *testing.T) *mnFaults {
	f := &mnFaults{t: t, bin: buildLivegate(t), rooms: []string{"room-0", "room-1", "room-2", "room-3"}}
	cluster, err := testenv.NewCluster()
	if err != nil {
		t.Fatal(err)
	}
	f.cluster = cluster
	t.Cleanup(func() {
		if err := cluster.Stop(); err != nil {
			t.Errorf("stop PostgreSQL: %v", err)
		}
	})
	if f.dsn, err = cluster.CreateDatabase(t.Context()); err != nil {
		t.Fatal(err)
	}
	f.ft = appsCreateOn(t, f.bin, f.dsn, mnAcc, mnApp)
	f.dataDirs = []string{t.TempDir(), t.TempDir(), t.TempDir()}
	f.nodes = &mnNodes{}
	for i := range 3 {
		f.nodes.procs = append(f.nodes.procs, startProcess(t, f.bin, f.dataDirs[i], "--database-url", f.dsn))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	f.ctx = ctx
	t.Cleanup(cancel)
	for i, room := range f.rooms {
		if _, err := f.lsClient(i).StartMeetingLivestream(withToken(f.ft.token),
			&livegatev1.StartMeetingLivestreamRequest{AccountId: mnAcc, AppId: mnApp, MeetingId: room}); err != nil {
			t.Fatalf("start the livestream of %s on node %d: %v", room, i%3, err)
		}
	}
	f.senders = &mnSenders{ft: f.ft, nodes: f.nodes, client: &http.Client{Timeout: 15 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 16}}, acked: map[string][]uint64{}, status: map[int]int{}}
	return f
}

func (f *mnFaults) lsClient(i int) livegatev1.LivestreamServiceClient {
	return livegatev1.NewLivestreamServiceClient(dialFeed(f.t, f.nodes.get(i).grpc))
}

func (f *mnFaults) newDelivery(n int, both bool) mnDelivery {
	id := uuid.NewString()
	return mnDelivery{id: id, n: n, both: both, body: withID(f.t, hmsBody(mnTypes[n%len(mnTypes)], f.rooms[n%len(f.rooms)], n), id)}
}

// warmUp posts a few deliveries before the subscribers start: their first cursors sit among them.
func (f *mnFaults) warmUp() {
	for n := range 8 {
		d := f.newDelivery(n, false)
		f.senders.deliver(f.ctx, d, n)
		if a := f.senders.acked[d.id]; len(a) == 1 {
			f.warm = append(f.warm, a[0])
		}
	}
	if len(f.warm) != 8 {
		f.t.Fatalf("warm-up deliveries: %d of 8 answered 200: %v", len(f.warm), f.senders.odd)
	}
}

func (f *mnFaults) startSubscribers() {
	warm := f.warm
	f.subs = []*mnSub{
		{name: "gRPC unfiltered", kind: "grpc", filter: &livegatev1.SubscribeRequest{}, first: warm[1], node: 0},
		{name: "gRPC type filter", kind: "grpc", filter: &livegatev1.SubscribeRequest{Type: []string{"peer.leave.success", "hls."}}, first: warm[3], node: 1},
		{name: "NDJSON room filter", kind: "ndjson", filter: &livegatev1.SubscribeRequest{RoomId: "room-1"}, first: warm[2], node: 2},
		{name: "SSE type prefix, Last-Event-ID", kind: "sse", filter: &livegatev1.SubscribeRequest{Type: []string{"peer."}}, first: warm[5], node: 0},
	}
	subCtx, stopSubs := context.WithCancel(f.ctx)
	f.stopSubs = stopSubs
	for _, s := range f.subs {
		s.ft, s.nodes, s.cursor, s.onNodes, s.done = f.ft, f.nodes, s.first, map[int]int{}, make(chan struct{})
		go s.run(subCtx)
	}
	f.t.Cleanup(func() {
		stopSubs()
		for _, s := range f.subs {
			<-s.done
		}
	})
}

// startTraffic releases mnPhases phases of mnPerPhase deliveries to six senders, a quarter
// of them posted to two nodes at once; phase p+1 starts once phase p's fault is done.
func (f *mnFaults) startTraffic() {
	ctx, senders := f.ctx, f.senders
	f.released = make([]atomic.Int64, mnPhases)
	f.faultDone = make([]chan struct{}, mnPhases)
	for p := range f.faultDone {
		f.faultDone[p] = make(chan struct{})
	}
	f.phase503 = make([]int64, mnPhases)
	f.mark = senders.n503.Load()
	jobs := make(chan mnDelivery)
	for range 6 {
		f.wg.Go(func() {
			for d := range jobs {
				if !d.both {
					senders.deliver(ctx, d, d.n)
					continue
				}
				// The same delivery to two nodes at once, as a provider retry racing the first.
				var both sync.WaitGroup
				both.Go(func() { senders.deliver(ctx, d, d.n) })
				both.Go(func() { senders.deliver(ctx, d, d.n+1) })
				both.Wait()
			}
		})
	}
	f.total.Store(int64(len(f.warm)))
	go func() {
		defer close(jobs)
		n := len(f.warm)
		for p := range mnPhases {
			for i := range mnPerPhase {
				select {
				case jobs <- f.newDelivery(n, i%4 == 1):
				case <-ctx.Done():
					return
				}
				n++
				f.total.Add(1)
				f.released[p].Add(1)
				time.Sleep(20 * time.Millisecond)
			}
			select {
			case <-f.faultDone[p]:
			case <-ctx.Done():
				return
			}
		}
	}()
}

// phase waits until 20 deliveries of phase p are released, injects the fault, counts the
// phase's 503s and lets the traffic go on to the next phase.
func (f *mnFaults) phase(p int, what string, fault func()) {
	f.t.Helper()
	for f.released[p].Load() < 20 {
		if f.ctx.Err() != nil {
			f.t.Fatalf("phase %d (%s): %d deliveries released, not 20, before the deadline", p, what, f.released[p].Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	fault()
	f.phase503[p] = f.senders.n503.Load() - f.mark
	f.mark = f.senders.n503.Load()
	close(f.faultDone[p])
}

// waitUntil polls cond, failing the test at the run's deadline.
func (f *mnFaults) waitUntil(what string, cond func() bool) {
	f.t.Helper()
	for !cond() {
		if f.ctx.Err() != nil {
			f.t.Fatalf("%s: not before the deadline", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (f *mnFaults) countListeners() int {
	n, err := listeners(f.ctx, f.cluster.DSN("postgres"), false)
	if err != nil {
		return -1
	}
	return n
}

// moveSubscribers has every subscriber leave its node mid-stream and resume, from its
// cursor, on the next one.
func (f *mnFaults) moveSubscribers() {
	for _, s := range f.subs {
		s.mu.Lock()
		next := s.node + 1
		s.mu.Unlock()
		s.moveTo(next)
	}
}

// killAndRestartNode1 SIGKILLs node 1 and starts it again with the same flags (new ports).
func (f *mnFaults) killAndRestartNode1() {
	killed := f.nodes.get(1)
	if err := killed.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		f.t.Fatal(err)
	}
	select {
	case <-killed.done:
	case <-f.ctx.Done():
		f.t.Fatal("node 1 did not die of SIGKILL before the deadline")
	}
	f.nodes.set(1, startProcess(f.t, f.bin, f.dataDirs[1], "--database-url", f.dsn))
}

// terminateListeners has PostgreSQL terminate the nodes' LISTEN connections; they come back.
func (f *mnFaults) terminateListeners() {
	f.waitUntil("three LISTEN connections before terminating them", func() bool { return f.countListeners() == 3 })
	terminated, err := listeners(f.ctx, f.cluster.DSN("postgres"), true)
	if err != nil {
		f.t.Fatalf("terminate the LISTEN connections: %v", err)
	}
	f.terminated = terminated
	if terminated != 3 {
		f.t.Errorf("terminated %d LISTEN connections, want 3 (one per node)", terminated)
	}
	f.waitUntil("the nodes LISTEN again after pg_terminate_backend", func() bool { return f.countListeners() == 3 })
}

// restartPostgres stops PostgreSQL and starts it again; the nodes recover without a restart.
func (f *mnFaults) restartPostgres() {
	restartStart := time.Now()
	if err := f.cluster.Restart(); err != nil {
		f.t.Fatalf("restart PostgreSQL: %v", err)
	}
	f.pgDown = time.Since(restartStart)
	f.waitUntil("the nodes LISTEN again after the PostgreSQL restart", func() bool { return f.countListeners() == 3 })
}

// checkAcknowledged waits for the senders: every delivery was answered 200 in the end, and
// no answer was other than 200 or 503.
func (f *mnFaults) checkAcknowledged() {
	t := f.t
	done := make(chan struct{})
	go func() { f.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-f.ctx.Done():
		t.Fatal("the senders did not finish before the deadline")
	}
	f.senders.mu.Lock()
	acked, failed, odd := f.senders.acked, f.senders.failed, f.senders.odd
	f.senders.mu.Unlock()
	for _, e := range odd {
		t.Errorf("an answer other than 200 or 503: %s", e)
	}
	if len(failed) > 0 {
		t.Fatalf("%d deliveries never answered 200, first: %s", len(failed), failed[0])
	}
	if want := int(f.total.Load()); len(acked) != want {
		t.Errorf("%d deliveries acknowledged, want %d", len(acked), want)
	}
}

func (f *mnFaults) list(i int) []mnStored {
	client := livegatev1.NewEventServiceClient(dialFeed(f.t, f.nodes.get(i).grpc))
	req := &livegatev1.ListEventsRequest{AccountId: mnAcc, AppId: mnApp, PageSize: 1000}
	var out []mnStored
	for {
		resp, err := client.ListEvents(withToken(f.ft.token), req)
		if err != nil {
			f.t.Fatalf("ListEvents on node %d: %v", i, err)
		}
		for _, ev := range resp.GetEvents() {
			c := ev.GetLivestreamStatusChanged()
			out = append(out, mnStored{ev.GetSequence(), ev.GetType(), ev.GetRoomId(), ev.GetProviderEventId(),
				c.GetLivestreamId(), c.GetOldStatus(), c.GetNewStatus()})
		}
		if resp.GetNextPageToken() == "" {
			return out
		}
		req.PageToken = resp.GetNextPageToken()
	}
}

// checkStore: the three nodes list the same events, and every acknowledged delivery is
// stored once under its answered sequence.
func (f *mnFaults) checkStore() {
	t := f.t
	f.events = f.list(0)
	for i := 1; i < 3; i++ {
		if other := f.list(i); fmt.Sprint(other) != fmt.Sprint(f.events) {
			t.Errorf("node %d lists %d events, node 0 %d: they differ", i, len(other), len(f.events))
		}
	}
	f.byID = map[string][]uint64{}
	for _, ev := range f.events {
		f.seqs = append(f.seqs, ev.seq)
		if ev.providerID != "" {
			f.byID[ev.providerID] = append(f.byID[ev.providerID], ev.seq)
		} else {
			f.livestreamEvents++ // livegate's own events (livestream.status_changed, ...)
		}
	}
	if want := int(f.total.Load()); len(f.byID) != want {
		t.Errorf("%d deliveries stored, %d posted", len(f.byID), want)
	}
	f.senders.mu.Lock()
	acked := f.senders.acked
	f.senders.mu.Unlock()
	if r := feedcheck.Acknowledged(acked, f.byID); !r.OK() {
		t.Errorf("acknowledged deliveries against the store: %s", r)
	}
}

// checkSubscribers: every subscriber received exactly the stored events of its filter
// after its first cursor, and resumed on another node.
func (f *mnFaults) checkSubscribers() {
	t, events := f.t, f.events
	expected := func(s *mnSub) []uint64 {
		return feedcheck.Expected(f.seqs, s.first, func(i int) bool { return s.match(events[i].typ, events[i].room) })
	}
	for _, s := range f.subs {
		if exp := expected(s); len(exp) > 0 {
			last := exp[len(exp)-1]
			f.waitUntil(fmt.Sprintf("%s receives through %d", s.name, last), func() bool { return s.has(last) })
		}
	}
	f.stopSubs()
	for _, s := range f.subs {
		<-s.done
		exp := expected(s)
		s.mu.Lock()
		if r := feedcheck.Received(s.seqs, exp); !r.OK() {
			t.Errorf("%s: received %d events, expected %d: %s", s.name, len(s.seqs), len(exp), r)
		}
		if len(s.bad) > 0 {
			t.Errorf("%s: events not matching its filter: %v", s.name, s.bad)
		}
		if s.moves < 2 || len(s.onNodes) < 2 {
			t.Errorf("%s: moved %d times, received from nodes %v: want a resume on another node", s.name, s.moves, s.onNodes)
		}
		t.Logf("%s: %d events (from first cursor %d), %d moves, %d failovers (last cause: %v), events per node %v",
			s.name, len(s.seqs), s.first, s.moves, s.failover, s.lastErr, s.onNodes)
		s.mu.Unlock()
	}
}

// checkLivestreams: replaying the stored status trail gives the livestreams' state (each
// change starts from the status the previous one ended in, and the last one is the status
// every node reports), and the nodes agree on the livestreams.
func (f *mnFaults) checkLivestreams() {
	t := f.t
	replayed := map[string]livegatev1.LivestreamStatus{}
	for _, ev := range f.events {
		if ev.livestream == "" {
			continue
		}
		if prev, ok := replayed[ev.livestream]; ok && prev != ev.oldSt {
			t.Errorf("event %d: livestream %s changes from %v, but the trail left it %v", ev.seq, ev.livestream, ev.oldSt, prev)
		}
		replayed[ev.livestream] = ev.newStatus
	}
	var first *livegatev1.ListLivestreamsResponse
	for i := range 3 {
		resp, err := f.lsClient(i).ListLivestreams(withToken(f.ft.token), &livegatev1.ListLivestreamsRequest{AccountId: mnAcc, AppId: mnApp})
		if err != nil {
			t.Fatalf("ListLivestreams on node %d: %v", i, err)
		}
		if i != 0 {
			if !proto.Equal(resp, first) {
				t.Errorf("node %d lists livestreams\n%v\nnode 0\n%v", i, resp, first)
			}
			continue
		}
		first = resp
		if n := len(resp.GetData().GetLivestreams()); n != len(f.rooms) {
			t.Errorf("node 0 lists %d livestreams, want %d", n, len(f.rooms))
		}
		for _, l := range resp.GetData().GetLivestreams() {
			if want, ok := replayed[l.GetId()]; !ok || l.GetStatus() != want {
				t.Errorf("livestream %s is %v; the stored status trail replays to %v (present: %v)", l.GetId(), l.GetStatus(), want, ok)
			}
		}
	}
}

func (f *mnFaults) logSummary() {
	f.senders.mu.Lock()
	twice := 0
	for _, a := range f.senders.acked {
		if len(a) == 2 {
			twice++
		}
	}
	f.t.Logf("%d deliveries (%d posted to two nodes at once, both answered alike) stored as %d events (+%d of livegate's own); answers by status %v; %d connection errors, %d retries on another node",
		f.total.Load(), twice, len(f.byID), f.livestreamEvents, f.senders.status, f.senders.connErrs, f.senders.retries)
	f.senders.mu.Unlock()
	f.t.Logf("faults: node 1 SIGKILLed and restarted; %d LISTEN connections terminated and re-established; PostgreSQL stopped and started (%v); 503s per phase [move, kill, terminate, pg restart, move] %v",
		f.terminated, f.pgDown.Round(time.Millisecond), f.phase503)
}
