package decode_test

import (
	"errors"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/proto"

	"google.golang.org/protobuf/types/known/structpb"

	"github.com/livegate/livegate/internal/apierror"
	"github.com/livegate/livegate/internal/decode"
	"github.com/livegate/livegate/internal/limits"
)

// nest is a JSON object whose key "a" holds n levels of arrays: n+1 levels in all.
func nest(n int) string {
	return `{"a":` + strings.Repeat("[", n) + strings.Repeat("]", n) + `}`
}

// TestObject: the checks every JSON delivery passes before its schema sees it, each reported
// as FIELD: KIND: REASON.
func TestObject(t *testing.T) {
	tests := []struct {
		name, body string
		want       string // the error's message; "" accepted
		kind       error
	}{
		{"object", `{"a":[1,{"b":null}]}`, "", nil},
		{"at the depth bound", nest(limits.MaxJSONDepth - 1), "", nil},
		{"one level deeper", nest(limits.MaxJSONDepth), "a" + strings.Repeat("[0]", limits.MaxJSONDepth-1) + ": too deep: nested deeper than 64 levels", decode.ErrTooDeep},
		{"empty", ``, "body: not JSON: empty, or ends early", decode.ErrNotJSON},
		{"truncated", `{"a":[`, "body: not JSON: empty, or ends early", decode.ErrNotJSON},
		{"syntax", `{"a" 1}`, "body: not JSON: invalid character '1' after object key", decode.ErrNotJSON},
		{"two values", `{} {}`, "body: not JSON: data after the JSON value", decode.ErrNotJSON},
		{"invalid UTF-8", "{\"a\":\"\xff\"}", "body: not JSON: not valid UTF-8", decode.ErrNotJSON},
		{"array", `[{}]`, "body: not a JSON object: got an array", decode.ErrNotObject},
		{"null", `null`, "body: not a JSON object: got null", decode.ErrNotObject},
		{"key twice, nested", `{"a":{"b":1,"b":2}}`, "a.b: duplicate field: key appears more than once", decode.ErrDuplicateField},
		{"odd key twice", `{"a b":1,"a b":2}`, `["a b"]: duplicate field: key appears more than once`, decode.ErrDuplicateField},
		{"same key in two objects", `{"a":{"b":1},"c":{"b":2}}`, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decode.Object([]byte(tt.body))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Object: %v", err)
				}
				return
			}
			var fe *decode.FieldError
			if !errors.As(err, &fe) || !errors.Is(err, tt.kind) || err.Error() != tt.want {
				t.Fatalf("Object = %v (%T), want %q of kind %v", err, err, tt.want, tt.kind)
			}
		})
	}
}

