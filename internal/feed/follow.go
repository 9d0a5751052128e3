package feed

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/store"
)

// ErrShutdown ends a Follow because the server is shutting down; the client resumes from
// its last sequence.
var ErrShutdown = errors.New("feed: server shutting down")

// Replayer reads stored events: those of a tenant after a sequence, matching a filter, in
// sequence order, at most limit and, past the first, at most maxBytes of stored bodies.
// more says it stopped for bytes with more to come. With an error (such as an event that
// cannot be decoded) it may still return the events before the failure: Follow delivers
// them, then ends with the error.
type Replayer interface {
	EventsAfter(ctx context.Context, t store.Tenant, after uint64, f Filter, limit, maxBytes int) (events []*livegatev1.Event, more bool, err error)
}

// Sender receives what Follow delivers.
type Sender interface {
	// Event delivers the next matching event.
	Event(*livegatev1.Event) error
	// Progress says every matching event up to head has been delivered.
	Progress(head uint64) error
}

// ItemSender is a Sender that takes events as Items, with their encoding when the hub or
// the replayer has it (sent as it is, not encoded again): Follow calls Item, not Event.
type ItemSender interface {
	Sender
	// Item delivers the next matching event.
	Item(*Item) error
}

// ItemReplayer is a Replayer that can also read stored events encoded, and checked, but not
// decoded (Items with Encoded set and Event nil). Follow reads through ItemsAfter when its
// Sender is an ItemSender. Its contract is EventsAfter's.
type ItemReplayer interface {
	Replayer
	ItemsAfter(ctx context.Context, t store.Tenant, after uint64, f Filter, limit, maxBytes int) (items []Item, more bool, err error)
}

// Default bounds of a subscription (see Options).
const (
	DefaultReplayBatch      = 500
	DefaultReplayBytes      = 1 << 20
	DefaultStallTimeout     = 30 * time.Second
	DefaultMaxPerApp        = 500
	DefaultMaxSubscriptions = 2000
)

// Options tune Follow, and the subscriptions of the event service.
type Options struct {
	// Queue is the live queue length (0: DefaultQueue).
	Queue int
	// QueueBytes bounds the live queue by the size of the events in it (0: DefaultQueueBytes).
	QueueBytes int
	// ReplayBatch is how many stored events one store read returns (0: DefaultReplayBatch).
	ReplayBatch int
	// ReplayBytes bounds one store read by the size of the stored bodies it returns, past
	// the first (0: DefaultReplayBytes).
	ReplayBytes int
	// StallTimeout is how long a subscriber may not read (a send stays blocked) before its
	// stream is ended with SUBSCRIBER_STALLED (0: DefaultStallTimeout).
	StallTimeout time.Duration
	// MaxPerApp and MaxSubscriptions bound the live subscriptions of one app and of the
	// server (0: DefaultMaxPerApp, DefaultMaxSubscriptions; negative: no bound).
	MaxPerApp        int
	MaxSubscriptions int
	// ProgressEvery is how long without a delivery before a progress message (0: 5s); it is
	// jittered by up to 20% so many idle subscribers do not tick together.
	ProgressEvery time.Duration
	// Observer is told of every event sent and every fall back to the store (metrics);
	// nil: nobody.
	Observer Observer
	// Recheck, when set, is called about every ProgressEvery while the subscription follows,
	// busy or idle, replaying stored events or live, across its falls back to the store: an
	// error ends the subscription with that error (the subscriber's credentials no longer
	// hold).
	Recheck func() error
	// Accepted, when set, is called once, after the first read of stored events and before
	// anything is sent, with that read's error if it failed before it found an event to
	// deliver (nil otherwise). The event service sends the call's header from it, so that
	// an HTTP face answers 200 at once, unless the error is the cursor's own (an event there
	// cannot be read back): the call's status is then its only answer. An SSE client given a
	// 200 and such an error event reconnected to the same cursor, forever; one given a
	// storage failure that way reconnects, as it should. An error from Accepted ends Follow.
	Accepted func(readErr error) error
}

// Observer is told what subscriptions do. Its methods are called on the send path: they
// must be cheap and must not block.
type Observer interface {
	// Sent: an event was handed to the subscriber, lag sequences behind the hub's head.
	Sent(lag uint64)
	// FellBack: the subscriber's live queue overflowed; it reads on from the store.
	FellBack()
}

// sent tells o (if any) that the event seq was sent.
func sent(o Observer, hub *Hub, seq uint64) {
	if o == nil {
		return
	}
	var lag uint64
	if head := hub.Head(); head > seq {
		lag = head - seq
	}
	o.Sent(lag)
}

