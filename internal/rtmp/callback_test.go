package rtmp

import (
	"errors"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	rtmpv1 "github.com/livegate/livegate/gen/go/livegate/rtmp/v1"
	"github.com/livegate/livegate/internal/decode"
)

// The fixtures in testdata/rtmp are the POST bodies nginx-rtmp sends, one per
// call, built after ngx_rtmp_notify_module.c and ngx_rtmp_netcall_module.c
// (arut/nginx-rtmp-module): the session fields first (app, flashver, swfurl,
// tcurl, pageurl, addr, clientid; connect has epoch instead of clientid), then
// the call's own fields, then the client's query arguments verbatim. Values are
// escaped as ngx_escape_uri(NGX_ESCAPE_ARGS) does: space, '#', '%', '&', '+',
// ';', '?' and non-printable bytes.
//
// The scene: OBS publishes rtmp://ingest.example.com:1935/live/stream-key-123?key=s3cr3t
// (flashver "FMLE/3.0 (compatible; FMSc/1.0)"), ffplay plays it with
// ?viewer=v-881 (flashver "LNX 9,0,124,2"; ffmpeg asks for start -2000 ms,
// which nginx-rtmp writes as the uint32 4294965296), and a `recorder preview`
// block records it. The connect and disconnect fixtures connect to the app
// "live?tenant=acme".
const fixtureDir = "../../testdata/rtmp"

func publisher(cb *rtmpv1.Callback) *rtmpv1.Callback {
	cb.App = "live"
	cb.Flashver = "FMLE/3.0 (compatible; FMSc/1.0)"
	cb.Tcurl = "rtmp://ingest.example.com:1935/live"
	cb.Addr = "203.0.113.7"
	if cb.Call != CallConnect {
		cb.Clientid = proto.Uint64(42)
	}
	if cb.Name == "" && cb.Call != CallConnect && cb.Call != CallDisconnect {
		cb.Name = "stream-key-123"
	}
	if cb.Args == nil {
		cb.Args = map[string]string{"key": "s3cr3t"}
	}
	return cb
}

func player(cb *rtmpv1.Callback) *rtmpv1.Callback {
	cb.App = "live"
	cb.Flashver = "LNX 9,0,124,2"
	cb.Tcurl = "rtmp://ingest.example.com:1935/live"
	cb.Addr = "198.51.100.20"
	cb.Clientid = proto.Uint64(57)
	cb.Name = "stream-key-123"
	cb.Args = map[string]string{"viewer": "v-881"}
	return cb
}

func TestParseCallbackFixtures(t *testing.T) {
	want := map[string]*rtmpv1.Callback{
		"connect": publisher(&rtmpv1.Callback{
			Call:  CallConnect,
			Epoch: proto.Uint32(5321876),
			Args:  map[string]string{"tenant": "acme"},
		}),
		"disconnect": publisher(&rtmpv1.Callback{
			Call: CallDisconnect,
			Args: map[string]string{"tenant": "acme"},
		}),
		"publish":      publisher(&rtmpv1.Callback{Call: CallPublish, Type: "live"}),
		"publish_done": publisher(&rtmpv1.Callback{Call: CallPublishDone}),
		"done":         publisher(&rtmpv1.Callback{Call: CallDone}),
		"record_done": publisher(&rtmpv1.Callback{
			Call:     CallRecordDone,
			Recorder: "preview",
			Path:     "/var/lib/nginx/rec/stream-key-123-1714557600.flv",
		}),
		"update_publish": publisher(&rtmpv1.Callback{
			Call:      CallUpdatePublish,
			Time:      proto.Int64(30),
			Timestamp: proto.Int32(30021),
		}),
		"play": player(&rtmpv1.Callback{
			Call:     CallPlay,
			Start:    proto.Uint32(4294965296),
			Duration: proto.Uint32(0),
			Reset_:   proto.Bool(false),
		}),
		"play_done": player(&rtmpv1.Callback{Call: CallPlayDone}),
		"update_play": player(&rtmpv1.Callback{
			Call:      CallUpdatePlay,
			Time:      proto.Int64(60),
			Timestamp: proto.Int32(59987),
		}),
	}
	// The connect and disconnect fixtures' tcurl carries the app's query.
	want["connect"].Tcurl += "?tenant=acme"
	want["disconnect"].Tcurl += "?tenant=acme"

	files, err := filepath.Glob(filepath.Join(fixtureDir, "*.form"))
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	for _, path := range files {
		name := strings.TrimSuffix(filepath.Base(path), ".form")
		seen = append(seen, name)
		t.Run(name, func(t *testing.T) {
			w, ok := want[name]
			if !ok {
				t.Fatalf("no expectation for fixture %s", path)
			}
			body, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			form, err := url.ParseQuery(string(body))
			if err != nil {
				t.Fatalf("fixture is not a valid form: %v", err)
			}
			got, err := ParseCallback(form)
			if err != nil {
				t.Fatalf("ParseCallback: %v", err)
			}
			if got.GetCall() != name {
				t.Errorf("call = %q, want the fixture's name %q", got.GetCall(), name)
			}
			if !proto.Equal(got, w) {
				t.Errorf("ParseCallback:\n got %s\nwant %s", protojson.Format(got), protojson.Format(w))
			}
		})
	}
	slices.Sort(seen)
	if wantNames := slices.Sorted(maps.Keys(want)); !slices.Equal(seen, wantNames) {
		t.Errorf("fixtures %v, want one per call %v", seen, wantNames)
	}
}

