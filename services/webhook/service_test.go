package webhook_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/amity"
	"github.com/livegate/livegate/internal/apierror"
	"github.com/livegate/livegate/internal/payload"
	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/testenv"
)

// dial serves srv on an in-memory gRPC connection behind livegate's interceptor chain
// (testenv.ServeGRPC) and returns a client of it.
func dial(t *testing.T, st store.Store, srv livegatev1.WebhookServiceServer) livegatev1.WebhookServiceClient {
	t.Helper()
	return livegatev1.NewWebhookServiceClient(testenv.ServeGRPC(t, st, func(s *grpc.Server) {
		livegatev1.RegisterWebhookServiceServer(s, srv)
	}))
}

// TestServiceCodes: what each delivery gets back over gRPC, code, ErrorInfo reason and, for a
// body a decoder refuses, the field (metadata "field") and the message FIELD: KIND: REASON.
// The secret is checked before the body: a wrong one is UNAUTHENTICATED whatever the body.
func TestServiceCodes(t *testing.T) {
	srv, st, creds := openService(t)
	c := dial(t, st, srv)
	ctx := context.Background()
	hms := func(secret, body string) error {
		_, err := c.DeliverHmsWebhook(ctx, &livegatev1.DeliverHmsWebhookRequest{AccountId: "acc", AppId: "app", WebhookSecret: secret, Body: []byte(body)})
		return err
	}
	signed := func(body string) error {
		_, err := c.DeliverAmityWebhook(ctx, &livegatev1.DeliverAmityWebhookRequest{AccountId: "acc", AppId: "app", Signature: amity.Sign([]byte(creds.WebhookSecret), []byte(body)), Body: []byte(body)})
		return err
	}
	const stream = `{"event":"video-streaming.didStart","data":{"videoStreamings":[{"streamId":"s1","isLive":"yes"}]}}`
	tests := []struct {
		name    string
		err     error
		code    codes.Code
		reason  apierror.Reason
		field   string // metadata "field"; "" = none expected
		message string // "" = not checked
	}{
		{"100ms wrong secret", hms("wrong", `{"type":"peer.join.success","data":{}}`), codes.Unauthenticated, apierror.ReasonSignatureMismatch, "", ""},
		{"100ms wrong secret, bad body", hms("wrong", `{`), codes.Unauthenticated, apierror.ReasonSignatureMismatch, "", ""},
		{"100ms unknown app", func() error {
			_, err := c.DeliverHmsWebhook(ctx, &livegatev1.DeliverHmsWebhookRequest{AccountId: "acc", AppId: "other", WebhookSecret: creds.WebhookSecret, Body: []byte(`{}`)})
			return err
		}(), codes.Unauthenticated, apierror.ReasonSignatureMismatch, "", "missing or wrong X-Webhook-Secret header"},
		{"Amity unknown app, signed with another app's secret", func() error {
			_, err := c.DeliverAmityWebhook(ctx, &livegatev1.DeliverAmityWebhookRequest{AccountId: "acc", AppId: "other", Signature: amity.Sign([]byte(creds.WebhookSecret), []byte(stream)), Body: []byte(stream)})
			return err
		}(), codes.Unauthenticated, apierror.ReasonSignatureMismatch, "", ""},
		{"Amity unknown app, signed with the empty key", func() error {
			_, err := c.DeliverAmityWebhook(ctx, &livegatev1.DeliverAmityWebhookRequest{AccountId: "acc", AppId: "other", Signature: amity.Sign(nil, []byte(stream)), Body: []byte(stream)})
			return err
		}(), codes.Unauthenticated, apierror.ReasonSignatureMismatch, "", ""},
		{"100ms invalid value", hms(creds.WebhookSecret, `{"type":"peer.leave.success","data":{"duration":"forty"}}`), codes.InvalidArgument, apierror.ReasonInvalidArgument, "data.duration", `data.duration: invalid value: string "forty" is not a valid int64`},
		{"100ms not JSON", hms(creds.WebhookSecret, `{"type":`), codes.InvalidArgument, apierror.ReasonInvalidArgument, "body", `body: not JSON: empty, or ends early`},
		{"100ms missing data", hms(creds.WebhookSecret, `{"type":"peer.join.success"}`), codes.InvalidArgument, apierror.ReasonInvalidArgument, "data", `data: missing: absent or null`},
		{"Amity wrong signature", func() error {
			_, err := c.DeliverAmityWebhook(ctx, &livegatev1.DeliverAmityWebhookRequest{AccountId: "acc", AppId: "app", Signature: amity.Sign([]byte("wrong"), []byte(stream)), Body: []byte(stream)})
			return err
		}(), codes.Unauthenticated, apierror.ReasonSignatureMismatch, "", ""},
		{"Amity wrong type", signed(stream), codes.InvalidArgument, apierror.ReasonInvalidArgument, "data.videoStreamings[0].isLive", `data.videoStreamings[0].isLive: wrong type: expected a boolean, got string "yes"`},
		{"Amity key twice", signed(`{"event":"a","event":"b","data":{}}`), codes.InvalidArgument, apierror.ReasonInvalidArgument, "event", `event: duplicate field: key appears more than once`},
		{"Amity no stream", signed(`{"event":"video-streaming.didStart","data":{}}`), codes.InvalidArgument, apierror.ReasonInvalidArgument, "data.videoStreamings", `data.videoStreamings: missing: at least one video stream is required`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := status.Convert(tt.err)
			info := apierror.Info(s)
			if s.Code() != tt.code || info.GetReason() != string(tt.reason) {
				t.Fatalf("got %v %q %v, want %v %s", s.Code(), s.Message(), info, tt.code, tt.reason)
			}
			if tt.field != "" && info.GetMetadata()["field"] != tt.field {
				t.Errorf("field %q, want %q", info.GetMetadata()["field"], tt.field)
			}
			if tt.message != "" && s.Message() != tt.message {
				t.Errorf("message %q, want %q", s.Message(), tt.message)
			}
		})
	}
	if n := len(storedEvents(t, st)); n != 0 {
		t.Fatalf("refused deliveries stored %d events", n)
	}
}

