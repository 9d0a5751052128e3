package webhook

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	rtmpv1 "github.com/livegate/livegate/gen/go/livegate/rtmp/v1"
	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/eventlog"
	"github.com/livegate/livegate/internal/projection"
	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/store/sqlite"
)

// reapRig is a WebhookService on a real SQLite store whose livestream "ls" has a publisher
// (client 7) that went live at t0 and that nginx-rtmp then stopped reporting; the service's
// clock reads now.
type reapRig struct {
	ctx context.Context
	st  store.Store
	tn  store.Tenant
	t0  time.Time
	s   *Server
	now atomic.Pointer[time.Time]
}

func newReapRig(t *testing.T) *reapRig {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	r := &reapRig{ctx: ctx, st: st, tn: store.Tenant{AccountID: "acc", AppID: "app"}, t0: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
	err = st.Update(ctx, func(w store.Writer) error {
		return w.CreateLivestream(ctx, store.Livestream{Tenant: r.tn, ID: "ls", Name: "n", StreamKey: "key", Status: store.StatusIdle, Provider: "rtmp", CreatedAt: r.t0, UpdatedAt: r.t0})
	})
	if err != nil {
		t.Fatal(err)
	}
	const secret = "0123456789abcdefghij"
	r.s = NewServer(st, RTMP{Secret: secret, Ingest: projection.Ingest{StaleAfter: 90 * time.Second}})
	r.setNow(r.t0)
	r.s.now = func() time.Time { return *r.now.Load() }
	pub, err := r.s.DeliverRtmpCallback(ctx, &livegatev1.DeliverRtmpCallbackRequest{CallbackSecret: secret,
		Callback: &rtmpv1.Callback{Call: "publish", App: "live", Name: "key", Clientid: new(uint64(7))}})
	if err != nil || pub.GetRenameTo() != "ls" {
		t.Fatalf("publish: %v %v", pub, err)
	}
	return r
}

func (r *reapRig) setNow(at time.Time) { r.now.Store(&at) }

// livestream is "ls" as stored.
func (r *reapRig) livestream(t *testing.T) store.Livestream {
	t.Helper()
	var l store.Livestream
	if err := r.st.View(r.ctx, func(rd store.Reader) error {
		var err error
		l, err = rd.Livestream(r.ctx, r.tn, "ls")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return l
}

// feed is the tenant's stored events, decoded.
func (r *reapRig) feed(t *testing.T) []*livegatev1.Event {
	t.Helper()
	var recs []store.Event
	if err := r.st.View(r.ctx, func(rd store.Reader) error {
		var err error
		recs, err = rd.EventsAfter(r.ctx, r.tn, 0, store.EventFilter{}, 100)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	evs, err := eventlog.DecodeAll(recs)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// TestReapRtmpClients: a publisher whose publish_done never comes is accounted for once
// nginx-rtmp has not reported it for the stale time, with a status change in the feed.
func TestReapRtmpClients(t *testing.T) {
	r := newReapRig(t)
	r.setNow(r.t0.Add(89 * time.Second))
	if n, err := r.s.ReapRtmpClients(r.ctx); n != 0 || err != nil {
		t.Fatalf("reaped %d (%v) within the stale time", n, err)
	}
	r.setNow(r.t0.Add(91 * time.Second))
	if n, err := r.s.ReapRtmpClients(r.ctx); n != 1 || err != nil {
		t.Fatalf("reaped %d (%v), want the publisher", n, err)
	}
	if l := r.livestream(t); l.Status != store.StatusIdle {
		t.Errorf("livestream %s after the reap, want IDLE", l.Status)
	}
	decoded := r.feed(t)
	var types []string
	for _, e := range decoded {
		types = append(types, e.GetType())
	}
	if got := strings.Join(types, " "); got != "rtmp.publish livestream.status_changed livestream.status_changed" {
		t.Fatalf("feed %s", got)
	}
	sc := decoded[2].GetLivestreamStatusChanged()
	if sc.GetNewStatus() != livegatev1.LivestreamStatus_IDLE || sc.GetCauseSequence() != 0 || !strings.Contains(sc.GetReason(), "not reported") {
		t.Errorf("reap's status change %v, want → IDLE, no cause event, a reason", sc)
	}
}

// TestReaperRun: the reaper worker, left running, accounts for a publisher nginx-rtmp
// stopped reporting (its livestream goes IDLE with a status change in the feed), and
// returns nil once its context ends.
func TestReaperRun(t *testing.T) {
	r := newReapRig(t)
	r.setNow(r.t0.Add(91 * time.Second))
	runCtx, cancel := context.WithCancel(r.ctx)
	done := make(chan error, 1)
	go func() {
		done <- Reaper{Webhooks: r.s, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Interval: 20 * time.Millisecond}.Run(runCtx)
	}()
	for deadline := time.Now().Add(10 * time.Second); r.livestream(t).Status != store.StatusIdle; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("the livestream is still %s: the reaper did not reap the stale publisher", r.livestream(t).Status)
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
	if evs := r.feed(t); len(evs) != 3 || evs[2].GetLivestreamStatusChanged().GetNewStatus() != livegatev1.LivestreamStatus_IDLE {
		t.Errorf("feed %v, want the publish, its change to LIVE, and the reaper's change to IDLE", evs)
	}
}
