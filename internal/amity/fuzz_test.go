package amity

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/livegate/livegate/internal/decode"
)

// FuzzDecode: Decode and DecodeStrict never panic, every error is a
// *decode.FieldError of a known kind, and what decodes survives an encode/decode
// round trip and splits into one event per stream.
func FuzzDecode(f *testing.F) {
	for _, path := range fixtures(f) {
		f.Add(readFile(f, path))
	}
	for _, s := range []string{
		``, `{}`, `[]`, `null`, `{"event":"x","data":{}}`,
		stream(`"isLive":"yes"`), user(`"flagCount":1.5`), stream(`"startedAt":"yesterday"`),
		stream(`"metadata":{"a":[1,{"b":null}]}`), `{"event":"a","event":"b","data":{}}`,
	} {
		f.Add([]byte(s))
	}
	kinds := []error{decode.ErrNotJSON, decode.ErrNotObject, decode.ErrMissingField, decode.ErrWrongType, decode.ErrInvalidValue, decode.ErrUnknownField, decode.ErrDuplicateField, decode.ErrTooDeep}

	f.Fuzz(func(t *testing.T, body []byte) {
		for _, strict := range []bool{false, true} {
			w, err := decodeBody(body, strict)
			if err != nil {
				var de *decode.FieldError
				if !errors.As(err, &de) {
					t.Fatalf("strict=%v: error %v (%T) is not a *decode.FieldError", strict, err, err)
				}
				known := false
				for _, k := range kinds {
					known = known || de.Kind == k
				}
				if !known {
					t.Fatalf("strict=%v: error %v has unknown kind %v", strict, err, de.Kind)
				}
				continue
			}
			if w.GetEvent() == "" || w.GetData() == nil {
				t.Fatalf("strict=%v: decoded without event or data: %v", strict, w)
			}
			if n, want := len(Split(w)), len(w.GetData().GetVideoStreamings()); n != want {
				t.Fatalf("Split gave %d events for %d streams", n, want)
			}
			out, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(w)
			if err != nil {
				t.Fatalf("strict=%v: encoding a decoded delivery: %v", strict, err)
			}
			w2, err := DecodeStrict(out)
			if err != nil {
				t.Fatalf("strict=%v: decoding the encoded delivery %s: %v", strict, out, err)
			}
			if !proto.Equal(w, w2) {
				t.Fatalf("strict=%v: round trip changed the delivery:\n%v\n%v", strict, w, w2)
			}
		}
	})
}
