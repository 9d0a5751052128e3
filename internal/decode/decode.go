// Package decode is how livegate reads provider input. Every decoder (100ms and Amity JSON,
// nginx-rtmp forms) reports a body it refuses as one *FieldError, of one of the kinds below,
// so that the webhook endpoints turn any of them into the same 400 with one errors.As.
//
// JSON providers share one strategy: [Object] checks the body as JSON (one object, valid
// UTF-8, no key twice, nested at most limits.MaxJSONDepth levels) and returns its members,
// and [Proto] decodes a JSON object into its schema's message with protojson, which alone
// decides what is accepted. Only when protojson refuses does [Proto] look for the field at
// fault, member by member, so that the error can name it.
package decode

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/livegate/livegate/internal/apierror"
	"github.com/livegate/livegate/internal/limits"
)

// The kinds of fault. A *FieldError wraps exactly one of them: test with errors.Is. Each one
// means the request body is at fault (HTTP 400); its text is the word the message uses.
var (
	// ErrNotJSON: the body is not one well-formed UTF-8 JSON value.
	ErrNotJSON = errors.New("not JSON")
	// ErrNotObject: the body is JSON, but not an object.
	ErrNotObject = errors.New("not a JSON object")
	// ErrMissingField: a required field is absent, null or empty.
	ErrMissingField = errors.New("missing")
	// ErrWrongType: a value's JSON type does not fit its field (a string for a boolean, an
	// array where an object belongs, null in a list).
	ErrWrongType = errors.New("wrong type")
	// ErrInvalidValue: a value of the right type that the field cannot hold (a malformed
	// timestamp, a fractional or out-of-range integer, a malformed form value).
	ErrInvalidValue = errors.New("invalid value")
	// ErrUnknownField: a key the schema does not know; only strict decoding reports it.
	ErrUnknownField = errors.New("unknown field")
	// ErrDuplicateField: a key appears twice in one object, or a field is given both by its
	// JSON name and by its proto name.
	ErrDuplicateField = errors.New("duplicate field")
	// ErrTooDeep: objects and arrays nested deeper than limits.MaxJSONDepth.
	ErrTooDeep = errors.New("too deep")
)

// FieldError is what every provider decoder returns for input it refuses.
type FieldError struct {
	// Field is the path of the offending value: JSON keys and indexes as the body spells them
	// ("data.videoStreamings[0].isLive", `data["odd key"]`), or a form key. Empty when the
	// body as a whole is at fault.
	Field string
	// Kind is one of the Err* variables of this package.
	Kind error
	// Reason says what is wrong, in words; may be empty.
	Reason string
	// Err is the underlying error (encoding/json, protojson, strconv), if any. It is not
	// part of the message.
	Err error
}

// Error returns "FIELD: KIND: REASON", FIELD being "body" for the body as a whole, e.g.
// `data.duration: invalid value: string "forty" is not a valid int64`. This is the message
// of the 400 every provider endpoint answers.
func (e *FieldError) Error() string {
	msg := e.where() + ": " + e.Kind.Error()
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	return msg
}

func (e *FieldError) where() string {
	if e.Field == "" {
		return "body"
	}
	return e.Field
}

// Unwrap returns Kind and, if set, Err.
func (e *FieldError) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// APIError is the answer to e: 400 INVALID_ARGUMENT with e.Error() as the message and the
// field (or "body") in the ErrorInfo metadata "field".
func (e *FieldError) APIError() *apierror.Error {
	return apierror.New(apierror.ReasonInvalidArgument, "%s", e.Error()).With("field", e.where())
}

// Object checks that body is one JSON object, valid UTF-8, with no key twice in any object
// and nested at most limits.MaxJSONDepth levels, and returns its top-level members.
//
// A body is read once, by a streaming tokenizer (jsontext, the one encoding/json/v2 is built
// on), which refuses invalid UTF-8 and a key twice in one object by itself (RFC 7493). Every
// body it accepts, the checks below accept too; it is stricter in places (a "\ud800" escape,
// which encoding/json takes as U+FFFD). So a body it refuses, and only such a body, is read
// again by the checks below (encoding/json's tokens), which decide and name the fault: what
// is refused, and how, is theirs alone.
func Object(body []byte) (map[string]json.RawMessage, error) {
	if top, ok := fastObject(body); ok {
		return top, nil
	}
	return slowObject(body)
}

