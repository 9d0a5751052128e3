package amity

import (
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/livegate/livegate/internal/decode"
	"github.com/livegate/livegate/internal/jsontest"
)

const fixtureDir = "../../testdata/amity"

// fixtures returns the Amity fixture files (testdata/amity/*.json).
func fixtures(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(fixtureDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 2 {
		t.Fatalf("expected at least 2 fixtures in %s, found %d", fixtureDir, len(files))
	}
	return files
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGolden decodes each fixture strictly (so no key is left unknown),
// encodes it back with proto field names, and compares the result with the
// fixture in meaning (see jsontest.Diff for the normalization rules).
func TestGolden(t *testing.T) {
	for _, path := range fixtures(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			in := readFile(t, path)
			w, err := DecodeStrict(in)
			if err != nil {
				t.Fatalf("DecodeStrict: %v", err)
			}
			out, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(w)
			if err != nil {
				t.Fatalf("protojson.Marshal: %v", err)
			}
			diff, err := jsontest.Diff(in, out)
			if err != nil {
				t.Fatal(err)
			}
			if diff != "" {
				t.Errorf("round trip differs from the fixture: %s\nencoded: %s", diff, out)
			}

			// The tolerant decoder gives the same message, and decoding the
			// encoded form gives it again.
			w2, err := Decode(in)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !proto.Equal(w, w2) {
				t.Error("Decode and DecodeStrict disagree")
			}
			w3, err := DecodeStrict(out)
			if err != nil {
				t.Fatalf("DecodeStrict(encoded): %v", err)
			}
			if !proto.Equal(w, w3) {
				t.Error("decoding the encoded form gives a different message")
			}
		})
	}
}

// TestSeedFixtureSetsEveryField checks the other direction of the golden
// test: every field of the schema (reachable from Webhook) is set by the
// documentation's sample, so the schema has no field the seed does not have.
func TestSeedFixtureSetsEveryField(t *testing.T) {
	w, err := DecodeStrict(readFile(t, filepath.Join(fixtureDir, "video-streaming.didStop.json")))
	if err != nil {
		t.Fatal(err)
	}
	var walk func(m protoreflect.Message, path string)
	walk = func(m protoreflect.Message, path string) {
		fields := m.Descriptor().Fields()
		for i := range fields.Len() {
			fd := fields.Get(i)
			fp := path + "." + string(fd.Name())
			if !m.Has(fd) {
				t.Errorf("%s: not set by the seed's sample", fp)
				continue
			}
			if md := fd.Message(); md == nil || fd.IsMap() || md.ParentFile().Package() == "google.protobuf" {
				continue
			}
			if fd.IsList() {
				l := m.Get(fd).List()
				for j := range l.Len() {
					walk(l.Get(j).Message(), fp)
				}
				continue
			}
			walk(m.Get(fd).Message(), fp)
		}
	}
	walk(w.ProtoReflect(), "Webhook")
}

func TestDecodeFixtureValues(t *testing.T) {
	w, err := Decode(readFile(t, filepath.Join(fixtureDir, "video-streaming.didRecord.two-streams.json")))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := w.GetEvent(), EventDidRecord; got != want {
		t.Errorf("event = %q, want %q", got, want)
	}
	vs := w.GetData().GetVideoStreamings()
	if len(vs) != 2 {
		t.Fatalf("%d videoStreamings, want 2", len(vs))
	}
	first := vs[0]
	if first.IsLive == nil || first.GetIsLive() {
		t.Errorf("isLive = %v, want present and false", first.IsLive)
	}
	if first.ModerationId == nil || first.GetModerationId() != "" {
		t.Errorf("moderationId = %v, want present and empty", first.ModerationId)
	}
	if got := first.GetEndedAt().AsTime().UTC().Format("2006-01-02T15:04:05Z07:00"); got != "2024-05-01T10:30:00Z" {
		t.Errorf("endedAt = %s, want 2024-05-01T10:30:00Z", got)
	}
	if got := first.GetRecordings()[0].GetFlv().GetDuration(); got != 1799.48 {
		t.Errorf("recordings[0].flv.duration = %v, want 1799.48", got)
	}
	if got := first.GetMetadata().GetFields()["category"].GetStringValue(); got != "news" {
		t.Errorf("metadata.category = %q, want news", got)
	}
	if vs[1].PostId != nil {
		t.Errorf("second stream: postId = %q, want absent", vs[1].GetPostId())
	}
	u := w.GetData().GetUsers()[0]
	if got := u.GetXId(); got != "64be1f6cb9b4106b5a6bbf3f" {
		t.Errorf("users[0]._id = %q", got)
	}
	if u.HashFlag != nil {
		t.Error("users[0].hashFlag: null should leave it unset")
	}
	if got := w.GetData().GetFiles()[0].GetAttributes().GetSize(); got != 48213 {
		t.Errorf("files[0].attributes.size = %d, want 48213 (from a numeric string)", got)
	}
}

func TestDecodeToleratesUnknownFields(t *testing.T) {
	body := []byte(`{
		"event": "video-streaming.didStart",
		"version": 2,
		"data": {
			"videoStreamings": [{"streamId": "s1", "referenceId": "p1", "targetType": "community", "future": {"deep": [1, 2]}}],
			"users": [{"userId": "u1", "newThing": null}],
			"extras": []
		}
	}`)
	w, err := Decode(body)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if got := w.GetData().GetVideoStreamings()[0].GetStreamId(); got != "s1" {
		t.Errorf("streamId = %q, want s1", got)
	}
	if got := w.GetData().GetUsers()[0].GetUserId(); got != "u1" {
		t.Errorf("userId = %q, want u1", got)
	}
	if _, err := DecodeStrict(body); !isKind(err, decode.ErrUnknownField) {
		t.Errorf("DecodeStrict: err = %v, want decode.ErrUnknownField", err)
	}
}

// TestDecodeAcceptsBothNames: protojson reads a field by its proto name or its
// JSON name; Amity's keys are both, except "_id", whose default JSON name
// would be "Id".
func TestDecodeAcceptsBothNames(t *testing.T) {
	w, err := DecodeStrict([]byte(`{"event":"video-streaming.didStop","data":{"users":[{"_id":"a"}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := w.GetData().GetUsers()[0].GetXId(); got != "a" {
		t.Errorf("_id = %q, want a", got)
	}
	out, err := protojson.Marshal(w) // JSON names, not proto names
	if err != nil {
		t.Fatal(err)
	}
	if diff, _ := jsontest.Diff([]byte(`{"event":"video-streaming.didStop","data":{"users":[{"_id":"a"}]}}`), out); diff != "" {
		t.Errorf("JSON-name encoding: %s (%s)", diff, out)
	}
}
