package feed

import (
	"slices"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/store"
)

// TestPublishCommittedDropsPublished: a hub fed twice with overlapping batches (a log
// follower re-reading after a reconnect, two feeders at once) queues each event once, in
// order, and its head never moves back.
func TestPublishCommittedDropsPublished(t *testing.T) {
	tenant := store.Tenant{AccountID: "acc", AppID: "app"}
	rec := func(seq uint64) store.Event {
		body, err := proto.Marshal(&livegatev1.Event{AccountId: tenant.AccountID, AppId: tenant.AppID})
		if err != nil {
			t.Fatal(err)
		}
		return store.Event{Sequence: seq, Tenant: tenant, Body: body}
	}
	recs := func(from, to uint64) []store.Event {
		var out []store.Event
		for s := from; s <= to; s++ {
			out = append(out, rec(s))
		}
		return out
	}
	h := NewHub(2)
	sub := h.Subscribe(tenant, Filter{}, 10000, 1<<30)
	defer sub.Unsubscribe()
	h.PublishCommitted(recs(1, 4)) // 1 and 2 were published before the hub's start
	h.PublishCommitted(recs(3, 6))
	h.PublishCommitted(recs(2, 3))
	// Two feeders at once, each with the whole range: still each event once.
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for to := uint64(7); to <= 200; to++ {
				h.PublishCommitted(recs(max(to-5, 1), to))
			}
		})
	}
	wg.Wait()
	var got []uint64
	for {
		ev, overflowed := sub.pop()
		if overflowed {
			t.Fatal("the queue overflowed")
		}
		if ev == nil {
			break
		}
		got = append(got, ev.GetSequence())
	}
	var want []uint64
	for s := uint64(3); s <= 200; s++ {
		want = append(want, s)
	}
	if !slices.Equal(got, want) {
		t.Errorf("queued %v,\nwant 3..200 once each", got)
	}
	if h.Head() != 200 {
		t.Errorf("Head() = %d, want 200", h.Head())
	}
}
