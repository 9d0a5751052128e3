package webhook_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/amity"
	"github.com/livegate/livegate/internal/apierror"
	"github.com/livegate/livegate/internal/auth"
	"github.com/livegate/livegate/internal/eventlog"
	"github.com/livegate/livegate/internal/limits"
	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/store/sqlite"
	"github.com/livegate/livegate/services/webhook"
)

var tenant = store.Tenant{AccountID: "acc", AppID: "app"}

// openService returns a WebhookService on a fresh SQLite store with one app, and the store.
func openService(t testing.TB) (*webhook.Server, *sqlite.Store, auth.Credentials) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	creds, err := auth.CreateApp(context.Background(), st, tenant, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return webhook.NewServer(st, webhook.RTMP{}), st, creds
}

// storedEvents decodes every stored event of the tenant, failing the test if one does not.
func storedEvents(t testing.TB, st store.Store) []*livegatev1.Event {
	t.Helper()
	var recs []store.Event
	err := st.View(context.Background(), func(r store.Reader) error {
		var err error
		recs, err = r.EventsAfter(context.Background(), tenant, 0, store.EventFilter{}, 1000)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]*livegatev1.Event, 0, len(recs))
	for _, rec := range recs {
		ev, err := eventlog.Decode(rec)
		if err != nil {
			t.Fatalf("stored event %d (%d bytes) does not decode: %v", rec.Sequence, len(rec.Body), err)
		}
		// Read it back one at a time too.
		err = st.View(context.Background(), func(r store.Reader) error {
			one, err := r.Event(context.Background(), tenant, rec.Sequence)
			if err != nil {
				return err
			}
			_, err = eventlog.Decode(one)
			return err
		})
		if err != nil {
			t.Fatalf("event %d: %v", rec.Sequence, err)
		}
		out = append(out, ev)
	}
	return out
}

// nested is a JSON value of depth levels of arrays: [[[…]]].
func nested(depth int) string {
	return strings.Repeat("[", depth) + strings.Repeat("]", depth)
}

// numbers is a JSON array of n ones.
func numbers(n int) string {
	return "[" + strings.TrimSuffix(strings.Repeat("1,", n), ",") + "]"
}

// nulls is a JSON array of n nulls.
func nulls(n int) string {
	return "[" + strings.TrimSuffix(strings.Repeat("null,", n), ",") + "]"
}

func hmsBody(id, data string) []byte {
	return []byte(`{"id":"` + id + `","type":"custom.unknown","data":{"x":` + data + `}}`)
}

// wantRefused checks err is the reason and code, with the limit named in metadata and message.
func wantRefused(t *testing.T, err error, code codes.Code, reason apierror.Reason, limit int) {
	t.Helper()
	st := apierror.ToStatus(err)
	info := apierror.Info(st)
	if st.Code() != code || info == nil || info.GetReason() != string(reason) {
		t.Fatalf("got %v %v, want %v %s", st.Code(), err, code, reason)
	}
	if l := fmt.Sprint(limit); info.GetMetadata()["limit"] != l || !strings.Contains(st.Message(), l) {
		t.Errorf("the limit %s is not named: %q %v", l, st.Message(), info.GetMetadata())
	}
}

