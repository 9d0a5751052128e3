package hms

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	hmsv1 "github.com/livegate/livegate/gen/go/livegate/hms/v1"
	"github.com/livegate/livegate/internal/decode"
	"github.com/livegate/livegate/internal/jsontest"
)

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		strict bool // decode with DecodeStrict instead of Decode
		kind   error
		field  string
	}{
		{name: "empty body", body: ``, kind: decode.ErrNotJSON},
		{name: "truncated", body: `{"type":"peer.join.success","data":{}`, kind: decode.ErrNotJSON},
		{name: "trailing comma", body: `{"type":"peer.join.success","data":{"role":"host",}}`, kind: decode.ErrNotJSON},
		{name: "two values", body: `{} {}`, kind: decode.ErrNotJSON},
		{name: "array", body: `[{"type":"peer.join.success","data":{}}]`, kind: decode.ErrNotObject},
		{name: "string", body: `"peer.join.success"`, kind: decode.ErrNotObject},
		{name: "null", body: `null`, kind: decode.ErrNotObject},

		{name: "type missing", body: `{"data":{}}`, kind: decode.ErrMissingField, field: "type"},
		{name: "type empty", body: `{"type":"","data":{}}`, kind: decode.ErrMissingField, field: "type"},
		{name: "type null", body: `{"type":null,"data":{}}`, kind: decode.ErrMissingField, field: "type"},
		{name: "type not a string", body: `{"type":7,"data":{}}`, kind: decode.ErrWrongType, field: "type"},
		{name: "data missing", body: `{"type":"peer.join.success"}`, kind: decode.ErrMissingField, field: "data"},
		{name: "data null", body: `{"type":"peer.join.success","data":null}`, kind: decode.ErrMissingField, field: "data"},
		{name: "data array", body: `{"type":"peer.join.success","data":[]}`, kind: decode.ErrWrongType, field: "data"},
		{name: "data string", body: `{"type":"peer.join.success","data":"{}"}`, kind: decode.ErrWrongType, field: "data"},
		{name: "data of unknown type not an object", body: `{"type":"something.new","data":1}`, kind: decode.ErrWrongType, field: "data"},

		{name: "envelope timestamp malformed", body: `{"type":"peer.join.success","timestamp":"yesterday","data":{}}`, kind: decode.ErrInvalidValue, field: "timestamp"},
		{name: "envelope version a number", body: `{"version":2.0,"type":"peer.join.success","data":{}}`, kind: decode.ErrWrongType, field: "version"},
		{name: "envelope is_replay a string", body: `{"type":"peer.join.success","is_replay":"yes","data":{}}`, kind: decode.ErrWrongType, field: "is_replay"},
		{name: "envelope duplicate key", body: `{"id":"a","id":"b","type":"peer.join.success","data":{}}`, kind: decode.ErrDuplicateField, field: "id"},
		{name: "envelope unknown key, strict", body: `{"type":"peer.join.success","surprise":1,"data":{}}`, strict: true, kind: decode.ErrUnknownField, field: "surprise"},
		{name: "envelope error of unknown type", body: `{"type":"something.new","timestamp":5,"data":{}}`, kind: decode.ErrWrongType, field: "timestamp"},

		{name: "int64 not numeric", body: `{"type":"peer.leave.success","data":{"duration":"forty"}}`, kind: decode.ErrInvalidValue, field: "data.duration"},
		{name: "int64 fractional", body: `{"type":"peer.leave.success","data":{"duration":1.5}}`, kind: decode.ErrInvalidValue, field: "data.duration"},
		{name: "int64 out of range", body: `{"type":"peer.leave.success","data":{"duration":9223372036854775808}}`, kind: decode.ErrInvalidValue, field: "data.duration"},
		{name: "string given a number", body: `{"type":"peer.join.success","data":{"role":"host","user_id":1}}`, kind: decode.ErrWrongType, field: "data.user_id"},
		{name: "bool given a string", body: `{"type":"room.end.success","data":{"lock_room":"false"}}`, kind: decode.ErrWrongType, field: "data.lock_room"},
		{name: "timestamp malformed", body: `{"type":"peer.join.success","data":{"joined_at":"2021-11-30 12:58:49"}}`, kind: decode.ErrInvalidValue, field: "data.joined_at"},
		{name: "timestamp a number", body: `{"type":"peer.join.success","data":{"joined_at":1638277129}}`, kind: decode.ErrWrongType, field: "data.joined_at"},
		{name: "list not an array", body: `{"type":"beam.started.success","data":{"rtmp":{"url":"x"}}}`, kind: decode.ErrWrongType, field: "data.rtmp"},
		{name: "list element not an object", body: `{"type":"beam.started.success","data":{"rtmp":[{"url":"x"},"y"]}}`, kind: decode.ErrWrongType, field: "data.rtmp[1]"},
		{name: "list element field", body: `{"type":"beam.started.success","data":{"rtmp":[{"url":"x"},{"url":3}]}}`, kind: decode.ErrWrongType, field: "data.rtmp[1].url"},
		{name: "nested field deep in list", body: `{"type":"hls.recording.success","data":{"recording_single_files":[{"size":1},{"layer":"1","size":"big"}]}}`, kind: decode.ErrInvalidValue, field: "data.recording_single_files[1].size"},
		{name: "data duplicate key", body: `{"type":"peer.leave.success","data":{"duration":1,"duration":2}}`, kind: decode.ErrDuplicateField, field: "data.duration"},
		{name: "data duplicate via JSON name", body: `{"type":"peer.leave.success","data":{"room_id":"a","roomId":"b"}}`, kind: decode.ErrDuplicateField, field: "data.roomId"},
		{name: "data unknown key, strict", body: `{"type":"peer.join.success","data":{"role":"host","surprise":{"a":1}}}`, strict: true, kind: decode.ErrUnknownField, field: "data.surprise"},
		{name: "nested unknown key, strict", body: `{"type":"beam.started.success","data":{"rtmp":[{"url":"x","key":"secret"}]}}`, strict: true, kind: decode.ErrUnknownField, field: "data.rtmp[0].key"},
		{name: "data number beyond float64 under unknown key", body: `{"type":"peer.join.success","data":{"x":1e400}}`, kind: decode.ErrInvalidValue, field: "data"},
		{name: "bad value after unknown key", body: `{"type":"peer.leave.success","data":{"surprise":true,"duration":"x"}}`, kind: decode.ErrInvalidValue, field: "data.duration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			decodeFn := Decode
			if tt.strict {
				decodeFn = DecodeStrict
			}
			got, err := decodeFn([]byte(tt.body))
			if err == nil {
				t.Fatalf("decode(%s) = %v, want an error", tt.body, got)
			}
			var de *decode.FieldError
			if !errors.As(err, &de) {
				t.Fatalf("error %v (%T) is not a *decode.FieldError", err, err)
			}
			if !errors.Is(err, tt.kind) || de.Kind != tt.kind {
				t.Errorf("error %v: kind %v, want %v", err, de.Kind, tt.kind)
			}
			if de.Field != tt.field {
				t.Errorf("error %v: field %q, want %q", err, de.Field, tt.field)
			}
			if tt.field != "" && !strings.HasPrefix(err.Error(), tt.field+": ") {
				t.Errorf("error %q does not name the field %q", err, tt.field)
			}
		})
	}
}

