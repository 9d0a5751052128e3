// Package feed delivers the event feed to subscribers: a Hub fanned out to from the commit
// path, and Follow, which replays stored events after a cursor and then follows live ones
// with no gap and no duplicate.
//
// Ingest never waits for a subscriber: Publish only appends to each subscriber's queue,
// bounded by count and by bytes. A subscriber whose queue would pass either bound is marked
// overflowed and its queue is dropped at once (the memory goes back); Follow then reads from
// the store from its last delivered sequence until it has caught up, and re-registers.
// Nothing is lost and no one else slows down.
//
// A committed event that cannot be decoded is not published; its tenant's subscribers are
// all made to overflow, so they meet it in the store, where Follow ends with an error
// naming it (the event service: EVENT_UNREADABLE) after delivering everything before it.
package feed

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/eventlog"
	"github.com/livegate/livegate/internal/rawcodec"
	"github.com/livegate/livegate/internal/store"
)

// Default bounds of a subscriber's live queue.
const (
	DefaultQueue      = 1024
	DefaultQueueBytes = 1 << 20
)

// Hub fans committed events out to the subscribers of their tenant.
type Hub struct {
	mu   sync.RWMutex
	subs map[store.Tenant]map[*Subscription]struct{}
	head atomic.Uint64
	// pubMu serializes PublishCommitted.
	pubMu sync.Mutex
	// closed is closed when the hub shuts down; subscribers end.
	closed   chan struct{}
	shutOnce sync.Once

	unreadable atomic.Uint64
	log        *slog.Logger
	logMu      sync.Mutex
	logAt      time.Time // last unreadable event logged
	logSkipped int       // unreadable events not logged since
}

// NewHub returns a hub whose head starts at head (the greatest committed sequence).
func NewHub(head uint64) *Hub {
	h := &Hub{subs: map[store.Tenant]map[*Subscription]struct{}{}, closed: make(chan struct{}), log: slog.Default()}
	h.head.Store(head)
	return h
}

// SetLogger sets where unreadable committed events are logged (default slog.Default()).
// Call it before the first Publish.
func (h *Hub) SetLogger(l *slog.Logger) { h.log = l }

// Head is the greatest published sequence.
func (h *Hub) Head() uint64 { return h.head.Load() }

// Unreadable is how many committed events could not be decoded for publishing (a metric
// until there are metrics).
func (h *Hub) Unreadable() uint64 { return h.unreadable.Load() }

// Done is closed when the hub has been shut down.
func (h *Hub) Done() <-chan struct{} { return h.closed }

// Shutdown ends every subscription (Follow returns ErrShutdown).
func (h *Hub) Shutdown() {
	h.shutOnce.Do(func() {
		close(h.closed)
		// Follow waits on its subscription's wake alone: it looks at closed when woken.
		h.mu.RLock()
		defer h.mu.RUnlock()
		for _, subs := range h.subs {
			for s := range subs {
				s.notify()
			}
		}
	})
}

// Item is an event as Follow hands it on: its sequence, the message (nil when only the
// encoding is known: a replayed event), and its encoding as a SubscribeResponse when known
// (eventlog.Response; nil otherwise). A published Item is shared by every subscriber: it is
// never changed.
type Item struct {
	Sequence uint64
	Event    *livegatev1.Event
	Encoded  *rawcodec.Message
}

// GetSequence is the event's sequence (0 for a nil Item).
func (it *Item) GetSequence() uint64 {
	if it == nil {
		return 0
	}
	return it.Sequence
}

// size is what the item counts against a queue's byte bound.
func (it *Item) size() int {
	if it.Encoded != nil {
		return it.Encoded.Len()
	}
	return proto.Size(it.Event)
}

// Subscription is one subscriber's registration: a queue of matching live events, bounded
// by count and by bytes (the size of the events).
type Subscription struct {
	hub      *Hub
	tenant   store.Tenant
	filter   Filter
	maxN     int
	maxBytes int

	mu       sync.Mutex
	q        []queued // q[next:] is pending
	next     int
	bytes    int // size of the pending events
	overflow bool
	// wake has a value when the subscriber should look at its queue or overflow flag.
	wake chan struct{}
}

