// Package rawcodec is the gRPC servers' codec: protobuf (the proto codec itself), except
// that a *Message is sent as the bytes it holds. A message encoded once (an event fanned
// out to a thousand subscribers, a stored event replayed) is so sent to every stream without
// being encoded again for each.
package rawcodec

import (
	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	protocodec "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
)

// Message is a message already encoded: its bytes are what a stream sends for it. They must
// be a valid encoding of the message type the stream sends, and are never changed once made
// (many streams may be sending them at once).
type Message struct {
	b    []byte
	data mem.BufferSlice // b, as the codec returns it: made once, for every send
	buf  [1]mem.Buffer   // data's backing array, in the same allocation
}

// NewMessage wraps an encoded message; b must not be changed afterwards.
func NewMessage(b []byte) *Message {
	// A SliceBuffer is not pooled: freeing it after a write leaves the bytes alone; and the
	// transport reads the slice without changing it.
	m := &Message{b: b}
	m.buf[0] = mem.SliceBuffer(b)
	m.data = m.buf[:]
	return m
}

// Bytes is the encoding.
func (m *Message) Bytes() []byte { return m.b }

// Len is the encoding's length.
func (m *Message) Len() int { return len(m.b) }

type codec struct{ proto encoding.CodecV2 }

func (c codec) Marshal(v any) (mem.BufferSlice, error) {
	if m, ok := v.(*Message); ok {
		return m.data, nil
	}
	return c.proto.Marshal(v)
}

func (c codec) Unmarshal(data mem.BufferSlice, v any) error { return c.proto.Unmarshal(data, v) }

func (c codec) Name() string { return c.proto.Name() }

// ServerOption makes a gRPC server use the codec for every call.
func ServerOption() grpc.ServerOption {
	return grpc.ForceServerCodecV2(codec{proto: encoding.GetCodecV2(protocodec.Name)})
}
