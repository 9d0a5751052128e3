// Package hms decodes 100ms webhook deliveries into livegate.hms.v1 messages: the envelope into a
// hmsv1.Delivery and its `data` object into the message registered for the delivery's `type`.
package hms

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	hmsv1 "github.com/livegate/livegate/gen/go/livegate/hms/v1"
)

// The kinds of decode error. A *DecodeError wraps exactly one of them, so callers can tell them
// apart with errors.Is; every one of them means the request body is at fault (HTTP 400).
var (
	// ErrNotJSON: the body is not valid JSON.
	ErrNotJSON = errors.New("not valid JSON")
	// ErrNotObject: the body is valid JSON but not a JSON object.
	ErrNotObject = errors.New("not a JSON object")
	// ErrMissingField: a field the envelope cannot do without (`type`, `data`) is absent, null or
	// empty.
	ErrMissingField = errors.New("missing or empty")
	// ErrInvalidValue: a field's value does not fit its schema (wrong JSON type, a malformed
	// timestamp, a non-integer where an integer belongs, a duplicated key, `data` not an object).
	ErrInvalidValue = errors.New("invalid value")
	// ErrUnknownField: a key the schema does not know; only DecodeStrict reports it.
	ErrUnknownField = errors.New("unknown field")
)

// DecodeError is the error Decode and DecodeStrict return for a body they cannot decode. It names
// the offending field so that the webhook endpoint can answer 400 saying what is wrong.
type DecodeError struct {
	// Field is the JSON path of the offending field in the body, e.g. "type", "timestamp",
	// "data.duration" or "data.rtmp[0].url", written with the keys as the body spells them. It
	// is empty when the body as a whole is at fault (ErrNotJSON, ErrNotObject), and a parent path
	// (e.g. "data") when the fault cannot be narrowed down further.
	Field string
	// Kind is one of ErrNotJSON, ErrNotObject, ErrMissingField, ErrInvalidValue, ErrUnknownField.
	Kind error
	// Err is the underlying parser error, if any.
	Err error
}

// Error says where the body is wrong and how, e.g.
// `hms delivery: field "data.duration": invalid value: proto: ... invalid value for int64 field duration: "abc"`.
func (e *DecodeError) Error() string {
	where := "body"
	if e.Field != "" {
		where = "field " + strconv.Quote(e.Field)
	}
	msg := fmt.Sprintf("hms delivery: %s: %v", where, e.Kind)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns Kind and, if set, Err, so errors.Is matches both the kind and the parser error.
func (e *DecodeError) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// Decoded is a decoded delivery.
type Decoded struct {
	// Delivery is the envelope. Its Data holds the `data` object as sent, as a
	// google.protobuf.Struct (whose numbers are float64: integers beyond 2^53 lose precision
	// there, not in Payload).
	Delivery *hmsv1.Delivery
	// Payload is `data` decoded into the message registered for Delivery.Type (see NewPayload),
	// or nil when the type is not one of the documented 100ms event types.
	Payload proto.Message
}

// Decode decodes a 100ms webhook request body. It ignores keys the schema does not know, in the
// envelope and in `data` alike, so that 100ms can add attributes without deliveries being
// refused (the raw body is kept elsewhere). A well-formed delivery of an unknown type is not an
// error: it decodes with a nil Payload. Every error is a *DecodeError.
//
// Keys are matched as protojson matches them: by the proto field name (the key 100ms sends) or
// by the field's JSON name (lowerCamelCase, or "URL" for RecordingSuccess.url). Besides fitting
// its typed message, `data` must fit a google.protobuf.Struct (Delivery.Data): a number beyond
// float64's range anywhere in it, even under an unknown key, is an ErrInvalidValue of "data".
func Decode(body []byte) (*Decoded, error) {
	return decode(body, protojson.UnmarshalOptions{DiscardUnknown: true})
}

// DecodeStrict is Decode, except that a key the schema does not know, in the envelope or in the
// `data` of a known type, is an error (ErrUnknownField). The golden tests use it to prove the
// schema covers every key of the samples; production decoding uses Decode.
func DecodeStrict(body []byte) (*Decoded, error) {
	return decode(body, protojson.UnmarshalOptions{})
}

func decode(body []byte, opts protojson.UnmarshalOptions) (*Decoded, error) {
	// A first pass with encoding/json finds the two keys the rest depends on and gives precise
	// errors for bodies that are not JSON objects. A body that is not valid JSON fails here with a
	// *json.SyntaxError; valid JSON of another kind with a *json.UnmarshalTypeError, or, for null,
	// with a nil map.
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return nil, &DecodeError{Kind: ErrNotObject, Err: fmt.Errorf("body is %s", jsonKind(body))}
		}
		return nil, &DecodeError{Kind: ErrNotJSON, Err: err}
	}
	if top == nil {
		return nil, &DecodeError{Kind: ErrNotObject, Err: errors.New("body is null")}
	}

	eventType, err := envelopeType(top["type"])
	if err != nil {
		return nil, err
	}
	data, ok := top["data"]
	if !ok || isNull(data) {
		return nil, &DecodeError{Field: "data", Kind: ErrMissingField}
	}
	if !isObject(data) {
		return nil, &DecodeError{Field: "data", Kind: ErrInvalidValue, Err: fmt.Errorf("data is %s, want an object", jsonKind(data))}
	}

	// The typed payload goes first, from the raw bytes of `data`: its errors name the field
	// inside `data`, and its integers keep their precision.
	payload, known := NewPayload(eventType)
	if known {
		if err := opts.Unmarshal(data, payload); err != nil {
			field, kind := locate(payload.ProtoReflect().Descriptor(), data, "data", opts)
			return nil, &DecodeError{Field: field, Kind: kind, Err: fmt.Errorf("decode %s data: %w", eventType, err)}
		}
	}

	delivery := &hmsv1.Delivery{}
	if err := opts.Unmarshal(body, delivery); err != nil {
		field, kind := locate(delivery.ProtoReflect().Descriptor(), body, "", opts)
		return nil, &DecodeError{Field: field, Kind: kind, Err: fmt.Errorf("decode envelope: %w", err)}
	}
	return &Decoded{Delivery: delivery, Payload: payload}, nil
}

