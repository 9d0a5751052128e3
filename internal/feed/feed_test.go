package feed_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	hmsv1 "github.com/livegate/livegate/gen/go/livegate/hms/v1"
	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/eventlog"
	"github.com/livegate/livegate/internal/feed"
	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/store/sqlite"
)

// The feed against a real SQLite store whose commit hook is the hub's PublishCommitted, as
// the server wires it.

var (
	tenantA = store.Tenant{AccountID: "acc-a", AppID: "app-a"}
	tenantB = store.Tenant{AccountID: "acc-b", AppID: "app-b"}
)

const wait = 20 * time.Second

func openStore(t *testing.T) (store.Store, *feed.Hub) {
	t.Helper()
	st, err := sqlite.Open(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	hub := feed.NewHub(0)
	st.OnCommit(hub.PublishCommitted)
	return st, hub
}

// peerJoin is an event of the tenant whose role pads it to about pad bytes.
func peerJoin(tn store.Tenant, pad int) *livegatev1.Event {
	id := uuid.NewString()
	now := timestamppb.Now()
	return &livegatev1.Event{
		Id: id, Type: "peer.join.success", Source: "hms", AccountId: tn.AccountID, AppId: tn.AppID,
		ProviderEventId: id, OccurredAt: now, ReceivedAt: now, RoomId: "room-1",
		Payload: &livegatev1.Event_HmsPeerJoinSuccess{HmsPeerJoinSuccess: &hmsv1.PeerJoinSuccess{
			RoomId: proto.String("room-1"), Role: proto.String(strings.Repeat("r", pad)),
		}},
	}
}

// item is an event to append: a good one, or (ev nil) a record whose body does not decode.
type item struct {
	tn store.Tenant
	ev *livegatev1.Event
}

// appendItems appends the items in one Update (one commit) and returns their sequences.
func appendItems(t *testing.T, st store.Store, items ...item) []uint64 {
	t.Helper()
	seqs := make([]uint64, len(items))
	err := st.Update(t.Context(), func(w store.Writer) error {
		for i, it := range items {
			if it.ev != nil {
				if err := eventlog.Append(t.Context(), w, it.ev, it.ev.GetId(), it.ev.GetId()); err != nil {
					return err
				}
				seqs[i] = it.ev.GetSequence()
				continue
			}
			id := uuid.NewString()
			rec := &store.Event{Tenant: it.tn, Source: "hms", Type: "poison.unknown", DeliveryID: id, DedupeKey: id,
				ReceivedAt: time.Now(), Body: []byte{0xff, 0xff, 0xff}} // not a protobuf message
			if err := w.AppendEvent(t.Context(), rec); err != nil {
				return err
			}
			seqs[i] = rec.Sequence
		}
		return nil
	})
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	return seqs
}

// errUnreadable is the test replayer's error for an event that does not decode.
type errUnreadable struct{ seq uint64 }

func (e *errUnreadable) Error() string { return fmt.Sprintf("event %d unreadable", e.seq) }

// replayer reads the store as the event service does, and records the stored bytes of every
// batch it returns.
type replayer struct {
	st      store.Store
	mu      sync.Mutex
	batches [][2]int // stored bytes, events
}

func (r *replayer) EventsAfter(ctx context.Context, t store.Tenant, after uint64, f feed.Filter, limit, maxBytes int) ([]*livegatev1.Event, bool, error) {
	var recs []store.Event
	var more bool
	err := r.st.View(ctx, func(rd store.Reader) error {
		var err error
		recs, more, err = rd.EventsAfterBytes(ctx, t, after, f, limit, maxBytes)
		return err
	})
	if err != nil {
		return nil, false, err
	}
	total := 0
	for _, rec := range recs {
		total += len(rec.Body)
	}
	r.mu.Lock()
	r.batches = append(r.batches, [2]int{total, len(recs)})
	r.mu.Unlock()
	var out []*livegatev1.Event
	for _, rec := range recs {
		ev, err := eventlog.Decode(rec)
		if err != nil {
			return out, false, &errUnreadable{rec.Sequence}
		}
		out = append(out, ev)
	}
	return out, more, nil
}

// collector is a Sender that records what Follow delivers and checks progress heads never
// pass an event it was not sent (limit: the first sequence it must not be told is covered).
type collector struct {
	t     *testing.T
	mu    sync.Mutex
	seqs  []uint64
	limit uint64 // 0: none
}

func (c *collector) Event(ev *livegatev1.Event) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seqs = append(c.seqs, ev.GetSequence())
	return nil
}