// TestDeliveryBounds: a 100ms or Amity delivery over a bound (nesting, number of values,
// stored size) is refused with the limit named and stores nothing; one at the bounds is
// stored and reads back.
func TestDeliveryBounds(t *testing.T) {
	ctx := context.Background()
	srv, st, creds := openService(t)
	hms := func(body []byte) error {
		_, err := srv.DeliverHmsWebhook(ctx, &livegatev1.DeliverHmsWebhookRequest{AccountId: "acc", AppId: "app", WebhookSecret: creds.WebhookSecret, Body: body})
		return err
	}
	amityDeliver := func(body []byte) error {
		_, err := srv.DeliverAmityWebhook(ctx, &livegatev1.DeliverAmityWebhookRequest{AccountId: "acc", AppId: "app", Signature: amity.Sign([]byte(creds.WebhookSecret), body), Body: body})
		return err
	}
	amityUnknown := func(data string) []byte {
		return []byte(`{"event":"video-streaming.didWhatever","data":{"videoStreamings":[{}],"x":` + data + `}}`)
	}

	// The poison of the report: 5,500 levels under an unknown type.
	wantRefused(t, hms(hmsBody("deep", nested(5500))), codes.InvalidArgument, apierror.ReasonInvalidArgument, limits.MaxJSONDepth)
	wantRefused(t, amityDeliver(amityUnknown(nested(5500))), codes.InvalidArgument, apierror.ReasonInvalidArgument, limits.MaxJSONDepth)
	// One level over: the envelope and data take two, "x" the rest.
	wantRefused(t, hms(hmsBody("deep65", nested(limits.MaxJSONDepth-1))), codes.InvalidArgument, apierror.ReasonInvalidArgument, limits.MaxJSONDepth)
	// 500k numbers in under 1 MiB.
	many := hmsBody("many", numbers(500_000))
	if len(many) > limits.MaxBodyBytes {
		t.Fatalf("test body is %d bytes", len(many))
	}
	wantRefused(t, hms(many), codes.ResourceExhausted, apierror.ReasonPayloadTooLarge, limits.MaxJSONValues)
	wantRefused(t, amityDeliver(amityUnknown(numbers(500_000))), codes.ResourceExhausted, apierror.ReasonPayloadTooLarge, limits.MaxJSONValues)
	// Under both JSON bounds, but stored as more than 1 MiB (a number is 11 bytes stored).
	big := hmsBody("big", numbers(99_000))
	err := hms(big)
	wantRefused(t, err, codes.ResourceExhausted, apierror.ReasonPayloadTooLarge, limits.MaxEventBytes)
	if info := apierror.Info(apierror.ToStatus(err)); info.GetMetadata()["size"] == "" || !strings.Contains(err.Error(), info.GetMetadata()["size"]) {
		t.Errorf("the size is not named: %v %v", err, info.GetMetadata())
	}
	// An Amity delivery of 40 streams, each event with a copy of 150 KB of users.
	users := `[{"userId":"u","metadata":{"pad":"` + strings.Repeat("p", 150_000) + `"}}]`
	streams := strings.TrimSuffix(strings.Repeat(`{"streamId":"s"},`, 40), ",")
	wantRefused(t, amityDeliver([]byte(`{"event":"video-streaming.didStop","data":{"videoStreamings":[`+streams+`],"users":`+users+`}}`)),
		codes.ResourceExhausted, apierror.ReasonPayloadTooLarge, limits.MaxDeliveryEventBytes)
	if got := storedEvents(t, st); len(got) != 0 {
		t.Fatalf("refused deliveries stored %d events", len(got))
	}

	// At the bounds: accepted, stored, and read back.
	atDepth := hmsBody("at-depth", nested(limits.MaxJSONDepth-2))
	// The envelope's values: the body object, "id", "type", "data" and "x"'s array: 5.
	atValues := hmsBody("at-values", nulls(limits.MaxJSONValues-5))
	for _, body := range [][]byte{atDepth, atValues} {
		if err := hms(body); err != nil {
			t.Fatalf("a delivery at the bounds is refused: %v", err)
		}
	}
	if err := amityDeliver(amityUnknown(nested(limits.MaxJSONDepth - 2))); err != nil {
		t.Fatalf("an Amity delivery at the depth bound is refused: %v", err)
	}
	if got := storedEvents(t, st); len(got) != 3 {
		t.Fatalf("stored %d events, want 3", len(got))
	}
	// One value more is refused.
	wantRefused(t, hms(hmsBody("over-values", nulls(limits.MaxJSONValues-4))), codes.ResourceExhausted, apierror.ReasonPayloadTooLarge, limits.MaxJSONValues)
}

// TestAcceptedDeliveriesDecode: any body the service accepts decodes back from the store
// (a property over random JSON of random depth and width, around the bounds).
func TestAcceptedDeliveriesDecode(t *testing.T) {
	ctx := context.Background()
	srv, st, creds := openService(t)
	rng := rand.New(rand.NewPCG(1, 2))
	// value writes a random JSON value nested at most depth levels, of at most *budget
	// containers.
	var budget int
	var value func(b *strings.Builder, depth int)
	value = func(b *strings.Builder, depth int) {
		switch k := rng.IntN(8); {
		case depth <= 0 || budget <= 0 || k < 2:
			b.WriteString([]string{`1`, `-2.5e3`, `"s\"\\[{"`, `true`, `null`, `"[[["`, `1e308`}[rng.IntN(7)])
		case k < 6:
			budget--
			b.WriteByte('[')
			for i := range rng.IntN(3) + 1 {
				if i > 0 {
					b.WriteByte(',')
				}
				value(b, depth-1)
			}
			b.WriteByte(']')
		default:
			budget--
			b.WriteByte('{')
			for i := range rng.IntN(3) + 1 {
				if i > 0 {
					b.WriteByte(',')
				}
				fmt.Fprintf(b, `"k%d{":`, i)
				value(b, depth-1)
			}
			b.WriteByte('}')
		}
	}
	accepted := 0
	for i := range 60 {
		var b strings.Builder
		budget = 400
		// Depths around the bound, some deep and narrow, most shallow and wide.
		depth := limits.MaxJSONDepth - 8 + rng.IntN(16)
		if rng.IntN(2) == 0 {
			depth = rng.IntN(12)
		}
		value(&b, depth)
		body := hmsBody(fmt.Sprintf("p%d", i), b.String())
		switch rng.IntN(4) {
		case 0:
			// Deep and narrow: from just under the bound to past what protobuf decodes.
			d := limits.MaxJSONDepth - 4 + rng.IntN(12000)
			body = hmsBody(fmt.Sprintf("p%d", i), strings.Repeat(`[1,{"k":`, d/2)+"null"+strings.Repeat("}]", d/2))
		case 1:
			// Wide: many values, near the count bound.
			n := rng.IntN(limits.MaxBodyBytes/4/(b.Len()+1) + 1)
			body = hmsBody(fmt.Sprintf("p%d", i), "["+strings.Repeat(b.String()+",", n)+"0]")
		}
		_, err := srv.DeliverHmsWebhook(ctx, &livegatev1.DeliverHmsWebhookRequest{AccountId: "acc", AppId: "app", WebhookSecret: creds.WebhookSecret, Body: body})
		if err == nil {
			accepted++
			continue
		}
		var ae *apierror.Error
		if !errors.As(err, &ae) || ae.Code() == codes.Internal {
			t.Fatalf("body %d: %v", i, err)
		}
	}
	if got := storedEvents(t, st); len(got) != accepted || accepted < 10 {
		t.Fatalf("accepted %d, stored and decoded %d", accepted, len(got))
	}
}
