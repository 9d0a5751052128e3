// Package eventlog writes livegate.v1.Event messages into the store's feed and reads them
// back: the one place that knows an event's stored form (its columns and a protobuf body).
package eventlog

import (
	"context"
	"fmt"
	"math"
	"sync"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/limits"
	"github.com/livegate/livegate/internal/store"
)

// Append stores ev (which must carry its tenant, source, type and payload) as part of the
// delivery deliveryID under dedupeKey, and sets ev.Sequence.
// store.ErrAlreadyExists when the dedupe key is taken; PAYLOAD_TOO_LARGE (and nothing
// stored) when the event encodes to more than limits.MaxEventBytes, so that every stored event
// can be read back through gRPC.
func Append(ctx context.Context, w store.Writer, ev *livegatev1.Event, deliveryID, dedupeKey string) error {
	ev.Sequence = 0
	body, err := proto.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encode %s event: %w", ev.GetType(), err)
	}
	if len(body) > limits.MaxEventBytes {
		return limits.EventTooLarge(ev.GetType(), len(body))
	}
	rec := &store.Event{
		Tenant:       store.Tenant{AccountID: ev.GetAccountId(), AppID: ev.GetAppId()},
		Source:       ev.GetSource(),
		Type:         ev.GetType(),
		DeliveryID:   deliveryID,
		DedupeKey:    dedupeKey,
		LivestreamID: ev.GetLivestreamId(),
		RoomID:       ev.GetRoomId(),
		ReceivedAt:   ev.GetReceivedAt().AsTime(),
		Body:         body,
	}
	if err := w.AppendEvent(ctx, rec); err != nil {
		return err
	}
	ev.Sequence = rec.Sequence
	return nil
}

// Decode turns a stored event back into its message.
func Decode(rec store.Event) (*livegatev1.Event, error) {
	ev := &livegatev1.Event{}
	if err := proto.Unmarshal(rec.Body, ev); err != nil {
		return nil, fmt.Errorf("decode event %d: %w", rec.Sequence, err)
	}
	ev.Sequence = rec.Sequence
	return ev, nil
}