// TestRequired: the envelope's required members.
func TestRequired(t *testing.T) {
	top, err := decode.Object([]byte(`{"s":"x","e":"","n":null,"i":1,"o":{},"a":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		key, want string
		object    bool
	}{
		{"s", "", false},
		{"e", "e: missing: empty string", false},
		{"n", "n: missing: absent or null", false},
		{"absent", "absent: missing: absent or null", false},
		{"i", "i: wrong type: expected a string, got number 1", false},
		{"o", "", true},
		{"a", "a: wrong type: expected an object, got an array", true},
		{"n", "n: missing: absent or null", true},
	} {
		var err error
		if tt.object {
			_, err = decode.RequiredObject(top, tt.key)
		} else {
			_, err = decode.String(top, tt.key)
		}
		if got := errString(err); got != tt.want {
			t.Errorf("%s (object %v): %q, want %q", tt.key, tt.object, got, tt.want)
		}
	}
}

// TestProto: protojson decides, and the error names the member it refused, with what is
// wrong. (google.rpc messages stand in for a provider's schema: lists of messages, a map, an
// int32, a Duration.)
func TestProto(t *testing.T) {
	tests := []struct {
		name, body string
		m          proto.Message
		strict     bool
		want       string
	}{
		{"decodes", `{"fieldViolations":[{"field":"a"}]}`, &errdetails.BadRequest{}, true, ""},
		{"proto name", `{"field_violations":[{"field":"a"}]}`, &errdetails.BadRequest{}, true, ""},
		{"null is unset", `{"fieldViolations":null}`, &errdetails.BadRequest{}, true, ""},
		{"unknown dropped", `{"fieldViolations":[{"x":1}],"y":[]}`, &errdetails.BadRequest{}, false, ""},
		{"unknown, strict", `{"fieldViolations":[{"x":1}]}`, &errdetails.BadRequest{}, true, `at.fieldViolations[0].x: unknown field: not a field of google.rpc.BadRequest.FieldViolation`},
		{"list not an array", `{"fieldViolations":{}}`, &errdetails.BadRequest{}, false, `at.fieldViolations: wrong type: expected an array, got an object`},
		{"null element", `{"fieldViolations":[null]}`, &errdetails.BadRequest{}, false, `at.fieldViolations[0]: wrong type: expected an object, got null`},
		{"element field", `{"fieldViolations":[{"field":"a"},{"field":1}]}`, &errdetails.BadRequest{}, false, `at.fieldViolations[1].field: wrong type: expected a string, got number 1`},
		{"both names", `{"fieldViolations":[],"field_violations":[]}`, &errdetails.BadRequest{}, false, `at.field_violations: duplicate field: same field as "fieldViolations"`},
		{"map not an object", `{"metadata":[]}`, &errdetails.ErrorInfo{}, false, `at.metadata: wrong type: expected an object, got an array`},
		{"map value", `{"metadata":{"a":1}}`, &errdetails.ErrorInfo{}, false, `at.metadata: invalid value: invalid value for string field value: 1`},
		{"int32 fractional", `{"code":1.5}`, &rpcstatus.Status{}, false, `at.code: invalid value: number 1.5 is not a valid int32`},
		{"int32 numeric string", `{"code":"7"}`, &rpcstatus.Status{}, false, ""},
		{"int32 a boolean", `{"code":true}`, &rpcstatus.Status{}, false, `at.code: wrong type: expected a number or a numeric string, got boolean true`},
		{"duration", `{"retryDelay":"soon"}`, &errdetails.RetryInfo{}, false, `at.retryDelay: invalid value: string "soon" is not a valid Duration`},
		{"Struct", `{"a":[1,"x",null,{"b":{}}]}`, &structpb.Struct{}, true, ""},
		{"Struct beyond float64", `{"a":1e400}`, &structpb.Struct{}, false, `at: invalid value: invalid google.protobuf.Value: 1e400`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := errString(decode.Proto([]byte(tt.body), "at", tt.m, tt.strict)); got != tt.want {
				t.Errorf("Proto: %q, want %q", got, tt.want)
			}
		})
	}
}

// TestAPIError: the 400 every provider endpoint answers.
func TestAPIError(t *testing.T) {
	for _, tt := range []struct {
		fe    *decode.FieldError
		field string
		msg   string
	}{
		{&decode.FieldError{Field: "data.duration", Kind: decode.ErrInvalidValue, Reason: `string "x" is not a valid int64`}, "data.duration", `data.duration: invalid value: string "x" is not a valid int64`},
		{&decode.FieldError{Kind: decode.ErrNotJSON, Reason: "empty, or ends early"}, "body", "body: not JSON: empty, or ends early"},
		{&decode.FieldError{Field: "name", Kind: decode.ErrMissingField}, "name", "name: missing"},
	} {
		st := apierror.ToStatus(tt.fe.APIError())
		info := apierror.Info(st)
		if st.Code().String() != "InvalidArgument" || info.GetReason() != "INVALID_ARGUMENT" || info.GetMetadata()["field"] != tt.field || st.Message() != tt.msg {
			t.Errorf("%v: %v %q %v, want InvalidArgument %q field %s", tt.fe, st.Code(), st.Message(), info, tt.msg, tt.field)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	var fe *decode.FieldError
	if !errors.As(err, &fe) {
		return "not a *FieldError: " + err.Error()
	}
	return err.Error()
}
