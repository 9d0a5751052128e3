package amity

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	amityv1 "github.com/livegate/livegate/gen/go/livegate/amity/v1"
	"github.com/livegate/livegate/internal/limits"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// What is wrong with a delivery that does not decode. Every error Decode and
// DecodeStrict return is a *DecodeError whose Kind is one of these; test with
// errors.Is.
var (
	// ErrNotJSON: the body is not a single well-formed UTF-8 JSON value.
	ErrNotJSON = errors.New("not JSON")
	// ErrNotObject: the body is JSON but not an object.
	ErrNotObject = errors.New("not a JSON object")
	// ErrMissingField: a required field ("event", "data") is absent, null or
	// empty.
	ErrMissingField = errors.New("missing field")
	// ErrWrongType: a field's JSON type does not fit the field (e.g. a string
	// for a boolean, an array where an object belongs).
	ErrWrongType = errors.New("wrong type")
	// ErrInvalidValue: a field has the right JSON type but a value the field
	// cannot hold (e.g. a malformed timestamp, a fractional or out-of-range
	// integer).
	ErrInvalidValue = errors.New("invalid value")
	// ErrUnknownField: DecodeStrict met a key the schema does not know.
	ErrUnknownField = errors.New("unknown field")
	// ErrDuplicateField: a key appears twice in one object (or a field is
	// given both by its JSON name and by its proto name).
	ErrDuplicateField = errors.New("duplicate field")
)

// DecodeError says why a delivery does not decode, and where. The caller
// answers it with HTTP 400 and Error() as the message.
type DecodeError struct {
	// Kind is what is wrong: one of the Err* variables of this package.
	Kind error
	// Field is the JSON path of the offending value, as keys and indexes of
	// the input, e.g. "data.videoStreamings[0].isLive"; empty when the
	// problem is the body as a whole.
	Field string
	// Reason says what is wrong, in words.
	Reason string
	// Err is the underlying error, if any (e.g. from encoding/json or
	// protojson).
	Err error
}

// Error returns "amity: FIELD: REASON" (or "amity: REASON" without a field).
func (e *DecodeError) Error() string {
	if e.Field == "" {
		return "amity: " + e.Reason
	}
	return "amity: " + e.Field + ": " + e.Reason
}

// Unwrap returns Kind and, if set, Err, so that errors.Is(err, ErrWrongType)
// and the like work.
func (e *DecodeError) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// maxDepth bounds the nesting of the JSON body (objects and arrays): livegate's bound on
// every delivery, which keeps what is stored decodable.
const maxDepth = limits.MaxJSONDepth

// Decode decodes a delivery's body. It tolerates keys the schema does not know
// (they are dropped; the raw body is kept elsewhere) and requires a non-empty
// string "event" and an object "data". It does not check that the event type
// is known (see [Known]). Every error is a *DecodeError naming the field.
func Decode(body []byte) (*amityv1.Webhook, error) {
	return decode(body, false)
}

// DecodeStrict is Decode, except that a key the schema does not know is an
// error (ErrUnknownField). Tests use it to prove that the schema covers a
// payload.
func DecodeStrict(body []byte) (*amityv1.Webhook, error) {
	return decode(body, true)
}

func decode(body []byte, strict bool) (*amityv1.Webhook, error) {
	if !utf8.Valid(body) {
		return nil, &DecodeError{Kind: ErrNotJSON, Reason: "body is not valid UTF-8"}
	}
	root, err := parseJSON(body)
	if err != nil {
		return nil, err
	}
	obj, ok := root.(*object)
	if !ok {
		return nil, &DecodeError{Kind: ErrNotObject, Reason: "body is " + describe(root) + ", not a JSON object"}
	}

	switch ev, found := obj.get("event"); {
	case !found || ev == nil:
		return nil, &DecodeError{Kind: ErrMissingField, Field: "event", Reason: "required: the event type"}
	default:
		s, ok := ev.(string)
		if !ok {
			return nil, wrongType("event", "a string", ev)
		}
		if strings.TrimSpace(s) == "" {
			return nil, &DecodeError{Kind: ErrMissingField, Field: "event", Reason: "is empty: the event type is required"}
		}
	}
	switch data, found := obj.get("data"); {
	case !found || data == nil:
		return nil, &DecodeError{Kind: ErrMissingField, Field: "data", Reason: "required: the event's payload object"}
	default:
		if _, ok := data.(*object); !ok {
			return nil, wrongType("data", "an object", data)
		}
	}

	w := &amityv1.Webhook{}
	c := checker{strict: strict}
	if err := c.message(w.ProtoReflect(), obj, ""); err != nil {
		return nil, err
	}
	// The checker has vetted every value against the schema with protojson's
	// own rules, so this is not expected to fail; if it does, say so without
	// a field.
	if err := (protojson.UnmarshalOptions{DiscardUnknown: !strict}).Unmarshal(body, w); err != nil {
		return nil, &DecodeError{Kind: ErrInvalidValue, Reason: err.Error(), Err: err}
	}
	return w, nil
}

