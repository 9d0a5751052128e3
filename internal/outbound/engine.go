// Package outbound delivers an app's events to the HTTP endpoints it registered (webhooks
// out). Every enabled endpoint is an independent durable subscriber of its app's feed: its
// cursor (store.WebhookEndpoint.Cursor) is the last event it is done with, and the engine
// sends it the next matching event after that, in sequence order, the next one only after
// the previous one was answered 2xx or given up, and only then moves the cursor (a
// compare-and-set, so a replay or another node's delivery is never overwritten).
//
// Each endpoint with work has a goroutine of its own, with at most one request in flight;
// the requests in flight across all endpoints are bounded (Options.MaxConcurrent), each by
// a timeout (Options.Timeout). A slow or dead endpoint thus holds at most one slot and
// delays no other endpoint, and ingest never waits for a delivery: the commit path only
// wakes the endpoints of the tenants it wrote to (Notify).
//
// With several nodes on one PostgreSQL database, the endpoints are shared out by a fixed
// number of leases (Slots, "webhooks-out/0".."webhooks-out/15"): an endpoint belongs to the
// slot its id hashes to, and a node delivers the endpoints of the slots it holds. Each node
// also holds a lease of its own under "webhooks-out/node/", so the nodes count themselves
// (store.LeaseCounter), and a node holds at most its share of the slots: Slots divided by
// the nodes, rounded up. Every Options.LeaseRetry a node tries the free slots while it holds
// less than its share, so a dead node's slots are taken over; and it hands over the slots
// it holds beyond its share (the highest-numbered), so a node that joins gets its share.
// A slot handed over is drained first: its workers finish the attempt in flight and record
// it, then the lease is released, and the node that takes the slot starts after the cursor
// they left.
package outbound

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/apierror"
	"github.com/livegate/livegate/internal/eventlog"
	"github.com/livegate/livegate/internal/netguard"
	"github.com/livegate/livegate/internal/payload"
	"github.com/livegate/livegate/internal/store"
)

// Slots is how many leases share the endpoints out between nodes.
const Slots = 16

// SlotLease is the name of slot i's lease.
func SlotLease(i int) string { return "webhooks-out/" + strconv.Itoa(i) }

// NodeLeases prefixes each node's own lease (a random name after it), which the nodes
// count to share the slots out.
const NodeLeases = "webhooks-out/node/"

// slot is a delivery slot this node holds: ctx ends when its lease is lost (or the engine
// stops); drain is closed when the node hands the slot over (nil: never).
type slot struct {
	ctx   context.Context
	drain chan struct{}
}

// draining reports whether the slot is being handed over: its workers finish the attempt
// in flight and stop, and none starts.
func (s *slot) draining() bool { return closed(s.drain) }

// closed reports whether ch is closed (a nil ch never is).
func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// live reports whether s is held and may take work.
func (s *slot) live() bool { return s != nil && s.ctx.Err() == nil && !s.draining() }

// Defaults of Options.
const (
	DefaultTimeout       = 10 * time.Second
	DefaultMaxConcurrent = 64
	// DefaultMaxConcurrentPerApp: an app whose receivers all hang holds at most 8 of the 64
	// slots (each for at most Timeout, then its endpoints back off); it takes 8 such apps at
	// once to hold them all.
	DefaultMaxConcurrentPerApp = 8
	DefaultDisableAfter        = 5 * 24 * time.Hour
	DefaultPoll                = 30 * time.Second
	DefaultLeaseRetry          = 10 * time.Second
	DefaultLogRetention        = 7 * 24 * time.Hour
	DefaultRescan              = 2 * time.Second
)

// batch is how many stored events an endpoint reads at a time, and batchBytes the most of
// their stored bodies it holds (at least one event): a worker keeps its batch while it
// retries, up to Schedule.For.
const (
	batch      = 64
	batchBytes = 256 << 10
)

// Filter is an endpoint's event filter (webhookevents.Filter).
type Filter interface {
	// Match reports whether an event of this source and type is sent, and, when the
	// endpoint asked for it by a RealtimeKit event name, that name.
	Match(source, eventType string) (realtimeKitName string, ok bool)
	// StoreFilter is the part of the filter the store applies (a superset of Match).
	StoreFilter() store.EventFilter
}

// ParseFilter reads an endpoint's Events.
type ParseFilter func(events []string) (Filter, error)