func TestParseCallbackErrors(t *testing.T) {
	tests := []struct {
		name  string
		form  string
		kind  error
		field string
	}{
		{"call missing", "app=live&name=k", decode.ErrMissingField, "call"},
		{"call empty", "call=&app=live&name=k", decode.ErrMissingField, "call"},
		{"app missing", "call=publish&name=k", decode.ErrMissingField, "app"},
		{"app empty", "call=publish&app=&name=k", decode.ErrMissingField, "app"},
		{"name missing", "call=publish&app=live", decode.ErrMissingField, "name"},
		{"name empty", "call=play&app=live&name=", decode.ErrMissingField, "name"},
		{"name missing for done", "call=done&app=live", decode.ErrMissingField, "name"},
		{"name missing for unknown call", "call=something_new&app=live", decode.ErrMissingField, "name"},
		{"nothing", "", decode.ErrMissingField, "call"},
		{"clientid not a number", "call=publish&app=live&name=k&clientid=abc", decode.ErrInvalidValue, "clientid"},
		{"NUL in a value", "call=publish&app=live&name=k%00ey", decode.ErrInvalidValue, "name"},
		{"NUL in a client's key", "call=publish&app=live&name=k&a%00b=1", decode.ErrInvalidValue, `"a\x00b"`},
		{"clientid repeated: the first counts", "call=publish&app=live&name=k&clientid=x&clientid=1", decode.ErrInvalidValue, "clientid"},
		{"clientid negative", "call=publish&app=live&name=k&clientid=-1", decode.ErrInvalidValue, "clientid"},
		{"clientid empty", "call=publish&app=live&name=k&clientid=", decode.ErrInvalidValue, "clientid"},
		{"clientid too large", "call=publish&app=live&name=k&clientid=18446744073709551616", decode.ErrInvalidValue, "clientid"},
		{"epoch too large", "call=connect&app=live&epoch=4294967296", decode.ErrInvalidValue, "epoch"},
		{"start negative", "call=play&app=live&name=k&start=-2000", decode.ErrInvalidValue, "start"},
		{"start fractional", "call=play&app=live&name=k&start=1.5", decode.ErrInvalidValue, "start"},
		{"duration hex", "call=play&app=live&name=k&duration=0x10", decode.ErrInvalidValue, "duration"},
		{"reset 2", "call=play&app=live&name=k&reset=2", decode.ErrInvalidValue, "reset"},
		{"reset true", "call=play&app=live&name=k&reset=true", decode.ErrInvalidValue, "reset"},
		{"time not a number", "call=update_publish&app=live&name=k&time=30s", decode.ErrInvalidValue, "time"},
		{"timestamp too large", "call=update_publish&app=live&name=k&timestamp=2147483648", decode.ErrInvalidValue, "timestamp"},
		{"invalid UTF-8 in a field", "call=publish&app=live&name=k%FF", decode.ErrInvalidValue, "name"},
		{"invalid UTF-8 in an argument", "call=publish&app=live&name=k&token=%C3%28", decode.ErrInvalidValue, "token"},
		{"invalid UTF-8 in an argument's key", "call=publish&app=live&name=k&%C3%28=1", decode.ErrInvalidValue, `"\xc3("`},
		{"invalid UTF-8 under an empty key", "call=publish&app=live&name=k&=%B9", decode.ErrInvalidValue, `""`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			form, err := url.ParseQuery(tt.form)
			if err != nil {
				t.Fatal(err)
			}
			cb, err := ParseCallback(form)
			if err == nil {
				t.Fatalf("parsed %v, want an error", cb)
			}
			var pe *decode.FieldError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v (%T) is not a *decode.FieldError", err, err)
			}
			if !errors.Is(err, tt.kind) {
				t.Errorf("error %q: kind %v, want %v", err, pe.Kind, tt.kind)
			}
			if pe.Field != tt.field {
				t.Errorf("error %q: Field = %q, want %q", err, pe.Field, tt.field)
			}
			if !strings.Contains(err.Error(), tt.field) {
				t.Errorf("error %q does not name the field %q", err, tt.field)
			}
		})
	}
}