// Follow delivers the tenant's events after `after` that match f: first those stored, then
// live ones, in sequence order, with no gap and no duplicate, until ctx ends (ctx.Err()),
// the hub shuts down (ErrShutdown), or send fails (that error).
func Follow(ctx context.Context, hub *Hub, r Replayer, t store.Tenant, f Filter, after uint64, send Sender, opt Options) error {
	if opt.ReplayBatch <= 0 {
		opt.ReplayBatch = DefaultReplayBatch
	}
	if opt.ReplayBytes <= 0 {
		opt.ReplayBytes = DefaultReplayBytes
	}
	if opt.ProgressEvery <= 0 {
		opt.ProgressEvery = 5 * time.Second
	}
	cursor := after
	lastSent := time.Now()
	rc := &rechecker{fn: opt.Recheck, every: opt.ProgressEvery, next: lastSent.Add(opt.ProgressEvery)}
	accepted := opt.Accepted
	for {
		// Register first, then read the store: anything committed after the read is in the
		// queue; anything committed before it is in the read; both is skipped by sequence.
		sub := hub.Subscribe(t, f, opt.Queue, opt.QueueBytes)
		var err error
		cursor, err = replay(ctx, hub, r, t, f, cursor, opt.ReplayBatch, opt.ReplayBytes, send, &lastSent, opt.Observer, rc, accepted)
		accepted = nil
		if err == nil {
			cursor, err = live(ctx, hub, sub, cursor, send, &lastSent, opt.ProgressEvery, opt.Observer, rc)
		}
		sub.Unsubscribe()
		if !errors.Is(err, errOverflow) {
			return err
		}
		if opt.Observer != nil {
			opt.Observer.FellBack()
		}
		// The queue overflowed: catch up from the store and register again.
	}
}

var errOverflow = errors.New("feed: live queue overflowed")

// rechecker calls Options.Recheck about every `every` for one subscription, whatever it is
// doing: replaying (a backlog of hours, to a slow reader, takes as long as it takes), live
// with a queue that never empties, or falling back to the store again and again. (Until
// 2026-11-29 only live's progress tick rechecked: a revoked token read on through a whole
// replay, and through a subscription that overflowed more often than its tick.)
type rechecker struct {
	fn    func() error
	every time.Duration
	next  time.Time
}

// due calls fn, if set, when its time has come by now (give or take a fifth of the interval,
// the progress tick's jitter) and returns its error.
func (r *rechecker) due(now time.Time) error {
	if r.fn == nil || now.Before(r.next.Add(-r.every/5)) {
		return nil
	}
	r.next = now.Add(r.every)
	return r.fn()
}

// deliver hands an event to send: as an Item to an ItemSender, else decoded.
func deliver(send Sender, it *Item) error {
	if is, ok := send.(ItemSender); ok {
		return is.Item(it)
	}
	return send.Event(it.Event)
}

// readAfter reads a page of stored events after cursor: encoded and not decoded when both
// the replayer and the sender can (ItemReplayer, ItemSender), else decoded.
func readAfter(ctx context.Context, r Replayer, send Sender, t store.Tenant, f Filter, cursor uint64, batch, maxBytes int) ([]Item, bool, error) {
	if ir, ok := r.(ItemReplayer); ok {
		if _, ok := send.(ItemSender); ok {
			return ir.ItemsAfter(ctx, t, cursor, f, batch, maxBytes)
		}
	}
	events, more, err := r.EventsAfter(ctx, t, cursor, f, batch, maxBytes)
	items := make([]Item, len(events))
	for i, ev := range events {
		items[i] = Item{Sequence: ev.GetSequence(), Event: ev}
	}
	return items, more, err
}

// page is what one store read returned.
type page struct {
	items []Item
	more  bool
	err   error
}