// Options tune the engine. Zero fields take the defaults.
type Options struct {
	// Policy is where requests may go (netguard: public addresses only, https).
	Policy netguard.Policy
	// Timeout bounds one request: connecting, sending, and the answer's headers and body.
	Timeout time.Duration
	// MaxConcurrent bounds the requests in flight across all endpoints.
	MaxConcurrent int
	// MaxConcurrentPerApp bounds the requests in flight to one app's endpoints, so that one
	// app's hanging receivers cannot hold every slot. Negative: no bound of its own.
	MaxConcurrentPerApp int
	// Schedule is when failed deliveries are retried, and for how long.
	Schedule Schedule
	// DisableAfter: an endpoint whose attempts have all failed for this long is disabled
	// (and a webhook_endpoint.disabled event is appended to its app's feed). Negative: never.
	DisableAfter time.Duration
	// Poll is how often an idle endpoint looks at the store without being woken (a safety net).
	Poll time.Duration
	// LeaseRetry is how often a node tries to take the slots it does not hold.
	LeaseRetry time.Duration
	// Rescan is how often a node shared with others (PostgreSQL) lists the enabled endpoints
	// to learn of changes made through another node (created, edited, replayed, deleted),
	// which Wake tells only the node that served the call. Without other nodes, Poll.
	Rescan time.Duration
	// Version is livegate's, for the User-Agent "livegate-webhooks/<version>".
	Version string
	// LogRetention: delivery log entries older than this are deleted (negative: kept forever).
	LogRetention time.Duration
	// PruneEvery is how often the delivery log is pruned (by the node holding slot 0).
	PruneEvery time.Duration
}

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxConcurrent <= 0 {
		o.MaxConcurrent = DefaultMaxConcurrent
	}
	if o.MaxConcurrentPerApp == 0 {
		o.MaxConcurrentPerApp = DefaultMaxConcurrentPerApp
	}
	if len(o.Schedule.Steps) == 0 {
		d := DefaultSchedule()
		o.Schedule.Steps, o.Schedule.Jitter = d.Steps, d.Jitter
	}
	if o.Schedule.For <= 0 {
		o.Schedule.For = DefaultSchedule().For
	}
	if o.DisableAfter == 0 {
		o.DisableAfter = DefaultDisableAfter
	}
	if o.Poll <= 0 {
		o.Poll = DefaultPoll
	}
	if o.LeaseRetry <= 0 {
		o.LeaseRetry = DefaultLeaseRetry
	}
	if o.Rescan <= 0 {
		o.Rescan = DefaultRescan
	}
	if o.Version == "" {
		o.Version = "dev"
	}
	if o.LogRetention == 0 {
		o.LogRetention = DefaultLogRetention
	}
	if o.PruneEvery <= 0 {
		o.PruneEvery = time.Hour
	}
	return o
}

type endpointKey struct {
	store.Tenant
	id string
}

// Engine delivers every enabled endpoint's events. Run it; tell it of commits (Notify) and
// of endpoint changes (Wake).
type Engine struct {
	st     store.Store
	parse  ParseFilter
	opt    Options
	log    *slog.Logger
	client *client
	now    func() time.Time
	m      *engineMetrics

	refresh chan struct{}

	mu       sync.Mutex
	workers  map[endpointKey]*worker
	byTenant map[store.Tenant]map[*worker]struct{}
	held     [Slots]*slot // nil: this node does not hold the slot

	nodes   atomic.Int32         // the nodes sharing the slots, as last counted (at least 1)
	stopped bool                 // Run is stopping: no worker starts; under mu
	pinging map[endpointKey]bool // endpoints with a test ping in flight (Ping); under mu
}

// New returns an engine delivering st's endpoints. Register its metrics with Collectors.
func New(st store.Store, parse ParseFilter, opt Options, log *slog.Logger) *Engine {
	opt = opt.withDefaults()
	if log == nil {
		log = slog.Default()
	}
	e := &Engine{
		st: st, parse: parse, opt: opt, log: log,
		client:   newClientPerApp(opt.Policy, opt.Timeout, opt.MaxConcurrent, opt.MaxConcurrentPerApp, "livegate-webhooks/"+opt.Version),
		now:      time.Now,
		refresh:  make(chan struct{}, 1),
		workers:  map[endpointKey]*worker{},
		byTenant: map[store.Tenant]map[*worker]struct{}{},
		pinging:  map[endpointKey]bool{},
	}
	e.nodes.Store(1)
	e.m = newEngineMetrics(e)
	return e
}

// SetClock replaces time.Now (tests of the disable rule).
func (e *Engine) SetClock(now func() time.Time) { e.now = now }

// Notify is told of committed events (from the store's commit hook or the log follower): it
// wakes the endpoints of their tenants. It never blocks.
func (e *Engine) Notify(recs []store.Event) {
	var last store.Tenant
	for i := range recs {
		t := recs[i].Tenant
		if i > 0 && t == last {
			continue
		}
		last = t
		e.mu.Lock()
		for w := range e.byTenant[t] {
			w.pokeFeed()
		}
		e.mu.Unlock()
	}
}

