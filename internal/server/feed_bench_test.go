package server_test

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/feed"
	"github.com/livegate/livegate/internal/server"
	"github.com/livegate/livegate/internal/testenv"
)

// BenchmarkFeed measures the event feed of a real server over gRPC on loopback, the server
// and its clients in this one process (they share the 2 cores and the heap):
//
//   - latency/subscribers=N: webhook deliveries posted over HTTP by 4 concurrent senders,
//     fanned out to N subscribers of the tenant (all matching, spread over one gRPC
//     connection per 100 streams, the server's limit per connection). One op is a batch of 500 deliveries, done when every
//     subscriber has the batch's last event. Reported: latency from the sender being answered
//     (HTTP 200: committed) to a subscriber receiving the event, p50 and p99 over every
//     (event, subscriber) pair, in ms; it is negative when the subscriber had the event
//     before the sender had its answer (the hub is told at commit, before the answer goes
//     back through the service, the gateway and HTTP), and %before-200 says how often. The
//     same from the sender starting its request (p*-from-post-ms), event deliveries to
//     subscribers per second, and webhook deliveries per second.
//   - replay/events=20000: one subscriber replaying 20,000 stored events from cursor 0 (the
//     store is filled directly, 1,000 events per commit); stored events read and sent per second.
//   - idle/subscribers=1000/queue=Q: 1,000 live subscriptions with nothing to deliver; heap
//     in use, goroutine stacks and goroutines per subscription, measured after GC before the
//     streams are opened and after every one is live. Client and server sides together: both
//     are in this process. A subscription's live queue holds at most Q events (and
//     Feed.QueueBytes) and is allocated only while events wait in it: the default 1,024 and
//     16 side by side show that an idle queue costs the same whatever its bound.
//
// The subscribers of latency and replay read only each event's sequence from the wire
// (seqOnly), as livegate bench feed's do; until 2026-11-29 they decoded every event, which
// took about as much CPU as the server's sending (7.4 µs against 7.3 µs per delivery at
// 1,000 subscribers) and so measured the client as much as the server.
//
// Run: go test -bench BenchmarkFeed -run '^$' ./internal/server/ (add -benchtime=1x for one
// op of each).
func BenchmarkFeed(b *testing.B) {
	for _, n := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("latency/subscribers=%d", n), func(b *testing.B) { benchFeedLatency(b, n) })
	}
	b.Run("replay/events=20000", func(b *testing.B) { benchFeedReplay(b, 20000) })
	// The default live queue, and a short one: the difference is the server's queue buffer.
	for _, q := range []int{feed.DefaultQueue, 16} {
		b.Run(fmt.Sprintf("idle/subscribers=1000/queue=%d", q), func(b *testing.B) { benchFeedIdle(b, 1000, q) })
	}
}

// benchFeedConns dials one connection per server.DefaultLimits().GRPCMaxStreamsPerConn
// streams: calls past a connection's stream limit wait for a free stream, and a subscriber
// holds its stream for the whole benchmark.
//
// Each connection's receive windows are set as `livegate bench feed` sets them by default
// (and as the README advises a client of many subscriptions): 16 MiB for the connection,
// 1 MiB per stream. With gRPC's defaults the 100 streams of a connection share a 64 KiB
// window, grown only by gRPC's bandwidth estimate, and every 16 KiB taken needs a window
// update to go round through four goroutines of the two transports; in this one process,
// among 2,000 busy goroutines, one connection at a time then fell behind the others:
// latency/subscribers=1000's p99 was 1.3-1.9 s, every event of the slowest 1 % on one
// connection, with no live queue overflowing. With these windows it was 57-66 ms, the
// slowest 1 % spread over all connections (2 runs each, measured 2026-11-29).
func benchFeedConns(b *testing.B, addr string, streams int) []*grpc.ClientConn {
	per := server.DefaultLimits().GRPCMaxStreamsPerConn
	conns := make([]*grpc.ClientConn, (streams+per-1)/per)
	for i := range conns {
		conns[i] = dialFeed(b, addr, grpc.WithInitialConnWindowSize(16<<20), grpc.WithInitialWindowSize(1<<20))
	}
	return conns
}

