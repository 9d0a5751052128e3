package eventlog_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/apierror"
	"github.com/livegate/livegate/internal/eventlog"
	"github.com/livegate/livegate/internal/limits"
	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/store/sqlite"
)

var tenant = store.Tenant{AccountID: "acc", AppID: "app"}

func openStore(t *testing.T) store.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func event(id string) *livegatev1.Event {
	at := time.Date(2026, 11, 23, 12, 0, 0, 123456000, time.UTC)
	return &livegatev1.Event{Id: id, Type: "custom.thing", Source: "hms", AccountId: tenant.AccountID, AppId: tenant.AppID,
		ProviderEventId: "p-" + id, OccurredAt: timestamppb.New(at), ReceivedAt: timestamppb.New(at.Add(time.Second)),
		LivestreamId: "ls-1", RoomId: "room-1"}
}

func stored(t *testing.T, st store.Store) []store.Event {
	t.Helper()
	var recs []store.Event
	err := st.View(context.Background(), func(r store.Reader) error {
		var err error
		recs, err = r.EventsAfter(context.Background(), tenant, 0, store.EventFilter{}, 100)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// TestAppendAndDecode: an appended event gets its sequence, is stored under its columns,
// and decodes back to itself; the stored body does not carry a sequence (it is the row's).
func TestAppendAndDecode(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	evs := []*livegatev1.Event{event("a"), event("b")}
	evs[1].Sequence = 99 // stale: Append replaces it
	err := st.Update(ctx, func(w store.Writer) error {
		for i, ev := range evs {
			if err := eventlog.Append(ctx, w, ev, "delivery-1", []string{"k1", "k2"}[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if evs[0].GetSequence() != 1 || evs[1].GetSequence() != 2 {
		t.Fatalf("sequences %d, %d; want 1, 2", evs[0].GetSequence(), evs[1].GetSequence())
	}
	recs := stored(t, st)
	if len(recs) != 2 {
		t.Fatalf("%d stored, want 2", len(recs))
	}
	rec := recs[1]
	if rec.Tenant != tenant || rec.Source != "hms" || rec.Type != "custom.thing" || rec.DeliveryID != "delivery-1" || rec.DedupeKey != "k2" ||
		rec.LivestreamID != "ls-1" || rec.RoomID != "room-1" || !rec.ReceivedAt.Equal(evs[1].GetReceivedAt().AsTime()) {
		t.Errorf("stored columns %+v", rec)
	}
	var body livegatev1.Event
	if err := proto.Unmarshal(rec.Body, &body); err != nil || body.GetSequence() != 0 {
		t.Errorf("stored body carries sequence %d (%v), want none", body.GetSequence(), err)
	}
	decoded, err := eventlog.DecodeAll(recs)
	if err != nil {
		t.Fatal(err)
	}
	for i := range evs {
		if !proto.Equal(decoded[i], evs[i]) {
			t.Errorf("decoded %v, want %v", decoded[i], evs[i])
		}
	}
}

// TestAppendRefusals: a taken dedupe key is store.ErrAlreadyExists, and an event over
// limits.MaxEventBytes is PAYLOAD_TOO_LARGE naming the limit; neither stores anything.
func TestAppendRefusals(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	if err := st.Update(ctx, func(w store.Writer) error { return eventlog.Append(ctx, w, event("a"), "d", "key") }); err != nil {
		t.Fatal(err)
	}
	err := st.Update(ctx, func(w store.Writer) error { return eventlog.Append(ctx, w, event("b"), "d2", "key") })
	if !errors.Is(err, store.ErrAlreadyExists) {
		t.Errorf("a taken dedupe key: %v, want store.ErrAlreadyExists", err)
	}

	big := event("big")
	raw, err := structpb.NewStruct(map[string]any{"x": strings.Repeat("y", limits.MaxEventBytes)})
	if err != nil {
		t.Fatal(err)
	}
	big.Payload = &livegatev1.Event_Unknown{Unknown: &livegatev1.UnknownPayload{Raw: raw}}
	err = st.Update(ctx, func(w store.Writer) error { return eventlog.Append(ctx, w, big, "d3", "big") })
	s := apierror.ToStatus(err)
	if info := apierror.Info(s); s.Code() != codes.ResourceExhausted || info.GetReason() != string(apierror.ReasonPayloadTooLarge) ||
		info.GetMetadata()["limit"] == "" || big.GetSequence() != 0 {
		t.Errorf("an event over the limit: %v %v (sequence %d), want PAYLOAD_TOO_LARGE naming the limit", s.Code(), err, big.GetSequence())
	}
	if n := len(stored(t, st)); n != 1 {
		t.Errorf("%d events stored, want only the first", n)
	}
}

// TestDecodeUnreadable: a body that is not an event fails with its sequence named, and
// DecodeAll stops there.
func TestDecodeUnreadable(t *testing.T) {
	good, err := proto.Marshal(event("a"))
	if err != nil {
		t.Fatal(err)
	}
	recs := []store.Event{{Sequence: 7, Body: good}, {Sequence: 8, Body: []byte{0xff, 0xff, 0xff}}}
	if _, err := eventlog.Decode(recs[1]); err == nil || !strings.Contains(err.Error(), "event 8") {
		t.Errorf("Decode of garbage: %v, want an error naming event 8", err)
	}
	if evs, err := eventlog.DecodeAll(recs); err == nil || evs != nil {
		t.Errorf("DecodeAll: %v %v, want the error and no events", evs, err)
	}
	ev, err := eventlog.Decode(recs[0])
	if err != nil || ev.GetSequence() != 7 || ev.GetId() != "a" {
		t.Errorf("Decode: %v %v, want event a at sequence 7", ev, err)
	}
}
