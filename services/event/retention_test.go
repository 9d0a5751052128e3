package event_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/eventlog"
	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/store/sqlite"
	"github.com/livegate/livegate/services/event"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// storeWithEvents returns a SQLite store holding n events of one tenant.
func storeWithEvents(t *testing.T, n int) store.Store {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	err = st.Update(ctx, func(w store.Writer) error {
		for i := range n {
			id := fmt.Sprint("ev-", i)
			ev := &livegatev1.Event{Id: id, Type: "custom.thing", Source: "hms", AccountId: "acc", AppId: "app",
				OccurredAt: timestamppb.Now(), ReceivedAt: timestamppb.Now()}
			if err := eventlog.Append(ctx, w, ev, id, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func bounds(t *testing.T, st store.Store) (head, pruned uint64) {
	t.Helper()
	if err := st.View(context.Background(), func(r store.Reader) error {
		var err error
		head, pruned, err = r.FeedBounds(context.Background())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return head, pruned
}

// TestPrunerRun: the retention worker, left running, prunes the feed down to what the
// retention keeps, and returns nil once its context ends.
func TestPrunerRun(t *testing.T) {
	st := storeWithEvents(t, 5)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- event.Pruner{Retention: event.Retention{MaxEvents: 2}, Store: st, Log: quiet, Interval: 20 * time.Millisecond}.Run(ctx)
	}()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if head, pruned := bounds(t, st); head == 5 && pruned == 3 {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("feed bounds head %d pruned %d, want 5 and 3 (two events kept)", head, pruned)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run returned %v after its context ended, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

// TestPrunerKeepsAll: a retention that keeps everything prunes nothing, and its worker
// returns at once.
func TestPrunerKeepsAll(t *testing.T) {
	st := storeWithEvents(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := (event.Pruner{Store: st, Log: quiet, Interval: time.Millisecond}).Run(ctx); err != nil || ctx.Err() != nil {
		t.Fatalf("Run = %v (context %v), want nil at once", err, ctx.Err())
	}
	if _, pruned := bounds(t, st); pruned != 0 {
		t.Errorf("pruned up to %d, want nothing", pruned)
	}
}

// TestPruneOnceInBatches: a backlog is pruned in transactions of at most PruneBatch events
// (each holds the write lock, every node's on PostgreSQL), until retention keeps what it
// should. Until 2026-11-29 it was one DELETE: 1.5 million events held up all ingest for 4.2 s,
// and a backlog whose delete outlasted statement_timeout was never pruned.
func TestPruneOnceInBatches(t *testing.T) {
	n := 2*event.PruneBatch + 500
	st := storeWithEvents(t, n)
	var batches []int
	if err := (event.Retention{MaxEvents: 100}).PruneOnce(context.Background(), st, time.Now(), func(n int) { batches = append(batches, n) }); err != nil {
		t.Fatal(err)
	}
	if want := []int{event.PruneBatch, event.PruneBatch, 400}; !slices.Equal(batches, want) {
		t.Errorf("pruned in batches of %v, want %v", batches, want)
	}
	if head, pruned := bounds(t, st); head != uint64(n) || pruned != uint64(n-100) {
		t.Errorf("FeedBounds = (%d, %d), want (%d, %d): the last 100 kept", head, pruned, n, n-100)
	}
}
