package amity

import (
	"errors"
	"strings"
	"testing"

	"github.com/livegate/livegate/internal/decode"
	"github.com/livegate/livegate/internal/limits"
)

func isKind(err, kind error) bool {
	var de *decode.FieldError
	return errors.As(err, &de) && errors.Is(err, kind)
}

// stream wraps one videoStreamings element into a delivery.
func stream(fields string) string {
	return `{"event":"video-streaming.didStop","data":{"videoStreamings":[{` + fields + `}]}}`
}

// user wraps one users element into a delivery.
func user(fields string) string {
	return `{"event":"video-streaming.didStop","data":{"users":[{` + fields + `}]}}`
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		kind   error
		field  string // JSON path the error must name ("" = the body)
		strict bool   // DecodeStrict instead of Decode
	}{
		// The body as a whole.
		{"empty body", ``, decode.ErrNotJSON, "", false},
		{"not JSON", `event=video-streaming.didStop`, decode.ErrNotJSON, "", false},
		{"truncated", `{"event":"video-streaming.didStop","data":{`, decode.ErrNotJSON, "", false},
		{"missing colon", `{"event" "x"}`, decode.ErrNotJSON, "", false},
		{"trailing data", `{"event":"video-streaming.didStop","data":{}} {}`, decode.ErrNotJSON, "", false},
		{"invalid UTF-8", "{\"event\":\"video-streaming.didStop\xff\",\"data\":{}}", decode.ErrNotJSON, "", false},
		{"array body", `[{"event":"video-streaming.didStop","data":{}}]`, decode.ErrNotObject, "", false},
		{"string body", `"video-streaming.didStop"`, decode.ErrNotObject, "", false},
		{"null body", `null`, decode.ErrNotObject, "", false},

		// event and data.
		{"event missing", `{"data":{}}`, decode.ErrMissingField, "event", false},
		{"event null", `{"event":null,"data":{}}`, decode.ErrMissingField, "event", false},
		{"event empty", `{"event":"","data":{}}`, decode.ErrMissingField, "event", false},
		{"event blank", `{"event":"  ","data":{}}`, decode.ErrMissingField, "event", false},
		{"event number", `{"event":7,"data":{}}`, decode.ErrWrongType, "event", false},
		{"event object", `{"event":{"type":"x"},"data":{}}`, decode.ErrWrongType, "event", false},
		{"event twice", `{"event":"a","event":"b","data":{}}`, decode.ErrDuplicateField, "event", false},
		{"data missing", `{"event":"video-streaming.didStop"}`, decode.ErrMissingField, "data", false},
		{"data null", `{"event":"video-streaming.didStop","data":null}`, decode.ErrMissingField, "data", false},
		{"data array", `{"event":"video-streaming.didStop","data":[]}`, decode.ErrWrongType, "data", false},
		{"data string", `{"event":"video-streaming.didStop","data":"{}"}`, decode.ErrWrongType, "data", false},

		// Fields of the wrong JSON type.
		{"videoStreamings object", `{"event":"video-streaming.didStop","data":{"videoStreamings":{}}}`, decode.ErrWrongType, "data.videoStreamings", false},
		{"videoStreamings element string", `{"event":"video-streaming.didStop","data":{"videoStreamings":["s1"]}}`, decode.ErrWrongType, "data.videoStreamings[0]", false},
		{"videoStreamings element null", `{"event":"video-streaming.didStop","data":{"videoStreamings":[null]}}`, decode.ErrWrongType, "data.videoStreamings[0]", false},
		{"isLive string", stream(`"isLive":"yes"`), decode.ErrWrongType, "data.videoStreamings[0].isLive", false},
		{"isLive number", stream(`"isLive":1`), decode.ErrWrongType, "data.videoStreamings[0].isLive", false},
		{"streamId number", stream(`"streamId":42`), decode.ErrWrongType, "data.videoStreamings[0].streamId", false},
		{"status array", stream(`"status":["live"]`), decode.ErrWrongType, "data.videoStreamings[0].status", false},
		{"platform string", stream(`"platform":"android"`), decode.ErrWrongType, "data.videoStreamings[0].platform", false},
		{"startedAt number", stream(`"startedAt":1699335116`), decode.ErrWrongType, "data.videoStreamings[0].startedAt", false},
		{"metadata array", stream(`"metadata":[]`), decode.ErrWrongType, "data.videoStreamings[0].metadata", false},
		{"metadata string", stream(`"metadata":"{}"`), decode.ErrWrongType, "data.videoStreamings[0].metadata", false},
		{"nested url number", stream(`"watcherUrl":{"hls":{"components":{"appName":1}}}`), decode.ErrWrongType, "data.videoStreamings[0].watcherUrl.hls.components.appName", false},
		{"recording duration bool", stream(`"recordings":[{},{"mp4":{"duration":true}}]`), decode.ErrWrongType, "data.videoStreamings[0].recordings[1].mp4.duration", false},
		{"roles element number", user(`"roles":["admin",1]`), decode.ErrWrongType, "data.users[0].roles[1]", false},
		{"roles element null", user(`"roles":[null]`), decode.ErrWrongType, "data.users[0].roles[0]", false},
		{"_id number", user(`"_id":1`), decode.ErrWrongType, "data.users[0]._id", false},
		{"hashFlag hash string", user(`"hashFlag":{"hash":"abc"}`), decode.ErrWrongType, "data.users[0].hashFlag.hash", false},
		{"files element array", `{"event":"video-streaming.didStop","data":{"files":[[]]}}`, decode.ErrWrongType, "data.files[0]", false},
		{"exif array", `{"event":"video-streaming.didStop","data":{"files":[{"attributes":{"metadata":{"exif":[1]}}}]}}`, decode.ErrWrongType, "data.files[0].attributes.metadata.exif", false},

		// Right JSON type, invalid value.
		{"startedAt malformed", stream(`"startedAt":"yesterday"`), decode.ErrInvalidValue, "data.videoStreamings[0].startedAt", false},
		{"startedAt without zone", stream(`"startedAt":"2023-11-07T05:31:56"`), decode.ErrInvalidValue, "data.videoStreamings[0].startedAt", false},
		{"flagCount fractional", user(`"flagCount":1.5`), decode.ErrInvalidValue, "data.users[0].flagCount", false},
		{"flagCount not numeric", user(`"flagCount":"many"`), decode.ErrInvalidValue, "data.users[0].flagCount", false},
		{"flagCount too large", user(`"flagCount":1e30`), decode.ErrInvalidValue, "data.users[0].flagCount", false},
		{"size not numeric", `{"event":"video-streaming.didStop","data":{"files":[{"attributes":{"size":"12kB"}}]}}`, decode.ErrInvalidValue, "data.files[0].attributes.size", false},
		{"duration not numeric", stream(`"recordings":[{"flv":{"duration":"fast"}}]`), decode.ErrInvalidValue, "data.videoStreamings[0].recordings[0].flv.duration", false},
		{"too deep", `{"event":"video-streaming.didStop","data":{"videoStreamings":[{"metadata":{"a":` + strings.Repeat("[", 300) + strings.Repeat("]", 300) + `}}]}}`, decode.ErrTooDeep, "data.videoStreamings[0].metadata.a" + strings.Repeat("[0]", limits.MaxJSONDepth-5), false},

		// Duplicates.
		{"duplicate key", user(`"userId":"a","userId":"b"`), decode.ErrDuplicateField, "data.users[0].userId", false},
		// "_id" has json_name "_id", so protoc's default JSON name "Id" is not a name of it.
		{"Id is not _id", user(`"_id":"a","Id":"b"`), decode.ErrUnknownField, "data.users[0].Id", true},

		// Strict mode.
		{"unknown field strict", stream(`"referenceId":"p1"`), decode.ErrUnknownField, "data.videoStreamings[0].referenceId", true},
		{"unknown top-level strict", `{"event":"video-streaming.didStop","data":{},"version":1}`, decode.ErrUnknownField, "version", true},
		{"unknown odd key strict", `{"event":"video-streaming.didStop","data":{"a b":1}}`, decode.ErrUnknownField, `data["a b"]`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			decodeFn := Decode
			if tt.strict {
				decodeFn = DecodeStrict
			}
			w, err := decodeFn([]byte(tt.body))
			if err == nil {
				t.Fatalf("decoded %v, want an error", w)
			}
			var de *decode.FieldError
			if !errors.As(err, &de) {
				t.Fatalf("error %v (%T) is not a *decode.FieldError", err, err)
			}
			if !errors.Is(err, tt.kind) {
				t.Errorf("error %q: kind %v, want %v", err, de.Kind, tt.kind)
			}
			if de.Field != tt.field {
				t.Errorf("error %q: Field = %q, want %q", err, de.Field, tt.field)
			}
			if tt.field != "" && !strings.Contains(err.Error(), tt.field) {
				t.Errorf("error %q does not name the field %q", err, tt.field)
			}
			if de.Reason == "" {
				t.Errorf("error %q: empty Reason", err)
			}
		})
	}
}