// fastObject is Object for a body jsontext accepts; ok is false for any other.
func fastObject(body []byte) (_ map[string]json.RawMessage, ok bool) {
	r := readers.Get().(*objectReader)
	defer readers.Put(r)
	r.src.Reset(body)
	r.dec.Reset(&r.src)
	dec := &r.dec
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '{' {
		return nil, false
	}
	top := make(map[string]json.RawMessage, 8)
	for dec.PeekKind() == '"' {
		name, err := dec.ReadToken()
		if err != nil {
			return nil, false
		}
		key := name.String() // before the next read voids the token
		start := dec.InputOffset()
		if !skipValue(dec) {
			return nil, false
		}
		// The value, without the separator and whitespace before it.
		top[key] = bytes.TrimLeft(body[start:dec.InputOffset()], " \t\r\n:")
	}
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '}' {
		return nil, false
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		return nil, false
	}
	return top, true
}

// skipValue reads one value; false if it is not valid or is nested deeper than
// limits.MaxJSONDepth (counting the containers it is in).
func skipValue(dec *jsontext.Decoder) bool {
	depth := dec.StackDepth()
	for {
		tok, err := dec.ReadToken()
		if err != nil {
			return false
		}
		if k := tok.Kind(); (k == '{' || k == '[') && dec.StackDepth() > limits.MaxJSONDepth {
			return false
		}
		if dec.StackDepth() == depth {
			return true
		}
	}
}

// objectReader is fastObject's tokenizer and its input, reused.
type objectReader struct {
	src bytes.Reader
	dec jsontext.Decoder
}

var readers = sync.Pool{New: func() any { return new(objectReader) }}

