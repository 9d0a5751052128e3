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
	bin := buildLivegate(t)
	cluster, err := testenv.NewCluster()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cluster.Stop(); err != nil {
			t.Errorf("stop PostgreSQL: %v", err)
		}
	})
	dsn, err := cluster.CreateDatabase(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	const acc, app = "acc-faults", "app-faults"
	ft := appsCreateOn(t, bin, dsn, acc, app)
	dataDirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	nodes := &mnNodes{}
	for i := range 3 {
		nodes.procs = append(nodes.procs, startProcess(t, bin, dataDirs[i], "--database-url", dsn))
	}
	// Every wait below is bounded by this: a hang is a failure, not a stuck test.
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	// Livestreams of the four rooms, driven by hls.* deliveries among the traffic.
	lsClient := func(i int) livegatev1.LivestreamServiceClient {
		return livegatev1.NewLivestreamServiceClient(dialFeed(t, nodes.get(i).grpc))
	}
	rooms := []string{"room-0", "room-1", "room-2", "room-3"}
	for i, room := range rooms {
		if _, err := lsClient(i).StartMeetingLivestream(withToken(ft.token),
			&livegatev1.StartMeetingLivestreamRequest{AccountId: acc, AppId: app, MeetingId: room}); err != nil {
			t.Fatalf("start the livestream of %s on node %d: %v", room, i%3, err)
		}
	}
	types := []string{"peer.join.success", "hls.started.success", "peer.leave.success", "peer.join.success", "hls.stopped.success"}
	newDelivery := func(n int, both bool) mnDelivery {
		id := uuid.NewString()
		return mnDelivery{id: id, n: n, both: both, body: withID(t, hmsBody(types[n%len(types)], rooms[n%len(rooms)], n), id)}
	}

	senders := &mnSenders{ft: ft, nodes: nodes, client: &http.Client{Timeout: 15 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 16}}, acked: map[string][]uint64{}, status: map[int]int{}}

	// A few deliveries before the subscribers start: their first cursors sit among them.
	var warm []uint64
	for n := range 8 {
		d := newDelivery(n, false)
		senders.deliver(ctx, d, n)
		if a := senders.acked[d.id]; len(a) == 1 {
			warm = append(warm, a[0])
		}
	}
	if len(warm) != 8 {
		t.Fatalf("warm-up deliveries: %d of 8 answered 200: %v", len(warm), senders.odd)
	}

	subs := []*mnSub{
		{name: "gRPC unfiltered", kind: "grpc", filter: &livegatev1.SubscribeRequest{}, first: warm[1], node: 0},
		{name: "gRPC type filter", kind: "grpc", filter: &livegatev1.SubscribeRequest{Type: []string{"peer.leave.success", "hls."}}, first: warm[3], node: 1},
		{name: "NDJSON room filter", kind: "ndjson", filter: &livegatev1.SubscribeRequest{RoomId: "room-1"}, first: warm[2], node: 2},
		{name: "SSE type prefix, Last-Event-ID", kind: "sse", filter: &livegatev1.SubscribeRequest{Type: []string{"peer."}}, first: warm[5], node: 0},
	}
	subCtx, stopSubs := context.WithCancel(ctx)
	defer stopSubs()
	for _, s := range subs {
		s.ft, s.nodes, s.cursor, s.onNodes, s.done = ft, nodes, s.first, map[int]int{}, make(chan struct{})
		go s.run(subCtx)
	}
	t.Cleanup(func() {
		stopSubs()
		for _, s := range subs {
			<-s.done
		}
	})

	// The traffic: phases of deliveries released at a steady pace to six senders; the next
	// phase starts once the fault of this one is done, so each fault happens while
	// deliveries are posted and retried.
	const phases, perPhase = 5, 60
	released := make([]atomic.Int64, phases)
	faultDone := make([]chan struct{}, phases)
	for p := range faultDone {
		faultDone[p] = make(chan struct{})
	}
	jobs := make(chan mnDelivery)
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
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
	var total atomic.Int64
	total.Store(int64(len(warm)))
	go func() {
		defer close(jobs)
		n := len(warm)
		for p := range phases {
			for i := range perPhase {
				select {
				case jobs <- newDelivery(n, i%4 == 1):
				case <-ctx.Done():
					return
				}
				n++
				total.Add(1)
				released[p].Add(1)
				time.Sleep(20 * time.Millisecond)
			}
			select {
			case <-faultDone[p]:
			case <-ctx.Done():
				return
			}
		}
	}()
	waitReleased := func(p int, n int64) {
		t.Helper()
		for released[p].Load() < n {
			if ctx.Err() != nil {
				t.Fatalf("phase %d: %d deliveries released, not %d, before the deadline", p, released[p].Load(), n)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	// waitUntil polls cond, failing the test at the run's deadline.
	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		for !cond() {
			if ctx.Err() != nil {
				t.Fatalf("%s: not before the deadline", what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	countListeners := func() int {
		n, err := listeners(ctx, cluster.DSN("postgres"), false)
		if err != nil {
			return -1
		}
		return n
	}
	phase503 := make([]int64, phases)
	mark := senders.n503.Load()
	endPhase := func(p int) {
		phase503[p] = senders.n503.Load() - mark
		mark = senders.n503.Load()
		close(faultDone[p])
	}

	// Phase 0: every subscriber moves to another node mid-stream, from its cursor.
	waitReleased(0, 20)
	for _, s := range subs {
		s.mu.Lock()
		next := s.node + 1
		s.mu.Unlock()
		s.moveTo(next)
	}
	endPhase(0)

	// Phase 1: SIGKILL node 1 and start it again with the same flags (new ports).
	waitReleased(1, 20)
	killed := nodes.get(1)
	if err := killed.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-killed.done:
	case <-ctx.Done():
		t.Fatal("node 1 did not die of SIGKILL before the deadline")
	}
	nodes.set(1, startProcess(t, bin, dataDirs[1], "--database-url", dsn))
	endPhase(1)

	// Phase 2: PostgreSQL terminates the nodes' LISTEN connections; they come back.
	waitReleased(2, 20)
	waitUntil("three LISTEN connections before terminating them", func() bool { return countListeners() == 3 })
	terminated, err := listeners(ctx, cluster.DSN("postgres"), true)
	if err != nil {
		t.Fatalf("terminate the LISTEN connections: %v", err)
	}
	if terminated != 3 {
		t.Errorf("terminated %d LISTEN connections, want 3 (one per node)", terminated)
	}
	waitUntil("the nodes LISTEN again after pg_terminate_backend", func() bool { return countListeners() == 3 })
	endPhase(2)

	// Phase 3: stop PostgreSQL and start it again; the nodes recover without a restart.
	waitReleased(3, 20)
	restartStart := time.Now()
	if err := cluster.Restart(); err != nil {
		t.Fatalf("restart PostgreSQL: %v", err)
	}
	pgDown := time.Since(restartStart)
	waitUntil("the nodes LISTEN again after the PostgreSQL restart", func() bool { return countListeners() == 3 })
	endPhase(3)

	// Phase 4: the subscribers move once more.
	waitReleased(4, 20)
	for _, s := range subs {
		s.mu.Lock()
		next := s.node + 1
		s.mu.Unlock()
		s.moveTo(next)
	}
	endPhase(4)

	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("the senders did not finish before the deadline")
	}

	senders.mu.Lock()
	acked, failed, odd := senders.acked, senders.failed, senders.odd
	senders.mu.Unlock()
	for _, e := range odd {
		t.Errorf("an answer other than 200 or 503: %s", e)
	}
	if len(failed) > 0 {
		t.Fatalf("%d deliveries never answered 200, first: %s", len(failed), failed[0])
	}
	want := int(total.Load())
	if len(acked) != want {
		t.Errorf("%d deliveries acknowledged, want %d", len(acked), want)
	}

	// What the store kept, as every node lists it.
	type stored struct {
		seq        uint64
		typ, room  string
		providerID string
		// livegate's status trail (livestream.status_changed): the livestream and its change.
		livestream       string
		oldSt, newStatus livegatev1.LivestreamStatus
	}
	list := func(i int) []stored {
		client := livegatev1.NewEventServiceClient(dialFeed(t, nodes.get(i).grpc))
		req := &livegatev1.ListEventsRequest{AccountId: acc, AppId: app, PageSize: 1000}
		var out []stored
		for {
			resp, err := client.ListEvents(withToken(ft.token), req)
			if err != nil {
				t.Fatalf("ListEvents on node %d: %v", i, err)
			}
			for _, ev := range resp.GetEvents() {
				c := ev.GetLivestreamStatusChanged()
				out = append(out, stored{ev.GetSequence(), ev.GetType(), ev.GetRoomId(), ev.GetProviderEventId(),
					c.GetLivestreamId(), c.GetOldStatus(), c.GetNewStatus()})
			}
			if resp.GetNextPageToken() == "" {
				return out
			}
			req.PageToken = resp.GetNextPageToken()
		}
	}
	events := list(0)
	for i := 1; i < 3; i++ {
		if other := list(i); fmt.Sprint(other) != fmt.Sprint(events) {
			t.Errorf("node %d lists %d events, node 0 %d: they differ", i, len(other), len(events))
		}
	}
	var seqs []uint64
	byID := map[string][]uint64{}
	livestreamEvents := 0
	for _, ev := range events {
		seqs = append(seqs, ev.seq)
		if ev.providerID != "" {
			byID[ev.providerID] = append(byID[ev.providerID], ev.seq)
		} else {
			livestreamEvents++ // livegate's own events (livestream.status_changed, ...)
		}
	}
	if len(byID) != want {
		t.Errorf("%d deliveries stored, %d posted", len(byID), want)
	}
	if r := feedcheck.Acknowledged(acked, byID); !r.OK() {
		t.Errorf("acknowledged deliveries against the store: %s", r)
	}
	twice := 0
	for _, a := range acked {
		if len(a) == 2 {
			twice++
		}
	}

	// Every subscriber received exactly the stored events of its filter after its first cursor.
	for _, s := range subs {
		expected := feedcheck.Expected(seqs, s.first, func(i int) bool { return s.match(events[i].typ, events[i].room) })
		if len(expected) > 0 {
			last := expected[len(expected)-1]
			waitUntil(fmt.Sprintf("%s receives through %d", s.name, last), func() bool { return s.has(last) })
		}
	}
	stopSubs()
	for _, s := range subs {
		<-s.done
		expected := feedcheck.Expected(seqs, s.first, func(i int) bool { return s.match(events[i].typ, events[i].room) })
		s.mu.Lock()
		if r := feedcheck.Received(s.seqs, expected); !r.OK() {
			t.Errorf("%s: received %d events, expected %d: %s", s.name, len(s.seqs), len(expected), r)
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

	// Replaying the stored status trail gives the livestreams' state: each change starts
	// from the status the previous one ended in, and the last one is the status every node
	// reports.
	replayed := map[string]livegatev1.LivestreamStatus{}
	for _, ev := range events {
		if ev.livestream == "" {
			continue
		}
		if prev, ok := replayed[ev.livestream]; ok && prev != ev.oldSt {
			t.Errorf("event %d: livestream %s changes from %v, but the trail left it %v", ev.seq, ev.livestream, ev.oldSt, prev)
		}
		replayed[ev.livestream] = ev.newStatus
	}

	// The nodes agree on the livestreams, and with the replay.
	var first *livegatev1.ListLivestreamsResponse
	for i := range 3 {
		resp, err := lsClient(i).ListLivestreams(withToken(ft.token), &livegatev1.ListLivestreamsRequest{AccountId: acc, AppId: app})
		if err != nil {
			t.Fatalf("ListLivestreams on node %d: %v", i, err)
		}
		if i == 0 {
			first = resp
			if n := len(resp.GetData().GetLivestreams()); n != len(rooms) {
				t.Errorf("node 0 lists %d livestreams, want %d", n, len(rooms))
			}
			for _, l := range resp.GetData().GetLivestreams() {
				if want, ok := replayed[l.GetId()]; !ok || l.GetStatus() != want {
					t.Errorf("livestream %s is %v; the stored status trail replays to %v (present: %v)", l.GetId(), l.GetStatus(), want, ok)
				}
			}
		} else if !proto.Equal(resp, first) {
			t.Errorf("node %d lists livestreams\n%v\nnode 0\n%v", i, resp, first)
		}
	}

	senders.mu.Lock()
	t.Logf("%d deliveries (%d posted to two nodes at once, both answered alike) stored as %d events (+%d of livegate's own); answers by status %v; %d connection errors, %d retries on another node",
		want, twice, len(byID), livestreamEvents, senders.status, senders.connErrs, senders.retries)
	senders.mu.Unlock()
	t.Logf("faults: node 1 SIGKILLed and restarted; %d LISTEN connections terminated and re-established; PostgreSQL stopped and started (%v); 503s per phase [move, kill, terminate, pg restart, move] %v",
		terminated, pgDown.Round(time.Millisecond), phase503)
}
