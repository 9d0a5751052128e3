package webhook_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/amity"
	"github.com/livegate/livegate/internal/apierror"
	"github.com/livegate/livegate/internal/auth"
	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/store/sqlite"
	"github.com/livegate/livegate/services/webhook"
)

// newService returns a WebhookService on a fresh SQLite store with one app.
func newService(f *testing.F) (*webhook.Server, auth.Credentials) {
	st, err := sqlite.Open(context.Background(), f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	creds, err := auth.CreateApp(context.Background(), st, store.Tenant{AccountID: "acc", AppID: "app"}, time.Now())
	if err != nil {
		f.Fatal(err)
	}
	return webhook.NewServer(st, webhook.RTMP{}), creds
}

func seed(f *testing.F, glob string) {
	files, err := filepath.Glob(glob)
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds for %s: %v", glob, err)
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"type":"hls.started.success","data":{"room_id":1}}`))
	f.Add([]byte(`{"event":"video-streaming.didStart","data":{"videoStreamings":[{}]}}`))
	f.Add([]byte(`[]`))
}

// checkAnswer fails unless the delivery was accepted or refused with a 4xx.
func checkAnswer(t *testing.T, err error) {
	if err == nil {
		return
	}
	st := apierror.ToStatus(err)
	if code := runtime.HTTPStatusFromCode(st.Code()); code < 400 || code >= 500 {
		t.Fatalf("refused with HTTP %d (%v): %v", code, st.Code(), err)
	}
}

// FuzzDeliverHms: any body, with the right secret, is stored (200) or refused with a 4xx.
func FuzzDeliverHms(f *testing.F) {
	seed(f, "../../testdata/hms/*.json")
	srv, creds := newService(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		_, err := srv.DeliverHmsWebhook(context.Background(), &livegatev1.DeliverHmsWebhookRequest{
			AccountId: "acc", AppId: "app", WebhookSecret: creds.WebhookSecret, Body: body,
		})
		checkAnswer(t, err)
	})
}

// FuzzDeliverAmity: any correctly signed body is stored (200) or refused with a 4xx.
func FuzzDeliverAmity(f *testing.F) {
	seed(f, "../../testdata/amity/*.json")
	srv, creds := newService(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		_, err := srv.DeliverAmityWebhook(context.Background(), &livegatev1.DeliverAmityWebhookRequest{
			AccountId: "acc", AppId: "app", Signature: amity.Sign([]byte(creds.WebhookSecret), body), Body: body,
		})
		checkAnswer(t, err)
	})
}