// replay delivers the stored events after cursor. While one page is delivered, the next is
// read (on a goroutine of its own): the store read and the sends overlap. accepted, if set,
// is called after the first read (see Options.Accepted).
func replay(ctx context.Context, hub *Hub, r Replayer, t store.Tenant, f Filter, cursor uint64, batch, maxBytes int, send Sender, lastSent *time.Time, o Observer, rc *rechecker, accepted func(error) error) (uint64, error) {
	read := func(after uint64) page {
		items, more, err := readAfter(ctx, r, send, t, f, after, batch, maxBytes)
		return page{items, more, err}
	}
	next := read(cursor)
	if accepted != nil {
		var readErr error
		if len(next.items) == 0 {
			readErr = next.err
		}
		if err := accepted(readErr); err != nil {
			return cursor, err
		}
	}
	for {
		items, more, rerr := next.items, next.more, next.err
		var ahead chan page
		if rerr == nil && (len(items) >= batch || more) && len(items) > 0 {
			ahead = make(chan page, 1)
			after := items[len(items)-1].Sequence
			go func() { ahead <- read(after) }()
		}
		// What was read before a failure is delivered first: the stream ends right before
		// the event it could not read.
		for i := range items {
			it := &items[i]
			if err := deliver(send, it); err != nil {
				if ahead != nil {
					<-ahead // no read outlives the replay
				}
				return cursor, err
			}
			sent(o, hub, it.Sequence)
			cursor = it.Sequence
			*lastSent = time.Now()
			if err := rc.due(*lastSent); err != nil {
				if ahead != nil {
					<-ahead
				}
				return cursor, err
			}
		}
		if rerr != nil {
			return cursor, fmt.Errorf("replay events after %d: %w", cursor, rerr)
		}
		if ahead == nil {
			return cursor, nil
		}
		next = <-ahead
		// A subscriber gone while the page was read gets nothing more (the page may have
		// been read before it went).
		if err := ctx.Err(); err != nil {
			return cursor, err
		}
	}
}

// live delivers what the hub queues for sub after cursor, and a progress message when
// nothing was sent for every, until ctx ends, the hub shuts down, or a send or recheck fails.
//
// It waits on sub.wake alone: a publish, the progress timer, ctx's end and the hub's shutdown
// all signal it, and the loop then looks at each. (Waiting in a select on four channels, one
// of them a ticker's, cost per event and subscriber four channel locks and a timer's block
// and unblock: a tenth of BenchmarkFeed's CPU at 1,000 subscribers.)
func live(ctx context.Context, hub *Hub, sub *Subscription, cursor uint64, send Sender, lastSent *time.Time, every time.Duration, o Observer, rc *rechecker) (uint64, error) {
	var tick atomic.Bool
	timer := time.AfterFunc(jitter(every), func() {
		tick.Store(true)
		sub.notify()
	})
	defer timer.Stop()
	defer context.AfterFunc(ctx, sub.notify)()
	// Taken once: ctx.Done() (and ctx.Err()) walk the context's chain of values, one per
	// interceptor, on every call. Shutdown notifies every subscription after closing the hub.
	ctxDone, hubDone := ctx.Done(), hub.Done()
	for {
		// Drain what is queued.
		for {
			it, overflowed := sub.pop()
			if overflowed {
				// Dropped events are all after cursor (the last sent): the store has them.
				return cursor, errOverflow
			}
			if it == nil {
				break
			}
			if it.Sequence <= cursor {
				continue // already delivered by the replay
			}
			if err := deliver(send, it); err != nil {
				return cursor, err
			}
			sent(o, hub, it.Sequence)
			cursor = it.Sequence
			*lastSent = time.Now()
			if err := rc.due(*lastSent); err != nil {
				return cursor, err
			}
		}
		// One channel per select: a select of one case and a default takes no lock.
		select {
		case <-ctxDone:
			return cursor, ctx.Err()
		default:
		}
		select {
		case <-hubDone:
			return cursor, ErrShutdown
		default:
		}
		if tick.Swap(false) {
			if err := rc.due(time.Now()); err != nil {
				return cursor, err
			}
			// A progress comes once nothing was sent for a jittered interval: now, if the
			// last message went at least the shortest one ago; else the next tick is set for
			// when its interval is up. (Ticks a jittered interval apart that each wanted a
			// full interval since the last message sent most progress a tick late: 8-10 s
			// apart for the default 5 s.)
			quiet := time.Since(*lastSent)
			if quiet >= every-every/5 && progress(hub, sub, &cursor) {
				if err := send.Progress(cursor); err != nil {
					return cursor, err
				}
				*lastSent = time.Now()
				quiet = 0
			}
			timer.Reset(max(jitter(every)-quiet, every/5))
			continue
		}
		<-sub.wake
	}
}

// progress reports whether a progress message is due now that nothing is queued: it reads
// the head, then checks the queue is still empty, and then every matching event up to head
// has been delivered (Publish queues, or overflows the queue, before it moves the head);
// cursor moves to the head.
func progress(hub *Hub, sub *Subscription, cursor *uint64) bool {
	head := hub.Head()
	if !sub.idle() {
		return false
	}
	*cursor = max(*cursor, head)
	return true
}

func jitter(d time.Duration) time.Duration {
	return d - time.Duration(rand.Int64N(int64(d)/5+1))
}