// slowObject is Object with encoding/json: it reads body token by token, then decodes its
// members, and names the fault of a body it refuses.
func slowObject(body []byte) (map[string]json.RawMessage, error) {
	if !utf8.Valid(body) {
		return nil, &FieldError{Kind: ErrNotJSON, Reason: "not valid UTF-8"}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber() // numbers are protojson's to judge
	if err := scan(dec, make([]any, 0, limits.MaxJSONDepth)); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &FieldError{Kind: ErrNotJSON, Reason: "data after the JSON value"}
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil || top == nil {
		return nil, &FieldError{Kind: ErrNotObject, Reason: "got " + kindOf(body)}
	}
	return top, nil
}

// scan reads one JSON value, len(at) containers down; at is where it is, as keys (string)
// and indexes (int), joined into a path only for an error.
func scan(dec *json.Decoder, at []any) error {
	tok, err := dec.Token()
	if err != nil {
		return syntaxError(err)
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	if len(at) >= limits.MaxJSONDepth {
		return &FieldError{Field: join(at), Kind: ErrTooDeep, Reason: fmt.Sprintf("nested deeper than %d levels", limits.MaxJSONDepth)}
	}
	var seen map[string]bool
	if d == '{' {
		seen = map[string]bool{}
	}
	for i := 0; dec.More(); i++ {
		var step any = i
		if d == '{' {
			tok, err := dec.Token()
			if err != nil {
				return syntaxError(err)
			}
			key, _ := tok.(string) // the decoder yields only string keys
			if seen[key] {
				return &FieldError{Field: join(append(at, key)), Kind: ErrDuplicateField, Reason: "key appears more than once"}
			}
			seen[key] = true
			step = key
		}
		if err := scan(dec, append(at, step)); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil { // the closing delimiter
		return syntaxError(err)
	}
	return nil
}

// join writes the path of scan's steps: a.b[0], as Key does.
func join(at []any) string {
	path := ""
	for _, step := range at {
		if key, ok := step.(string); ok {
			path = Key(path, key)
		} else {
			path += "[" + strconv.Itoa(step.(int)) + "]"
		}
	}
	return path
}

func syntaxError(err error) *FieldError {
	if err == io.EOF {
		return &FieldError{Kind: ErrNotJSON, Reason: "empty, or ends early", Err: io.ErrUnexpectedEOF}
	}
	return &FieldError{Kind: ErrNotJSON, Reason: err.Error(), Err: err}
}

// NumbersFitFloat64 reports whether every number in raw, a JSON value Object has checked,
// is within float64's range: whether a google.protobuf.Value (protojson) takes its numbers.
func NumbersFitFloat64(raw []byte) bool {
	r := readers.Get().(*objectReader)
	defer readers.Put(r)
	r.src.Reset(raw)
	r.dec.Reset(&r.src)
	for {
		tok, err := r.dec.ReadToken()
		if err == io.EOF {
			return true
		}
		if err != nil {
			return false
		}
		if tok.Kind() == '0' {
			if _, err := strconv.ParseFloat(tok.String(), 64); err != nil {
				return false
			}
		}
	}
}

// Without is the JSON object of top's members except the one named key.
func Without(top map[string]json.RawMessage, key string) ([]byte, error) {
	out := make([]byte, 0, 256)
	out = append(out, '{')
	for k, v := range top {
		if k == key {
			continue
		}
		if len(out) > 1 {
			out = append(out, ',')
		}
		name, err := json.Marshal(k)
		if err != nil {
			return nil, err
		}
		out = append(append(append(out, name...), ':'), v...)
	}
	return append(out, '}'), nil
}

// String returns the member key of top, which must be a non-empty string.
func String(top map[string]json.RawMessage, key string) (string, error) {
	raw, ok := top[key]
	if !ok || isNull(raw) {
		return "", &FieldError{Field: key, Kind: ErrMissingField, Reason: "absent or null"}
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", wrongType(key, "a string", raw)
	}
	if s == "" {
		return "", &FieldError{Field: key, Kind: ErrMissingField, Reason: "empty string"}
	}
	return s, nil
}

// RequiredObject returns the member key of top, which must be an object.
func RequiredObject(top map[string]json.RawMessage, key string) (json.RawMessage, error) {
	raw, ok := top[key]
	if !ok || isNull(raw) {
		return nil, &FieldError{Field: key, Kind: ErrMissingField, Reason: "absent or null"}
	}
	if kindOf(raw) != "an object" {
		return nil, wrongType(key, "an object", raw)
	}
	return raw, nil
}

// Proto decodes obj, a JSON object found at path (Object has checked it), into m with
// protojson. Unknown keys are dropped, or, if strict, refused. An error is a *FieldError
// naming the first member that protojson refuses.
func Proto(obj []byte, path string, m proto.Message, strict bool) error {
	opts := protojson.UnmarshalOptions{DiscardUnknown: !strict}
	err := opts.Unmarshal(obj, m)
	if err == nil {
		return nil
	}
	if fe := locate(m.ProtoReflect().Descriptor(), obj, path, opts); fe != nil {
		fe.Err = err
		return fe
	}
	return &FieldError{Field: path, Kind: ErrInvalidValue, Reason: protojsonReason(err), Err: err}
}

// locate finds the member of raw (the JSON form of a message md) that protojson refuses: it
// decodes the members one at a time, and descends into the one that fails. It runs only after
// a decode has failed; nil means no single member fails.
func locate(md protoreflect.MessageDescriptor, raw []byte, path string, opts protojson.UnmarshalOptions) *FieldError {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return wrongType(path, "an object", raw)
	}
	fields := md.Fields()
	seen := map[protoreflect.FieldNumber]string{}
	for dec.More() {
		tok, _ := dec.Token()
		key, _ := tok.(string)
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return &FieldError{Field: path, Kind: ErrNotJSON, Reason: err.Error(), Err: err}
		}
		at := Key(path, key)
		fd := fields.ByJSONName(key) // the lookup protojson does: JSON name, then proto name
		if fd == nil {
			fd = fields.ByTextName(key)
		}
		if fd == nil {
			if !opts.DiscardUnknown {
				return &FieldError{Field: at, Kind: ErrUnknownField, Reason: "not a field of " + string(md.FullName())}
			}
			continue
		}
		if other, dup := seen[fd.Number()]; dup {
			return &FieldError{Field: at, Kind: ErrDuplicateField, Reason: "same field as " + strconv.Quote(other)}
		}
		seen[fd.Number()] = key
		single, _ := json.Marshal(map[string]json.RawMessage{fd.TextName(): value})
		err := opts.Unmarshal(single, dynamicpb.NewMessage(md))
		if err == nil {
			continue
		}
		if fe := locateValue(fd, value, at, opts); fe != nil {
			return fe
		}
		return &FieldError{Field: at, Kind: ErrInvalidValue, Reason: protojsonReason(err)}
	}
	return nil
}

// locateValue says what is wrong with v, the value of field fd that protojson refuses; nil
// when it cannot say more than protojson.
func locateValue(fd protoreflect.FieldDescriptor, v json.RawMessage, at string, opts protojson.UnmarshalOptions) *FieldError {
	switch {
	case fd.IsMap():
		if kindOf(v) != "an object" {
			return wrongType(at, "an object", v)
		}
		return nil
	case !fd.IsList():
		return locateOne(fd, v, at, opts)
	}
	var elems []json.RawMessage
	if json.Unmarshal(v, &elems) != nil {
		return wrongType(at, "an array", v)
	}
	for i, e := range elems {
		if fe := locateOne(fd, e, at+"["+strconv.Itoa(i)+"]", opts); fe != nil {
			return fe
		}
	}
	return nil
}

// locateOne says what is wrong with v, one value of field fd (an element, for a list), or nil
// if protojson takes it. null is never one value (as a member, it leaves the field unset).
func locateOne(fd protoreflect.FieldDescriptor, v json.RawMessage, at string, opts protojson.UnmarshalOptions) *FieldError {
	if !fits(fd, v) {
		return wrongType(at, want(fd), v)
	}
	if fd.Message() != nil && !wellKnown(fd.Message()) {
		return locate(fd.Message(), v, at, opts)
	}
	var one any = v
	if fd.IsList() {
		one = []json.RawMessage{v}
	}
	probe, _ := json.Marshal(map[string]any{fd.TextName(): one})
	err := opts.Unmarshal(probe, dynamicpb.NewMessage(fd.ContainingMessage()))
	switch k := jsonType(v); {
	case err == nil:
		return nil
	case k == "object" || k == "array": // a Struct or ListValue: protojson says what is wrong inside
		return &FieldError{Field: at, Kind: ErrInvalidValue, Reason: protojsonReason(err)}
	}
	return &FieldError{Field: at, Kind: ErrInvalidValue, Reason: describe(v) + " is not a valid " + kindName(fd)}
}

// Key appends an object key to a JSON path: a.b, or a["odd key"] when the key is not
// identifier-like.
func Key(path, key string) string {
	ident := key != ""
	for i, r := range key {
		if !(r == '_' || r == '$' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			ident = false
		}
	}
	switch {
	case !ident:
		return path + "[" + strconv.Quote(key) + "]"
	case path == "":
		return key
	}
	return path + "." + key
}

func wellKnown(md protoreflect.MessageDescriptor) bool {
	return md.ParentFile().Package() == "google.protobuf"
}

func isValue(fd protoreflect.FieldDescriptor) bool {
	return fd.Message() != nil && fd.Message().FullName() == "google.protobuf.Value"
}

// fits reports whether v's JSON type is one protojson accepts for a value of fd (a scalar or
// a well-known type): one that want(fd) names.
func fits(fd protoreflect.FieldDescriptor, v json.RawMessage) bool {
	if isValue(fd) {
		return true
	}
	return slices.Contains(strings.Fields(want(fd)), jsonType(v))
}

// want names the JSON types protojson accepts for a value of fd.
func want(fd protoreflect.FieldDescriptor) string {
	if md := fd.Message(); md != nil {
		switch md.FullName() {
		case "google.protobuf.Value":
			return "any JSON value"
		case "google.protobuf.Struct", "google.protobuf.Any", "google.protobuf.Empty":
			return "an object"
		case "google.protobuf.ListValue":
			return "an array"
		case "google.protobuf.Timestamp":
			return "an RFC 3339 timestamp string"
		case "google.protobuf.BoolValue":
			return "a boolean"
		case "google.protobuf.Duration", "google.protobuf.FieldMask", "google.protobuf.StringValue", "google.protobuf.BytesValue":
			return "a string"
		}
		if !wellKnown(md) {
			return "an object"
		}
		return "a number or a numeric string" // the numeric wrappers
	}
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return "a boolean"
	case protoreflect.StringKind:
		return "a string"
	case protoreflect.BytesKind:
		return "a base64 string"
	case protoreflect.EnumKind:
		return "an enum name string or number"
	}
	return "a number or a numeric string"
}

