package webhook

import (
	"context"
	"strings"
	"testing"
	"time"

	rtmpv1 "github.com/livegate/livegate/gen/go/livegate/rtmp/v1"
	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/eventlog"
	"github.com/livegate/livegate/internal/projection"
	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/store/sqlite"
)

// TestReapRtmpClients: a publisher whose publish_done never comes is accounted for once
// nginx-rtmp has not reported it for the stale time, with a status change in the feed.
func TestReapRtmpClients(t *testing.T) {
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
	now := t0
	s.now = func() time.Time { return now }

	pub, err := s.DeliverRtmpCallback(ctx, &livegatev1.DeliverRtmpCallbackRequest{CallbackSecret: secret,
		Callback: &rtmpv1.Callback{Call: "publish", App: "live", Name: "key", Clientid: new(uint64(7))}})
	if err != nil || pub.GetRenameTo() != "ls" {
		t.Fatalf("publish: %v %v", pub, err)
	}
	now = t0.Add(89 * time.Second)
	if n, err := s.ReapRtmpClients(ctx); n != 0 || err != nil {
		t.Fatalf("reaped %d (%v) within the stale time", n, err)
	}
	now = t0.Add(91 * time.Second)
	if n, err := s.ReapRtmpClients(ctx); n != 1 || err != nil {
		t.Fatalf("reaped %d (%v), want the publisher", n, err)
	}

	var evs []store.Event
	var l store.Livestream
	err = st.View(ctx, func(r store.Reader) error {
		if l, err = r.Livestream(ctx, tn, "ls"); err != nil {
			return err
		}
		evs, err = r.EventsAfter(ctx, tn, 0, store.EventFilter{}, 100)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if l.Status != store.StatusIdle {
		t.Errorf("livestream %s after the reap, want IDLE", l.Status)
	}
	decoded, err := eventlog.DecodeAll(evs)
	if err != nil {
		t.Fatal(err)
	}
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
