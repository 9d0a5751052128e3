package hms

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/livegate/livegate/internal/decode"
)

// FuzzDecode checks, for any body, that neither decoder panics, that every error is a
// *decode.FieldError of one of the documented kinds (what the webhook endpoint maps to 400), that the
// strict decoder accepts nothing the production one refuses, and that a decoded payload survives
// a protojson round trip.
func FuzzDecode(f *testing.F) {
	for _, fx := range readFixtures(f) {
		f.Add(fx.body)
	}
	for _, seed := range []string{
		``, `null`, `[]`, `{}`, `{"type":"","data":{}}`,
		`{"type":"peer.leave.success","data":{"duration":"40","surprise":[1,{"a":null}]}}`,
		`{"type":"beam.started.success","data":{"rtmp":[{"url":"x"},{"url":3}]}}`,
		`{"type":"hls.recording.success","data":{"recording_single_files":[{"size":"1"}],"recording_thumbnails":[{"offset":1e2}]}}`,
		`{"type":"recording.success","is_replay":true,"data":{"URL":"u","url":"v"}}`,
		`{"type":"whiteboard.opened","timestamp":"2021-11-30T12:58:49.1+05:30","data":{"x":1e400}}`,
	} {
		f.Add([]byte(seed))
	}
	kinds := []error{decode.ErrNotJSON, decode.ErrNotObject, decode.ErrMissingField, decode.ErrWrongType, decode.ErrInvalidValue, decode.ErrUnknownField, decode.ErrDuplicateField, decode.ErrTooDeep}

	f.Fuzz(func(t *testing.T, body []byte) {
		lenient, lenientErr := Decode(body)
		strict, strictErr := DecodeStrict(body)
		for _, err := range []error{lenientErr, strictErr} {
			if err == nil {
				continue
			}
			var de *decode.FieldError
			if !errors.As(err, &de) {
				t.Fatalf("error %v (%T) is not a *decode.FieldError", err, err)
			}
			known := false
			for _, k := range kinds {
				known = known || de.Kind == k
			}
			if !known {
				t.Fatalf("error %v has kind %v", err, de.Kind)
			}
		}
		if lenientErr != nil && strictErr == nil {
			t.Fatalf("DecodeStrict accepted a body Decode refused: %v", lenientErr)
		}
		if strictErr == nil && (!proto.Equal(strict.Payload, lenient.Payload) || !proto.Equal(strict.Delivery, lenient.Delivery)) {
			t.Fatalf("Decode and DecodeStrict disagree on an accepted body")
		}
		if lenientErr != nil {
			return
		}
		if lenient.Delivery == nil || lenient.Delivery.GetType() == "" {
			t.Fatalf("decoded delivery without a type: %v", lenient.Delivery)
		}
		_, known := NewPayload(lenient.Delivery.GetType())
		if known != (lenient.Payload != nil) {
			t.Fatalf("type %q: payload %v", lenient.Delivery.GetType(), lenient.Payload)
		}
		if lenient.Payload == nil {
			return
		}
		out, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(lenient.Payload)
		if err != nil {
			t.Fatalf("marshal payload: %v", err)
		}
		again := lenient.Payload.ProtoReflect().New().Interface()
		if err := protojson.Unmarshal(out, again); err != nil {
			t.Fatalf("re-read payload %s: %v", out, err)
		}
		if !proto.Equal(again, lenient.Payload) {
			t.Fatalf("payload changed in a round trip: %v → %v", lenient.Payload, again)
		}
	})
}

// FuzzDecodeLean: DecodeLean refuses exactly what Decode refuses, with the same error, and
// otherwise returns what Decode returns but the envelope's Data (for a type with a payload).
func FuzzDecodeLean(f *testing.F) {
	for _, fx := range readFixtures(f) {
		f.Add(fx.body)
	}
	for _, seed := range []string{
		``, `null`, `{}`, `{"type":"","data":{}}`, `{"type":"peer.join.success","data":[]}`,
		`{"type":"peer.leave.success","data":{"duration":"40","surprise":[1,{"a":null}]}}`,
		`{"type":"peer.leave.success","data":{"room_id":"r","x":1e400}}`,
		`{"type":"peer.leave.success","data":{"room_id":"r","x":[-1e309]}}`,
		`{"type":"peer.leave.success","data":{"room_id":"r"},"timestamp":"nope","id":3}`,
		`{"type":"peer.leave.success","data":{"room_id":"r"},"is_replay":true,"isReplay":false}`,
		`{"type":"peer.leave.success","data":{"room_id":"r"},"x\u0022y":1,"\u00e9":"\ud800"}`,
		`{"type":"whiteboard.opened","timestamp":"2021-11-30T12:58:49.1+05:30","data":{"x":1e400}}`,
		`{"type":"recording.success","is_replay":true,"data":{"URL":"u","url":"v"}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		lean, leanErr := DecodeLean(body)
		full, fullErr := Decode(body)
		if (leanErr == nil) != (fullErr == nil) || leanErr != nil && leanErr.Error() != fullErr.Error() {
			t.Fatalf("%q: DecodeLean: %v; Decode: %v", body, leanErr, fullErr)
		}
		if fullErr != nil {
			return
		}
		envelope := proto.CloneOf(full.Delivery)
		if lean.Payload != nil {
			envelope.Data = nil
		}
		if !proto.Equal(lean.Payload, full.Payload) || !proto.Equal(lean.Delivery, envelope) {
			t.Fatalf("%q: DecodeLean %v %v; Decode %v %v", body, lean.Delivery, lean.Payload, full.Delivery, full.Payload)
		}
	})
}
