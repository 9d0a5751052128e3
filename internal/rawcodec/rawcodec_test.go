package rawcodec

import (
	"bytes"
	"testing"

	"google.golang.org/grpc/encoding"
	protocodec "google.golang.org/grpc/encoding/proto"
	"google.golang.org/protobuf/proto"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
)

// TestMarshal: a *Message goes out as its bytes, the same slice every time (nothing is
// encoded or copied per send); any other message is encoded by the proto codec; reading is
// the proto codec's.
func TestMarshal(t *testing.T) {
	c := codec{proto: encoding.GetCodecV2(protocodec.Name)}
	if c.Name() != protocodec.Name {
		t.Fatalf("name %q, want %q (clients send content-subtype proto)", c.Name(), protocodec.Name)
	}
	resp := &livegatev1.SubscribeResponse{Kind: &livegatev1.SubscribeResponse_Event{Event: &livegatev1.Event{Sequence: 7, Type: "peer.join.success"}}}
	enc, err := proto.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	m := NewMessage(enc)
	for range 2 {
		out, err := c.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		b := out.Materialize()
		if !bytes.Equal(b, enc) || m.Len() != len(enc) || &out[0].ReadOnlyData()[0] != &enc[0] {
			t.Fatalf("Marshal(*Message) = %x, want the message's own bytes %x, not a copy", b, enc)
		}
		out.Free() // what the transport does after writing: the bytes must stay as they are
		if !bytes.Equal(m.Bytes(), enc) {
			t.Fatal("Free changed the message's bytes")
		}
	}
	out, err := c.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	var got livegatev1.SubscribeResponse
	if err := c.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(&got, resp) {
		t.Fatalf("round trip through the proto codec: %v, want %v", &got, resp)
	}
	if err := c.Unmarshal(NewMessage(enc).data, &got); err != nil || got.GetEvent().GetSequence() != 7 {
		t.Fatalf("a Message's bytes read back as %v, %v", &got, err)
	}
}