// benchReceiver is a subscriber that records when each event arrived.
type benchReceiver struct {
	mu   sync.Mutex
	seqs []uint64
	at   []time.Time
	last atomic.Uint64
}

func benchFeedLatency(b *testing.B, n int) {
	s := startServer(b, b.TempDir(), func(c *server.Config) { c.Feed.MaxPerApp, c.Feed.MaxSubscriptions = -1, -1 })
	benchFeedLatencyOn(b, n, s, s)
}

// benchFeedLatencyOn is benchFeedLatency with the webhooks sent to s and the n subscribers
// on sub (another node of the same database, or s itself).
func benchFeedLatencyOn(b *testing.B, n int, s, sub *testServer) {
	const batch, senders = 500, 4
	ft := newFeedTenant(s, accA, appA)
	conns := benchFeedConns(b, sub.srv.GRPCAddr(), n)
	ctx, cancel := context.WithCancel(withToken(ft.token))
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	// From the current head, not only_new: a stream the server takes after the warm-up event
	// below is committed still replays it, so receiving it proves the stream is registered.
	head := lastStored(b, sub.conn, ft)
	recv := make([]*benchReceiver, n)
	for i := range recv {
		r := &benchReceiver{}
		recv[i] = r
		stream, err := livegatev1.NewEventServiceClient(conns[i%len(conns)]).Subscribe(ctx,
			&livegatev1.SubscribeRequest{AccountId: ft.acc, AppId: ft.app, AfterSequence: head}, seqOnly)
		if err != nil {
			b.Fatal(err)
		}
		wg.Go(func() {
			for {
				var m seqMessage
				if err := stream.RecvMsg(&m); err != nil {
					return
				}
				if m.event {
					now := time.Now()
					r.mu.Lock()
					r.seqs = append(r.seqs, m.seq)
					r.at = append(r.at, now)
					r.mu.Unlock()
					r.last.Store(m.seq)
				}
			}
		})
	}
	waitAll := func(seq uint64) {
		deadline := time.Now().Add(2 * time.Minute)
		for _, r := range recv {
			for r.last.Load() < seq {
				if time.Now().After(deadline) {
					b.Fatalf("a subscriber is at %d, want %d", r.last.Load(), seq)
				}
				time.Sleep(100 * time.Microsecond)
			}
		}
	}
	// Every stream is live (registered for live events) once it has received this event.
	warm, err := postHMS(s.base, ft, hmsBody("peer.join.success", "room-bench", -1))
	if err != nil {
		b.Fatal(err)
	}
	waitAll(warm)

	var ackMu sync.Mutex
	acked := map[uint64]time.Time{}  // when the sender had its 200
	posted := map[uint64]time.Time{} // when the sender began the request
	deliveries := 0
	for b.Loop() {
		var top atomic.Uint64
		var sw sync.WaitGroup
		for g := range senders {
			sw.Go(func() {
				for i := g; i < batch; i += senders {
					body := hmsBody("peer.join.success", "room-bench", deliveries+i)
					start := time.Now()
					seq, err := postHMS(s.base, ft, body)
					now := time.Now()
					if err != nil {
						b.Error(err)
						return
					}
					ackMu.Lock()
					acked[seq], posted[seq] = now, start
					ackMu.Unlock()
					for old := top.Load(); seq > old && !top.CompareAndSwap(old, seq); old = top.Load() {
					}
				}
			})
		}
		sw.Wait()
		if b.Failed() {
			b.FailNow()
		}
		deliveries += batch
		waitAll(top.Load())
	}
	elapsed := b.Elapsed()

	var fromAck, fromPost []time.Duration
	early := 0
	for _, r := range recv {
		r.mu.Lock()
		for i, seq := range r.seqs {
			if a, ok := acked[seq]; ok {
				fromAck = append(fromAck, r.at[i].Sub(a))
				fromPost = append(fromPost, r.at[i].Sub(posted[seq]))
				if r.at[i].Before(a) {
					early++
				}
			}
		}
		r.mu.Unlock()
	}
	received := len(fromAck)
	if want := deliveries * n; received != want {
		b.Fatalf("subscribers received %d events, want %d", received, want)
	}
	slices.Sort(fromAck)
	slices.Sort(fromPost)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(ms(fromAck[received/2]), "p50-ms")
	b.ReportMetric(ms(fromAck[received*99/100]), "p99-ms")
	b.ReportMetric(100*float64(early)/float64(received), "%before-200")
	b.ReportMetric(ms(fromPost[received/2]), "p50-from-post-ms")
	b.ReportMetric(ms(fromPost[received*99/100]), "p99-from-post-ms")
	b.ReportMetric(float64(received)/elapsed.Seconds(), "delivered-events/s")
	b.ReportMetric(float64(deliveries)/elapsed.Seconds(), "webhooks/s")
}