// ---------------------------------------------------------------------------
// Parsing: a JSON tree that keeps key order and rejects duplicate keys.

// object is a JSON object with its keys in input order. A JSON value in the
// tree is one of: *object, []any, string, json.Number, bool, nil.
type object struct {
	keys []string
	vals []any
}

func (o *object) get(key string) (any, bool) {
	for i, k := range o.keys {
		if k == key {
			return o.vals[i], true
		}
	}
	return nil, false
}

func parseJSON(body []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	p := parser{dec: dec}
	v, err := p.value("", 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &DecodeError{Kind: ErrNotJSON, Reason: "unexpected data after the JSON value", Err: err}
	}
	return v, nil
}

type parser struct {
	dec *json.Decoder
}

func (p *parser) token() (json.Token, error) {
	tok, err := p.dec.Token()
	if err == io.EOF {
		return nil, &DecodeError{Kind: ErrNotJSON, Reason: "body is empty or ends early", Err: io.ErrUnexpectedEOF}
	}
	if err != nil {
		return nil, &DecodeError{Kind: ErrNotJSON, Reason: "body is not valid JSON: " + err.Error(), Err: err}
	}
	return tok, nil
}

func (p *parser) value(path string, depth int) (any, error) {
	tok, err := p.token()
	if err != nil {
		return nil, err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return tok, nil // string, json.Number, bool or nil
	}
	if depth >= maxDepth {
		return nil, &DecodeError{Kind: ErrInvalidValue, Field: path, Reason: fmt.Sprintf("nested deeper than %d levels", maxDepth)}
	}
	switch d {
	case '{':
		o := &object{}
		for p.dec.More() {
			kt, err := p.token()
			if err != nil {
				return nil, err
			}
			k, _ := kt.(string) // the decoder only yields string keys
			kp := joinKey(path, k)
			if _, dup := o.get(k); dup {
				return nil, &DecodeError{Kind: ErrDuplicateField, Field: kp, Reason: "key appears more than once"}
			}
			v, err := p.value(kp, depth+1)
			if err != nil {
				return nil, err
			}
			o.keys = append(o.keys, k)
			o.vals = append(o.vals, v)
		}
		if _, err := p.token(); err != nil { // '}'
			return nil, err
		}
		return o, nil
	case '[':
		a := []any{}
		for i := 0; p.dec.More(); i++ {
			v, err := p.value(joinIndex(path, i), depth+1)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
		if _, err := p.token(); err != nil { // ']'
			return nil, err
		}
		return a, nil
	}
	// A closing delimiter where a value belongs; the decoder reports these
	// itself, but be safe.
	return nil, &DecodeError{Kind: ErrNotJSON, Field: path, Reason: "unexpected " + d.String()}
}

// joinKey appends an object key to a JSON path: a.b, or a["odd key"] when the
// key is not identifier-like.
func joinKey(path, key string) string {
	if !isIdent(key) {
		return path + "[" + strconv.Quote(key) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

func joinIndex(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_' || r == '$' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z':
		case i > 0 && r >= '0' && r <= '9':
		default:
			return false
		}
	}
	return true
}

// ---------------------------------------------------------------------------
// Checking the tree against the schema, field by field, so that an error can
// name the field.

type checker struct {
	strict bool
}

// message checks obj as the JSON form of message m.
func (c checker) message(m protoreflect.Message, obj *object, path string) error {
	fields := m.Descriptor().Fields()
	seen := map[protoreflect.FieldNumber]string{}
	seenOneof := map[protoreflect.FullName]string{}
	for i, k := range obj.keys {
		v := obj.vals[i]
		fp := joinKey(path, k)
		// protojson accepts a field's JSON name or its proto name.
		fd := fields.ByJSONName(k)
		if fd == nil {
			fd = fields.ByTextName(k)
		}
		if fd == nil {
			if c.strict {
				return &DecodeError{Kind: ErrUnknownField, Field: fp, Reason: "not a field of " + string(m.Descriptor().FullName())}
			}
			continue
		}
		if other, dup := seen[fd.Number()]; dup {
			return &DecodeError{Kind: ErrDuplicateField, Field: fp, Reason: fmt.Sprintf("same field as %q", other)}
		}
		seen[fd.Number()] = k
		if v == nil && !isValue(fd) {
			continue // null: the field is not set
		}
		if od := fd.ContainingOneof(); od != nil && !fd.IsList() && !fd.IsMap() {
			if other, dup := seenOneof[od.FullName()]; dup {
				return &DecodeError{Kind: ErrDuplicateField, Field: fp, Reason: fmt.Sprintf("%q is already set (oneof %s)", other, od.Name())}
			}
			seenOneof[od.FullName()] = k
		}
		if err := c.field(m, fd, v, fp); err != nil {
			return err
		}
	}
	return nil
}

// field checks v (not null) as the value of field fd of message m.
func (c checker) field(m protoreflect.Message, fd protoreflect.FieldDescriptor, v any, path string) error {
	switch {
	case fd.IsList():
		arr, ok := v.([]any)
		if !ok {
			return wrongType(path, "an array", v)
		}
		for i, e := range arr {
			ep := joinIndex(path, i)
			if isPlainMessage(fd) {
				obj, ok := e.(*object)
				if !ok {
					return wrongType(ep, "an object", e)
				}
				elem := m.NewField(fd).List().NewElement().Message()
				if err := c.message(elem, obj, ep); err != nil {
					return err
				}
				continue
			}
			if e == nil && !isValue(fd) {
				return wrongType(ep, want(fd), e)
			}
			if err := leaf(m, fd, []any{e}, e, ep); err != nil {
				return err
			}
		}
		return nil
	case fd.IsMap():
		if _, ok := v.(*object); !ok {
			return wrongType(path, "an object", v)
		}
		return leaf(m, fd, v, v, path)
	case isPlainMessage(fd):
		obj, ok := v.(*object)
		if !ok {
			return wrongType(path, "an object", v)
		}
		return c.message(m.NewField(fd).Message(), obj, path)
	default:
		return leaf(m, fd, v, v, path)
	}
}

// leaf checks one value of field fd (a scalar, or a well-known type such as
// Timestamp or Struct): first its JSON type, then, with protojson itself, its
// value. fieldValue is what the field holds in JSON (for a list, a one-element
// array); elem is the value being checked.
func leaf(m protoreflect.Message, fd protoreflect.FieldDescriptor, fieldValue, elem any, path string) error {
	if !fd.IsMap() && !jsonTypeFits(fd, elem) {
		return wrongType(path, want(fd), elem)
	}
	var buf bytes.Buffer
	buf.WriteByte('{')
	writeJSON(&buf, fd.TextName())
	buf.WriteByte(':')
	writeJSON(&buf, fieldValue)
	buf.WriteByte('}')
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(buf.Bytes(), m.New().Interface()); err != nil {
		return &DecodeError{
			Kind:   ErrInvalidValue,
			Field:  path,
			Reason: fmt.Sprintf("%s is not a valid %s", describe(elem), kindName(fd)),
			Err:    err,
		}
	}
	return nil
}

// isPlainMessage reports whether fd holds messages whose JSON form is an
// object of their fields (not a well-known type with a JSON form of its own).
func isPlainMessage(fd protoreflect.FieldDescriptor) bool {
	md := fd.Message()
	return md != nil && !fd.IsMap() && !wellKnown[md.FullName()]
}

// wellKnown lists the messages with a JSON form of their own.
var wellKnown = map[protoreflect.FullName]bool{
	"google.protobuf.Any":         true,
	"google.protobuf.Timestamp":   true,
	"google.protobuf.Duration":    true,
	"google.protobuf.FieldMask":   true,
	"google.protobuf.Struct":      true,
	"google.protobuf.Value":       true,
	"google.protobuf.ListValue":   true,
	"google.protobuf.Empty":       true,
	"google.protobuf.BoolValue":   true,
	"google.protobuf.StringValue": true,
	"google.protobuf.BytesValue":  true,
	"google.protobuf.DoubleValue": true,
	"google.protobuf.FloatValue":  true,
	"google.protobuf.Int64Value":  true,
	"google.protobuf.UInt64Value": true,
	"google.protobuf.Int32Value":  true,
	"google.protobuf.UInt32Value": true,
}

func isValue(fd protoreflect.FieldDescriptor) bool {
	if md := fd.Message(); md != nil {
		return md.FullName() == "google.protobuf.Value"
	}
	if ed := fd.Enum(); ed != nil {
		return ed.FullName() == "google.protobuf.NullValue"
	}
	return false
}

// jsonTypeFits reports whether v's JSON type is one protojson accepts for a
// value of fd (ignoring list-ness).
func jsonTypeFits(fd protoreflect.FieldDescriptor, v any) bool {
	isString := func() bool { _, ok := v.(string); return ok }
	isNumber := func() bool { _, ok := v.(json.Number); return ok }
	if md := fd.Message(); md != nil {
		switch md.FullName() {
		case "google.protobuf.Value":
			return true
		case "google.protobuf.Struct", "google.protobuf.Any", "google.protobuf.Empty":
			_, ok := v.(*object)
			return ok
		case "google.protobuf.ListValue":
			_, ok := v.([]any)
			return ok
		case "google.protobuf.Timestamp", "google.protobuf.Duration", "google.protobuf.FieldMask",
			"google.protobuf.StringValue", "google.protobuf.BytesValue":
			return isString()
		case "google.protobuf.BoolValue":
			_, ok := v.(bool)
			return ok
		default: // numeric wrappers
			return isString() || isNumber()
		}
	}
	switch fd.Kind() {
	case protoreflect.BoolKind:
		_, ok := v.(bool)
		return ok
	case protoreflect.StringKind, protoreflect.BytesKind:
		return isString()
	case protoreflect.EnumKind:
		return isString() || isNumber() || (v == nil && isValue(fd))
	default: // integers and floating point: numbers or numeric strings
		return isString() || isNumber()
	}
}

func want(fd protoreflect.FieldDescriptor) string {
	if md := fd.Message(); md != nil {
		switch md.FullName() {
		case "google.protobuf.Timestamp":
			return "an RFC 3339 timestamp string"
		case "google.protobuf.Struct", "google.protobuf.Any", "google.protobuf.Empty":
			return "an object"
		case "google.protobuf.ListValue":
			return "an array"
		case "google.protobuf.Duration", "google.protobuf.FieldMask",
			"google.protobuf.StringValue", "google.protobuf.BytesValue":
			return "a string"
		case "google.protobuf.BoolValue":
			return "a boolean"
		case "google.protobuf.Value":
			return "any JSON value"
		default:
			return "a number"
		}
	}
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return "a boolean"
	case protoreflect.StringKind:
		return "a string"
	case protoreflect.BytesKind:
		return "a base64 string"
	case protoreflect.EnumKind:
		return "an enum name or number"
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		return "a number"
	default:
		return "an integer"
	}
}

