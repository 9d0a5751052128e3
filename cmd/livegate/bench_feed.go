package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
)

// minWindow is the smallest HTTP/2 receive window gRPC takes from a client: its default,
// HTTP/2's initial 65,535 bytes (a smaller one is ignored).
const minWindow = 65535

// feedResult is what `bench feed --json` prints.
type feedResult struct {
	Subscribers int     `json:"subscribers"`
	Rate        float64 `json:"rate"`
	Seconds     float64 `json:"seconds"`
	// Posted counts the deliveries answered 2xx; PostFailed the others (Errors by cause).
	Posted     int64            `json:"posted"`
	PostFailed int64            `json:"post_failed"`
	Errors     map[string]int64 `json:"errors,omitempty"`
	// Delivered counts events received by all subscribers together; Missing is how many of
	// Posted × Subscribers had not arrived when the run ended (after --drain).
	Delivered int64 `json:"delivered"`
	Missing   int64 `json:"missing"`
	// PerSecond is Delivered over the time from the first post to the last receipt.
	PerSecond float64 `json:"per_second"`
	// LatencyMS is from sending a delivery's POST to a subscriber receiving its event.
	LatencyMS latencySummary `json:"latency_ms"`
	// Idle is the server's memory per open subscription after the run (--admin).
	Idle *idleCost `json:"server_idle_per_subscription,omitempty"`
}