func benchFeedReplay(b *testing.B, events int) {
	s := startServer(b, b.TempDir())
	ft := newFeedTenant(s, accA, appA)
	for done := 0; done < events; done += 1000 {
		if _, err := appendPeerJoins(context.Background(), server.StoreOf(s.srv), ft, "room-bench", min(1000, events-done)); err != nil {
			b.Fatal(err)
		}
	}
	client := livegatev1.NewEventServiceClient(benchFeedConns(b, s.srv.GRPCAddr(), 1)[0])
	for b.Loop() {
		ctx, cancel := context.WithCancel(withToken(ft.token))
		stream, err := client.Subscribe(ctx, &livegatev1.SubscribeRequest{AccountId: ft.acc, AppId: ft.app}, seqOnly)
		if err != nil {
			b.Fatal(err)
		}
		var last uint64
		for got := 0; got < events; {
			var m seqMessage
			if err := stream.RecvMsg(&m); err != nil {
				b.Fatalf("after %d events: %v", got, err)
			}
			if m.event {
				if m.seq <= last {
					b.Fatalf("event %d after %d", m.seq, last)
				}
				last = m.seq
				got++
			}
		}
		cancel()
	}
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(events*b.N)/b.Elapsed().Seconds(), "replayed-events/s")
}

func benchFeedIdle(b *testing.B, n, queue int) {
	s := startServer(b, b.TempDir(), func(c *server.Config) {
		c.Feed.Queue = queue
		c.Feed.MaxPerApp, c.Feed.MaxSubscriptions = -1, -1 // 1,000 in one app
	})
	ft := newFeedTenant(s, accA, appA)
	conns := benchFeedConns(b, s.srv.GRPCAddr(), n)
	measure := func() (heap, stack uint64, goroutines int) {
		var m runtime.MemStats
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&m)
		return m.HeapInuse, m.StackInuse, runtime.NumGoroutine()
	}
	// A first delivery and a first call on each gRPC connection open the connections (and
	// their goroutines) that the rounds then reuse: they are not counted.
	if _, err := postHMS(s.base, ft, hmsBody("peer.join.success", "room-bench", 0)); err != nil {
		b.Fatal(err)
	}
	for _, c := range conns {
		if _, err := livegatev1.NewEventServiceClient(c).ListEvents(withToken(ft.token), &livegatev1.ListEventsRequest{AccountId: ft.acc, AppId: ft.app, PageSize: 1}); err != nil {
			b.Fatal(err)
		}
	}
	var heapPer, stackPer, goPer float64
	for b.Loop() {
		head := lastStored(b, s.conn, ft)
		heap0, stack0, g0 := measure()
		ctx, cancel := context.WithCancel(withToken(ft.token))
		streams := make([]grpc.ServerStreamingClient[livegatev1.SubscribeResponse], n)
		for i := range streams {
			var err error
			streams[i], err = livegatev1.NewEventServiceClient(conns[i%len(conns)]).Subscribe(ctx,
				&livegatev1.SubscribeRequest{AccountId: ft.acc, AppId: ft.app, AfterSequence: head})
			if err != nil {
				b.Fatal(err)
			}
		}
		// One event makes sure every subscription is live (a stream taken after its commit
		// replays it); then they idle.
		seq, err := postHMS(s.base, ft, hmsBody("peer.join.success", "room-bench", 0))
		if err != nil {
			b.Fatal(err)
		}
		for _, st := range streams {
			resp, err := st.Recv()
			if err != nil || resp.GetEvent().GetSequence() != seq {
				b.Fatalf("first message %v, %v; want event %d", resp, err, seq)
			}
		}
		heap1, stack1, g1 := measure()
		heapPer += (float64(heap1) - float64(heap0)) / float64(n)
		stackPer += (float64(stack1) - float64(stack0)) / float64(n)
		goPer += float64(g1-g0) / float64(n)
		cancel()
		// Let both sides wind the streams down before the next round measures its baseline.
		testenv.WaitFor(b, "idle streams closed", func() bool { return runtime.NumGoroutine() <= g0 })
	}
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(heapPer/float64(b.N), "heap-B/subscriber")
	b.ReportMetric(stackPer/float64(b.N), "stack-B/subscriber")
	b.ReportMetric(goPer/float64(b.N), "goroutines/subscriber")
}