// envelopeType returns the value of the envelope's `type`, which must be a non-empty string.
func envelopeType(raw json.RawMessage) (string, error) {
	if raw == nil || isNull(raw) {
		return "", &DecodeError{Field: "type", Kind: ErrMissingField}
	}
	var t string
	if err := json.Unmarshal(raw, &t); err != nil {
		return "", &DecodeError{Field: "type", Kind: ErrInvalidValue, Err: fmt.Errorf("type is %s, want a string", jsonKind(raw))}
	}
	if t == "" {
		return "", &DecodeError{Field: "type", Kind: ErrMissingField}
	}
	return t, nil
}

// locate finds the field of an object that protojson refused, for an error message: it decodes
// the object's members one at a time into md and returns the path of the first member that fails
// (or is unknown, or repeats a field, as protojson would say), descending into nested messages
// and lists of messages. It runs only after a decode has failed. When no single member fails it
// returns path itself.
func locate(md protoreflect.MessageDescriptor, raw []byte, path string, opts protojson.UnmarshalOptions) (string, error) {
	members, err := objectMembers(raw)
	if err != nil {
		return path, ErrInvalidValue
	}
	fields := md.Fields()
	seen := make(map[protoreflect.FieldNumber]bool)
	for _, m := range members {
		memberPath := joinPath(path, m.key)
		// The lookup protojson does: JSON name first, then proto name.
		fd := fields.ByJSONName(m.key)
		if fd == nil {
			fd = fields.ByTextName(m.key)
		}
		if fd == nil {
			if !opts.DiscardUnknown {
				return memberPath, ErrUnknownField
			}
			continue
		}
		if seen[fd.Number()] {
			return memberPath, ErrInvalidValue
		}
		seen[fd.Number()] = true

		single, err := json.Marshal(map[string]json.RawMessage{m.key: m.value})
		if err != nil {
			return memberPath, ErrInvalidValue
		}
		if opts.Unmarshal(single, dynamicpb.NewMessage(md)) == nil {
			continue
		}
		if fd.Kind() != protoreflect.MessageKind || isWellKnown(fd.Message()) || fd.IsMap() {
			return memberPath, ErrInvalidValue
		}
		if !fd.IsList() {
			return locate(fd.Message(), m.value, memberPath, opts)
		}
		var elems []json.RawMessage
		if json.Unmarshal(m.value, &elems) != nil {
			return memberPath, ErrInvalidValue
		}
		for i, elem := range elems {
			elemPath := memberPath + "[" + strconv.Itoa(i) + "]"
			if !isObject(elem) {
				return elemPath, ErrInvalidValue
			}
			if opts.Unmarshal(elem, dynamicpb.NewMessage(fd.Message())) != nil {
				return locate(fd.Message(), elem, elemPath, opts)
			}
		}
		return memberPath, ErrInvalidValue
	}
	return path, ErrInvalidValue
}

type member struct {
	key   string
	value json.RawMessage
}

// objectMembers returns the members of a JSON object in the order they appear, duplicates
// included (a map would hide both the order and the duplicates).
func objectMembers(raw []byte) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if tok != json.Delim('{') {
		return nil, errors.New("not an object")
	}
	var members []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, ok := tok.(string)
		if !ok {
			return nil, errors.New("object key is not a string")
		}
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil, err
		}
		members = append(members, member{key: key, value: value})
	}
	return members, nil
}

// isWellKnown reports whether md is a google.protobuf type (Timestamp, Struct, ...): protojson
// gives those a JSON form of their own, so their members are not fields to descend into.
func isWellKnown(md protoreflect.MessageDescriptor) bool {
	return md.ParentFile().Package() == "google.protobuf"
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func isObject(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && raw[0] == '{'
}

func isNull(raw json.RawMessage) bool {
	return string(bytes.TrimSpace(raw)) == "null"
}

// jsonKind names the JSON kind of a valid JSON value, for error messages.
func jsonKind(raw json.RawMessage) string {
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
	default:
		return "a number"
	}
}