// benchFeed opens N subscriptions, posts deliveries at a rate, and reports what the
// subscribers received and how long after the POST.
func benchFeed(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("livegate bench feed", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := envString(fs, "server", "LIVEGATE_SERVER", "localhost:9090", "livegate gRPC address HOST:PORT (plaintext: no TLS)")
	token := envSecret(fs, "token", "LIVEGATE_TOKEN", "the app's API token (subscribes)", nil)
	base := envString(fs, "url", "LIVEGATE_URL", "http://localhost:8080", "livegate's REST base URL, where the deliveries are posted")
	secret := envSecret(fs, "secret", "LIVEGATE_WEBHOOK_SECRET", "the app's webhook secret (posts)", nil)
	account := fs.String("account", "", "account id")
	app := fs.String("app", "", "app id")
	subscribers := fs.Int("subscribers", 100, "gRPC subscriptions (only new events, all matching)")
	perConn := fs.Int("streams-per-conn", 100, "subscriptions per gRPC connection (livegate's default MAX_CONCURRENT_STREAMS is 100)")
	connWindow := fs.Int("conn-window", 16<<20, "the client's HTTP/2 receive window of each connection, in bytes, shared by its streams (0: gRPC's default, 64 KiB grown by its bandwidth estimate)")
	streamWindow := fs.Int("stream-window", 1<<20, "the client's HTTP/2 receive window of each stream, in bytes (0: gRPC's default)")
	rate := fs.Float64("rate", 100, "deliveries posted per second")
	senders := fs.Int("senders", 32, "concurrent posters that keep up the rate")
	duration := fs.Duration("duration", 10*time.Second, "how long to post")
	drain := fs.Duration("drain", 5*time.Second, "after posting, wait at most this long for every subscriber to receive every event")
	maxSamples := fs.Int("max-samples", defaultMaxSamples, "latency samples kept for the percentiles; beyond, a uniform random sample")
	asJSON := fs.Bool("json", false, "print the result as one JSON object")
	quiet := fs.Bool("quiet", false, "no progress line on stderr")
	admin := envString(fs, "admin", "LIVEGATE_ADMIN", "", "the server's admin base URL (http://HOST:9091): report its heap and goroutine stacks per subscription: how much they grew from before the subscriptions opened to after the run, with them open and idle (read from /metrics, each time after two garbage collections: /debug/pprof/heap?gc=1)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("bench feed: unexpected argument %q", fs.Arg(0))
	case *token == "" || *secret == "":
		return errors.New("bench feed: --token and --secret are required")
	case *account == "" || *app == "":
		return errors.New("bench feed: --account and --app are required")
	case *subscribers < 1 || *rate <= 0 || *senders < 1 || *duration <= 0 || *perConn < 1:
		return errors.New("bench feed: --subscribers, --rate, --senders, --streams-per-conn and --duration must be positive")
	case *connWindow != 0 && (*connWindow < minWindow || *connWindow > math.MaxInt32),
		*streamWindow != 0 && (*streamWindow < minWindow || *streamWindow > math.MaxInt32):
		return fmt.Errorf("bench feed: --conn-window and --stream-window must be 0 or from %d to %d bytes", minWindow, math.MaxInt32)
	}
	target, err := webhookURL(*base, *account, *app)
	if err != nil {
		return fmt.Errorf("bench feed: %w", err)
	}
	var adminBase *url.URL
	if *admin != "" {
		if adminBase, err = adminURL(*admin); err != nil {
			return fmt.Errorf("bench feed: %w", err)
		}
	}
	p := newPoster(target, *secret, *senders, 10*time.Second)
	run := runID()
	room := "bench-room-" + run

	// With --admin, the server's memory before any subscription opens.
	var memBase serverMemory
	adminClient := &http.Client{Timeout: 30 * time.Second}
	if adminBase != nil {
		if memBase, err = readServerMemory(ctx, adminClient, adminBase); err != nil {
			return fmt.Errorf("bench feed: --admin: %w", err)
		}
	}

	// Subscribe, every subscription live (its header received) before the first post.
	subCtx, stopSubs := context.WithCancel(metadata.AppendToOutgoingContext(ctx, "authorization", bearerValue(*token)))
	defer stopSubs()
	var conns []*grpc.ClientConn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	dial := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	if *connWindow != 0 {
		dial = append(dial, grpc.WithInitialConnWindowSize(int32(*connWindow)))
	}
	if *streamWindow != 0 {
		dial = append(dial, grpc.WithInitialWindowSize(int32(*streamWindow)))
	}
	for range (*subscribers + *perConn - 1) / *perConn {
		c, err := grpc.NewClient(*server, dial...)
		if err != nil {
			return fmt.Errorf("bench feed: %w", err)
		}
		conns = append(conns, c)
	}
	type sub struct {
		stream grpc.ClientStream
		res    *reservoir
		got    atomic.Int64
		last   atomic.Int64 // unix nanos of the last receipt
	}
	subs := make([]*sub, *subscribers)
	req := &livegatev1.SubscribeRequest{AccountId: *account, AppId: *app, OnlyNew: true, RoomId: room}
	for i := range subs {
		st, err := conns[i / *perConn].NewStream(subCtx, &grpc.StreamDesc{ServerStreams: true},
			livegatev1.EventService_Subscribe_FullMethodName, grpc.ForceCodecV2(rawCodec{}))
		if err == nil {
			err = st.SendMsg(req)
		}
		if err == nil {
			err = st.CloseSend()
		}
		if err == nil {
			_, err = st.Header() // sent once the subscription is accepted
		}
		if err != nil {
			return &exitError{code: 1, msg: fmt.Sprintf("bench feed: subscription %d of %d: %v", i+1, *subscribers, err)}
		}
		subs[i] = &sub{stream: st, res: newReservoir(*maxSamples / *subscribers)}
	}
	var subFails failures
	var delivered atomic.Int64
	var receivers sync.WaitGroup
	for _, s := range subs {
		receivers.Add(1)
		go func() {
			defer receivers.Done()
			for {
				var m rawMessage
				if err := s.stream.RecvMsg(&m); err != nil {
					if subCtx.Err() == nil {
						subFails.add("subscription ended", err.Error())
					}
					return
				}
				peer, isEvent := eventPeer(m)
				if !isEvent {
					continue
				}
				now := time.Now()
				if sent, ok := sentAt(peer); ok {
					s.res.add(now.Sub(sent))
				}
				s.got.Add(1)
				s.last.Store(now.UnixNano())
				delivered.Add(1)
			}
		}()
	}
	// If the run ends early (an error, an interrupt), the receivers stop with it.
	defer receivers.Wait()
	defer stopSubs()

	var posted atomic.Int64
	var postFails failures
	stopProgress := func() {}
	if !*quiet {
		stopProgress = progress(stderr, func(el time.Duration) string {
			return fmt.Sprintf("bench feed: %3.0fs  %d posted  %d failed  %d delivered to %d subscribers (%.0f/s)",
				el.Seconds(), posted.Load(), postFails.total.Load(), delivered.Load(), *subscribers, float64(delivered.Load())/el.Seconds())
		})
	}
	// Post delivery k at start + k/rate, from --senders goroutines (late ones at once).
	total := int64(math.Max(1, math.Round(*rate*duration.Seconds())))
	interval := time.Duration(float64(time.Second) / *rate)
	var next atomic.Int64
	start := time.Now()
	var posters sync.WaitGroup
	for range *senders {
		posters.Add(1)
		go func() {
			defer posters.Done()
			for {
				k := next.Add(1) - 1
				if k >= total || ctx.Err() != nil {
					return
				}
				if d := time.Until(start.Add(time.Duration(k) * interval)); d > 0 {
					select {
					case <-time.After(d):
					case <-ctx.Done():
						return
					}
				}
				t0 := time.Now()
				peer := "t" + strconv.FormatInt(t0.UnixNano(), 10) + "-" + run + "-" + strconv.FormatInt(k, 10)
				ok, cause, detail := p.post(ctx, peerJoin(run+"-"+strconv.FormatInt(k, 10), room, peer, t0))
				if ok {
					posted.Add(1)
				} else {
					postFails.add(cause, detail)
				}
			}
		}()
	}
	posters.Wait()

	// Drain: wait until every subscriber has every accepted event, or --drain passes.
	want := posted.Load()
	deadline := time.Now().Add(*drain)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		all := true
		for _, s := range subs {
			if s.got.Load() < want {
				all = false
				break
			}
		}
		if all {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	stopProgress()
	var idle *idleCost
	var idleErr error
	if adminBase != nil && ctx.Err() == nil {
		p.client.CloseIdleConnections()
		var open serverMemory
		if open, idleErr = readServerMemory(ctx, adminClient, adminBase); idleErr == nil {
			var c idleCost
			if c, idleErr = idleCostOf(memBase, open, *subscribers); idleErr == nil {
				idle = &c
			}
		}
	}
	stopSubs()
	receivers.Wait()

	var last int64
	rs := make([]*reservoir, len(subs))
	for i, s := range subs {
		last = max(last, s.last.Load())
		rs[i] = s.res
	}
	span := time.Since(start)
	if last > 0 {
		span = time.Unix(0, last).Sub(start)
	}
	got := delivered.Load()
	res := feedResult{
		Subscribers: *subscribers, Rate: *rate, Seconds: math.Round(span.Seconds()*1000) / 1000,
		Posted: want, PostFailed: postFails.total.Load(), Errors: postFails.byCause(),
		Delivered: got, Missing: max(0, want*int64(*subscribers)-got),
		PerSecond: math.Round(float64(got)/span.Seconds()*10) / 10,
		LatencyMS: summarize(rs),
		Idle:      idle,
	}
	if *asJSON {
		if err := json.NewEncoder(stdout).Encode(res); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(stdout, "bench feed: %s, %d subscribers, %g deliveries/s for %s\n", *server, res.Subscribers, res.Rate, *duration)
		fmt.Fprintf(stdout, "  posted      %d (%d failed)\n", res.Posted, res.PostFailed)
		fmt.Fprintf(stdout, "  delivered   %d to subscribers (%.1f/s), %d missing\n", res.Delivered, res.PerSecond, res.Missing)
		fmt.Fprintf(stdout, "  latency     %s (POST → receipt, %d samples)\n", res.LatencyMS, res.LatencyMS.Samples)
		if idle != nil {
			fmt.Fprintf(stdout, "  server      %s\n", idle)
		}
	}
	var problems []string
	if ctx.Err() != nil {
		problems = append(problems, "interrupted")
	}
	if res.PostFailed > 0 {
		problems = append(problems, fmt.Sprintf("%d of %d posts failed: %s", res.PostFailed, res.PostFailed+res.Posted, postFails.summary()))
	}
	if n := subFails.total.Load(); n > 0 {
		problems = append(problems, fmt.Sprintf("%d subscriptions ended early: %s", n, subFails.summary()))
	}
	if res.Missing > 0 {
		problems = append(problems, fmt.Sprintf("%d events not received within --drain %s", res.Missing, *drain))
	}
	if res.Posted == 0 {
		problems = append(problems, "no delivery was accepted")
	}
	if idleErr != nil {
		problems = append(problems, "--admin: "+idleErr.Error())
	}
	if len(problems) > 0 {
		return &exitError{code: 1, msg: "bench feed: " + strings.Join(problems, "; ")}
	}
	return nil
}

// sentAt is the send time bench feed wrote into a delivery's peer id ("t<unix nanos>-...").
func sentAt(peer string) (time.Time, bool) {
	rest, ok := strings.CutPrefix(peer, "t")
	if !ok {
		return time.Time{}, false
	}
	nanos, _, _ := strings.Cut(rest, "-")
	n, err := strconv.ParseInt(nanos, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(0, n), true
}

// rawCodec lets bench feed's subscribers skip decoding events: a received message stays
// its wire bytes (*rawMessage), of which only the peer id is read, so the load generator's
// cost per event is small next to the server's. Requests are marshaled as protobuf.
type rawCodec struct{}

// rawMessage is a received message's wire bytes.
type rawMessage []byte

func (rawCodec) Name() string { return "proto" }

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("rawCodec: cannot marshal %T", v)
	}
	b, err := proto.Marshal(m)
	if err != nil {
		return nil, err
	}
	return mem.BufferSlice{mem.SliceBuffer(b)}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(*rawMessage)
	if !ok {
		return fmt.Errorf("rawCodec: cannot unmarshal into %T", v)
	}
	*m = data.Materialize()
	return nil
}

// Field numbers read from the wire: SubscribeResponse.event, Event.peer_id.
const (
	subscribeResponseEvent = 1
	eventPeerID            = 13
)

// eventPeer reads a SubscribeResponse's wire bytes: whether it carries an event, and the
// event's peer id.
func eventPeer(b []byte) (peer string, isEvent bool) {
	ev, ok := wireField(b, subscribeResponseEvent)
	if !ok {
		return "", false
	}
	p, _ := wireField(ev, eventPeerID)
	return string(p), true
}

// wireField returns the last occurrence of the length-delimited field num in b.
func wireField(b []byte, num protowire.Number) (val []byte, found bool) {
	for len(b) > 0 {
		n, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return nil, false
		}
		b = b[l:]
		if n == num && typ == protowire.BytesType {
			v, l := protowire.ConsumeBytes(b)
			if l < 0 {
				return nil, false
			}
			val, found = v, true
			b = b[l:]
			continue
		}
		l = protowire.ConsumeFieldValue(n, typ, b)
		if l < 0 {
			return nil, false
		}
		b = b[l:]
	}
	return val, found
}
