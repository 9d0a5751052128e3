package sqlite

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/livegate/livegate/internal/store"
)

// BenchmarkReplayRead reads 20,000 stored events in pages of 500, as a replay does: all
// columns (EventsAfterBytes) against the sequence and body alone (EachEventAfter).
// ns/event is the CPU-bound cost of the store read per event.
func BenchmarkReplayRead(b *testing.B) {
	const events, page = 20000, 500
	ctx := context.Background()
	s := openT(b, b.TempDir())
	tn := store.Tenant{AccountID: "acc-bench", AppID: "app-bench"}
	body := make([]byte, 300)
	for i := range body {
		body[i] = byte(i)
	}
	for done := 0; done < events; done += 1000 {
		err := s.Update(ctx, func(w store.Writer) error {
			for i := range 1000 {
				id := fmt.Sprintf("d-%d", done+i)
				if err := w.AppendEvent(ctx, &store.Event{Tenant: tn, Source: "hms", Type: "peer.join.success",
					DeliveryID: id, DedupeKey: id, RoomID: "room-bench", ReceivedAt: time.Now(), Body: body}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	readAll := func(b *testing.B, read func(r store.Reader, after uint64) (last uint64, n int, err error)) {
		for b.Loop() {
			var after uint64
			total := 0
			for {
				var n int
				err := s.View(ctx, func(r store.Reader) error {
					var err error
					after, n, err = read(r, after)
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
				if total += n; n < page {
					break
				}
			}
			if total != events {
				b.Fatalf("read %d events, want %d", total, events)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(events*b.N), "ns/event")
	}
	b.Run("columns=all", func(b *testing.B) {
		readAll(b, func(r store.Reader, after uint64) (uint64, int, error) {
			evs, _, err := r.EventsAfterBytes(ctx, tn, after, store.EventFilter{}, page, 1<<20)
			if err != nil || len(evs) == 0 {
				return after, 0, err
			}
			return evs[len(evs)-1].Sequence, len(evs), nil
		})
	})
	b.Run("columns=seq,body", func(b *testing.B) {
		readAll(b, func(r store.Reader, after uint64) (uint64, int, error) {
			n := 0
			_, err := r.EachEventAfter(ctx, tn, after, store.EventFilter{}, page, 1<<20, func(seq uint64, _ []byte) error {
				n++
				after = seq
				return nil
			})
			return after, n, err
		})
	})
}