func kindName(fd protoreflect.FieldDescriptor) string {
	if md := fd.Message(); md != nil && !fd.IsMap() {
		switch md.FullName() {
		case "google.protobuf.Timestamp":
			return "RFC 3339 timestamp"
		default:
			return string(md.Name())
		}
	}
	if fd.IsMap() {
		return "map"
	}
	return fd.Kind().String()
}

func wrongType(path, wanted string, got any) *DecodeError {
	return &DecodeError{Kind: ErrWrongType, Field: path, Reason: "expected " + wanted + ", got " + describe(got)}
}

// describe names a JSON value's type, with the value itself for scalars
// (shortened).
func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case *object:
		return "an object"
	case []any:
		return "an array"
	case bool:
		return "boolean " + strconv.FormatBool(v)
	case json.Number:
		return "number " + shorten(string(v))
	case string:
		return "string " + strconv.Quote(shorten(v))
	default:
		return fmt.Sprintf("%T", v)
	}
}

func shorten(s string) string {
	const max = 40
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// writeJSON writes a tree value back as JSON.
func writeJSON(buf *bytes.Buffer, v any) {
	switch v := v.(type) {
	case nil:
		buf.WriteString("null")
	case bool:
		buf.WriteString(strconv.FormatBool(v))
	case json.Number:
		buf.WriteString(string(v))
	case string:
		b, _ := json.Marshal(v) // cannot fail for a string
		buf.Write(b)
	case []any:
		buf.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeJSON(buf, e)
		}
		buf.WriteByte(']')
	case *object:
		buf.WriteByte('{')
		for i, k := range v.keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeJSON(buf, k)
			buf.WriteByte(':')
			writeJSON(buf, v.vals[i])
		}
		buf.WriteByte('}')
	}
}
