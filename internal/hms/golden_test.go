package hms

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	hmsv1 "github.com/livegate/livegate/gen/go/livegate/hms/v1"
	"github.com/livegate/livegate/internal/jsontest"
)

// fixtureDir holds one delivery per `Sample` of the 100ms webhook documentation
// (seeds/002_dd18d60ae653fe09.txt): <type>.json for each event type's sample and
// envelope-example.json for the "Sample event" of the "Event payload" section.
//
// The samples are copied as the documentation prints them (reindented), with two fixes, because a
// fixture must be valid JSON and must be the event its section describes (JSON holds no comments;
// testdata/hms/README.md records the same):
//   - track.recording.success.json: the sample ends its data object with a trailing comma
//     (`"recording_presigned_url": "https://bucket/prefix/ac.webm", } }`), which is not valid
//     JSON; the comma is removed.
//   - track.recording.failure.json: the sample says `"type": "track.recording.success"`, the type
//     of the previous section; it is set to "track.recording.failure".
const fixtureDir = "../../testdata/hms"

// fixtureEnvelopeExample is the one fixture not named after its type.
const fixtureEnvelopeExample = "envelope-example.json"

type fixture struct {
	name string // file name
	body []byte
}

func readFixtures(tb testing.TB) []fixture {
	tb.Helper()
	paths, err := filepath.Glob(filepath.Join(fixtureDir, "*.json"))
	if err != nil {
		tb.Fatalf("list fixtures: %v", err)
	}
	if len(paths) == 0 {
		tb.Fatalf("no fixtures in %s", fixtureDir)
	}
	fixtures := make([]fixture, 0, len(paths))
	for _, p := range paths {
		body, err := os.ReadFile(p)
		if err != nil {
			tb.Fatalf("read fixture: %v", err)
		}
		fixtures = append(fixtures, fixture{name: filepath.Base(p), body: body})
	}
	return fixtures
}

// TestGolden decodes every fixture strictly (every key of the envelope and of `data` must be a
// field of the schema), encodes the result back into an envelope, and checks that the output
// says what the input said (see jsontest.Diff for the few normalizations allowed).
func TestGolden(t *testing.T) {
	for _, fx := range readFixtures(t) {
		t.Run(strings.TrimSuffix(fx.name, ".json"), func(t *testing.T) {
			decoded, err := DecodeStrict(fx.body)
			if err != nil {
				t.Fatalf("DecodeStrict: %v", err)
			}
			if decoded.Payload == nil {
				t.Fatalf("type %q is not registered", decoded.Delivery.GetType())
			}
			if wantName := pascalCase(decoded.Delivery.GetType()); decoded.Payload.ProtoReflect().Descriptor().Name() != protoreflect.Name(wantName) {
				t.Fatalf("payload is %s, want %s", decoded.Payload.ProtoReflect().Descriptor().FullName(), wantName)
			}
			assertNoUnknownFields(t, decoded.Delivery.ProtoReflect(), "envelope")
			assertNoUnknownFields(t, decoded.Payload.ProtoReflect(), "data")

			out, err := encodeDelivery(decoded)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			if diff, err := jsontest.Diff(fx.body, out); err != nil || diff != "" {
				t.Errorf("round trip changed the delivery: %s %v\n--- in\n%s\n--- out\n%s", diff, err, fx.body, out)
			}

			// The production decoder reads the fixture into the same messages.
			lenient, err := Decode(fx.body)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !proto.Equal(lenient.Payload, decoded.Payload) || !proto.Equal(lenient.Delivery, decoded.Delivery) {
				t.Errorf("Decode and DecodeStrict disagree")
			}
		})
	}
}

// encodeDelivery writes a decoded delivery back as 100ms would send it: the envelope with the
// typed payload as its `data`, both with proto field names.
func encodeDelivery(d *Decoded) ([]byte, error) {
	marshal := protojson.MarshalOptions{UseProtoNames: true}
	envelope := proto.CloneOf(d.Delivery)
	envelope.Data = nil
	envJSON, err := marshal.Marshal(envelope)
	if err != nil {
		return nil, err
	}
	dataJSON, err := marshal.Marshal(d.Payload)
	if err != nil {
		return nil, err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(envJSON, &fields); err != nil {
		return nil, err
	}
	fields["data"] = dataJSON
	return json.Marshal(fields)
}

// assertNoUnknownFields fails if m or any message in it holds unknown fields. (protojson never
// keeps any; this guards the strictness the golden test relies on.)
func assertNoUnknownFields(t *testing.T, m protoreflect.Message, where string) {
	t.Helper()
	if len(m.GetUnknown()) > 0 {
		t.Errorf("%s: %s has unknown fields", where, m.Descriptor().FullName())
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Message() != nil:
			for i := range v.List().Len() {
				assertNoUnknownFields(t, v.List().Get(i).Message(), where+"."+string(fd.Name()))
			}
		case fd.Message() != nil && !fd.IsMap():
			assertNoUnknownFields(t, v.Message(), where+"."+string(fd.Name()))
		}
		return true
	})
}

// TestFixturesCoverTypes checks that every fixture's type is registered, that each <type>.json
// holds that type, and that every registered type has its fixture.
func TestFixturesCoverTypes(t *testing.T) {
	var covered []string
	for _, fx := range readFixtures(t) {
		var envelope struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(fx.body, &envelope); err != nil {
			t.Fatalf("%s: %v", fx.name, err)
		}
		if _, ok := NewPayload(envelope.Type); !ok {
			t.Errorf("%s: type %q is not registered", fx.name, envelope.Type)
		}
		if fx.name == fixtureEnvelopeExample {
			continue
		}
		if want := strings.TrimSuffix(fx.name, ".json"); envelope.Type != want {
			t.Errorf("%s: type is %q, want %q", fx.name, envelope.Type, want)
		}
		covered = append(covered, envelope.Type)
	}
	slices.Sort(covered)
	if !slices.Equal(covered, Types()) {
		t.Errorf("fixture types = %v\nregistered types = %v", covered, Types())
	}
}

// TestRecordingSuccessURLKey checks the one key that is not the proto field name: 100ms sends
// the deprecated `URL` of recording.success in capitals, which is RecordingSuccess.url's JSON name.
func TestRecordingSuccessURLKey(t *testing.T) {
	body := []byte(`{"type":"recording.success","data":{"URL":"https://upload-location/bucket/beam/ac.mp4","location":"s3://bucket/prefix/ac.mp4"}}`)
	decoded, err := DecodeStrict(body)
	if err != nil {
		t.Fatalf("DecodeStrict: %v", err)
	}
	got := decoded.Payload.(*hmsv1.RecordingSuccess)
	if got.GetUrl() != "https://upload-location/bucket/beam/ac.mp4" || got.GetLocation() != "s3://bucket/prefix/ac.mp4" {
		t.Errorf("payload = %v", got)
	}
	out, err := protojson.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `"URL":`) {
		t.Errorf("default protojson output %s lacks the JSON name URL", out)
	}
}
