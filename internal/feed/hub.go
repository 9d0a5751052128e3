// Package feed delivers the event feed to subscribers: a Hub fanned out to from the commit
// path, and Follow, which replays stored events after a cursor and then follows live ones
// with no gap and no duplicate.
//
// Ingest never waits for a subscriber: Publish only does non-blocking sends into each
// subscriber's bounded queue. A subscriber whose queue is full is marked overflowed and
// loses its live queue; Follow then reads from the store from its last delivered sequence
// until it has caught up, and re-registers. Nothing is lost and no one else slows down.
package feed

import (
	"sync"
	"sync/atomic"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/store"
)

// DefaultQueue is a subscriber's live queue length when none is given.
const DefaultQueue = 1024

// Hub fans committed events out to the subscribers of their tenant.
type Hub struct {
	mu   sync.RWMutex
	subs map[store.Tenant]map[*Subscription]struct{}
	head atomic.Uint64
	// closed is closed when the hub shuts down; subscribers end.
	closed   chan struct{}
	shutOnce sync.Once
}

// NewHub returns a hub whose head starts at head (the greatest committed sequence).
func NewHub(head uint64) *Hub {
	h := &Hub{subs: map[store.Tenant]map[*Subscription]struct{}{}, closed: make(chan struct{})}
	h.head.Store(head)
	return h
}

// Head is the greatest published sequence.
func (h *Hub) Head() uint64 { return h.head.Load() }

// Done is closed when the hub has been shut down.
func (h *Hub) Done() <-chan struct{} { return h.closed }

// Shutdown ends every subscription (Follow returns ErrShutdown).
func (h *Hub) Shutdown() { h.shutOnce.Do(func() { close(h.closed) }) }

// Subscription is one subscriber's registration: a bounded queue of matching live events.
type Subscription struct {
	hub      *Hub
	tenant   store.Tenant
	filter   Filter
	ch       chan *livegatev1.Event
	overflow atomic.Bool
	// wake has a value when the subscriber should look at its queue or overflow flag.
	wake chan struct{}
}

// Subscribe registers for the tenant's live events that match f, with a queue of n (0: the
// default). Call Unsubscribe when done.
func (h *Hub) Subscribe(t store.Tenant, f Filter, n int) *Subscription {
	if n <= 0 {
		n = DefaultQueue
	}
	s := &Subscription{hub: h, tenant: t, filter: f, ch: make(chan *livegatev1.Event, n), wake: make(chan struct{}, 1)}
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
func (s *Subscription) Overflowed() bool { return s.overflow.Load() }

// Publish hands committed events, in commit (sequence) order, to their tenants' subscribers.
// It never blocks: a full queue marks its subscription overflowed. It must be called in
// commit order, from one goroutine at a time.
func (h *Hub) Publish(events []*livegatev1.Event) {
	if len(events) == 0 {
		return
	}
	h.mu.RLock()
	for _, ev := range events {
		t := store.Tenant{AccountID: ev.GetAccountId(), AppID: ev.GetAppId()}
		for s := range h.subs[t] {
			if s.overflow.Load() || !Match(s.filter, ev) {
				continue
			}
			select {
			case s.ch <- ev:
			default:
				s.overflow.Store(true)
			}
			select {
			case s.wake <- struct{}{}:
			default:
			}
		}
	}
	h.mu.RUnlock()
	// The head moves after the events are queued: a subscriber that reads head H and then
	// finds its queue empty has seen every matching event up to H.
	last := events[len(events)-1].GetSequence()
	if last > h.head.Load() {
		h.head.Store(last)
	}
}
