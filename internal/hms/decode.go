// Package hms decodes 100ms webhook deliveries into livegate.hms.v1 messages: the envelope into a
// hmsv1.Delivery and its `data` object into the message registered for the delivery's `type`.
package hms

import (
	"encoding/json"

	"google.golang.org/protobuf/proto"

	hmsv1 "github.com/livegate/livegate/gen/go/livegate/hms/v1"
	"github.com/livegate/livegate/internal/decode"
)

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
// refused; such keys are dropped, and the stored event has only what the schema knows (the
// raw body is kept only for a type livegate does not know). A well-formed delivery of an unknown type is not an
// error: it decodes with a nil Payload. Every error is a *decode.FieldError naming the field.
//
// Keys are matched as protojson matches them: by the proto field name (the key 100ms sends) or
// by the field's JSON name (lowerCamelCase, or "URL" for RecordingSuccess.url). Besides fitting
// its typed message, `data` must fit a google.protobuf.Struct (Delivery.Data): a number beyond
// float64's range anywhere in it, even under an unknown key, is an invalid value of "data".
func Decode(body []byte) (*Decoded, error) {
	return decodeBody(body, false)
}

// DecodeLean is Decode, except that the Delivery it returns has no Data (the envelope's
// `data` as a google.protobuf.Struct, which livegate's ingest does not use and which cost
// about a third of a delivery's decode): it refuses exactly the bodies Decode refuses, with
// the same error, and returns the same Payload and the same Delivery otherwise. A delivery of
// a type without a payload message is decoded as Decode does (with Data).
func DecodeLean(body []byte) (*Decoded, error) {
	top, err := decode.Object(body)
	if err != nil {
		return nil, err
	}
	d, ok, err := decodeTop(top, false)
	if err != nil || d.Payload == nil {
		return decodeBody(body, false)
	}
	// What Decode would add: data as a Struct, which takes any JSON object whose numbers
	// are float64s (protojson has read all of data's text for the payload already). The
	// envelope without data must decode, too. If either does not hold, Decode decides,
	// and names the fault.
	if !ok || !decode.NumbersFitFloat64(top["data"]) {
		return decodeBody(body, false)
	}
	env, err := decode.Without(top, "data")
	if err != nil {
		return decodeBody(body, false)
	}
	if err := decode.Proto(env, "", d.Delivery, false); err != nil {
		return decodeBody(body, false)
	}
	return d, nil
}

// decodeTop decodes the payload of the delivery whose members are top, as decodeBody does;
// ok is false if top has no type or data fit for it (decodeBody names what is wrong).
func decodeTop(top map[string]json.RawMessage, strict bool) (_ *Decoded, ok bool, _ error) {
	eventType, err := decode.String(top, "type")
	if err != nil {
		return nil, false, err
	}
	data, err := decode.RequiredObject(top, "data")
	if err != nil {
		return nil, false, err
	}
	payload, known := NewPayload(eventType)
	if known {
		if err := decode.Proto(data, "data", payload, strict); err != nil {
			return nil, false, err
		}
	}
	if !known {
		payload = nil
	}
	return &Decoded{Delivery: &hmsv1.Delivery{}, Payload: payload}, true, nil
}

// DecodeStrict is Decode, except that a key the schema does not know, in the envelope or in the
// `data` of a known type, is an error (decode.ErrUnknownField). The golden tests use it to
// prove the schema covers every key of the samples; production decoding uses Decode.
func DecodeStrict(body []byte) (*Decoded, error) {
	return decodeBody(body, true)
}

// decodeBody requires a non-empty string `type` and an object `data`, decodes `data` into the
// payload of its type first (its errors name the field inside `data`, and its integers keep
// their precision), then the envelope.
func decodeBody(body []byte, strict bool) (*Decoded, error) {
	top, err := decode.Object(body)
	if err != nil {
		return nil, err
	}
	eventType, err := decode.String(top, "type")
	if err != nil {
		return nil, err
	}
	data, err := decode.RequiredObject(top, "data")
	if err != nil {
		return nil, err
	}
	payload, known := NewPayload(eventType)
	if known {
		if err := decode.Proto(data, "data", payload, strict); err != nil {
			return nil, err
		}
	}
	delivery := &hmsv1.Delivery{}
	if err := decode.Proto(body, "", delivery, strict); err != nil {
		return nil, err
	}
	return &Decoded{Delivery: delivery, Payload: payload}, nil
}