// Subscribe registers for the tenant's live events that match f, with a queue of at most n
// events (0: DefaultQueue) and maxBytes bytes (0: DefaultQueueBytes). Call Unsubscribe when
// done.
func (h *Hub) Subscribe(t store.Tenant, f Filter, n, maxBytes int) *Subscription {
	if n <= 0 {
		n = DefaultQueue
	}
	if maxBytes <= 0 {
		maxBytes = DefaultQueueBytes
	}
	s := &Subscription{hub: h, tenant: t, filter: f, maxN: n, maxBytes: maxBytes, wake: make(chan struct{}, 1)}
	h.mu.Lock()
	m := h.subs[t]
	if m == nil {
		m = map[*Subscription]struct{}{}
		h.subs[t] = m
	}
	m[s] = struct{}{}
	h.mu.Unlock()
	return s
}

// Unsubscribe removes the registration.
func (s *Subscription) Unsubscribe() {
	h := s.hub
	h.mu.Lock()
	if m := h.subs[s.tenant]; m != nil {
		delete(m, s)
		if len(m) == 0 {
			delete(h.subs, s.tenant)
		}
	}
	h.mu.Unlock()
}

// Overflowed reports whether events were dropped from this subscription's queue.
func (s *Subscription) Overflowed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.overflow
}

// QueuedBytes is the size of the events queued and not yet taken.
func (s *Subscription) QueuedBytes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bytes
}

// queued is an event in a live queue, with its size.
type queued struct {
	it   *Item
	size int
}

// push queues it (of size n) unless that passes a bound: then the queue is dropped and the
// subscription overflows. It reports whether the subscriber should be woken.
func (s *Subscription) push(it *Item, n int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.overflow {
		return false
	}
	if len(s.q)-s.next >= s.maxN || s.bytes+n > s.maxBytes {
		s.overflowLocked()
		return true
	}
	s.q = append(s.q, queued{it, n})
	s.bytes += n
	return true
}

func (s *Subscription) overflowLocked() {
	s.overflow = true
	clear(s.q) // the events may be referenced by no one else
	s.q, s.next, s.bytes = nil, 0, 0
}

// forceOverflow drops the queue and marks the subscription overflowed.
func (s *Subscription) forceOverflow() {
	s.mu.Lock()
	s.overflowLocked()
	s.mu.Unlock()
	s.notify()
}

func (s *Subscription) notify() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// pop takes the next queued event (nil: none), and reports whether the queue overflowed.
func (s *Subscription) pop() (*Item, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.overflow {
		return nil, true
	}
	if s.next == len(s.q) {
		if cap(s.q) > 64 {
			s.q = nil // give back what a burst grew
		} else {
			s.q = s.q[:0]
		}
		s.next = 0
		return nil, false
	}
	e := s.q[s.next]
	s.q[s.next] = queued{}
	s.next++
	s.bytes -= e.size
	return e.it, false
}

// idle reports whether nothing is queued and the queue has not overflowed.
func (s *Subscription) idle() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.overflow && s.next == len(s.q)
}

// Publish hands committed events, in commit (sequence) order, to their tenants' subscribers.
// It never blocks: a queue that would pass its bounds overflows. It must be called in
// commit order, from one goroutine at a time.
func (h *Hub) Publish(events []*livegatev1.Event) {
	if len(events) == 0 {
		return
	}
	h.mu.RLock()
	for _, ev := range events {
		h.publishLocked(&Item{Sequence: ev.GetSequence(), Event: ev})
	}
	h.mu.RUnlock()
	h.advance(events[len(events)-1].GetSequence())
}

func (h *Hub) publishLocked(it *Item) {
	ev := it.Event
	t := store.Tenant{AccountID: ev.GetAccountId(), AppID: ev.GetAppId()}
	size := -1 // computed once, for the first subscriber that takes it
	for s := range h.subs[t] {
		if !Match(s.filter, ev) {
			continue
		}
		if size < 0 {
			size = it.size()
		}
		if s.push(it, size) {
			s.notify()
		}
	}
}