func (c *collector) Progress(head uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.limit > 0 && head >= c.limit {
		c.t.Errorf("progress head %d covers event %d, which was never sent", head, c.limit)
	}
	return nil
}

func (c *collector) got() []uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.seqs)
}

func (c *collector) waitFor(seq uint64) {
	c.t.Helper()
	deadline := time.Now().Add(wait)
	for !slices.Contains(c.got(), seq) {
		if time.Now().After(deadline) {
			c.t.Fatalf("event %d not delivered within %v (got %v)", seq, wait, c.got())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// follow runs Follow on a goroutine; the channel gets how it ended.
func follow(ctx context.Context, hub *feed.Hub, r feed.Replayer, tn store.Tenant, c *collector, opt feed.Options) <-chan error {
	done := make(chan error, 1)
	go func() { done <- feed.Follow(ctx, hub, r, tn, feed.Filter{}, 0, c, opt) }()
	return done
}

// TestPublishCommittedUnreadable: one commit holds two tenants' events and one of A's that
// cannot be decoded. B's live subscriber gets every one of its events, then and after; A's
// gets those before the bad one, and Follow ends naming it, never told a head past it. The
// bad events are counted, and logged without flooding.
func TestPublishCommittedUnreadable(t *testing.T) {
	st, hub := openStore(t)
	var logBuf bytes.Buffer
	var logMu sync.Mutex
	hub.SetLogger(slog.New(slog.NewTextHandler(&lockedWriter{w: &logBuf, mu: &logMu}, nil)))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	opt := feed.Options{ProgressEvery: 10 * time.Millisecond}
	r := &replayer{st: st}

	// Both subscribers are live: each has had an event, so is registered with the hub.
	warm := appendItems(t, st, item{tenantA, peerJoin(tenantA, 10)}, item{tenantB, peerJoin(tenantB, 10)})
	a, b := &collector{t: t}, &collector{t: t}
	aDone := follow(ctx, hub, r, tenantA, a, opt)
	bDone := follow(ctx, hub, r, tenantB, b, opt)
	a.waitFor(warm[0])
	b.waitFor(warm[1])

	seqs := appendItems(t, st,
		item{tenantB, peerJoin(tenantB, 10)},
		item{tenantA, peerJoin(tenantA, 10)},
		item{tenantB, peerJoin(tenantB, 10)},
		item{tenantA, nil}, // cannot be decoded
		item{tenantB, peerJoin(tenantB, 10)},
		item{tenantA, peerJoin(tenantA, 10)},
		item{tenantA, nil},
	)
	bad := seqs[3]
	a.mu.Lock()
	a.limit = bad
	a.mu.Unlock()
	later := appendItems(t, st, item{tenantB, peerJoin(tenantB, 10)}, item{tenantA, peerJoin(tenantA, 10)})

	b.waitFor(later[0])
	if want := []uint64{warm[1], seqs[0], seqs[2], seqs[4], later[0]}; !slices.Equal(b.got(), want) {
		t.Errorf("tenant B received %v, want %v", b.got(), want)
	}
	select {
	case err := <-aDone:
		var u *errUnreadable
		if !errors.As(err, &u) || u.seq != bad {
			t.Errorf("tenant A's Follow ended with %v, want the unreadable event %d", err, bad)
		}
	case <-time.After(wait):
		t.Fatalf("tenant A's Follow did not end (received %v)", a.got())
	}
	if want := []uint64{warm[0], seqs[1]}; !slices.Equal(a.got(), want) {
		t.Errorf("tenant A received %v, want %v: everything before the unreadable event %d, nothing after", a.got(), want, bad)
	}
	if n := hub.Unreadable(); n != 2 {
		t.Errorf("Unreadable() = %d, want 2", n)
	}
	logMu.Lock()
	lines := strings.Count(logBuf.String(), "level=ERROR")
	logged := logBuf.String()
	logMu.Unlock()
	if lines != 1 || !strings.Contains(logged, fmt.Sprintf("sequence=%d", bad)) || !strings.Contains(logged, "account_id=acc-a") || !strings.Contains(logged, "type=poison.unknown") {
		t.Errorf("want one ERROR line naming tenant, sequence %d and type (the second within the second is counted, not logged); log:\n%s", bad, logged)
	}
	cancel()
	if err := <-bDone; !errors.Is(err, context.Canceled) {
		t.Errorf("tenant B's Follow ended with %v, want context.Canceled", err)
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestQueueBoundedByBytes: a live queue of 400 KB events holds at most its byte budget;
// the event that would pass it drops the queue at once, and Follow then catches up from the
// store from its last sent sequence: nothing lost, nothing twice. The Observer (metrics) is
// told of every event sent and of the fall back to the store.
func TestQueueBoundedByBytes(t *testing.T) {
	const budget = 1 << 20
	st, hub := openStore(t)
	sub := hub.Subscribe(tenantA, feed.Filter{}, 1000, budget)
	defer sub.Unsubscribe()
	var seqs []uint64
	for i := range 3 {
		seqs = append(seqs, appendItems(t, st, item{tenantA, peerJoin(tenantA, 400<<10)})...)
		if n := sub.QueuedBytes(); n > budget {
			t.Errorf("after %d events of 400 KB: %d bytes queued, over the %d budget", i+1, n, budget)
		}
		if over := sub.Overflowed(); over != (i == 2) {
			t.Errorf("after %d events of 400 KB: overflowed = %v", i+1, over)
		}
	}
	if n := sub.QueuedBytes(); n != 0 {
		t.Errorf("overflowed queue still holds %d bytes", n)
	}

	// Through Follow: a subscriber that is not reading (its Sender blocks) while 12 such
	// events commit, then reads: it gets each once, in order.
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	gate := make(chan struct{})
	c := &gatedCollector{collector: collector{t: t}, gate: gate}
	obs := &observer{}
	done := make(chan error, 1)
	go func() {
		done <- feed.Follow(ctx, hub, &replayer{st: st}, tenantA, feed.Filter{}, seqs[2], c, feed.Options{QueueBytes: budget, Observer: obs})
	}()
	var more []uint64
	for range 12 {
		more = append(more, appendItems(t, st, item{tenantA, peerJoin(tenantA, 400<<10)})...)
	}
	close(gate)
	c.waitFor(more[len(more)-1])
	if got := c.got(); !slices.Equal(got, more) {
		t.Errorf("received %v, want %v", got, more)
	}
	cancel()
	<-done
	if n := obs.sent.Load(); n != 12 {
		t.Errorf("observer told of %d events sent, want 12", n)
	}
	if n := obs.fellBack.Load(); n < 1 {
		t.Errorf("observer told of %d fall backs, want at least 1", n)
	}
}

// observer counts what Follow tells its Observer.
type observer struct{ sent, fellBack atomic.Int64 }

func (o *observer) Sent(uint64) { o.sent.Add(1) }
func (o *observer) FellBack()   { o.fellBack.Add(1) }

// gatedCollector blocks every delivery until gate is closed.
type gatedCollector struct {
	collector
	gate chan struct{}
}

func (g *gatedCollector) Event(ev *livegatev1.Event) error {
	<-g.gate
	return g.collector.Event(ev)
}

// TestReplayBoundedByBytes: a subscriber replaying 400 KB events from 0 reads the store in
// batches within the replay budget, one event at least, and gets every event once.
func TestReplayBoundedByBytes(t *testing.T) {
	// Events are at most limits.MaxEventBytes (1 MiB) once stored: a budget of half that lets
	// the 700 KB ones pass it alone.
	const budget = 512 << 10
	st, hub := openStore(t)
	var want []uint64
	for range 4 {
		want = append(want, appendItems(t, st,
			item{tenantA, peerJoin(tenantA, 200<<10)}, item{tenantA, peerJoin(tenantA, 200<<10)},
			item{tenantB, peerJoin(tenantB, 200<<10)}, item{tenantA, peerJoin(tenantA, 700<<10)})...)
	}
	var mine []uint64
	for i, s := range want {
		if i%4 != 2 {
			mine = append(mine, s)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	r := &replayer{st: st}
	c := &collector{t: t}
	done := follow(ctx, hub, r, tenantA, c, feed.Options{ReplayBytes: budget})
	c.waitFor(mine[len(mine)-1])
	cancel()
	<-done
	if got := c.got(); !slices.Equal(got, mine) {
		t.Errorf("received %v, want %v", got, mine)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, b := range r.batches {
		if b[0] > budget && b[1] > 1 { // only a lone event may pass the budget
			t.Errorf("replay batch %d held %d events, %d bytes of stored events, over the %d budget", i, b[1], b[0], budget)
		}
	}
	if len(r.batches) < 8 {
		t.Errorf("%d replay batches for 12 events of 200-700 KB within 512 KiB: want at least 8", len(r.batches))
	}
}