// TestServiceDuplicates: a delivery sent again is acknowledged as a duplicate with the
// sequences of the first, and stores nothing more; Amity's legacy copy (x-eko-signature
// only) is acknowledged as ignored, neither verified nor stored.
func TestServiceDuplicates(t *testing.T) {
	srv, st, creds := openService(t)
	c := dial(t, st, srv)
	ctx := context.Background()

	hmsReq := &livegatev1.DeliverHmsWebhookRequest{AccountId: "acc", AppId: "app", WebhookSecret: creds.WebhookSecret,
		Body: []byte(`{"id":"d1","type":"peer.join.success","data":{"room_id":"r1","peer_id":"p1"}}`)}
	first, err := c.DeliverHmsWebhook(ctx, hmsReq)
	if err != nil || first.GetDuplicate() || first.GetSequence() == 0 {
		t.Fatalf("first 100ms delivery: %v %v", first, err)
	}
	again, err := c.DeliverHmsWebhook(ctx, hmsReq)
	if err != nil || !again.GetDuplicate() || again.GetSequence() != first.GetSequence() {
		t.Fatalf("100ms delivery again: %v %v, want a duplicate of sequence %d", again, err, first.GetSequence())
	}

	body := []byte(`{"event":"video-streaming.didStart","data":{"videoStreamings":[{"streamId":"s1"},{"streamId":"s2"}]}}`)
	// During Amity's migration the signed copy carries the legacy header too: it is stored.
	amityReq := &livegatev1.DeliverAmityWebhookRequest{AccountId: "acc", AppId: "app", Signature: amity.Sign([]byte(creds.WebhookSecret), body), LegacySignature: "bGVnYWN5", Body: body}
	a1, err := c.DeliverAmityWebhook(ctx, amityReq)
	if err != nil || a1.GetDuplicate() || len(a1.GetSequences()) != 2 {
		t.Fatalf("first Amity delivery: %v %v", a1, err)
	}
	a2, err := c.DeliverAmityWebhook(ctx, amityReq)
	if err != nil || !a2.GetDuplicate() || len(a2.GetSequences()) != 2 || a2.GetSequences()[0] != a1.GetSequences()[0] || a2.GetSequences()[1] != a1.GetSequences()[1] {
		t.Fatalf("Amity delivery again: %v %v, want a duplicate of %v", a2, err, a1.GetSequences())
	}
	legacy, err := c.DeliverAmityWebhook(ctx, &livegatev1.DeliverAmityWebhookRequest{AccountId: "acc", AppId: "app", LegacySignature: "anything", Body: []byte(`not even JSON`)})
	if err != nil || !legacy.GetIgnored() || len(legacy.GetSequences()) != 0 {
		t.Fatalf("legacy copy: %v %v, want ignored", legacy, err)
	}
	delivered := 0
	for _, ev := range storedEvents(t, st) {
		if ev.GetSource() == payload.SourceHMS || ev.GetSource() == payload.SourceAmity {
			delivered++
		}
	}
	if delivered != 3 {
		t.Fatalf("stored %d provider events, want 3 (one 100ms, two Amity streams)", delivered)
	}
}