func kindName(fd protoreflect.FieldDescriptor) string {
	switch {
	case fd.IsMap():
		return "map"
	case fd.Message() != nil && fd.Message().FullName() == "google.protobuf.Timestamp":
		return "RFC 3339 timestamp"
	case fd.Message() != nil:
		return string(fd.Message().Name())
	}
	return fd.Kind().String()
}

func wrongType(at, wanted string, got json.RawMessage) *FieldError {
	return &FieldError{Field: at, Kind: ErrWrongType, Reason: "expected " + wanted + ", got " + describe(got)}
}

// kindOf names the JSON type of a valid JSON value.
func kindOf(raw []byte) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "empty"
	}
	switch raw[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// describe names a JSON value's type, with the value itself for scalars (shortened).
func describe(raw json.RawMessage) string {
	k := kindOf(raw)
	switch k {
	case "a string", "a number", "a boolean":
		s := string(bytes.TrimSpace(raw))
		if len(s) > 40 {
			cut := 40
			for cut > 0 && !utf8.RuneStart(s[cut]) {
				cut--
			}
			s = s[:cut] + "…"
		}
		return jsonType(raw) + " " + s
	}
	return k
}

// jsonType is kindOf without the article: object, array, string, number, boolean, null.
func jsonType(raw []byte) string {
	k := kindOf(raw)
	return k[strings.IndexByte(k, ' ')+1:]
}

func isNull(raw []byte) bool {
	return string(bytes.TrimSpace(raw)) == "null"
}

// protojsonReason is protojson's message without its "proto: (line 1:2): " prefix.
func protojsonReason(err error) string {
	msg := strings.TrimPrefix(err.Error(), "proto:")
	if i := strings.Index(msg, "): "); i >= 0 && strings.HasPrefix(strings.TrimSpace(msg), "(line") {
		msg = msg[i+3:]
	}
	return strings.TrimSpace(msg)
}
