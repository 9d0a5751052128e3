package eventlog_test

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	hmsv1 "github.com/livegate/livegate/gen/go/livegate/hms/v1"
	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/eventlog"
	"github.com/livegate/livegate/internal/store"
)

// richEvent has strings, timestamps and a typed payload.
func richEvent(t testing.TB) *livegatev1.Event {
	t.Helper()
	ev := event("e-rich")
	ev.IsReplay = true
	ev.Payload = &livegatev1.Event_HmsPeerJoinSuccess{HmsPeerJoinSuccess: &hmsv1.PeerJoinSuccess{RoomId: proto.String("room-1"), PeerId: proto.String("peer-ü")}}
	return ev
}

// unknownEvent has a Struct payload (maps, nested values).
func unknownEvent(t *testing.T) *livegatev1.Event {
	t.Helper()
	ev := event("e-unknown")
	raw, err := structpb.NewStruct(map[string]any{"a": "b", "n": 1.5, "list": []any{"x", true, map[string]any{"k": "v"}}})
	if err != nil {
		t.Fatal(err)
	}
	ev.Payload = &livegatev1.Event_Unknown{Unknown: &livegatev1.UnknownPayload{Raw: raw}}
	return ev
}

// TestResponseIsTheMarshalledResponse: the response built from a stored body is, byte for
// byte, what proto.Marshal gives for SubscribeResponse{event} with the sequence set, and
// decodes to it; a body that carries a sequence of its own has it replaced.
func TestResponseIsTheMarshalledResponse(t *testing.T) {
	for _, ev := range []*livegatev1.Event{richEvent(t), unknownEvent(t)} {
		body, err := proto.MarshalOptions{Deterministic: true}.Marshal(ev) // as Append stores it: no sequence
		if err != nil {
			t.Fatal(err)
		}
		for _, seq := range []uint64{1, 127, 128, 1 << 40} {
			got := eventlog.Response(store.Event{Sequence: seq, Body: body})
			want := proto.Clone(ev).(*livegatev1.Event)
			want.Sequence = seq
			wantBytes, err := proto.MarshalOptions{Deterministic: true}.Marshal(&livegatev1.SubscribeResponse{Kind: &livegatev1.SubscribeResponse_Event{Event: want}})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, wantBytes) {
				t.Errorf("sequence %d: Response differs from proto.Marshal:\n got %x\nwant %x", seq, got, wantBytes)
			}
			var resp livegatev1.SubscribeResponse
			if err := proto.Unmarshal(got, &resp); err != nil || !proto.Equal(resp.GetEvent(), want) {
				t.Errorf("sequence %d: decodes to %v, %v; want %v", seq, resp.GetEvent(), err, want)
			}
		}
	}
	body, err := proto.Marshal(event("e-plain"))
	if err != nil {
		t.Fatal(err)
	}
	withSeq := protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), 99)
	withSeq = append(withSeq, body...)
	var resp livegatev1.SubscribeResponse
	if err := proto.Unmarshal(eventlog.Response(store.Event{Sequence: 7, Body: withSeq}), &resp); err != nil || resp.GetEvent().GetSequence() != 7 {
		t.Errorf("a body with sequence 99 stored as 7: decodes to sequence %d, %v; want 7", resp.GetEvent().GetSequence(), err)
	}
}

// TestCheckAgreesWithDecode: Check accepts exactly the bodies Decode accepts, over valid
// events and many damaged copies of them (bytes changed, cut short, invalid UTF-8).
func TestCheckAgreesWithDecode(t *testing.T) {
	var bodies [][]byte
	for _, ev := range []*livegatev1.Event{event("e-plain"), richEvent(t), unknownEvent(t), {}} {
		b, err := proto.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, b)
	}
	bodies = append(bodies,
		[]byte{0xff, 0xff, 0xff},
		[]byte{0x1a, 0x02, 0xc3, 0x28},       // type: invalid UTF-8
		[]byte{0x1a, 0x05, 'a'},              // type: cut short
		[]byte{0x00},                         // field number 0
		[]byte{0x42, 0x02, 0x08},             // occurred_at: a message cut short inside
		[]byte{0x1a, 0x01, 'a', 0x0b, 0x0c},  // a group that ends as another
		[]byte{0x18, 0x05},                   // type (a string) as a varint: unknown, fine
		[]byte{0xf8, 0xff, 0xff, 0xff, 0x0f}, // field number past the greatest valid
	)
	rng := rand.New(rand.NewPCG(1, 2))
	valid := bodies[:4]
	for range 3000 {
		b := bytes.Clone(valid[rng.IntN(len(valid))])
		if len(b) == 0 {
			continue
		}
		switch rng.IntN(3) {
		case 0:
			b[rng.IntN(len(b))] = byte(rng.IntN(256))
		case 1:
			b = b[:rng.IntN(len(b))]
		case 2:
			b[rng.IntN(len(b))] ^= 0x80
		}
		bodies = append(bodies, b)
	}
	bad := 0
	for i, b := range bodies {
		rec := store.Event{Sequence: uint64(i + 1), Body: b}
		_, derr := eventlog.Decode(rec)
		cerr := eventlog.Check(rec)
		if (derr == nil) != (cerr == nil) {
			t.Errorf("body %x: Decode says %v, Check says %v", b, derr, cerr)
		}
		if derr != nil {
			bad++
		}
	}
	if bad < 100 {
		t.Fatalf("only %d of %d damaged bodies fail to decode: the test is not testing", bad, len(bodies))
	}
}

// BenchmarkCheck: checking a stored event's encoding, as a replay does for every event it
// reads (richEvent: a peer.join.success with its nested payload, as the ingest benchmarks post).
func BenchmarkCheck(b *testing.B) {
	body, err := proto.Marshal(richEvent(b))
	if err != nil {
		b.Fatal(err)
	}
	rec := store.Event{Sequence: 1, Body: body}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := eventlog.Check(rec); err != nil {
			b.Fatal(err)
		}
	}
}