// TestDecodeLenient covers what the production decoder accepts that the strict one refuses, and
// deliveries that are fine for both.
func TestDecodeLenient(t *testing.T) {
	t.Run("unknown keys are ignored", func(t *testing.T) {
		body := `{"type":"peer.leave.success","new_envelope_key":{"x":[1]},"data":{"duration":0,"new_key":"v","rtmp":[{"url":"x"}]}}`
		d, err := Decode([]byte(body))
		if err != nil {
			t.Fatalf("Decode: %v", err)
		}
		want := &hmsv1.PeerLeaveSuccess{Duration: proto.Int64(0)}
		if !proto.Equal(d.Payload, want) {
			t.Errorf("payload = %v, want %v", d.Payload, want)
		}
		// The envelope's data keeps everything that was sent.
		if _, ok := d.Delivery.GetData().GetFields()["new_key"]; !ok {
			t.Errorf("Delivery.Data lost the unknown key: %v", d.Delivery.GetData())
		}
		if _, err := DecodeStrict([]byte(body)); !errors.Is(err, decode.ErrUnknownField) {
			t.Errorf("DecodeStrict error = %v, want decode.ErrUnknownField", err)
		}
	})
	t.Run("unknown type", func(t *testing.T) {
		d, err := DecodeStrict([]byte(`{"version":"2.0","id":"6c75de35-b778-4fb0-88ae-114c28dc285f","type":"whiteboard.opened","data":{"anything":[1,{"a":null}]}}`))
		if err != nil {
			t.Fatalf("DecodeStrict: %v", err)
		}
		if d.Payload != nil {
			t.Errorf("payload = %v, want nil", d.Payload)
		}
		if d.Delivery.GetType() != "whiteboard.opened" || d.Delivery.GetId() != "6c75de35-b778-4fb0-88ae-114c28dc285f" {
			t.Errorf("delivery = %v", d.Delivery)
		}
	})
	t.Run("numbers as strings, replay flag, zero values", func(t *testing.T) {
		d, err := DecodeStrict([]byte(`{"type":"track.recording.success","is_replay":true,"data":{"size":"22989889","duration":0,"track_type":""}}`))
		if err != nil {
			t.Fatalf("DecodeStrict: %v", err)
		}
		want := &hmsv1.TrackRecordingSuccess{Size: proto.Int64(22989889), Duration: proto.Int64(0), TrackType: proto.String("")}
		if !proto.Equal(d.Payload, want) {
			t.Errorf("payload = %v, want %v", d.Payload, want)
		}
		if !d.Delivery.GetIsReplay() || d.Delivery.IsReplay == nil {
			t.Errorf("is_replay = %v", d.Delivery.IsReplay)
		}
	})
	t.Run("integers keep their precision", func(t *testing.T) {
		d, err := Decode([]byte(`{"type":"recording.success","data":{"size":9007199254740993}}`))
		if err != nil {
			t.Fatalf("Decode: %v", err)
		}
		if got := d.Payload.(*hmsv1.RecordingSuccess).GetSize(); got != 9007199254740993 {
			t.Errorf("size = %d, want 9007199254740993", got)
		}
	})
	t.Run("zero time", func(t *testing.T) {
		d, err := DecodeStrict([]byte(`{"type":"peer.join.failure","data":{"joined_at":"0001-01-01T00:00:00Z"}}`))
		if err != nil {
			t.Fatalf("DecodeStrict: %v", err)
		}
		if got := d.Payload.(*hmsv1.PeerJoinFailure).GetJoinedAt(); got == nil || !got.AsTime().IsZero() {
			t.Errorf("joined_at = %v, want the zero time", got)
		}
	})
}

// TestGoldenDetectsLoss checks the golden pipeline against a lossy decoder: clearing a field that
// the sample sends as its zero value must make the comparison fail, naming that key.
func TestGoldenDetectsLoss(t *testing.T) {
	body, err := os.ReadFile(filepath.Join(fixtureDir, "peer.leave.failure.json"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := DecodeStrict(body)
	if err != nil {
		t.Fatal(err)
	}
	d.Payload.(*hmsv1.PeerLeaveFailure).Duration = nil // "duration": 0 in the sample
	out, err := encodeDelivery(d)
	if err != nil {
		t.Fatal(err)
	}
	if diff, err := jsontest.Diff(body, out); err != nil || !strings.HasPrefix(diff, "$.data.duration: dropped") {
		t.Fatalf("jsontest.Diff = %q, %v, want the missing duration reported", diff, err)
	}
}