// TestDecodeAccepts lists inputs that look odd but are valid.
func TestDecodeAccepts(t *testing.T) {
	tests := []struct{ name, body string }{
		{"no streams", `{"event":"video-streaming.didStop","data":{}}`},
		{"unknown event type", `{"event":"video-streaming.didSomethingNew","data":{}}`},
		{"null fields", stream(`"streamId":null,"platform":null,"metadata":null,"recordings":null`)},
		{"numeric strings", user(`"flagCount":"3","hashFlag":{"bits":"64","hashes":3}`)},
		{"integral exponent", user(`"flagCount":3e2`)},
		{"duration as string", stream(`"recordings":[{"mp4":{"duration":"12.5","startTime":"1714557600123"}}]`)},
		{"timestamp with offset", stream(`"startedAt":"2024-05-01T17:30:00.123456789+07:00"`)},
		{"metadata nested", stream(`"metadata":{"a":{"b":[1,"x",null,true,{"c":{}}]}}`)},
		{"unknown status", stream(`"status":"archived"`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := DecodeStrict([]byte(tt.body)); err != nil {
				t.Errorf("DecodeStrict: %v", err)
			}
			if _, err := Decode([]byte(tt.body)); err != nil {
				t.Errorf("Decode: %v", err)
			}
		})
	}
}

func TestTypes(t *testing.T) {
	want := []string{
		"video-streaming.didFlag",
		"video-streaming.didRecord",
		"video-streaming.didStart",
		"video-streaming.didStop",
		"video-streaming.didTerminate",
	}
	got := Types()
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("Types() = %v, want %v", got, want)
	}
	got[0] = "mutated"
	if Types()[0] != want[0] {
		t.Error("Types() returns shared memory")
	}
	for _, ty := range want {
		if !Known(ty) {
			t.Errorf("Known(%q) = false", ty)
		}
	}
	for _, ty := range []string{"", "video-streaming.didstop", "video-streaming", "user.didCreate", "video-streaming.didStop "} {
		if Known(ty) {
			t.Errorf("Known(%q) = true", ty)
		}
	}
}