func TestParseCallbackAccepts(t *testing.T) {
	tests := []struct {
		name string
		form string
		want *rtmpv1.Callback
	}{
		{
			"connect needs no name",
			"call=connect&app=live",
			&rtmpv1.Callback{Call: CallConnect, App: "live"},
		},
		{
			"disconnect needs no name",
			"call=disconnect&app=live&clientid=7&app=live",
			&rtmpv1.Callback{Call: CallDisconnect, App: "live", Clientid: proto.Uint64(7)},
		},
		{
			"client argument repeating a field: nginx-rtmp's own value (first) counts",
			"app=live&clientid=1&call=publish&name=real&type=live&name=fake&call=play&key=a&key=b",
			&rtmpv1.Callback{Call: CallPublish, App: "live", Name: "real", Type: "live", Clientid: proto.Uint64(1), Args: map[string]string{"key": "a"}},
		},
		{
			"unknown call",
			"call=something_new&app=live&name=k",
			&rtmpv1.Callback{Call: "something_new", App: "live", Name: "k"},
		},
		{
			"extremes",
			"call=update_publish&app=live&name=k&clientid=18446744073709551615&time=-1&timestamp=-2147483648",
			&rtmpv1.Callback{Call: CallUpdatePublish, App: "live", Name: "k", Clientid: proto.Uint64(18446744073709551615), Time: proto.Int64(-1), Timestamp: proto.Int32(-2147483648)},
		},
		{
			"an argument called args",
			"call=play&app=live&name=k&args=x&reset=1",
			&rtmpv1.Callback{Call: CallPlay, App: "live", Name: "k", Reset_: proto.Bool(true), Args: map[string]string{"args": "x"}},
		},
		{
			"escaped values",
			"call=play&app=live&name=a%20b%2Bc&token=x+y",
			&rtmpv1.Callback{Call: CallPlay, App: "live", Name: "a b+c", Args: map[string]string{"token": "x y"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			form, err := url.ParseQuery(tt.form)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseCallback(form)
			if err != nil {
				t.Fatalf("ParseCallback: %v", err)
			}
			if !proto.Equal(got, tt.want) {
				t.Errorf("ParseCallback:\n got %s\nwant %s", protojson.Format(got), protojson.Format(tt.want))
			}
		})
	}
}

// TestFieldsMatchSchema: every form key ParseCallback knows is a field of
// Callback, and every field of Callback but args is a form key it knows.
func TestFieldsMatchSchema(t *testing.T) {
	var schema []string
	fds := (&rtmpv1.Callback{}).ProtoReflect().Descriptor().Fields()
	for i := range fds.Len() {
		if name := string(fds.Get(i).Name()); name != "args" {
			schema = append(schema, name)
		}
	}
	slices.Sort(schema)
	if known := slices.Sorted(maps.Keys(fields)); !slices.Equal(known, schema) {
		t.Errorf("ParseCallback knows %v; Callback has %v", known, schema)
	}
}

// FuzzParseCallback: ParseCallback never panics, every error is a
// *decode.FieldError naming a field, and what parses has call and app and can be
// marshaled (valid UTF-8 throughout).
func FuzzParseCallback(f *testing.F) {
	files, err := filepath.Glob(filepath.Join(fixtureDir, "*.form"))
	if err != nil {
		f.Fatal(err)
	}
	for _, path := range files {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add("")
	f.Add("call=play&app=live&name=k&start=-1")
	f.Add("call=publish&app=live&name=k%FF")

	f.Fuzz(func(t *testing.T, body string) {
		form, _ := url.ParseQuery(body) // keeps what parses
		cb, err := ParseCallback(form)
		if err != nil {
			var pe *decode.FieldError
			if !errors.As(err, &pe) || pe.Field == "" {
				t.Fatalf("error %v (%T) is not a *decode.FieldError with a field", err, err)
			}
			if !errors.Is(err, decode.ErrMissingField) && !errors.Is(err, decode.ErrInvalidValue) {
				t.Fatalf("error %v has unknown kind", err)
			}
			return
		}
		if cb.GetCall() == "" || cb.GetApp() == "" {
			t.Fatalf("parsed without call or app: %v", cb)
		}
		if _, err := proto.Marshal(cb); err != nil {
			t.Fatalf("proto.Marshal: %v", err)
		}
		if _, err := protojson.Marshal(cb); err != nil {
			t.Fatalf("protojson.Marshal: %v", err)
		}
	})
}
