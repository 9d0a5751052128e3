// Package limits holds the bounds on what livegate accepts from providers and keeps in its
// feed, in one place, so that one promise can be checked against one list: whatever is
// accepted can be read back, one event at a time and through every API.
//
// The bounds are constants, not settings: each one is chosen so that an accepted delivery
// decodes again (protobuf's recursion limit) and fits a gRPC message (the gateway's 4 MiB
// receive limit). Raising one can break that promise.
package limits

import (
	"strconv"

	"github.com/livegate/livegate/internal/apierror"
)

const (
	// MaxBodyBytes is the largest body of a provider delivery (gRPC or REST): larger ones are
	// refused with 413 PAYLOAD_TOO_LARGE. (The gateway's own gateway.MaxBodyBytes is the same
	// figure for every REST body.)
	MaxBodyBytes = 1 << 20

	// MaxJSONDepth is how deeply the JSON body of a provider delivery may nest objects and
	// arrays: `{}` is one level, `{"a":[]}` two. Deeper bodies are refused with 400
	// INVALID_ARGUMENT. Real deliveries nest fewer than ten levels.
	//
	// Why it guarantees decoding: a delivery is stored as a protobuf Event, and protobuf's
	// decoder refuses messages nested deeper than 10,000 (proto.UnmarshalOptions'
	// RecursionLimit, protowire.DefaultRecursionLimit). JSON kept as google.protobuf.Struct
	// costs two protobuf levels per JSON level (Struct or ListValue, then Value; measured:
	// 4,000 JSON levels decode, 5,000 do not), and the Event around it adds fewer than ten.
	// 64 levels are about 140 protobuf levels.
	MaxJSONDepth = 64

	// MaxJSONValues is how many JSON values (objects, arrays, strings, numbers, booleans and
	// nulls; object keys are not counted) the body of a provider delivery may hold. More are
	// refused with 413 PAYLOAD_TOO_LARGE: each value costs several bytes more stored than
	// sent (a number is 1 byte of JSON and 11 of protobuf), so a 1 MiB body of numbers would
	// otherwise be stored as a 5.5 MB event.
	MaxJSONValues = 100_000

	// MaxEventBytes is the largest protobuf encoding of one stored event (livegate.v1.Event).
	// A delivery that would store a larger one is refused with 413 PAYLOAD_TOO_LARGE, and
	// nothing of it is stored. It holds for every source (100ms, Amity, RTMP, livegate's own
	// events): the event, with its envelope, stays well under gRPC's 4 MiB message limit.
	MaxEventBytes = 1 << 20

	// MaxDeliveryEventBytes is the largest total encoding of the events one delivery stores.
	// An Amity delivery becomes one event per video stream, each with a copy of the
	// delivery's users and files: without this bound a 1 MiB delivery could store thousands
	// of 1 MiB events. Over it: 413 PAYLOAD_TOO_LARGE, nothing stored.
	MaxDeliveryEventBytes = 4 << 20
)

// CheckJSON checks a delivery's body against MaxJSONDepth and MaxJSONValues, before it is
// decoded. It reads the body as JSON without validating it (decoding does that): a body
// that is not JSON passes unless its brackets alone break a bound. Errors: 400
// INVALID_ARGUMENT (field "body") for the depth, 413 PAYLOAD_TOO_LARGE for the values, each
// naming the limit (metadata "limit").
func CheckJSON(body []byte) error {
	// stack holds the open containers ('{' or '['); it never grows past MaxJSONDepth.
	var stack [MaxJSONDepth]byte
	depth, values := 0, 0
	inString, escaped, inToken, expectKey := false, false, false, false
	for i := 0; i < len(body); i++ {
		c := body[i]
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString, inToken = true, false
			if expectKey {
				expectKey = false // an object key: not a value
				continue
			}
			values++
		case '{', '[':
			inToken = false
			values++
			if depth == MaxJSONDepth {
				return apierror.New(apierror.ReasonInvalidArgument,
					"body: JSON nested deeper than %d levels (at byte %d); livegate accepts at most %d levels of objects and arrays",
					MaxJSONDepth, i, MaxJSONDepth).With("field", "body").With("limit", strconv.Itoa(MaxJSONDepth))
			}
			stack[depth] = c
			depth++
			expectKey = c == '{'
		case '}', ']':
			inToken, expectKey = false, false
			if depth > 0 {
				depth--
			}
		case ',':
			inToken = false
			expectKey = depth > 0 && stack[depth-1] == '{'
		case ':', ' ', '\t', '\n', '\r':
			inToken = false
		default: // numbers, true, false, null (or garbage, which decoding refuses)
			if !inToken {
				inToken = true
				values++
			}
		}
		if values > MaxJSONValues {
			return apierror.New(apierror.ReasonPayloadTooLarge,
				"body: more than %d JSON values; livegate accepts at most %d values (objects, arrays, strings, numbers, booleans, nulls) in one delivery",
				MaxJSONValues, MaxJSONValues).With("field", "body").With("limit", strconv.Itoa(MaxJSONValues))
		}
	}
	return nil
}

// BodyTooLarge is the error for a delivery body of size bytes, over MaxBodyBytes.
func BodyTooLarge(size int) error {
	return apierror.New(apierror.ReasonPayloadTooLarge,
		"body: %d bytes, over the limit of %d bytes for one delivery", size, MaxBodyBytes).
		With("field", "body").With("size", strconv.Itoa(size)).With("limit", strconv.Itoa(MaxBodyBytes))
}

// EventTooLarge is the error for an event whose encoding is size bytes, over MaxEventBytes.
func EventTooLarge(eventType string, size int) error {
	return apierror.New(apierror.ReasonPayloadTooLarge,
		"the %s event would be stored as %d bytes, over the limit of %d bytes for one event",
		eventType, size, MaxEventBytes).With("size", strconv.Itoa(size)).With("limit", strconv.Itoa(MaxEventBytes))
}

// DeliveryTooLarge is the error for a delivery whose events encode to size bytes in all, over
// MaxDeliveryEventBytes.
func DeliveryTooLarge(events, size int) error {
	return apierror.New(apierror.ReasonPayloadTooLarge,
		"the delivery would be stored as %d events of %d bytes in all, over the limit of %d bytes for one delivery",
		events, size, MaxDeliveryEventBytes).With("size", strconv.Itoa(size)).With("limit", strconv.Itoa(MaxDeliveryEventBytes))
}