// advance moves the head to last. The head moves after the events are queued: a subscriber
// that reads head H and then finds its queue empty (and not overflowed) has seen every
// matching event up to H.
func (h *Hub) advance(last uint64) {
	if last > h.head.Load() {
		h.head.Store(last)
	}
}

// Gap tells the hub that events up to prunedThrough may never be published: retention
// pruned them before its feeder read them (store.LogFollower). Every subscription then reads
// on from the store from its last event, where Follow meets the gap (the replayer ends a
// subscription whose cursor is older than retention, CURSOR_COMPACTED) rather than go on
// past it. Call it before publishing the events after the gap.
func (h *Hub) Gap(prunedThrough uint64) {
	h.pubMu.Lock()
	defer h.pubMu.Unlock()
	if prunedThrough <= h.head.Load() {
		return // published already
	}
	h.mu.RLock()
	for _, subs := range h.subs {
		for s := range subs {
			s.forceOverflow()
		}
	}
	h.mu.RUnlock()
}

// PublishCommitted decodes a commit's stored events and publishes them in order (it is the
// store's commit hook). An event that cannot be decoded is counted and logged, and every
// subscription of its tenant overflows: each then reads on from the store, where Follow
// meets the event and ends with the replayer's error (EVENT_UNREADABLE), its cursor before the event. The others are
// published as usual.
//
// It drops the events it has already published (a sequence not above the head), and calls
// are serialized, so a hub may be fed by more than one source (a log follower that re-reads
// after a reconnect, a commit hook) without a subscriber getting an event twice. It
// cannot fill a gap: the caller must hand over every event after the head, in order.
func (h *Hub) PublishCommitted(recs []store.Event) {
	h.pubMu.Lock()
	defer h.pubMu.Unlock()
	head := h.head.Load()
	for len(recs) > 0 && recs[0].Sequence <= head {
		recs = recs[1:]
	}
	if len(recs) == 0 {
		return
	}
	// Decode and encode (once for every subscriber) outside the lock; publish in order
	// under it.
	items := make([]Item, len(recs))
	var errs []error // errs[i] != nil: recs[i] cannot be decoded
	for i := range recs {
		ev, err := eventlog.Decode(recs[i])
		if err != nil {
			if errs == nil {
				errs = make([]error, len(recs))
			}
			errs[i] = err
			continue
		}
		items[i] = Item{Sequence: ev.GetSequence(), Event: ev, Encoded: rawcodec.NewMessage(eventlog.Response(recs[i]))}
	}
	h.mu.RLock()
	for i := range items {
		if items[i].Event != nil {
			h.publishLocked(&items[i])
			continue
		}
		// Its tenant's subscriptions all overflow: each reads on from the store from the
		// last event it sent, and meets this one there.
		h.unreadable.Add(1)
		for s := range h.subs[recs[i].Tenant] {
			s.forceOverflow()
		}
	}
	h.mu.RUnlock()
	h.advance(recs[len(recs)-1].Sequence)
	for i, err := range errs {
		if err != nil {
			h.logUnreadable(&recs[i], err)
		}
	}
}

// logUnreadable logs an unreadable committed event, at most one line a second: a flood of
// bad events must not flood the log (the line counts those not logged).
func (h *Hub) logUnreadable(rec *store.Event, err error) {
	h.logMu.Lock()
	now := time.Now()
	if now.Sub(h.logAt) < time.Second {
		h.logSkipped++
		h.logMu.Unlock()
		return
	}
	skipped := h.logSkipped
	h.logAt, h.logSkipped = now, 0
	h.logMu.Unlock()
	h.log.Error("committed event cannot be decoded: its tenant's subscribers will stop before it",
		"account_id", rec.AccountID, "app_id", rec.AppID, "sequence", rec.Sequence, "type", rec.Type,
		"source", rec.Source, "error", err, "unreadable_total", h.unreadable.Load(), "not_logged_since_last", skipped)
}
