package outbound_test

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livegate/livegate/internal/apierror"
	"github.com/livegate/livegate/internal/outbound"
	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/testenv"
)

// writesFail is a store whose writes fail while fail is set, as a full disk makes them
// (reads go on working): STORAGE_UNAVAILABLE, kind full.
type writesFail struct {
	store.Store
	fail atomic.Bool
}

func (s *writesFail) Update(ctx context.Context, fn func(store.Writer) error) error {
	if s.fail.Load() {
		return apierror.New(apierror.ReasonStorageUnavailable, "the database is full (the disk, or its size limit)").With("kind", "full")
	}
	return s.Store.Update(ctx, fn)
}

// TestRecordFailuresBackOff: while the store cannot record deliveries but still reads, a
// worker backs off by 1 s more after each failure (up to 30 s) and warns on the first and
// every 60th, as for any run of store errors. Until 2026-11-29 the read that began each
// round reset the run: the storage audit's receiver got the same event 17 times in 17 s, a
// warning a second with it.
func TestRecordFailuresBackOff(t *testing.T) {
	var st *writesFail
	logs := &testenv.SyncBuffer{}
	f := newFixtureOn(t, outbound.Options{}, func(real store.Store) store.Store {
		st = &writesFail{Store: real}
		return st
	}, logs)

	var secret string
	srv, got := receiver(t, func() string { return secret }, func(int) int { return http.StatusOK })
	e := f.endpoint(srv.URL, "livestreaming.statusUpdate")
	secret = e.Secret
	f.appendStatus("ls-1")
	testenv.WaitFor(t, "the first event delivered and recorded", func() bool { return len(f.attempts(e.ID)) == 1 })
	st.fail.Store(true)
	// An event committed as the disk fills: it can be sent, its record cannot be written.
	(&fixture{t: t, st: st.Store, eng: f.eng}).appendStatus("ls-2")
	testenv.WaitFor(t, "the first attempt at the second event", func() bool { return len(got()) >= 2 })
	time.Sleep(4500 * time.Millisecond)
	n := len(got()) - 1 // attempts at the second event
	warns := strings.Count(logs.String(), "webhooks out: record a delivery")
	st.fail.Store(false)
	// Backing off 1 s, then 2 s, then 3 s: three attempts in 4.5 s at most (one a second
	// before: five).
	if n > 3 || warns != 1 {
		t.Errorf("in 4.5 s of failed records: %d attempts and %d warnings, want at most 3 and 1", n, warns)
	}
	testenv.WaitFor(t, "the event recorded once the store writes again", func() bool {
		return len(f.attempts(e.ID)) == 2
	})
}
