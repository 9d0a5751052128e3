package feed

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/store"
)

// ErrShutdown ends a Follow because the server is shutting down; the client resumes from
// its last sequence.
var ErrShutdown = errors.New("feed: server shutting down")

// Replayer reads stored events: those of a tenant after a sequence, matching a filter, in
// sequence order, at most limit.
type Replayer interface {
	EventsAfter(ctx context.Context, t store.Tenant, after uint64, f Filter, limit int) ([]*livegatev1.Event, error)
}

// Sender receives what Follow delivers.
type Sender interface {
	// Event delivers the next matching event.
	Event(*livegatev1.Event) error
	// Progress says every matching event up to head has been delivered.
	Progress(head uint64) error
}

// Options tune Follow.
type Options struct {
	// Queue is the live queue length (0: DefaultQueue).
	Queue int
	// ReplayBatch is how many stored events one store read returns (0: 500).
	ReplayBatch int
	// ProgressEvery is how long without a delivery before a progress message (0: 5s); it is
	// jittered by up to 20% so many idle subscribers do not tick together.
	ProgressEvery time.Duration
}

// Follow delivers the tenant's events after `after` that match f: first those stored, then
// live ones, in sequence order, with no gap and no duplicate, until ctx ends (ctx.Err()),
// the hub shuts down (ErrShutdown), or send fails (that error).
func Follow(ctx context.Context, hub *Hub, r Replayer, t store.Tenant, f Filter, after uint64, send Sender, opt Options) error {
	if opt.ReplayBatch <= 0 {
		opt.ReplayBatch = 500
	}
	if opt.ProgressEvery <= 0 {
		opt.ProgressEvery = 5 * time.Second
	}
	cursor := after
	lastSent := time.Now()
	for {
		// Register first, then read the store: anything committed after the read is in the
		// queue; anything committed before it is in the read; both is skipped by sequence.
		sub := hub.Subscribe(t, f, opt.Queue)
		var err error
		cursor, err = replay(ctx, r, t, f, cursor, opt.ReplayBatch, send, &lastSent)
		if err == nil {
			cursor, err = live(ctx, hub, sub, cursor, send, &lastSent, opt.ProgressEvery)
		}
		sub.Unsubscribe()
		if !errors.Is(err, errOverflow) {
			return err
		}
		// The queue overflowed: catch up from the store and register again.
	}
}

var errOverflow = errors.New("feed: live queue overflowed")

func replay(ctx context.Context, r Replayer, t store.Tenant, f Filter, cursor uint64, batch int, send Sender, lastSent *time.Time) (uint64, error) {
	for {
		events, err := r.EventsAfter(ctx, t, cursor, f, batch)
		if err != nil {
			return cursor, fmt.Errorf("replay events after %d: %w", cursor, err)
		}
		for _, ev := range events {
			if err := send.Event(ev); err != nil {
				return cursor, err
			}
			cursor = ev.GetSequence()
			*lastSent = time.Now()
		}
		if len(events) < batch {
			return cursor, nil
		}
	}
}

func live(ctx context.Context, hub *Hub, sub *Subscription, cursor uint64, send Sender, lastSent *time.Time, every time.Duration) (uint64, error) {
	ticker := time.NewTicker(jitter(every))
	defer ticker.Stop()
	for {
		// Drain what is queued.
		for drained := false; !drained; {
			select {
			case ev := <-sub.ch:
				if ev.GetSequence() <= cursor {
					continue // already delivered by the replay
				}
				if err := send.Event(ev); err != nil {
					return cursor, err
				}
				cursor = ev.GetSequence()
				*lastSent = time.Now()
			default:
				drained = true
			}
		}
		if sub.Overflowed() {
			return cursor, errOverflow
		}
		select {
		case <-ctx.Done():
			return cursor, ctx.Err()
		case <-hub.Done():
			return cursor, ErrShutdown
		case <-sub.wake:
		case <-ticker.C:
			if time.Since(*lastSent) < every {
				continue
			}
			// Read the head, then check the queue is still empty: then every matching event up
			// to head has been delivered (Publish queues before it moves the head).
			head := hub.Head()
			if len(sub.ch) > 0 || sub.Overflowed() {
				continue
			}
			if head > cursor {
				cursor = head
			}
			if err := send.Progress(cursor); err != nil {
				return cursor, err
			}
			*lastSent = time.Now()
		}
	}
}

func jitter(d time.Duration) time.Duration {
	return d - time.Duration(rand.Int64N(int64(d)/5+1))
}