// TestServiceConcurrentDuplicates: the same delivery sent many times at once (most of them
// committed in one group with the first) is stored once; every copy is acknowledged with
// its sequences, all but one as a duplicate.
func TestServiceConcurrentDuplicates(t *testing.T) {
	srv, st, creds := openService(t)
	c := dial(t, st, srv)
	ctx := context.Background()
	const copies = 16
	hmsReq := &livegatev1.DeliverHmsWebhookRequest{AccountId: "acc", AppId: "app", WebhookSecret: creds.WebhookSecret,
		Body: []byte(`{"id":"d-same","type":"peer.join.success","data":{"room_id":"r1","peer_id":"p1"}}`)}
	body := []byte(`{"event":"video-streaming.didStart","data":{"videoStreamings":[{"streamId":"s1"},{"streamId":"s2"}]}}`)
	amityReq := &livegatev1.DeliverAmityWebhookRequest{AccountId: "acc", AppId: "app", Signature: amity.Sign([]byte(creds.WebhookSecret), body), Body: body}

	type answer struct {
		seqs []uint64
		dup  bool
		err  error
	}
	answers := make(chan answer, 2*copies)
	var wg sync.WaitGroup
	for range copies {
		wg.Go(func() {
			r, err := c.DeliverHmsWebhook(ctx, hmsReq)
			answers <- answer{[]uint64{r.GetSequence()}, r.GetDuplicate(), err}
		})
		wg.Go(func() {
			r, err := c.DeliverAmityWebhook(ctx, amityReq)
			answers <- answer{r.GetSequences(), r.GetDuplicate(), err}
		})
	}
	wg.Wait()
	close(answers)
	firsts := map[int]int{}
	seqs := map[int]string{}
	for a := range answers {
		if a.err != nil {
			t.Fatalf("a copy: %v", a.err)
		}
		kind := len(a.seqs) // 1: the 100ms delivery, 2: the Amity one
		if got := fmt.Sprint(a.seqs); seqs[kind] == "" {
			seqs[kind] = got
		} else if got != seqs[kind] {
			t.Errorf("copies answered with sequences %s and %s", seqs[kind], got)
		}
		if !a.dup {
			firsts[kind]++
		}
	}
	if firsts[1] != 1 || firsts[2] != 1 {
		t.Errorf("copies not answered as duplicates: %d of the 100ms delivery, %d of the Amity one; want 1 each", firsts[1], firsts[2])
	}
	delivered := 0
	for _, ev := range storedEvents(t, st) {
		if ev.GetSource() == payload.SourceHMS || ev.GetSource() == payload.SourceAmity {
			delivered++
		}
	}
	if delivered != 3 {
		t.Fatalf("stored %d provider events, want 3 (one 100ms, two Amity streams)", delivered)
	}
}
