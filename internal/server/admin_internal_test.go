package server

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/livegate/livegate/internal/feed"
	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/store/sqlite"
)

// TestReadinessFeedBehind: the readiness check says the feed is not following the log when
// the hub stays behind a head the store reported for longer than FollowGrace, and is ready
// again once the hub reaches it. The store is a real SQLite database; the hub is not fed (as
// when a node's log follower is stuck); time is the test's.
func TestReadinessFeedBehind(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	hub := feed.NewHub(0) // fed by nobody
	now := time.Unix(1_800_000_000, 0)
	r := &readiness{store: db, hub: hub, now: func() time.Time { return now }}
	if why := r.check(ctx); why != "" {
		t.Fatalf("empty store: %q, want ready", why)
	}
	var recs []store.Event
	err = db.Update(ctx, func(w store.Writer) error {
		for i := range 3 {
			e := store.Event{Tenant: store.Tenant{AccountID: "a", AppID: "b"}, Source: "hms", Type: "t",
				DeliveryID: "d", DedupeKey: string(rune('x' + i)), ReceivedAt: now, Body: []byte{}}
			if err := w.AppendEvent(ctx, &e); err != nil {
				return err
			}
			recs = append(recs, e)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if why := r.check(ctx); why != "" {
		t.Fatalf("just committed: %q, want ready (within the grace)", why)
	}
	now = now.Add(FollowGrace - time.Second)
	if why := r.check(ctx); why != "" {
		t.Fatalf("behind for less than the grace: %q, want ready", why)
	}
	now = now.Add(2 * time.Second)
	why := r.check(ctx)
	if !strings.Contains(why, "the feed is not following the log: its head is sequence 0, the store's reached 3") {
		t.Fatalf("behind past the grace: %q, want the feed named", why)
	}
	hub.PublishCommitted(recs)
	if why := r.check(ctx); why != "" {
		t.Fatalf("caught up: %q, want ready", why)
	}
	r.shutting.Store(true)
	if why := r.check(ctx); why != "shutting down" {
		t.Fatalf("shutting down: %q", why)
	}
}