// DecodeAll decodes stored events.
func DecodeAll(recs []store.Event) ([]*livegatev1.Event, error) {
	out := make([]*livegatev1.Event, 0, len(recs))
	for _, r := range recs {
		ev, err := Decode(r)
		if err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	return out, nil
}

// Response encodes livegate.v1.SubscribeResponse{event: the stored event, with its sequence}
// from the stored body, without decoding it: the body is an Event encoded without its
// sequence (Append clears it), and sequence is field 1, so the sequence's field followed by
// the body is the Event's encoding (the same bytes proto.Marshal gives), and the response is
// that, as field 1 (event), length-prefixed. The body is not checked: decode it (Decode) or
// check it (Check) first. A body that does carry a sequence (not one Append wrote) has it
// replaced.
func Response(rec store.Event) []byte {
	return AppendResponse(make([]byte, 0, MaxResponseLen(rec.Body)), rec.Sequence, rec.Body)
}

// MaxResponseLen is the most AppendResponse appends for a stored body.
func MaxResponseLen(body []byte) int {
	return 2*protowire.SizeTag(1) + 2*protowire.SizeVarint(math.MaxUint64) + len(body)
}

// AppendResponse appends Response's encoding of the stored event seq with its body to dst.
func AppendResponse(dst []byte, seq uint64, body []byte) []byte {
	if num, typ, n := protowire.ConsumeTag(body); n > 0 && num == 1 && typ == protowire.VarintType {
		if m := protowire.ConsumeFieldValue(num, typ, body[n:]); m >= 0 {
			body = body[n+m:]
		}
	}
	eventLen := protowire.SizeTag(1) + protowire.SizeVarint(seq) + len(body)
	dst = protowire.AppendTag(dst, 1, protowire.BytesType) // SubscribeResponse.event
	dst = protowire.AppendVarint(dst, uint64(eventLen))
	dst = protowire.AppendTag(dst, 1, protowire.VarintType) // Event.sequence
	dst = protowire.AppendVarint(dst, seq)
	return append(dst, body...)
}

// Check reports whether a stored body decodes as an Event, as Decode would, without
// decoding it (nothing is allocated): every field well formed, every string field valid
// UTF-8, every known message field (to any depth) likewise. A field of a known number with
// another wire type is an unknown field to a decoder, as here.
func Check(rec store.Event) error {
	if !eventChecker().valid(rec.Body, 0) {
		return fmt.Errorf("decode event %d: not a valid %s encoding", rec.Sequence, eventDescriptor.FullName())
	}
	return nil
}

var eventDescriptor = (&livegatev1.Event{}).ProtoReflect().Descriptor()

// maxDepth is how deep messages may nest: protobuf-go's default recursion limit.
const maxDepth = 10000

// eventChecker is Event's checker, made once. A replay checks every event it reads: looking
// each field up by number in its descriptor (a map) cost about half of Check.
var eventChecker = sync.OnceValue(func() *checker { return newChecker(eventDescriptor, map[protoreflect.FullName]*checker{}) })

// checker checks the encoding of one message type: its known fields by number.
type checker struct {
	fields []checkField                     // by field number, up to maxDense; kind 0: not a known field
	sparse map[protowire.Number]*checkField // numbers above maxDense
}

// maxDense is the greatest field number a checker finds by index rather than in a map.
const maxDense = 4096

func (c *checker) field(num protowire.Number) *checkField {
	if int(num) < len(c.fields) {
		if f := &c.fields[num]; f.kind != 0 {
			return f
		}
		return nil
	}
	return c.sparse[num]
}

// checkField is what checking a known field needs of its descriptor.
type checkField struct {
	kind     protoreflect.Kind
	list     bool
	utf8     bool     // a string whose value must be valid UTF-8 (proto3)
	msg      *checker // a message or group field's type
	groupNum protowire.Number
}

// newChecker makes md's checker; made holds those made already, so that a recursive type
// (google.protobuf.Struct) points back at its own.
func newChecker(md protoreflect.MessageDescriptor, made map[protoreflect.FullName]*checker) *checker {
	if c := made[md.FullName()]; c != nil {
		return c
	}
	c := &checker{}
	made[md.FullName()] = c
	fds := md.Fields()
	maxNum := protowire.Number(0)
	for i := range fds.Len() {
		if n := fds.Get(i).Number(); n <= maxDense {
			maxNum = max(maxNum, n)
		}
	}
	c.fields = make([]checkField, maxNum+1)
	for i := range fds.Len() {
		fd := fds.Get(i)
		f := checkField{kind: fd.Kind(), list: fd.IsList(), groupNum: fd.Number()}
		f.utf8 = f.kind == protoreflect.StringKind && fd.ParentFile().Syntax() == protoreflect.Proto3
		if f.kind == protoreflect.MessageKind || f.kind == protoreflect.GroupKind {
			f.msg = newChecker(fd.Message(), made)
		}
		if fd.Number() <= maxDense {
			c.fields[fd.Number()] = f
		} else {
			if c.sparse == nil {
				c.sparse = map[protowire.Number]*checkField{}
			}
			c.sparse[fd.Number()] = &f
		}
	}
	return c
}

func (c *checker) valid(b []byte, depth int) bool {
	if depth > maxDepth {
		return false
	}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || num > protowire.MaxValidNumber {
			return false
		}
		b = b[n:]
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return false
		}
		v := b[:m]
		b = b[m:]
		if f := c.field(num); f != nil && !f.valid(v, typ, depth) {
			return false
		}
	}
	return true
}

// valid checks a known field's value v (as ConsumeFieldValue delimits it), of wire type typ.
func (f *checkField) valid(v []byte, typ protowire.Type, depth int) bool {
	if typ == protowire.BytesType {
		payload, _ := protowire.ConsumeBytes(v)
		switch f.kind {
		case protoreflect.StringKind:
			return !f.utf8 || utf8.Valid(payload)
		case protoreflect.BytesKind:
			return true
		case protoreflect.MessageKind:
			return f.msg.valid(payload, depth+1)
		}
		if !f.list {
			return true // a scalar sent length-delimited: an unknown field
		}
		// A packed repeated scalar: every element must be whole.
		for len(payload) > 0 {
			var k int
			switch f.kind {
			case protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind, protoreflect.FloatKind:
				_, k = protowire.ConsumeFixed32(payload)
			case protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind, protoreflect.DoubleKind:
				_, k = protowire.ConsumeFixed64(payload)
			case protoreflect.GroupKind:
				return true // groups are never packed: an unknown field
			default:
				_, k = protowire.ConsumeVarint(payload)
			}
			if k < 0 {
				return false
			}
			payload = payload[k:]
		}
		return true
	}
	if f.kind == protoreflect.GroupKind && typ == protowire.StartGroupType {
		payload, _ := protowire.ConsumeGroup(f.groupNum, v)
		return f.msg.valid(payload, depth+1)
	}
	return true // a scalar (ConsumeFieldValue checked it), or another wire type: unknown
}
