package server_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/eventlog"
	"github.com/livegate/livegate/internal/payload"
	"github.com/livegate/livegate/internal/server"
	"github.com/livegate/livegate/internal/store"
)

// BenchmarkWebhooksOut measures outbound webhook deliveries/s to a local receiver (an HTTP
// handler on 127.0.0.1 that answers 200 at once), with 1 and 100 endpoints of one app. The
// events are stored first; the timed part is delivering them: each endpoint starts from the
// cursor before them. An op is one delivery (one event to one endpoint), each signed, posted,
// logged and its cursor moved in the store. Nothing here asserts a time.
func BenchmarkWebhooksOut(b *testing.B) {
	for _, endpoints := range []int{1, 100} {
		b.Run(fmt.Sprintf("endpoints=%d", endpoints), func(b *testing.B) {
			var got atomic.Int64
			rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				got.Add(1)
			}))
			defer rcv.Close()
			s := startServer(b, b.TempDir(), func(c *server.Config) {
				c.WebhooksOut.AllowHTTP, c.WebhooksOut.AllowPrivate = true, true
			})
			s.createApp(accA, appA)
			tn := store.Tenant{AccountID: accA, AppID: appA}
			st := server.StoreOf(s.srv)
			ctx := context.Background()
			events := max(1, b.N/endpoints)
			for done := 0; done < events; {
				n := min(500, events-done)
				if err := st.Update(ctx, func(w store.Writer) error {
					for range n {
						id := uuid.NewString()
						ev := &livegatev1.Event{Id: id, Type: payload.TypeStatusChanged, Source: payload.SourceLivegate, AccountId: accA, AppId: appA,
							ReceivedAt: timestamppb.Now(), LivestreamId: "ls-bench",
							Payload: &livegatev1.Event_LivestreamStatusChanged{LivestreamStatusChanged: &livegatev1.LivestreamStatusChanged{
								LivestreamId: "ls-bench", NewStatus: livegatev1.LivestreamStatus_LIVE}}}
						if err := eventlog.Append(ctx, w, ev, id, id); err != nil {
							return err
						}
					}
					return nil
				}); err != nil {
					b.Fatal(err)
				}
				done += n
			}
			b.ResetTimer()
			now := time.Now()
			for i := range endpoints {
				e := store.WebhookEndpoint{Tenant: tn, ID: uuid.NewString(), Name: fmt.Sprint("bench-", i), URL: rcv.URL, Enabled: true,
					Events: []string{payload.TypeStatusChanged}, Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", CreatedAt: now, UpdatedAt: now}
				if err := st.Update(ctx, func(w store.Writer) error { return w.CreateWebhookEndpoint(ctx, e) }); err != nil {
					b.Fatal(err)
				}
				s.srv.Deliverer().Wake(tn, e.ID)
			}
			want := int64(events * endpoints)
			deadline := time.Now().Add(5 * time.Minute)
			for got.Load() < want {
				if time.Now().After(deadline) {
					b.Fatalf("%d of %d deliveries in 5 minutes", got.Load(), want)
				}
				time.Sleep(time.Millisecond)
			}
			b.StopTimer()
			b.ReportMetric(float64(want)/b.Elapsed().Seconds(), "deliveries/s")
		})
	}
}
