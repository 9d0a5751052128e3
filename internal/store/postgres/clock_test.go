package postgres

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/livegate/livegate/internal/apierror"
	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/testenv"
)

// stamped is an event received at the time clock says now, as a node stamps what it ingests.
func stamped(key string, clock func() time.Time) *store.Event {
	e := event(key)
	e.ReceivedAt = clock()
	return e
}

func skewed(d time.Duration) func() time.Time { return func() time.Time { return time.Now().Add(d) } }

// TestClockBehindCannotPruneOthersEvents: two nodes share the feed, one with its clock two
// hours behind, and retention keeps an hour. Were the late node's event stored, stamped two
// hours early, retention would delete with it every event before it, among them one the
// other node acknowledged a moment ago. The late node's writes are refused
// (STORAGE_UNAVAILABLE, naming the offset) instead, so retention deletes nothing, and they
// go through again once its clock is right.
func TestClockBehindCannotPruneOthersEvents(t *testing.T) {
	dsn := testenv.PostgresDB(t)
	right, late := openT(t, dsn), openT(t, dsn)
	late.now = skewed(-2 * time.Hour)
	ctx := t.Context()

	if err := appendOne(ctx, right, stamped("right-1", right.now)); err != nil {
		t.Fatal(err)
	}
	err := appendOne(ctx, late, stamped("late-1", late.now))
	var ae *apierror.Error
	if !errors.As(err, &ae) || ae.Reason != apierror.ReasonStorageUnavailable || ae.Metadata["kind"] != "clock_offset" ||
		!strings.Contains(ae.Message, "2h0m0s behind the database's") || !strings.Contains(ae.Message, "1m0s allowed") {
		t.Errorf("a write from the node two hours behind: %v, want STORAGE_UNAVAILABLE (kind clock_offset) naming the offset and the limit", err)
	}
	if p := clockProblem(late); !strings.Contains(p, "behind") {
		t.Errorf("clockProblem = %q, want the offset", p)
	}
	if err := late.HealthCheck(ctx); err == nil || !strings.Contains(err.Error(), "2h0m0s behind") {
		t.Errorf("HealthCheck (/readyz) on the late node: %v, want the offset", err)
	}
	if err := right.HealthCheck(ctx); err != nil {
		t.Errorf("HealthCheck on the right node: %v", err)
	}
	if p := clockProblem(right); p != "" {
		t.Errorf("the right node's clockProblem = %q, want none", p)
	}
	if err := appendOne(ctx, right, stamped("right-2", right.now)); err != nil {
		t.Fatal(err)
	}

	// Retention, an hour, by the node whose clock is right.
	var pruned int
	if err := right.Update(ctx, func(w store.Writer) error {
		var err error
		pruned, err = w.PruneEvents(ctx, right.now().Add(-time.Hour), 0, 0)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if pruned != 0 {
		t.Errorf("retention of an hour pruned %d events received a moment ago", pruned)
	}
	var keys []string
	if err := right.View(ctx, func(r store.Reader) error {
		evs, err := r.EventsAfter(ctx, tenant, 0, store.EventFilter{}, 10)
		for _, e := range evs {
			keys = append(keys, e.DedupeKey)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(keys, ",") != "right-1,right-2" {
		t.Errorf("the feed holds %v, want right-1,right-2", keys)
	}

	// Its clock set right, the late node writes again.
	late.now = time.Now
	if err := appendOne(ctx, late, stamped("late-2", late.now)); err != nil {
		t.Fatalf("a write once the clock is right: %v", err)
	}
	if p := clockProblem(late); p != "" {
		t.Errorf("clockProblem once the clock is right = %q, want none", p)
	}
	if err := late.HealthCheck(ctx); err != nil {
		t.Errorf("HealthCheck once the clock is right: %v", err)
	}
}

// TestClockAheadRefused: a clock ahead by more than the limit is refused too, and the check
// can be turned off.
func TestClockAheadRefused(t *testing.T) {
	dsn := testenv.PostgresDB(t)
	s := openT(t, dsn)
	s.now = skewed(90 * time.Second)
	ctx := t.Context()
	err := appendOne(ctx, s, event("ahead"))
	var ae *apierror.Error
	if !errors.As(err, &ae) || ae.Reason != apierror.ReasonStorageUnavailable || !strings.Contains(ae.Message, "1m30s ahead of the database's") {
		t.Fatalf("a write from a node 90 s ahead: %v, want STORAGE_UNAVAILABLE naming the offset", err)
	}
	s.SetMaxClockOffset(2 * time.Minute)
	if err := appendOne(ctx, s, event("within")); err != nil {
		t.Fatalf("90 s ahead with 2 minutes allowed: %v", err)
	}
	s.now = skewed(24 * time.Hour)
	s.SetMaxClockOffset(0)
	if err := appendOne(ctx, s, event("off")); err != nil {
		t.Fatalf("the check turned off: %v", err)
	}
}

// TestClockCheckAllowsLockWaits: the database's clock is read once the write lock is granted,
// so a write that waited for the lock longer than the allowed offset is not taken for a node
// whose clock is off.
func TestClockCheckAllowsLockWaits(t *testing.T) {
	dsn := testenv.PostgresDB(t)
	holder, waiter := openT(t, dsn), openT(t, dsn)
	waiter.SetMaxClockOffset(100 * time.Millisecond)
	ctx := t.Context()
	entered := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- holder.Update(ctx, func(store.Writer) error {
			close(entered)
			time.Sleep(600 * time.Millisecond)
			return nil
		})
	}()
	<-entered
	start := time.Now()
	if err := appendOne(context.Background(), waiter, event("waited")); err != nil {
		t.Fatalf("a write that waited for the lock: %v", err)
	}
	if waited := time.Since(start); waited < 300*time.Millisecond {
		t.Errorf("the write waited %s for the lock, want most of the 600 ms it was held (the test proves nothing)", waited)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// clockProblem is why s refuses writes for its clock ("" when its last check found it right,
// or none ran).
func clockProblem(s *Store) string {
	if p := s.clockProblem.Load(); p != nil {
		return *p
	}
	return ""
}