// Wake is told that an endpoint was created, changed, replayed or deleted: the engine
// starts, reloads or stops its delivery.
func (e *Engine) Wake(t store.Tenant, endpointID string) {
	e.mu.Lock()
	if w := e.workers[endpointKey{t, endpointID}]; w != nil {
		w.poke()
	}
	e.mu.Unlock()
	select {
	case e.refresh <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends, then stops: the attempts in flight finish and are logged
// (each within Options.Timeout), the slots' leases are released, and Run returns.
func (e *Engine) Run(ctx context.Context) error {
	defer e.client.close()
	// inner outlives ctx by the attempts in flight: the leases, and the store writes that
	// log those attempts, must not end before them.
	inner, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	var wg sync.WaitGroup
	every := e.opt.Poll
	if l, ok := e.st.(store.Leaser); ok {
		every = min(every, e.opt.Rescan)
		if c, ok := l.(store.LeaseCounter); ok {
			wg.Go(func() { e.countNodes(inner, c) })
		}
		for i := range Slots {
			wg.Go(func() { e.holdSlot(inner, l, i) })
		}
	} else {
		e.mu.Lock()
		for i := range e.held {
			e.held[i] = &slot{ctx: inner}
		}
		e.mu.Unlock()
	}
	if e.opt.LogRetention > 0 {
		wg.Go(func() { e.pruneLog(inner) })
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		e.reconcile(inner)
		select {
		case <-ctx.Done():
			e.mu.Lock()
			e.stopped = true
			ws := make([]*worker, 0, len(e.workers))
			for _, w := range e.workers {
				ws = append(ws, w)
			}
			e.mu.Unlock()
			e.halt(ws)
			stop()
			wg.Wait()
			return nil
		case <-e.refresh:
		case <-t.C:
		}
	}
}

// pruneLog deletes the delivery log entries older than Options.LogRetention, at once and
// every Options.PruneEvery, on the node that holds slot 0 (every node's endpoints' logs: one
// node prunes them all).
func (e *Engine) pruneLog(ctx context.Context) {
	t := time.NewTicker(e.opt.PruneEvery)
	defer t.Stop()
	for {
		e.mu.Lock()
		var held context.Context
		if s := e.held[0]; s.live() {
			held = s.ctx
		}
		e.mu.Unlock()
		if held != nil {
			var n int
			err := e.st.Update(held, func(w store.Writer) error {
				var err error
				n, err = w.PruneWebhookAttempts(held, e.now().Add(-e.opt.LogRetention))
				return err
			})
			switch {
			case err != nil && held.Err() == nil:
				e.log.Warn("webhooks out: prune the delivery log", "error", err)
			case n > 0:
				e.log.Info("webhooks out: pruned the delivery log", "attempts", n, "older_than", e.opt.LogRetention.String())
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// countNodes holds this node's own lease under NodeLeases, and counts the nodes holding
// one, at once and every Options.LeaseRetry. A node that cannot count goes on with the last
// count (1 at first: it then takes every free slot, as a single node does).
func (e *Engine) countNodes(ctx context.Context, c store.LeaseCounter) {
	name := NodeLeases + strconv.FormatUint(rand.Uint64(), 16)
	var present context.Context
	release := func() {}
	defer func() { release() }()
	failing := false
	for {
		if present == nil || present.Err() != nil {
			release()
			held, rel, err := c.Lease(ctx, name)
			if err == nil {
				present, release = held, rel
			} else {
				present, release = nil, func() {}
			}
		}
		n, err := c.CountLeases(ctx, NodeLeases)
		switch {
		case err == nil:
			failing = false
			e.nodes.Store(int32(max(1, min(n, Slots))))
		case ctx.Err() == nil && !failing:
			e.log.Warn("webhooks out: count the nodes sharing the delivery slots", "error", err)
			failing = true
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(e.opt.LeaseRetry):
		}
	}
}

// share is how many slots this node holds at most.
func (e *Engine) share() int {
	n := int(e.nodes.Load())
	return (Slots + n - 1) / n
}

// holding is how many slots this node holds and is not handing over; e.mu is held.
func (e *Engine) holding() int {
	n := 0
	for _, s := range e.held {
		if s.live() {
			n++
		}
	}
	return n
}

// holdSlot takes slot i's lease when it is free and this node holds less than its share,
// and serves the slot until it loses the lease or hands the slot over.
func (e *Engine) holdSlot(ctx context.Context, l store.Leaser, i int) {
	failing := false
	for {
		e.mu.Lock()
		want := e.holding() < e.share()
		e.mu.Unlock()
		if want {
			held, release, err := l.Lease(ctx, SlotLease(i))
			switch {
			case err == nil:
				failing = false
				e.serveSlot(i, held)
				release()
			case errors.Is(err, store.ErrLeaseHeld):
				failing = false
			case ctx.Err() == nil && !failing:
				e.log.Warn("webhooks out: take a delivery lease", "lease", SlotLease(i), "error", err)
				failing = true
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(e.opt.LeaseRetry):
		}
	}
}

// serveSlot delivers slot i's endpoints while its lease is held, until the lease is lost
// (held ends: the workers' contexts end with it) or the node holds more than its share and
// i is among the highest-numbered slots it holds: then the slot is drained (its workers
// finish the attempt in flight, recorded) before serveSlot returns and the lease goes.
func (e *Engine) serveSlot(i int, held context.Context) {
	s := &slot{ctx: held, drain: make(chan struct{})}
	e.setHeld(i, s)
	defer e.setHeld(i, nil)
	t := time.NewTicker(e.opt.LeaseRetry)
	defer t.Stop()
	for {
		select {
		case <-held.Done():
			return
		case <-t.C:
		}
		e.mu.Lock()
		over := e.holding() - e.share()
		for j := Slots - 1; j > i && over > 0; j-- {
			if e.held[j].live() {
				over-- // a higher-numbered slot goes first
			}
		}
		if over > 0 {
			close(s.drain)
		}
		e.mu.Unlock()
		if over > 0 {
			e.drainSlot(i)
			e.log.Info("webhooks out: handed a delivery slot over to another node", "lease", SlotLease(i), "nodes", e.nodes.Load())
			return
		}
	}
}

// drainSlot waits for the workers of slot i (draining) to stop (halt).
func (e *Engine) drainSlot(i int) {
	e.mu.Lock()
	var ws []*worker
	for _, w := range e.workers {
		if SlotOf(w.key.id) == i {
			ws = append(ws, w)
		}
	}
	e.mu.Unlock()
	e.halt(ws)
}

// halt stops workers ws and waits for them: each finishes and records the attempt in
// flight, and starts no other. One still running after a request's timeout and more is
// cancelled.
func (e *Engine) halt(ws []*worker) {
	for _, w := range ws {
		w.halt()
	}
	deadline := time.NewTimer(e.opt.Timeout + 10*time.Second)
	defer deadline.Stop()
	for _, w := range ws {
		select {
		case <-w.done:
		case <-deadline.C:
			for _, w := range ws {
				w.cancel()
			}
			<-w.done
		}
	}
}

func (e *Engine) setHeld(i int, s *slot) {
	e.mu.Lock()
	e.held[i] = s
	e.mu.Unlock()
	select {
	case e.refresh <- struct{}{}:
	default:
	}
}

// SlotOf is the slot of the endpoint with this id.
func SlotOf(id string) int {
	h := fnv.New32a()
	h.Write([]byte(id))
	return int(h.Sum32() % Slots)
}

// reconcile starts a worker for each enabled endpoint of a held slot that has none, and
// stops those of endpoints no longer enabled or of slots no longer held.
func (e *Engine) reconcile(ctx context.Context) {
	if ctx.Err() != nil {
		return
	}
	e.mu.Lock()
	stopped := e.stopped
	e.mu.Unlock()
	if stopped {
		return
	}
	var eps []store.WebhookEndpoint
	err := e.st.View(ctx, func(r store.Reader) error {
		var err error
		eps, err = r.EnabledWebhookEndpoints(ctx)
		return err
	})
	if err != nil {
		if ctx.Err() == nil {
			e.log.Warn("webhooks out: list the enabled endpoints", "error", err)
		}
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	want := make(map[endpointKey]bool, len(eps))
	for _, ep := range eps {
		k := endpointKey{ep.Tenant, ep.ID}
		slot := e.held[SlotOf(ep.ID)]
		if slot == nil || slot.ctx.Err() != nil {
			continue
		}
		if slot.draining() {
			// Being handed over: its workers finish what they are doing; none starts.
			want[k] = e.workers[k] != nil
			continue
		}
		want[k] = true
		if w := e.workers[k]; w != nil && !w.finished() {
			// Changed through another node (or under this one's feet): have it reload.
			if ep.Cursor != w.seenCursor.Load() || ep.UpdatedAt.UnixNano() != w.seenUpdated.Load() {
				w.poke()
			}
			continue
		} else if w != nil {
			e.forget(w)
		}
		wctx, cancel := context.WithCancel(slot.ctx)
		w := &worker{e: e, key: k, wake: make(chan struct{}, 1), feed: make(chan struct{}, 1), drain: slot.drain, cancel: cancel, done: make(chan struct{})}
		w.halted, w.halt = context.WithCancel(wctx)
		e.workers[k] = w
		if e.byTenant[k.Tenant] == nil {
			e.byTenant[k.Tenant] = map[*worker]struct{}{}
		}
		e.byTenant[k.Tenant][w] = struct{}{}
		go func() {
			defer func() {
				// An endpoint enabled again while this worker finished its attempt gets a
				// new one at once, not at the next poll.
				select {
				case e.refresh <- struct{}{}:
				default:
				}
			}()
			defer close(w.done)
			defer cancel()
			w.run(wctx)
		}()
	}
	for k, w := range e.workers {
		if !want[k] {
			// Disabled, deleted, or its slot lost: the attempt in flight finishes and is
			// logged (on a lost slot, ctx has ended already).
			w.halt()
			if w.finished() {
				e.forget(w)
			}
		}
	}
}

// forget removes a worker from the maps; e.mu is held.
func (e *Engine) forget(w *worker) {
	if e.workers[w.key] == w {
		delete(e.workers, w.key)
	}
	if m := e.byTenant[w.key.Tenant]; m != nil {
		delete(m, w)
		if len(m) == 0 {
			delete(e.byTenant, w.key.Tenant)
		}
	}
}

// worker delivers one endpoint's events.
type worker struct {
	e   *Engine
	key endpointKey
	// wake: the endpoint changed (Wake); feed: its tenant's feed grew (Notify). A retry's
	// wait listens to wake only.
	wake  chan struct{}
	feed  chan struct{}
	drain <-chan struct{} // closed when the slot is handed over: stop after the attempt in flight
	// halted ends when the worker is to stop after the attempt in flight (halt): its
	// endpoint was disabled or deleted, its slot is handed over, or the engine stops.
	halted context.Context
	halt   context.CancelFunc
	cancel context.CancelFunc // ends the attempt in flight too
	done   chan struct{}

	lagging atomic.Bool
	// slow counts the endpoint's answers in a row that took half the timeout or more and were
	// not retried (a 4xx or 3xx); pauseUntil is when the next attempt may start after one.
	// Only run touches them.
	slow       int
	pauseUntil time.Time
	// The endpoint's cursor and UpdatedAt as the worker last knew them.
	seenCursor  atomic.Uint64
	seenUpdated atomic.Int64
}

func (w *worker) saw(ep store.WebhookEndpoint) {
	w.seenCursor.Store(ep.Cursor)
	w.seenUpdated.Store(ep.UpdatedAt.UnixNano())
}

func (w *worker) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *worker) pokeFeed() {
	select {
	case w.feed <- struct{}{}:
	default:
	}
}

func (w *worker) finished() bool {
	select {
	case <-w.done:
		return true
	default:
		return false
	}
}

// retryState is an event's delivery in progress.
type retryState struct {
	seq     uint64
	attempt int       // attempts made
	first   time.Time // of the first attempt
	next    time.Time // when to try again
}

// errStop: the endpoint was deleted, disabled, or its cursor moved under us (a replay,
// another node): reload.
var errStop = errors.New("reload the endpoint")

// errDrain: the worker's slot is being handed over; it stops between attempts.
var errDrain = errors.New("the delivery slot is being handed over")

func (w *worker) run(ctx context.Context) {
	e := w.e
	defer w.lagging.Store(false)
	var (
		filter Filter
		events []string
		bad    []string // an events list that did not parse
		resume *retryState
		failed int // consecutive store errors: reads that failed, or writes (reads that work do not end a run of failed writes)
	)
	resume, err := w.resumeFromLog(ctx)
	if err != nil && ctx.Err() == nil {
		e.log.Warn("webhooks out: read the delivery log", "endpoint", w.key.id, "error", err)
	}
	storeTrouble := func(what string, err error) {
		if ctx.Err() != nil {
			return
		}
		failed++
		if failed == 1 || failed%60 == 0 {
			e.log.Warn("webhooks out: "+what, "endpoint", w.key.id, "error", err)
		}
		w.sleep(ctx, min(time.Duration(failed)*time.Second, 30*time.Second), false)
	}
	for ctx.Err() == nil && !w.draining() {
		// The endpoint and the events after its cursor, in one read transaction.
		var (
			ep       store.WebhookEndpoint
			recs     []store.Event
			parseErr error
			stepTo   uint64 // with no recs: a cursor past the app's events, none of them the endpoint's
		)
		err := e.st.View(ctx, func(r store.Reader) error {
			var err error
			if ep, err = r.WebhookEndpoint(ctx, w.key.Tenant, w.key.id); err != nil || !ep.Enabled {
				return err
			}
			if filter == nil || !slices.Equal(events, ep.Events) {
				f, err := e.parse(ep.Events)
				if err != nil {
					parseErr = err
					return nil
				}
				filter, events = f, slices.Clone(ep.Events)
			}
			recs, _, err = r.EventsAfterBytes(ctx, ep.Tenant, ep.Cursor, filter.StoreFilter(), batch, batchBytes)
			if err != nil || len(recs) > 0 {
				return err
			}
			stepTo, err = stepOver(ctx, r, ep)
			return err
		})
		if errors.Is(err, store.ErrNotFound) {
			return
		}
		if err != nil {
			storeTrouble("read the endpoint and the feed", err)
			continue
		}
		w.saw(ep)
		if !ep.Enabled {
			return
		}
		if resume != nil && ep.FailingSince.IsZero() {
			// No run of failures: the endpoint was enabled again since that retry (which
			// clears its run), and it starts afresh, with a full retry budget.
			resume = nil
		}
		if parseErr != nil {
			if !slices.Equal(bad, ep.Events) { // told once per list
				e.log.Error("webhooks out: the endpoint's events do not parse; not delivering", "endpoint", ep.ID, "events", ep.Events, "error", parseErr)
				bad = slices.Clone(ep.Events)
			}
			w.lagging.Store(false)
			w.sleep(ctx, e.opt.Poll, true)
			continue
		}
		if len(recs) == 0 {
			w.lagging.Store(false)
			if stepTo > ep.Cursor {
				if err := w.stepCursor(ctx, ep, stepTo); err != nil {
					storeTrouble("move the cursor", err)
					continue
				}
			}
			failed = 0 // the store serves what the worker needs
			w.sleep(ctx, e.opt.Poll, true)
			continue
		}
		w.lagging.Store(true)
		matched := false
		reload := false
		for _, rec := range recs {
			if w.draining() {
				return
			}
			select {
			case <-w.wake:
				// The endpoint changed (its URL, secret, events, cursor): read it again,
				// and the events after its cursor, before sending anything more.
				reload = true
			default:
			}
			if reload {
				break
			}
			rtk, ok := filter.Match(rec.Source, rec.Type)
			if !ok {
				continue
			}
			matched = true
			if !w.pauseUntil.IsZero() {
				if err := w.waitUntil(ctx, &ep, w.pauseUntil); err != nil {
					break // stopped, or the endpoint changed: read it again
				}
				w.pauseUntil = time.Time{}
			}
			var rs *retryState
			if resume != nil && resume.seq == rec.Sequence {
				rs = resume
			}
			resume = nil
			if err := w.deliver(ctx, &ep, rec, rtk, rs); err != nil {
				if !errors.Is(err, errStop) && !errors.Is(err, errDrain) && ctx.Err() == nil {
					storeTrouble("record a delivery", err)
				}
				break
			}
			failed = 0
		}
		if !matched && !reload {
			// Nothing in the batch is the endpoint's: step over it.
			if err := w.stepCursor(ctx, ep, recs[len(recs)-1].Sequence); err != nil {
				storeTrouble("move the cursor", err)
			} else {
				failed = 0
			}
		}
	}
}

// stepOver is where ep's cursor can move when none of the events after it match ep's filter
// (read in the same snapshot, r): to the feed's head, once that is a batch or more ahead and
// ep's app has events in between, so that the next reads do not go through them again; 0:
// stay. Without it, an endpoint whose events its app never sends read all of the app's
// events since its cursor at every one of them; moving at every event instead would cost a
// write per endpoint and event (with 20 endpoints, the app's calls took 4.7 ms, not 2.6).
func stepOver(ctx context.Context, r store.Reader, ep store.WebhookEndpoint) (uint64, error) {
	head, _, err := r.FeedBounds(ctx)
	if err != nil || head < ep.Cursor+batch {
		return 0, err
	}
	next, _, err := r.EventsAfterBytes(ctx, ep.Tenant, ep.Cursor, store.EventFilter{}, 1, 0)
	if err != nil || len(next) == 0 {
		return 0, err
	}
	return head, nil
}

// sleep waits d, or until woken (if wakeable) or ctx ends.
func (w *worker) sleep(ctx context.Context, d time.Duration, wakeable bool) {
	t := time.NewTimer(d)
	defer t.Stop()
	var wake, feed <-chan struct{}
	if wakeable {
		wake, feed = w.wake, w.feed
	}
	select {
	case <-ctx.Done():
	case <-w.drain:
	case <-w.halted.Done():
	case <-t.C:
	case <-wake:
	case <-feed:
	}
}

// draining reports whether the worker is to stop after the attempt in flight: its slot is
// being handed over, or it was halted.
func (w *worker) draining() bool { return closed(w.drain) || w.halted.Err() != nil }

func (w *worker) load(ctx context.Context) (store.WebhookEndpoint, error) {
	var ep store.WebhookEndpoint
	err := w.e.st.View(ctx, func(r store.Reader) error {
		var err error
		ep, err = r.WebhookEndpoint(ctx, w.key.Tenant, w.key.id)
		return err
	})
	if err == nil {
		w.saw(ep)
	}
	return ep, err
}

// resumeFromLog finds a retry in progress in the endpoint's delivery log (after a restart
// or a takeover): its last attempt was "retrying". The retry goes on from there: the next
// attempt is numbered after it, waits the schedule's step from it, and the budget counts
// from the event's first attempt (as far back as the log's last 64 entries tell).
func (w *worker) resumeFromLog(ctx context.Context) (*retryState, error) {
	var as []store.WebhookAttempt
	err := w.e.st.View(ctx, func(r store.Reader) error {
		var err error
		as, err = r.WebhookAttempts(ctx, w.key.Tenant, w.key.id, 0, 64)
		return err
	})
	if err != nil {
		return nil, err
	}
	var last *store.WebhookAttempt
	for i := range as {
		if as[i].Sequence != 0 { // pings are outside the order
			last = &as[i]
			break
		}
	}
	if last == nil || last.Outcome != store.WebhookRetrying {
		return nil, nil
	}
	rs := &retryState{seq: last.Sequence, attempt: last.Attempt, first: last.At}
	for _, a := range as {
		if a.Sequence == last.Sequence && a.At.Before(rs.first) {
			rs.first = a.At
		}
	}
	if next, ok := w.e.opt.Schedule.Next(rs.first, last.At, last.Attempt, 0); ok {
		rs.next = next
	}
	return rs, nil
}

// deliver sends rec to the endpoint until it is answered 2xx or given up, then moves the
// cursor past it. It returns errStop when the endpoint must be reloaded (its cursor moved
// under us, it was disabled or deleted), and a store error as is. ep is updated.
func (w *worker) deliver(ctx context.Context, ep *store.WebhookEndpoint, rec store.Event, rtk string, rs *retryState) error {
	e := w.e
	ev, err := eventlog.Decode(rec)
	if err != nil {
		// An event that cannot be read cannot be sent: give it up, loudly.
		e.log.Error("webhooks out: an event cannot be decoded; skipping it", "endpoint", ep.ID, "sequence", rec.Sequence, "error", err)
		a := &store.WebhookAttempt{Tenant: ep.Tenant, EndpointID: ep.ID, At: e.now(), Sequence: rec.Sequence, EventType: rec.Type, Attempt: 1,
			Error: "the event cannot be decoded: " + err.Error(), Outcome: store.WebhookFailed}
		return w.record(ctx, ep, a, true)
	}
	b, err := body(ev, rtk)
	if err != nil {
		return fmt.Errorf("encode event %d: %w", rec.Sequence, err)
	}
	if rs == nil {
		rs = &retryState{seq: rec.Sequence}
	}
	for {
		if !rs.next.IsZero() {
			if err := w.waitUntil(ctx, ep, rs.next); err != nil {
				return err
			}
		}
		now := e.now()
		if rs.first.IsZero() {
			rs.first = now
		}
		rs.attempt++
		res, err := e.client.post(w.halted, ep.Tenant, ep.URL, signer(*ep, ev.GetId(), b), b, e.now)
		if errors.Is(err, errSign) {
			return fmt.Errorf("sign for endpoint %s: %w", ep.ID, err)
		}
		if err != nil {
			return errDrain // halted while waiting for a free slot: nothing was sent
		}
		a := &store.WebhookAttempt{
			Tenant: ep.Tenant, EndpointID: ep.ID, At: res.at, Sequence: rec.Sequence, EventID: ev.GetId(), EventType: ev.GetType(),
			Attempt: rs.attempt, StatusCode: res.status, Latency: res.latency, Error: res.err, ResponseBody: res.body,
		}
		done := true
		w.slowAnswer(res)
		switch {
		case res.ok():
			a.Outcome = store.WebhookSucceeded
		case res.retry:
			if next, ok := e.opt.Schedule.Next(rs.first, e.now(), rs.attempt, res.retryAfter); ok {
				a.Outcome, rs.next, done = store.WebhookRetrying, next, false
			} else {
				a.Outcome = store.WebhookFailed
				a.Error += fmt.Sprintf("; given up after %d attempts", rs.attempt)
			}
		default:
			a.Outcome = store.WebhookFailed
		}
		if err := w.record(ctx, ep, a, done); err != nil {
			return err
		}
		if done {
			return nil
		}
	}
}

// slowAnswer counts an answer that took half the timeout or more and is not retried (a 4xx
// or a 3xx, each failing its event at once), and sets a pause before the next attempt, the
// retry schedule's step for the count: an endpoint that answers slowly backs off as one that
// times out does, instead of holding a request slot for most of a timeout on every event of
// its backlog. Any other answer ends the run of them.
func (w *worker) slowAnswer(res result) {
	if res.ok() || res.retry || res.latency < w.e.opt.Timeout/2 {
		w.slow = 0
		return
	}
	w.slow++
	w.pauseUntil = w.e.now().Add(w.e.opt.Schedule.step(w.slow))
}

// waitUntil waits until t. Woken meanwhile (the endpoint changed), it reloads the endpoint:
// errStop if it was deleted, disabled, its cursor moved (a replay) or its events changed; at
// once if its URL changed; otherwise it goes on waiting.
func (w *worker) waitUntil(ctx context.Context, ep *store.WebhookEndpoint, t time.Time) error {
	for {
		d := t.Sub(w.e.now())
		if d <= 0 {
			return nil
		}
		timer := time.NewTimer(d)
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-w.drain:
			timer.Stop()
			return errDrain // the retry goes on on the node taking the slot (from the log)
		case <-w.halted.Done():
			timer.Stop()
			return errDrain // the retry goes on from the log, if the endpoint is delivered again
		case <-timer.C:
			return nil
		case <-w.wake:
			timer.Stop()
			cur, err := w.load(ctx)
			if errors.Is(err, store.ErrNotFound) {
				return errStop
			}
			if err != nil {
				continue
			}
			if !cur.Enabled || cur.Cursor != ep.Cursor || !slices.Equal(cur.Events, ep.Events) {
				// Also a change of events: the event retried may no longer be the
				// endpoint's (it was retried for the whole budget).
				return errStop
			}
			changed := cur.URL != ep.URL
			*ep = cur
			if changed {
				return nil
			}
		}
	}
}

// record logs attempt a and, when the event is done with (done: delivered or given up),
// moves the cursor past it; after a failure it starts the endpoint's failing period, and
// disables the endpoint when that has lasted Options.DisableAfter. All in one transaction.
func (w *worker) record(ctx context.Context, ep *store.WebhookEndpoint, a *store.WebhookAttempt, done bool) error {
	e := w.e
	failingSince := time.Time{}
	if a.Outcome != store.WebhookSucceeded {
		failingSince = ep.FailingSince
		if failingSince.IsZero() {
			failingSince = a.At
		}
	}
	to := ep.Cursor
	if done {
		to = a.Sequence
	}
	disable := a.Outcome != store.WebhookSucceeded && e.opt.DisableAfter > 0 && e.now().Sub(failingSince) >= e.opt.DisableAfter
	moved := false
	err := e.st.Update(ctx, func(wr store.Writer) error {
		moved = false
		ok := true
		var err error
		if to > ep.Cursor+1 {
			// The move passes over events the endpoint's events, as read, left out: only if
			// they still are its events (the endpoint is unchanged since it was read; the
			// compare-and-set to the same cursor also holds its row until the commit, on
			// PostgreSQL). Otherwise the worker reads it again and sends what the new events
			// take, this event again among them (the review: an events edit while this
			// attempt was in flight lost the events it then took, before this one).
			ok, err = wr.StepWebhookCursor(ctx, ep.Tenant, ep.ID, ep.Cursor, ep.Cursor, ep.UpdatedAt)
		}
		if ok && err == nil {
			ok, err = wr.MoveWebhookCursor(ctx, ep.Tenant, ep.ID, ep.Cursor, to, failingSince)
		}
		if err != nil {
			return err
		}
		logged := *a // a copy: the store may run this function again
		if ok && disable && a.Outcome == store.WebhookRetrying {
			// Its retry is not made: the log says why (it read "retrying" for good).
			logged.Error += "; the endpoint is disabled (failing for " + e.opt.DisableAfter.String() + "): no retry until it is enabled, which resumes from this event"
		}
		if err := wr.AppendWebhookAttempt(ctx, &logged); err != nil {
			return err
		}
		a.ID = logged.ID
		if !ok {
			return nil
		}
		moved = true
		if disable {
			return w.disable(ctx, wr, *ep, to, failingSince)
		}
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return errStop
	}
	if err != nil {
		return err
	}
	e.m.attempt(a.Outcome, a.Latency)
	if !moved || disable {
		return errStop
	}
	ep.Cursor, ep.FailingSince = to, failingSince
	w.saw(*ep)
	return nil
}

// disable disables ep (livegate's reason) and appends webhook_endpoint.disabled to its app's
// feed, in the caller's transaction.
func (w *worker) disable(ctx context.Context, wr store.Writer, ep store.WebhookEndpoint, cursor uint64, failingSince time.Time) error {
	now := w.e.now()
	cur, err := wr.WebhookEndpoint(ctx, ep.Tenant, ep.ID)
	if err != nil {
		return err
	}
	if !cur.Enabled {
		return nil
	}
	cur.Enabled = false
	cur.DisabledReason = fmt.Sprintf("every delivery attempt failed for %s (since %s); enable the endpoint to resume from its cursor",
		now.Sub(failingSince).Round(time.Second), failingSince.UTC().Format(time.RFC3339))
	cur.UpdatedAt = now
	if err := wr.UpdateWebhookEndpoint(ctx, cur); err != nil {
		return err
	}
	ev := payload.Own(payload.TypeWebhookEndpointDisabled, ep.AccountID, ep.AppID, now)
	ev.Payload = &livegatev1.Event_WebhookEndpointDisabled{WebhookEndpointDisabled: &livegatev1.WebhookEndpointDisabled{
		EndpointId:   ep.ID,
		Name:         cur.Name,
		Url:          cur.URL,
		Reason:       cur.DisabledReason,
		FailingSince: timestamppb.New(failingSince),
		Cursor:       cursor,
	}}
	if err := eventlog.Append(ctx, wr, ev, ev.GetId(), ev.GetId()); err != nil {
		return fmt.Errorf("append webhook_endpoint.disabled of %s: %w", ep.ID, err)
	}
	w.e.log.Warn("webhooks out: endpoint disabled", "account_id", ep.AccountID, "app_id", ep.AppID, "endpoint", ep.ID, "reason", cur.DisabledReason)
	return nil
}

// stepCursor moves ep's cursor to `to` over events ep does not take, as ep was read: not if
// its cursor moved or it changed since (store.Writer.StepWebhookCursor), so that a step decided
// with its old events never skips what new ones take (the review: an edit of the events
// between the read and the move lost the events in between, on any node). The worker then
// reads the endpoint again.
func (w *worker) stepCursor(ctx context.Context, ep store.WebhookEndpoint, to uint64) error {
	moved := false
	err := w.e.st.Update(ctx, func(wr store.Writer) error {
		var err error
		moved, err = wr.StepWebhookCursor(ctx, ep.Tenant, ep.ID, ep.Cursor, to, ep.UpdatedAt)
		return err
	})
	if err == nil && moved {
		ep.Cursor = to
		w.saw(ep)
	}
	return err
}

// moveCursor moves the cursor to `to` and FailingSince to failingSince (compare-and-set on
// the cursor) and reports whether it did.
func (w *worker) moveCursor(ctx context.Context, ep store.WebhookEndpoint, to uint64, failingSince time.Time) (bool, error) {
	moved := false
	err := w.e.st.Update(ctx, func(wr store.Writer) error {
		var err error
		moved, err = wr.MoveWebhookCursor(ctx, ep.Tenant, ep.ID, ep.Cursor, to, failingSince)
		return err
	})
	return moved, err
}

// pingRetryAfter is the Retry-After, in seconds, of a ping refused while another is in flight.
const pingRetryAfter = 1

// errSign wraps a failure to sign an attempt (the endpoint's secret is unreadable).
var errSign = errors.New("sign")

// signer signs the attempts of event id with body b for ep when they are sent (client.post).
func signer(ep store.WebhookEndpoint, id string, b []byte) sign {
	return func(at time.Time) (http.Header, error) {
		ts := at.Unix()
		sig, err := Sign(ep, id, ts, b, at)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errSign, err)
		}
		h := http.Header{}
		h.Set(HeaderID, id)
		h.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
		h.Set(HeaderSignature, sig)
		return h, nil
	}
}

// Ping sends endpoint ep a test event (type webhook.test, sequence 0) now, outside its
// order and its retries, logs the attempt and returns it. The error is the store's (or
// ctx's); an endpoint's failure is the attempt's outcome.
//
// An endpoint has at most one ping in flight on this node, beside its delivery: another is
// refused with TOO_MANY_REQUESTS (five at once made six requests to one receiver).
func (e *Engine) Ping(ctx context.Context, ep store.WebhookEndpoint) (store.WebhookAttempt, error) {
	key := endpointKey{ep.Tenant, ep.ID}
	e.mu.Lock()
	if e.pinging[key] {
		e.mu.Unlock()
		return store.WebhookAttempt{}, apierror.New(apierror.ReasonTooManyRequests,
			"a test of webhook %s is in flight: an endpoint is tested once at a time; retry in %d second", ep.ID, pingRetryAfter).
			With(apierror.RetryAfterKey, strconv.Itoa(pingRetryAfter))
	}
	e.pinging[key] = true
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		delete(e.pinging, key)
		e.mu.Unlock()
	}()
	now := e.now()
	ev := payload.Own(TypeTest, ep.AccountID, ep.AppID, now)
	id := ev.GetId()
	b, err := body(ev, "")
	if err != nil {
		return store.WebhookAttempt{}, err
	}
	res, err := e.client.post(ctx, ep.Tenant, ep.URL, signer(ep, id, b), b, e.now)
	if err != nil {
		return store.WebhookAttempt{}, err
	}
	a := store.WebhookAttempt{
		Tenant: ep.Tenant, EndpointID: ep.ID, At: res.at, EventID: id, EventType: TypeTest, Attempt: 1,
		StatusCode: res.status, Latency: res.latency, Error: res.err, ResponseBody: res.body, Outcome: store.WebhookSucceeded,
	}
	if !res.ok() {
		a.Outcome = store.WebhookFailed
	}
	if err := e.st.Update(ctx, func(w store.Writer) error { return w.AppendWebhookAttempt(ctx, &a) }); err != nil {
		return store.WebhookAttempt{}, err
	}
	e.m.attempt(a.Outcome, a.Latency)
	return a, nil
}