// seqOnly makes a Subscribe call's client read only each event's sequence from the wire
// (RecvMsg into a *seqMessage), as livegate bench feed's subscribers read only what they
// need: decoding every event in this process would take about as much CPU as the server
// spends sending it, and the benchmark measures the server.
var seqOnly = grpc.ForceCodecV2(seqCodec{})

// seqMessage is what a seqOnly client reads of a SubscribeResponse: whether it holds an
// event, and the event's sequence.
type seqMessage struct {
	event bool
	seq   uint64
}

type seqCodec struct{}

func (seqCodec) Name() string { return "proto" }

func (seqCodec) Marshal(v any) (mem.BufferSlice, error) {
	b, err := proto.Marshal(v.(proto.Message))
	return mem.BufferSlice{mem.SliceBuffer(b)}, err
}

// Field numbers: SubscribeResponse.event, Event.sequence.
const (
	wireResponseEvent = 1
	wireEventSequence = 1
)

func (seqCodec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(*seqMessage)
	if !ok {
		return fmt.Errorf("seqCodec: cannot unmarshal into %T", v)
	}
	buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
	defer buf.Free()
	*m = seqMessage{}
	ev, found, err := wireFirst(buf.ReadOnlyData(), wireResponseEvent, protowire.BytesType)
	if err != nil || !found {
		return err
	}
	m.event = true
	ev, _ = protowire.ConsumeBytes(ev)
	seq, found, err := wireFirst(ev, wireEventSequence, protowire.VarintType)
	if err != nil || !found {
		return err
	}
	m.seq, _ = protowire.ConsumeVarint(seq)
	return nil
}

// wireFirst returns the first field num of wire type typ in the encoded message b: its value
// as protowire.ConsumeFieldValue delimits it.
func wireFirst(b []byte, num protowire.Number, typ protowire.Type) ([]byte, bool, error) {
	for len(b) > 0 {
		n, t, l := protowire.ConsumeTag(b)
		if l < 0 {
			return nil, false, protowire.ParseError(l)
		}
		b = b[l:]
		l = protowire.ConsumeFieldValue(n, t, b)
		if l < 0 {
			return nil, false, protowire.ParseError(l)
		}
		if n == num && t == typ {
			return b[:l], true, nil
		}
		b = b[l:]
	}
	return nil, false, nil
}
