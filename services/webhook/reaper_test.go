package webhook

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	rtmpv1 "github.com/livegate/livegate/gen/go/livegate/rtmp/v1"
	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/eventlog"
	"github.com/livegate/livegate/internal/projection"
	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/store/sqlite"
)

// TestReaperRun: the reaper worker, left running, accounts for a publisher nginx-rtmp
// stopped reporting (its livestream goes IDLE with a status change in the feed), and
// returns nil once its context ends.
func TestReaperRun(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	tn := store.Tenant{AccountID: "acc", AppID: "app"}
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	err = st.Update(ctx, func(w store.Writer) error {
		return w.CreateLivestream(ctx, store.Livestream{Tenant: tn, ID: "ls", Name: "n", StreamKey: "key", Status: store.StatusIdle, Provider: "rtmp", CreatedAt: t0, UpdatedAt: t0})
	})
	if err != nil {
		t.Fatal(err)
	}
	const secret = "0123456789abcdefghij"
	s := NewServer(st, RTMP{Secret: secret, Ingest: projection.Ingest{StaleAfter: 90 * time.Second}})
	s.now = func() time.Time { return t0 }
	if _, err := s.DeliverRtmpCallback(ctx, &livegatev1.DeliverRtmpCallbackRequest{CallbackSecret: secret,
		Callback: &rtmpv1.Callback{Call: "publish", App: "live", Name: "key", Clientid: new(uint64(7))}}); err != nil {
		t.Fatal(err)
	}
	s.now = func() time.Time { return t0.Add(91 * time.Second) } // set before Run reads it

	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- Reaper{Webhooks: s, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Interval: 20 * time.Millisecond}.Run(runCtx)
	}()
	status := func() store.Status {
		var l store.Livestream
		if err := st.View(ctx, func(r store.Reader) error {
			var err error
			l, err = r.Livestream(ctx, tn, "ls")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return l.Status
	}
	for deadline := time.Now().Add(10 * time.Second); status() != store.StatusIdle; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("the livestream is still %s: the reaper did not reap the stale publisher", status())
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
	var recs []store.Event
	if err := st.View(ctx, func(r store.Reader) error {
		recs, err = r.EventsAfter(ctx, tn, 0, store.EventFilter{}, 100)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	evs, err := eventlog.DecodeAll(recs)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 3 || evs[2].GetLivestreamStatusChanged().GetNewStatus() != livegatev1.LivestreamStatus_IDLE {
		t.Errorf("feed %v, want the publish, its change to LIVE, and the reaper's change to IDLE", evs)
	}
}
